"""A small platform with something broken, evaluated for real, and the personas' browsers.

`platform`: a source whose server is unreachable, a RAW table that stopped loading
(stale watermark) and fails a data check, feeding a critical materialized view through a
view, a pipeline whose latest run failed; then one real health evaluation.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from checks.evaluate import evaluate_as_job
from checks.models import Evaluation
from ledger.models import Run
from registry.models import AssetLink, RegistryObject
from tests.factories.ledger import (
    CheckResultFactory,
    PipelineFactory,
    RunAssetFactory,
    RunFactory,
    WatermarkFactory,
)
from tests.factories.registry import (
    CodeUsageFactory,
    ColumnFactory,
    DependencyFactory,
    RegistryObjectFactory,
    SourceFactory,
)

# Nothing listens on port 1: the source is unreachable at once (source_unreachable).
UNREACHABLE_DSN = "postgresql://wh:secret@127.0.0.1:1/wh"


@dataclass
class Platform:
    raw: RegistryObject
    view: RegistryObject
    matview: RegistryObject
    evaluation: Evaluation


@pytest.fixture
def platform(db) -> Platform:
    now = timezone.now()
    source = SourceFactory(name="wh", dsn=UNREACHABLE_DSN)
    raw = RegistryObjectFactory(
        source=source, schema_name="raw", object_name="events", layer="RAW", health_enabled=True
    )
    view = RegistryObjectFactory(
        source=source, schema_name="mart", object_name="v_events", object_type="view"
    )
    matview = RegistryObjectFactory(
        source=source,
        schema_name="mart",
        object_name="daily_events",
        object_type="matview",
        layer="MV",
        criticality="critical",
        should_monitor=True,
        is_populated=True,
    )
    DependencyFactory(upstream=raw, downstream=view)
    DependencyFactory(upstream=view, downstream=matview)
    ColumnFactory(object=raw, name="event_id", position=1, is_primary_key=True)
    ColumnFactory(object=raw, name="happened_at", position=2, data_type="timestamptz")
    CodeUsageFactory(object=raw, file="jobs/load_events.py", line=12, kind="write")
    for obj in (raw, matview):
        AssetLink.objects.create(normalized_key=obj.qualified_name, object=obj)
    WatermarkFactory(asset_key="raw.events", watermark_ts=now - timedelta(days=3))
    CheckResultFactory(
        asset_key="raw.events",
        check_name="not_null(event_id)",
        severity="error",
        status="fail",
        message="3 nulls",
    )
    loader = PipelineFactory(name="load_events")
    RunAssetFactory(
        run=RunFactory(pipeline=loader, started_at=now - timedelta(days=3)),
        asset_key="raw.events",
        rows_inserted=10,
    )
    RunFactory(
        pipeline=loader,
        status=Run.FAILED,
        started_at=now - timedelta(hours=2),
        error_message="connection reset",
    )
    RunAssetFactory(
        run=RunFactory(
            pipeline=PipelineFactory(name="opshealth.refresh_matviews"), started_at=now - timedelta(hours=1)
        ),
        asset_key="mart.daily_events",
        kind="matview",
        duration_ms=1200,
    )
    evaluation = evaluate_as_job(trigger="api")
    return Platform(raw=raw, view=view, matview=matview, evaluation=evaluation)


@pytest.fixture
def viewer(viewer_user) -> Client:
    client = Client()
    client.force_login(viewer_user)
    return client


@pytest.fixture
def staff(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def find_chromium() -> str | None:
    """Debian's chromium (`apt-get install chromium`): its binary, not the shell wrapper."""
    candidates = (
        os.environ.get("OPSHEALTH_CHROMIUM"),
        "/usr/lib/chromium/chromium",
        shutil.which("chromium"),
    )
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


@pytest.fixture
def browser():
    """A headless chromium driven by Playwright (its own browser download is not used).
    Request it after the fixtures that write test data (see below).

    Skips when no chromium is installed, except in CI (CI=true or
    OPSHEALTH_REQUIRE_SERVICES=1), where it fails. Function-scoped: Playwright's sync API
    runs an event loop in this thread, and the ORM refuses to run beside one, so the test
    data is made before the browser starts and flushed after it stops.
    """
    path = find_chromium()
    if path is None:
        reason = "no chromium found: apt-get install chromium"
        if os.environ.get("CI") == "true" or os.environ.get("OPSHEALTH_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path)
        yield chromium
        chromium.close()
