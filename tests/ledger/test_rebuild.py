import json
import random
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from openlineage.client.event_v2 import RunState
from openlineage.client.serde import Serde

from ledger import openlineage
from ledger.models import CheckResult, LineageEvent, Run, RunAsset
from tests.factories.ledger import RunFactory
from tests.ledger.openlineage_helpers import (
    assertions,
    checked_input,
    error_facet,
    ol_event,
    output,
    parent_facet,
)

pytestmark = pytest.mark.django_db


def history() -> list[dict]:
    """Three jobs, parents, a failure, DQ facets, a late retry and a start after the end."""
    events = []
    dag = str(uuid.uuid4())
    events.append(ol_event(RunState.START, 0, dag, job="nightly_dag"))
    events.append(ol_event(RunState.COMPLETE, 30, dag, job="nightly_dag"))
    for n in range(6):
        rid = str(uuid.uuid4())
        facets = parent_facet(dag)
        events.append(
            ol_event(RunState.START, n, rid, job=f"task_{n % 3}", outputs=[output()], run_facets=facets)
        )
        events.append(ol_event(RunState.RUNNING, n + 1, rid, job=f"task_{n % 3}"))
        if n == 2:
            events.append(ol_event(RunState.FAIL, n + 2, rid, job="task_2", run_facets=error_facet("boom")))
            events.append(ol_event(RunState.COMPLETE, n + 9, rid, job="task_2"))  # a late retry: anomaly
        else:
            facet = assertions(("not_null", n % 2 == 0, "id"))
            events.append(
                ol_event(
                    RunState.COMPLETE,
                    n + 2,
                    rid,
                    job=f"task_{n % 3}",
                    inputs=[checked_input("shop.raw.orders", facet)],
                    outputs=[output(rows=n * 10)],
                )
            )
        events.append(ol_event(RunState.START, n + 20, rid, job=f"task_{n % 3}"))  # after the end
    return [json.loads(Serde.to_json(e)) for e in events]


def dump() -> dict:
    runs = sorted(
        (
            r.pipeline.name,
            r.external_run_id,
            r.status,
            r.started_at,
            r.ended_at,
            r.duration_ms,
            r.parent_run.external_run_id if r.parent_run else None,
            r.error_message,
            json.dumps(r.anomalies),
        )
        for r in Run.objects.select_related("pipeline", "parent_run")
    )
    assets = sorted(
        (a.run.external_run_id, a.asset_key, a.direction, a.status, a.rows_inserted, a.normalized_key)
        for a in RunAsset.objects.select_related("run")
    )
    checks = sorted(
        (c.run.external_run_id, c.normalized_key, c.check_name, c.status, c.checked_at)
        for c in CheckResult.objects.select_related("run")
    )
    return {"runs": runs, "assets": assets, "checks": checks}


def test_rebuild_gives_the_ledger_that_shuffled_ingestion_gave():
    events = history()
    random.Random(42).shuffle(events)
    for e in events:
        openlineage.accept([openlineage.validate(e)])
    live = dump()
    assert any(r[2] == "failed" and r[8] != "[]" for r in live["runs"])  # the retry anomaly is there
    out = StringIO()
    call_command("rebuild_ledger", "--batch-size", "7", stdout=out)
    assert f"Replayed {len(events)} OpenLineage events" in out.getvalue()
    assert dump() == live
    assert LineageEvent.objects.filter(run__isnull=True).count() == 0


def test_rebuild_is_the_same_whatever_the_arrival_order():
    events = history()
    dumps = []
    for seed in (1, 2):
        Run.objects.all().delete()
        LineageEvent.objects.all().delete()
        CheckResult.objects.all().delete()
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        openlineage.accept([openlineage.validate(e) for e in shuffled[:10]])
        for e in shuffled[10:]:
            openlineage.accept([openlineage.validate(e)])
        dumps.append(dump())
    assert dumps[0] == dumps[1]


def test_rebuild_leaves_runs_of_other_origin_alone():
    other = RunFactory(pipeline__namespace="", triggered_by="cli")
    openlineage.accept([openlineage.validate(e) for e in history()[:2]])
    call_command("rebuild_ledger", stdout=StringIO())
    assert Run.objects.filter(pk=other.pk).exists()
    assert Run.objects.filter(triggered_by="openlineage").count() == 1
