"""Classification is current: the evidence "refreshed by OpsHealth's refresh job" and
override edits re-infer at once, and an evaluation re-infers first when evidence is
newer than the last inference, so a stale RAW table feeding a view that just became
critical fires raw_source_stale_affecting_critical without waiting for discovery."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from checks.evaluate import evaluate
from ledger.logger import RunLogger
from registry import inference
from registry.links import refresh_asset_links
from registry.models import RegistryObject, Source
from tests.checks.conftest import link
from tests.factories.ledger import WatermarkFactory
from tests.factories.registry import DependencyFactory, RegistryObjectFactory

pytestmark = pytest.mark.django_db

STALE_CHECK = "raw_source_stale_affecting_critical"


@pytest.fixture
def raw_feeding_matview(source):
    """raw.t (stale for two days) → mart.mv (a matview nothing uses: normal so far)."""
    raw = RegistryObjectFactory(source=source, schema_name="raw", object_name="t", layer="RAW")
    mv = RegistryObjectFactory(source=source, schema_name="mart", object_name="mv", object_type="matview")
    DependencyFactory(upstream=raw, downstream=mv)
    link(raw)
    WatermarkFactory(
        asset_key="raw.t", normalized_key="raw.t", watermark_ts=timezone.now() - timedelta(days=2)
    )
    inference.infer(source)
    assert RegistryObject.objects.get(pk=mv.pk).criticality == "normal"
    return raw, mv


def criticality(obj) -> str:
    return RegistryObject.objects.get(pk=obj.pk).criticality


def test_an_evaluation_reinfers_after_a_refresh_logged_since(raw_feeding_matview):
    raw, mv = raw_feeding_matview
    with RunLogger("opshealth.refresh_matviews") as run:
        run.log_asset("mart.mv", kind="matview")
    refresh_asset_links()
    evaluation = evaluate()
    assert (criticality(mv), criticality(raw)) == ("critical", "critical")
    result = evaluation.results.get(check_key=STALE_CHECK)
    assert result.status != "OK"
    assert "raw.t" in {v.subject for v in evaluation.violations.filter(check_run=result)}


def test_an_evaluation_with_no_new_evidence_does_not_reinfer(
    raw_feeding_matview, django_assert_max_num_queries
):
    raw, _ = raw_feeding_matview
    marks = Source.objects.get(pk=raw.source_id).inferred_from
    # the newest refresh, the newest override edit per source, the sources
    with django_assert_max_num_queries(3):
        assert inference.infer_stale() == 0
    assert Source.objects.get(pk=raw.source_id).inferred_from == marks


def test_refresh_matviews_reinfers(raw_feeding_matview, warehouse):
    raw, mv = raw_feeding_matview
    warehouse.execute("CREATE TABLE raw.t (id int); CREATE MATERIALIZED VIEW mart.mv AS SELECT id FROM raw.t")
    call_command("refresh_matviews", stdout=StringIO())
    assert (criticality(mv), criticality(raw)) == ("critical", "critical")


def test_an_override_edit_reinfers_what_it_reads(
    raw_feeding_matview, staff_client, django_capture_on_commit_callbacks
):
    raw, mv = raw_feeding_matview
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.patch(
            f"/api/v1/ops/source-registry/{mv.pk}", {"is_critical": True}, format="json"
        )
    assert response.status_code == 200, response.content
    assert criticality(raw) == "critical"  # upstream of an effectively critical object
    assert RegistryObject.objects.get(pk=raw.pk).provenance["criticality"]["evidence"].startswith("upstream")
