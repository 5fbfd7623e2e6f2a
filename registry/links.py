"""Asset links: every ledger asset key (run assets, watermarks, check results) mapped to
a registry object through the resolver rules.

`refresh_asset_links()` is set-based: one read of the distinct normalized keys, the
resolver's two reads, one upsert. It runs at the end of every discovery and after every
ledger ingestion (the `ledger.signals.assets_ingested` signal).
"""

from __future__ import annotations

from django.dispatch import receiver
from django.utils import timezone

from ledger.models import CheckResult, RunAsset, Watermark
from ledger.signals import assets_ingested
from registry.models import AssetLink
from registry.resolver import Resolver


def distinct_asset_keys() -> list[str]:
    """Distinct normalized keys across the ledger, in one UNION query."""
    keys = (
        RunAsset.objects.values_list("normalized_key", flat=True)
        .union(Watermark.objects.values_list("normalized_key", flat=True))
        .union(CheckResult.objects.values_list("normalized_key", flat=True))
    )
    return sorted(k for k in keys if k)


def refresh_asset_links(keys: list[str] | None = None) -> int:
    """Resolve ledger keys (all of them, or the given ones) and upsert AssetLink rows
    whose resolution changed. Returns the number of rows written."""
    keys = distinct_asset_keys() if keys is None else sorted(set(keys))
    if not keys:
        return 0
    # Ledger producers often lower-case names: a unique case-insensitive match counts.
    resolver = Resolver(fold_case_fallback=True)
    known = {
        key: (obj, rule)
        for key, obj, rule in AssetLink.objects.filter(normalized_key__in=keys).values_list(
            "normalized_key", "object_id", "resolver_rule"
        )
    }
    now = timezone.now()
    writes = []
    for key in keys:
        r = resolver.resolve(key)
        rule = r.rule[:200]
        if known.get(key) != (r.object_id, rule):
            writes.append(
                AssetLink(normalized_key=key, object_id=r.object_id, resolver_rule=rule, resolved_at=now)
            )
    if writes:
        AssetLink.objects.bulk_create(
            writes,
            update_conflicts=True,
            unique_fields=["normalized_key"],
            update_fields=["object_id", "resolver_rule", "resolved_at"],
        )
    return len(writes)


@receiver(assets_ingested, dispatch_uid="registry.links.refresh_asset_links")
def _on_assets_ingested(sender, keys=(), **kwargs) -> None:
    """The ledger committed new rows: link the keys it wrote (only those)."""
    if keys:
        refresh_asset_links(list(keys))
