"""The embedded PostgreSQL: reused across processes, restarted after a crash."""

import subprocess
import sys
import textwrap

import psutil
from django.conf import settings
from django.db import connection

from opshealth import embedded


def test_settings_point_at_a_real_postgresql(db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        assert int(cursor.fetchone()[0]) >= 150000
    assert connection.vendor == "postgresql"


def test_start_twice_reuses_the_running_server():
    if settings.EMBEDDED_POSTGRES is None:
        return  # DATABASE_URL given: nothing embedded to reuse
    first = embedded.start(settings.OPSHEALTH_DATA_DIR)
    second = embedded.start(settings.OPSHEALTH_DATA_DIR)
    assert first == second == settings.EMBEDDED_POSTGRES


def test_two_processes_at_once_share_one_server(tmp_path):
    script = textwrap.dedent(
        f"""
        from opshealth import embedded
        server = embedded.start({str(tmp_path / "pg")!r})
        embedded.ensure_database(server, "shared")
        print(server.socket_dir, server.port)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs[0] == outputs[1]
    _stop(tmp_path / "pg")


def test_restart_after_a_crash_with_a_stale_pid_file(tmp_path):
    data_dir = tmp_path / "pg"
    server = embedded.start(data_dir)
    pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    subprocess.run(["kill", "-9", str(pid)], check=True)
    psutil.wait_procs([psutil.Process(pid)], timeout=10)
    # The postmaster.pid stays behind, as after a power cut.
    assert (data_dir / "postmaster.pid").exists()
    restarted = embedded.start(data_dir)
    embedded.ensure_database(restarted, "after_crash")
    assert restarted.socket_dir
    del server
    _stop(data_dir)


def _stop(data_dir):
    pid_file = data_dir / "postmaster.pid"
    if pid_file.exists():
        subprocess.run(["kill", pid_file.read_text().splitlines()[0]], check=False)
