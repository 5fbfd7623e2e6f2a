"""The ingest writer's column lists follow the models' `_meta`: every stored field is written."""

from ledger import ingest
from ledger.models import CheckResult, Run, RunAsset
from ledger.queries import model_columns


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
