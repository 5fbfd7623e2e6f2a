"""The embedded PostgreSQL: reused across processes, restarted after a crash."""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import psutil
import pytest
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
        subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    assert results[0][0].strip() == results[1][0].strip()
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


# --- The initdb/pg_ctl fallback (a Python without pgserver wheels) -------------------

FALLBACK_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["pgserver"] = None  # as on a Python for which pgserver has no wheel
    import psycopg
    from opshealth import embedded
    data_dir = sys.argv[1]
    server = embedded.start(data_dir)
    embedded.ensure_database(server, "fallback")
    with psycopg.connect(server.dsn("fallback")) as conn:
        conn.execute("SELECT 1")
    print(server.socket_dir, server.port, embedded.start(data_dir) == server)
    """
)


def _fallback_command(data_dir) -> list[str] | None:
    """How to run the fallback: PostgreSQL refuses to run as root, so as root the
    script runs as `nobody` with the system Python (root's pyenv is unreadable to it)."""
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    pythonpath = f"{settings.BASE_DIR}:{site_packages}"
    if os.geteuid() != 0:
        return ["env", f"PYTHONPATH={pythonpath}", sys.executable, "-c", FALLBACK_SCRIPT, str(data_dir)]
    system_python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not (shutil.which("runuser") and os.path.exists(system_python)):
        return None
    return [
        "runuser", "-u", "nobody", "--", "env", f"HOME={data_dir.parent}", f"PYTHONPATH={pythonpath}",
        system_python, "-c", FALLBACK_SCRIPT, str(data_dir),
    ]  # fmt: skip


@pytest.fixture
def fallback_dir(tmp_path):
    """A directory the server's user can write: pytest's own tmp dirs are root-only."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    parent = tempfile.mkdtemp(prefix="opshealth-fallback-")
    shutil.chown(parent, "nobody")
    yield Path(parent)
    shutil.rmtree(parent, ignore_errors=True)


def test_fallback_to_initdb_and_pg_ctl_starts_reuses_and_survives_a_crash(fallback_dir):
    if embedded._find_pg_bin() is None:
        pytest.skip("no initdb/pg_ctl on this machine")
    data_dir = fallback_dir / "pg"
    command = _fallback_command(data_dir)
    if command is None:
        pytest.skip("running as root without runuser or a system Python to run PostgreSQL as nobody")
    try:
        first = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        socket_dir, port, reused = first.stdout.split()
        assert port.isdigit()
        assert (socket_dir, reused) == (str(data_dir), "True")
        # A crash: the postmaster dies, its pid file stays; the next start recovers.
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, 9)
        psutil.wait_procs([psutil.Process(pid)], timeout=10)
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert second.stdout.split()[0] == str(data_dir)
    finally:
        _stop(data_dir)


def test_fallback_says_what_to_install_when_postgresql_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pgserver", None)
    monkeypatch.setenv("PATH", str(tmp_path))  # no initdb on the PATH …
    monkeypatch.setattr(embedded.glob, "glob", lambda pattern: [])  # … nor under /usr/lib/postgresql
    with pytest.raises(embedded.EmbeddedPostgresUnavailable, match="install the 'pgserver' package"):
        embedded.start(tmp_path / "pg")


def test_fallback_as_root_explains_instead_of_failing_in_initdb(tmp_path, monkeypatch):
    if os.geteuid() != 0 or embedded._find_pg_bin() is None:
        pytest.skip("only meaningful as root with PostgreSQL binaries installed")
    monkeypatch.setitem(sys.modules, "pgserver", None)
    with pytest.raises(embedded.EmbeddedPostgresUnavailable, match="refuses to run as root"):
        embedded.start(tmp_path / "pg")
    assert not (tmp_path / "pg").exists()
