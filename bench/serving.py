"""What the benchmarks share about the server under test: its CPU time and wrk's summary.

CPU time per request (gunicorn's processes and the database backends, read from /proc)
does not depend on what else the machine runs, unlike a rate or a latency, so it is
the figure to compare between runs on a shared machine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


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
