"""What the benchmarks share about the server under test: its CPU time and wrk's summary.

CPU time per request (gunicorn's processes and the database backends, read from /proc)
does not depend on what else the machine runs, unlike a rate or a latency, so it is
the figure to compare between runs on a shared machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def server_pids(gunicorn_pid: int, database: str) -> tuple[list[int], list[int]]:
    """gunicorn's master and workers; the PostgreSQL backends serving `database`."""
    web, db = [gunicorn_pid], []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == str(gunicorn_pid):
            web.append(int(entry.name))
        elif cmdline.startswith("postgres: ") and f" {database} " in cmdline:
            db.append(int(entry.name))
    return web, db


def run_wrk(cmd: list[str]) -> dict[str, int]:
    """Run wrk with a script that ends with bench/wrk_report.lua's summary line; its fields."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    return {k: int(v) for k, v in (item.split("=") for item in line.split()[1:])}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers: int | None) -> tuple[subprocess.Popen, str]:
    """gunicorn as deployed (deploy/gunicorn.conf.py), on a free port."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1"}
    if workers:
        env["WEB_WORKERS"] = str(workers)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "opshealth.wsgi"],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            requests.get(base + "/api/v1/lineage", timeout=10)  # a quick 401/405 once up
            return proc, base
        except requests.RequestException:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("gunicorn did not start")
