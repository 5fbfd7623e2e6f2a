"""Asset links: every ledger asset key (run assets, watermarks, check results) mapped to
a registry object through the resolver rules.

`refresh_asset_links()` is set-based: one read of the distinct normalized keys, the
resolver's two reads, one upsert; every statement takes its keys as one array parameter,
so 70,000 keys cost what 70 do in statements (PostgreSQL refuses a statement of more
than 65,535 parameters). It relinks every key at the end of every discovery
and after a resolver rule changes: the two things that can change a resolution. After a
ledger ingestion (the `ledger.signals.assets_ingested` signal) only keys never seen
before are resolved, so steady ingestion costs at most one indexed lookup, not a
resolver build (which reads the whole registry), and none for keys this process has
already seen linked.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from ledger.models import CheckResult, RunAsset, Watermark
from ledger.signals import assets_ingested
from registry import queries
from registry.models import AssetLink, ResolverRule
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
        for key, obj, rule in AssetLink.objects.filter(normalized_key__any=keys).values_list(
            "normalized_key", "object_id", "resolver_rule"
        )
    }
    writes = []
    for key in keys:
        r = resolver.resolve(key)
        rule = r.rule[:200]
        if known.get(key) != (r.object_id, rule):
            writes.append((key, r.object_id, rule))
    queries.upsert_asset_links(writes)
    return len(writes)


# Keys this process knows to have a link row. Link rows are never deleted (a vanished
# object only empties `object`), so a key once linked stays linked, and steady ingestion
# of known keys costs no query at all. Bounded: emptied when it outgrows LINKED_KEYS_MAX.
_linked_keys: set[str] = set()
LINKED_KEYS_MAX = 100_000


@receiver(assets_ingested, dispatch_uid="registry.links.refresh_asset_links")
def _on_assets_ingested(sender, keys=(), **kwargs) -> None:
    """The ledger committed new rows: link the keys it wrote that have no link yet."""
    unknown = set(keys) - _linked_keys
    if not unknown:
        return
    linked = set(
        AssetLink.objects.filter(normalized_key__any=list(unknown)).values_list("normalized_key", flat=True)
    )
    new = unknown - linked
    if new:
        refresh_asset_links(list(new))
    if len(_linked_keys) + len(unknown) > LINKED_KEYS_MAX:
        _linked_keys.clear()
    _linked_keys.update(unknown)


@receiver([post_save, post_delete], sender=ResolverRule, dispatch_uid="registry.links.rule_changed")
def _on_resolver_rule_changed(sender, **kwargs) -> None:
    """A rule changed: any key may now resolve elsewhere. Relink all, once committed."""
    transaction.on_commit(refresh_asset_links)
