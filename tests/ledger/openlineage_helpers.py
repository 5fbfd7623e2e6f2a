"""Build events with the real `openlineage-python` classes and post them through its HTTP client."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated import (
    data_quality_assertions_dataset as dqa,
)
from openlineage.client.generated import (
    error_message_run,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    test_run,
)
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpCompression, HttpConfig, HttpTransport

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PG = "postgres://warehouse:5432"
PRODUCER = "https://example.com/opshealth-tests"


def ol_client(base_url: str, api_key: str | None, gzip: bool = True) -> OpenLineageClient:
    # urljoin(url, "api/v1/lineage"): the base URL needs its trailing slash (FACTS.md).
    config = HttpConfig(
        url=base_url.rstrip("/") + "/",
        auth=ApiKeyTokenProvider({"apiKey": api_key}) if api_key else HttpConfig(url="x").auth,
        compression=HttpCompression.GZIP if gzip else None,
        retry={"total": 0},
    )
    return OpenLineageClient(transport=HttpTransport(config))


def ol_event(
    state: RunState,
    minutes: float,
    run_id: str | None = None,
    job: str = "load_orders",
    outputs=None,
    inputs=None,
    run_facets=None,
) -> RunEvent:
    return RunEvent(
        eventType=state,
        eventTime=(T0 + timedelta(minutes=minutes)).isoformat(),
        run=Run(runId=run_id or str(uuid.uuid4()), facets=run_facets or {}),
        job=Job(namespace="airflow", name=job),
        producer=PRODUCER,
        inputs=inputs or [],
        outputs=outputs or [],
    )


def output(name: str = "shop.raw.orders", rows: int | None = None, size: int | None = None) -> OutputDataset:
    facets = {}
    if rows is not None or size is not None:
        facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows, size=size
        )
    return OutputDataset(namespace=PG, name=name, outputFacets=facets)


def assertions(*pairs: tuple[str, bool, str | None]) -> dqa.DataQualityAssertionsDatasetFacet:
    return dqa.DataQualityAssertionsDatasetFacet(
        assertions=[dqa.Assertion(assertion=a, success=ok, column=col) for a, ok, col in pairs]
    )


def checked_input(name: str, facet) -> InputDataset:
    # Real producers put the facet in both places.
    return InputDataset(
        namespace=PG,
        name=name,
        facets={"dataQualityAssertions": facet},
        inputFacets={"dataQualityAssertions": facet},
    )


def error_facet(message: str) -> dict:
    stack = 'Traceback (most recent call last):\n  File "job.py", line 12, in load\nValueError: bad row'
    return {
        "errorMessage": error_message_run.ErrorMessageRunFacet(
            message=message, programmingLanguage="python", stackTrace=stack
        )
    }


def parent_facet(run_id: str, job: str = "nightly_dag") -> dict:
    return {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run_id), job=parent_run.Job(namespace="airflow", name=job)
        )
    }


def nominal_facet(when: datetime) -> dict:
    return {"nominalTime": nominal_time_run.NominalTimeRunFacet(nominalStartTime=when.isoformat())}


def run_test_facet(*tests: tuple[str, str]) -> dict:
    return {"test": test_run.TestRunFacet(tests=[test_run.TestExecution(name=n, status=s) for n, s in tests])}
