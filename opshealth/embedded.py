"""A private PostgreSQL for when no DATABASE_URL is given.

`pgserver` ships PostgreSQL binaries as a wheel; where it has none for the running
Python we fall back to `initdb`/`pg_ctl` found on the PATH (or in Debian's
/usr/lib/postgresql/*/bin). Either way the server listens only on a Unix socket,
keeps running after the process that started it exits (so `manage.py` calls and the
test suite reuse it), and survives crashes: a stale postmaster.pid is detected and the
server restarted.
"""

from __future__ import annotations

import fcntl
import glob
import logging
import os
import shutil
import subprocess
import time
import warnings
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


class EmbeddedPostgresUnavailable(RuntimeError):
    """Neither pgserver nor a local PostgreSQL installation could be used."""


@dataclass(frozen=True)
class EmbeddedServer:
    socket_dir: str
    port: int
    user: str = "postgres"

    def settings(self, dbname: str) -> dict:
        """A Django DATABASES entry for `dbname` on this server."""
        return {
            # PostgreSQL's backend, restarting this server when it finds it down.
            "ENGINE": "opshealth.embedded_backend",
            "NAME": dbname,
            "USER": self.user,
            "PASSWORD": "",
            "HOST": self.socket_dir,
            "PORT": str(self.port),
            "CONN_MAX_AGE": 0,
        }

    def dsn(self, dbname: str) -> str:
        return f"host={self.socket_dir} port={self.port} user={self.user} dbname={dbname}"


@contextmanager
def _file_lock(path: Path):
    # Two processes starting the same data directory at once (make demo beside a
    # test run, two manage.py calls) must not both run initdb or pg_ctl start.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def start(data_dir: Path) -> EmbeddedServer:
    """Start (or reuse) the embedded server whose data lives in `data_dir`."""
    data_dir = Path(data_dir).resolve()
    with _file_lock(data_dir.parent / f".{data_dir.name}.lock"):
        with warnings.catch_warnings():
            # platformdirs warns on import when XDG_RUNTIME_DIR is unset (cron, CI).
            warnings.simplefilter("ignore")
            try:
                import pgserver  # noqa: F401
            except ImportError:
                return _start_with_pg_ctl(data_dir)
        return _start_with_pgserver(data_dir)


def _start_with_pgserver(data_dir: Path) -> EmbeddedServer:
    import pgserver
    import pgserver.utils

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # cleanup_mode=None: the server outlives this process and is reused next time.
    try:
        server = pgserver.get_server(data_dir, cleanup_mode=None)
    except (subprocess.SubprocessError, OSError, AssertionError):
        # pgserver gives `pg_ctl start` a hard 10 s and asserts on a postmaster.pid it
        # reads half-written; on a loaded machine the server comes up just after that.
        # Wait for it, then a second attempt reuses it (or starts it again).
        logger.warning("embedded PostgreSQL in %s did not start at the first attempt; retrying", data_dir)
        _wait_while_starting(data_dir)
        pgserver.PostgresServer._instances.pop(data_dir, None)
        server = pgserver.get_server(data_dir, cleanup_mode=None)
    info = pgserver.utils.PostmasterInfo.read_from_pgdata(data_dir)
    if info is None or not info.is_running():
        # pgserver caches one handle per data directory for the life of the process;
        # after the server died underneath it, drop the handle and start afresh.
        pgserver.PostgresServer._instances.pop(data_dir, None)
        server = pgserver.get_server(data_dir, cleanup_mode=None)
        info = server.get_postmaster_info()
    return EmbeddedServer(socket_dir=str(info.socket_dir), port=info.port or 5432)


def _wait_while_starting(data_dir: Path, timeout_s: float = 60) -> None:
    """Return once no postmaster of `data_dir` is on its way up (ready, or none at all)."""
    deadline = time.monotonic() + timeout_s
    while _is_starting(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)


def _is_starting(data_dir: Path) -> bool:
    import pgserver.utils

    try:
        info = pgserver.utils.PostmasterInfo.read_from_pgdata(data_dir)
    except (AssertionError, OSError, ValueError):
        return True  # postmaster.pid is being written right now
    return info is not None and info.is_running() and info.status != "ready"


def _find_pg_bin() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _running_postmaster(data_dir: Path) -> EmbeddedServer | None:
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    try:
        os.kill(int(lines[0]), 0)
    except (ProcessLookupError, ValueError, IndexError):
        return None  # stale after a crash: pg_ctl start removes it
    except PermissionError:
        pass  # running as another user: alive
    return EmbeddedServer(socket_dir=lines[4], port=int(lines[3]))


def _start_with_pg_ctl(data_dir: Path) -> EmbeddedServer:
    running = _running_postmaster(data_dir)
    if running:
        return running
    bin_dir = _find_pg_bin()
    if bin_dir is None:
        raise EmbeddedPostgresUnavailable(
            "OpsHealth needs PostgreSQL. Either set DATABASE_URL to a server you have, "
            "install the 'pgserver' package (wheels for Python 3.9-3.12), or install "
            "PostgreSQL's server binaries (Debian/Ubuntu: apt-get install postgresql; "
            "macOS: brew install postgresql) so that initdb and pg_ctl are on the PATH."
        )
    if os.geteuid() == 0:
        raise EmbeddedPostgresUnavailable(
            "PostgreSQL refuses to run as root and the 'pgserver' package (which handles "
            "that) is not installed for this Python. Set DATABASE_URL, or use Python <= 3.12."
        )
    if not (data_dir / "PG_VERSION").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [bin_dir / "initdb", "-D", data_dir, "-U", "postgres", "--auth=trust", "-E", "utf8"],
            check=True,
            capture_output=True,
        )
    subprocess.run(
        [
            bin_dir / "pg_ctl",
            "-D",
            data_dir,
            "-w",
            "-l",
            data_dir / "log",
            "-o",
            f'-h "" -k {data_dir}',
            "start",
        ],
        check=True,
        capture_output=True,
    )
    return _running_postmaster(data_dir)


def ensure_database(server: EmbeddedServer, dbname: str) -> None:
    """Create `dbname` on the server if it does not exist yet (race-safe)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.dsn("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if exists:
            return
        # Another process may create it between our check and our CREATE.
        with suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
