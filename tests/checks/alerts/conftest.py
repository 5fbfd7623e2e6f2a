"""Fixtures of the alerting tests: a controlled clock, a real local webhook receiver,
and helpers that record pipeline runs and health evaluations as the ledger would."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.utils import timezone

from checks.models import CheckRun, Evaluation, Violation
from ledger.models import Run
from tests.factories.ledger import PipelineFactory, RunFactory

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@dataclass
class Request:
    path: str
    headers: dict
    body: dict
    raw: bytes
    code: int


@dataclass
class Receiver:
    """A webhook receiver: answers each POST with the next of `codes` (then 200)."""

    url: str = ""
    codes: list[int] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def accepted(self) -> list[Request]:
        return [r for r in self.requests if r.code < 300]


@pytest.fixture
def receiver():
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            with rec.lock:
                code = rec.codes.pop(0) if rec.codes else 200
                headers = {k.lower(): v for k, v in self.headers.items()}
                rec.requests.append(Request(self.path, headers, json.loads(raw), raw, code))
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_port}/hooks/T0/B0secret"
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def record_run(pipeline, status: str) -> Run:
    """A finished run of `pipeline` (a name or a Pipeline) at the current time."""
    if isinstance(pipeline, str):
        pipeline = PipelineFactory(name=pipeline)
    return RunFactory(
        pipeline=pipeline,
        status=status,
        started_at=timezone.now(),
        error_type="RuntimeError" if status == Run.FAILED else "",
        error_message="connection reset while loading orders" if status == Run.FAILED else "",
    )


def record_evaluation(items: list[tuple[str, str, object]], *, status: str = "ERROR") -> Evaluation:
    """A health evaluation whose offending items are (check_key, level, registry object
    or subject name), as evaluate_health persists them."""
    now = timezone.now()
    evaluation = Evaluation.objects.create(
        evaluated_at=now,
        global_status=status,
        band="critical",
        healthy_threshold=99,
        degraded_threshold=95,
    )
    runs = {}
    for check_key, level, subject in items:
        if check_key not in runs:
            runs[check_key] = CheckRun.objects.create(
                evaluation=evaluation,
                check_key=check_key,
                severity="error",
                status=level,
                message=f"{check_key} failed.",
                drilldown_url=f"/api/v1/ops/health-checks/{check_key}",
                evaluated_at=now,
            )
        is_object = not isinstance(subject, str)
        Violation.objects.create(
            evaluation=evaluation,
            check_run=runs[check_key],
            check_key=check_key,
            level=level,
            object=subject if is_object else None,
            subject_type="object" if is_object else "source",
            subject=subject.qualified_name if is_object else subject,
            detail={"reason": "test"},
        )
    return evaluation
