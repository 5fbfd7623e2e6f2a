"""The task cluster stops promptly: `manage.py qcluster` exits within 10 s of SIGTERM.

django-q2 stops by handing each worker a STOP pill behind the task it is running, so a
cluster in the middle of a discovery (timeout 30 min) takes that long to go away, and
a supervisor (systemd, Kubernetes, `make demo`) kills it half-way instead. Here:

1. `manage.py qcluster` (opshealth's command, which shadows django-q2's) creates a
   flag in shared memory before the cluster forks, and raises it on SIGTERM / SIGINT
   before django-q2's own stop;
2. each worker (connected to django-q2's `post_spawn`) polls that flag from a
   daemon thread: a task still running STOP_GRACE_S after it was set is interrupted by
   a signal to the worker's main thread, which raises `ShutdownInterrupt` inside the
   task (a psycopg query in progress is cancelled on the server);
3. `ShutdownInterrupt` is django-q2's `TimeoutException`: the task unwinds its context
   managers (a RunLogger records the run as failed, "interrupted"), the worker reports
   the failure and exits, and django-q2's stop completes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

from django_q.cluster import Cluster
from django_q.exceptions import TimeoutException
from django_q.signals import post_execute_in_worker, post_spawn, pre_execute

# Seconds a running task gets to finish on its own once the cluster is told to stop.
STOP_GRACE_S = 5
# How often a worker looks at the stop flag.
POLL_S = 0.25

# A byte of shared memory, created before the cluster forks. Not a multiprocessing.Event:
# its set() waits for every process sleeping in wait() to acknowledge, so when the whole
# process group gets SIGTERM (systemd's default KillMode, `kill -TERM -PGID`) the workers
# die first and the main process hangs in its signal handler for ever.
_stopping = None
_busy = threading.Event()  # in a worker: a task is running


class ShutdownInterrupt(TimeoutException):
    """Raised inside a task that was still running when the cluster had to stop."""


class PromptCluster(Cluster):
    """A django-q2 cluster whose stop interrupts tasks that do not end in time."""

    def __init__(self, *args, **kwargs):
        global _stopping
        _stopping = multiprocessing.get_context("fork").RawValue("b", 0)
        super().__init__(*args, **kwargs)

    def sig_handler(self, signum, frame):
        _stopping.value = 1
        super().sig_handler(signum, frame)

    def stop(self) -> bool:
        """django-q2's stop, unable to hang on a sentinel that is already gone.

        The sentinel keeps SIGTERM's default action, so a SIGTERM to the whole process
        group kills it at once; django-q2's `stop_event.set()` then waits for ever for
        that dead process to acknowledge the wake-up. The stop runs in a thread, given up
        when the sentinel is gone and it has not returned a second later.
        """
        if not _alive(self.sentinel):
            return False
        stopping = threading.Thread(target=super().stop, name="opshealth-stop", daemon=True)
        stopping.start()
        while _alive(self.sentinel):
            stopping.join(POLL_S)
        stopping.join(1)
        return not stopping.is_alive()


def _alive(process: multiprocessing.Process) -> bool:
    """`is_alive()`, but false for a process that was already reaped.

    The main process spends its life in multiprocessing's exit-time `join()` of the
    sentinel. When a SIGTERM to the whole group lands just as that `waitpid()` reaps the
    dead sentinel, the handler runs before the exit code is stored; `is_alive()` then
    gets ECHILD from its own `waitpid()` and answers True for ever.
    """
    if not process.is_alive():
        return False
    try:
        os.kill(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _interrupt(signum, frame):
    # Between two tasks there is nothing to interrupt: the worker is about to take its STOP.
    if _busy.is_set():
        raise ShutdownInterrupt(
            f"interrupted: the task cluster was stopping and the task was still running {STOP_GRACE_S} s later"
        )


def _interrupt_when_stopping() -> None:
    while not _stopping.value:
        time.sleep(POLL_S)
    time.sleep(STOP_GRACE_S)
    if _busy.is_set():
        # Delivered to the main thread, where the task runs.
        os.kill(os.getpid(), signal.SIGUSR1)


def _watch(**kwargs) -> None:
    """In each worker of a PromptCluster, as it starts."""
    if _stopping is None:  # a cluster started otherwise (django-q2's own command)
        return
    signal.signal(signal.SIGUSR1, _interrupt)
    threading.Thread(target=_interrupt_when_stopping, name="opshealth-stop-watch", daemon=True).start()


def _task_starts(**kwargs) -> None:
    _busy.set()


def _task_ends(**kwargs) -> None:
    _busy.clear()


def connect() -> None:
    post_spawn.connect(_watch, dispatch_uid="opshealth.cluster.watch")
    pre_execute.connect(_task_starts, dispatch_uid="opshealth.cluster.task_starts")
    post_execute_in_worker.connect(_task_ends, dispatch_uid="opshealth.cluster.task_ends")
