"""The ingest writer's column lists follow the models' `_meta`: every stored field is written."""

import re
from datetime import UTC, datetime, timedelta

from ledger import ingest
from ledger.ingest import WatermarkIn
from ledger.models import CheckResult, Run, RunAsset, Watermark
from ledger.queries import model_columns, watermark_columns, watermark_upsert
from tests.factories.ledger import RunFactory

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _stored(model) -> set[str]:
    return {f.column for f in model._meta.concrete_fields if not f.generated}


def test_a_new_run_writes_every_stored_column_but_the_row_times():
    assert {c for c, _ in ingest._NEW_RUN_COLUMNS} == _stored(Run) - {"id", "created_at", "updated_at"}


def test_a_run_update_writes_its_whole_state_and_never_its_identity():
    written = {c for c, _ in ingest._RUN_COLUMNS}
    assert written == _stored(Run) - {"id", "created_at", "updated_at", *ingest._RUN_IDENTITY}
    assert not written & {"pipeline_id", "external_run_id", "run_id"}


def test_asset_and_check_writes_cover_their_models():
    assert {c for c, _ in ingest._ASSET_COLUMNS} == _stored(RunAsset) - {"id", "duration_ms", "created_at"}
    assert {c for c, _ in ingest._CHECK_COLUMNS} == _stored(CheckResult) - {"id"}


def test_model_columns_carry_the_database_types():
    types = dict(model_columns(RunAsset))
    assert (types["rows_inserted"], types["extra"], types["run_id"]) == ("bigint", "jsonb", "bigint")


def test_a_watermark_upsert_writes_every_stored_column_but_its_row_time():
    assert {c for c, _ in watermark_columns(Watermark)} == _stored(Watermark) - {"id", "updated_at"}
    sql, _ = watermark_upsert(Watermark, [WatermarkIn("raw.orders", T0)])
    inserted = re.search(r"INSERT INTO (\S+) AS t \(([^)]*)\)", sql)
    assert inserted.group(1) == Watermark._meta.db_table
    assert {c.strip() for c in inserted.group(2).split(",")} == _stored(Watermark) - {"id"}


def test_a_watermark_mark_links_its_run_and_moves_it_only_with_the_watermark(db):
    first, second = RunFactory(), RunFactory()
    Watermark.objects.advance([WatermarkIn("raw.orders", T0 + timedelta(hours=1), run_pk=first.pk)])
    Watermark.objects.advance([WatermarkIn("raw.orders", T0, run_pk=second.pk)])
    assert Watermark.objects.get().last_run == first
    Watermark.objects.advance([WatermarkIn("raw.orders", T0 + timedelta(hours=2), run_pk=second.pk)])
    assert Watermark.objects.get().last_run == second
