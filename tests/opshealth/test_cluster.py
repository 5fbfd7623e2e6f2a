"""Real `manage.py qcluster` processes: a scheduled job runs (ORM broker), SIGTERM stops the
cluster within 10 s even mid-task, two clusters sharing Redis run each tick once, and the
demo serves beside a cluster that Ctrl-C stops with it.

The clusters are subprocesses on the test database, so these tests commit their rows
(`transaction=True`). django-q2's scheduler first looks at the schedules 30 s after a
cluster starts, and then every 30 s: the waits are bounded accordingly.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from ledger.models import Run
from opshealth import schedules
from tests.conftest import require_service

pytestmark = pytest.mark.django_db(transaction=True)

EVALUATE = "opshealth.evaluate_health"
OTHER_JOBS_OFF = {job.env_var: "off" for job in schedules.JOBS.values() if job.name != EVALUATE}


def cluster_env(**extra: str) -> dict[str, str]:
    """The environment of a qcluster on this test's database (the ORM queue is this
    worktree's own database: its default queue name is safe)."""
    db = connection.settings_dict
    host = quote(db["HOST"] or "", safe="")
    auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgresql://{auth}@{host}:{db['PORT']}/{db['NAME']}",
        **extra,
    }


def start_cluster(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        cwd=settings.BASE_DIR,
    )


def wait_for(condition, *, timeout: float, what: str, logs: list[Path]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    tails = "\n".join(log.read_text()[-3000:] for log in logs)
    pytest.fail(f"no {what} within {timeout} s; cluster output:\n{tails}")


def stop(process: subprocess.Popen) -> float:
    """SIGTERM; the seconds the process took to exit (killed after 30 s)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return time.monotonic() - started


def scheduler_runs(pipeline: str):
    return Run.objects.filter(pipeline__name=pipeline, triggered_by="scheduler").order_by("started_at")


def test_a_cluster_runs_a_scheduled_job_and_stops_within_10_s_of_sigterm_mid_task(tmp_path, monkeypatch):
    for var, value in OTHER_JOBS_OFF.items():
        monkeypatch.setenv(var, value)
    schedules.apply()
    Schedule.objects.filter(name=EVALUATE).update(next_run=timezone.now() - timedelta(seconds=1))
    # A long query inside a ledger run, for the stop to interrupt (ORM broker, same queue).
    async_task("tests.opshealth.cluster_tasks.sleep_in_a_run", 600)
    log = tmp_path / "qcluster.log"
    cluster = start_cluster(cluster_env(), log)
    try:
        run = wait_for(
            lambda: scheduler_runs(EVALUATE).filter(status=Run.SUCCESS).first(),
            timeout=90,
            what="scheduled evaluate_health run",
            logs=[log],
        )
        assert run.args == {"trigger": "schedule"}
        wait_for(
            lambda: Run.objects.filter(pipeline__name="test.sleeper", status=Run.STARTED).exists(),
            timeout=30,
            what="sleeper run",
            logs=[log],
        )
    finally:
        took = stop(cluster)
    assert took < 10, f"qcluster took {took:.1f} s to stop"
    assert cluster.returncode == 0
    sleeper = Run.objects.get(pipeline__name="test.sleeper")
    assert (sleeper.status, sleeper.error_type) == (Run.FAILED, "opshealth.cluster.ShutdownInterrupt")
    assert "the task cluster was stopping" in sleeper.error_message


@pytest.mark.services
def test_two_clusters_sharing_redis_run_each_tick_exactly_once(tmp_path, monkeypatch):
    redis = pytest.importorskip("redis")
    url = os.environ.get("OPSHEALTH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", str(exc))
    monkeypatch.setenv("OPSHEALTH_SCHEDULE_EVALUATE_HEALTH", "* * * * *")
    for var, value in OTHER_JOBS_OFF.items():
        monkeypatch.setenv(var, value)
    schedules.apply()
    # Redis is shared by the whole machine: this run's own key prefix.
    env = cluster_env(REDIS_URL=url, Q_NAME=f"opshealth-test-{os.getpid()}")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    clusters = [start_cluster(env, log) for log in logs]
    started = timezone.now()
    try:
        wait_for(
            lambda: scheduler_runs(EVALUATE).filter(status__in=Run.TERMINAL).count() >= 3,
            timeout=270,
            what="three scheduled evaluations",
            logs=logs,
        )
    finally:
        for cluster in clusters:
            stop(cluster)
        for key in client.scan_iter(f"django_q:{env['Q_NAME']}*"):
            client.delete(key)
    runs = list(Run.objects.filter(pipeline__name=EVALUATE).order_by("started_at"))
    assert all(r.status == Run.SUCCESS for r in runs), [(r.status, r.error_type) for r in runs]
    ticks = [r.started_at.replace(second=0, microsecond=0) for r in runs]
    assert len(ticks) == len(set(ticks)), "a tick ran twice"
    first = ticks[0]
    assert ticks == [first + timedelta(minutes=i) for i in range(len(ticks))], "a tick was missed"
    assert first <= started.replace(second=0, microsecond=0) + timedelta(minutes=2)
    for earlier, later in itertools.pairwise(runs):
        assert earlier.ended_at <= later.started_at, "two runs overlapped"


@pytest.mark.parametrize("stop_with", ["ctrl-c", "sigterm"])
def test_the_demo_serves_beside_a_cluster_and_stopping_it_stops_both(tmp_path, stop_with):
    psutil = pytest.importorskip("psutil")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "demo.log"
    serve = f"from opshealth.management.commands.demo import Command; Command().serve('127.0.0.1', '{port}')"
    demo = subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "shell", "-c", serve],
        env=cluster_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        cwd=settings.BASE_DIR,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:

        def serving():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/", timeout=2):
                    return False
            except urllib.error.HTTPError as exc:
                return exc.code == 401
            except OSError:
                return False

        wait_for(serving, timeout=60, what="web server", logs=[log])
        children = psutil.Process(demo.pid).children(recursive=True)
        assert any("qcluster" in " ".join(c.cmdline()) for c in children)
        started = time.monotonic()
        if stop_with == "ctrl-c":
            os.killpg(demo.pid, signal.SIGINT)  # the terminal signals its foreground group
        else:
            demo.send_signal(signal.SIGTERM)  # the demo alone: it stops its cluster
        demo.wait(15)
        _gone, alive = psutil.wait_procs(children, timeout=15 - (time.monotonic() - started))
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert alive == [], log.read_text()[-3000:]


def test_a_sigterm_to_the_whole_process_group_stops_the_cluster_within_10_s(tmp_path):
    """systemd's default KillMode and `kill -TERM -PGID` signal every process at once: the
    sentinel dies first, and the cluster's stop must not wait for it to acknowledge."""
    log = tmp_path / "qcluster.log"
    cluster = subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"],
        env=cluster_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        cwd=settings.BASE_DIR,
        start_new_session=True,
    )
    try:
        wait_for(lambda: "running." in log.read_text(), timeout=60, what="running cluster", logs=[log])
        started = time.monotonic()
        os.killpg(cluster.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            cluster.wait(15)
        took = time.monotonic() - started
    finally:
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
    assert took < 10, f"qcluster took {took:.1f} s to stop; output:\n{log.read_text()[-3000:]}"
