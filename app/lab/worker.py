"""The entry of a training run's worker process: make the process polite and mortal, then train.

:class:`app.lab.run.TrainingRun` starts :func:`main` in a process of its own (``multiprocessing``, spawn context),
so a run computes on a core of its own instead of holding the web process that runs every learner's page script.
Before NumPy loads (this module imports none), :func:`main`

- sets ``OPENBLAS_NUM_THREADS=1`` (docs/ARCHITECTURE.md, Streamlit rule S1: one BLAS thread per process);
- lowers the process's priority (``os.nice``: +10, or ``$SMARTFLOW_TRAIN_NICE``), so a page's rerun wins the
  core over a training step, and raises its ``oom_score_adj``, so when memory runs out the kernel ends a run
  rather than the server;
- asks Linux for SIGTERM when the web process dies (``prctl(PR_SET_PDEATHSIG)``) and names itself
  ``smartflow-train`` (``/proc/<pid>/comm``, what ``ps`` and the tests see);
- starts a listener thread that reads the handle's commands (pause, resume, stop) and is also the watchdog: it
  ends the process when the pipe reaches its end or the parent changes (the web process is gone), and ends the run
  itself when a stop has waited :data:`STOP_FAST` s for a long batch or evaluation (so Stop acts within a second).

Then :mod:`app.lab.training` trains. No Streamlit here.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

NICE_ENV = "SMARTFLOW_TRAIN_NICE"
NICE = 10  # how much lower than the web process a run is scheduled (0-19; $SMARTFLOW_TRAIN_NICE changes it)
OOM_SCORE_ADJ = 500  # of -1000..1000: the kernel's out-of-memory killer picks this process before the server
WATCH_EVERY = 0.5  # seconds between the watchdog's checks of the parent
STOP_FAST = 0.6  # seconds a stop may wait for the batch (or evaluation) under way before the run ends without it
PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15
PROCESS_NAME = b"smartflow-train"
PARENT_GONE = 75  # the exit code when the worker ends itself because the web process is gone


def _linux_prctl() -> None:
    """SIGTERM when the parent dies, and a name for the process; nothing where prctl does not exist."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(PROCESS_NAME), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def nice_step() -> int:
    """How many steps of niceness a worker adds to its parent's: ``$SMARTFLOW_TRAIN_NICE`` or :data:`NICE`."""
    try:
        return min(max(int(os.environ.get(NICE_ENV, NICE)), 0), 19)
    except ValueError:
        return NICE


def _polite() -> None:
    try:
        os.nice(nice_step())
    except OSError:
        pass
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(OOM_SCORE_ADJ))
    except OSError:
        pass


def _listen(conn, parent_pid: int, go: threading.Event, stop: threading.Event, abandon) -> None:
    """The commands from the handle, and the watchdog: a parent that is gone ends this process at once. A stop
    that the training has not obeyed within :data:`STOP_FAST` s is carried out here: ``abandon()``, then exit."""
    from app.lab import wire

    stopped_at = None
    while True:
        if os.getppid() != parent_pid:
            os._exit(PARENT_GONE)
        if stopped_at is not None and time.monotonic() - stopped_at > STOP_FAST:
            try:
                abandon()
            finally:
                os._exit(0)
        try:
            if not conn.poll(WATCH_EVERY if stopped_at is None else STOP_FAST / 5):
                continue
            header, _ = wire.recv(conn)
        except (EOFError, OSError, wire.WireError):
            os._exit(PARENT_GONE)  # the web process closed its end or died: nobody is left to report to
        kind = header.get("kind")
        if kind == "pause":
            go.clear()
        elif kind == "resume":
            go.set()
        elif kind == "stop":
            stop.set()
            go.set()
            stopped_at = stopped_at or time.monotonic()


def main(conn, parent_pid: int) -> None:
    """Run one training run: read the start message from ``conn``, train, report, exit."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before NumPy loads in this process
    _linux_prctl()
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(PARENT_GONE)
    _polite()
    from app.lab import training, wire

    try:
        header, arrays = wire.recv(conn)
    except (EOFError, OSError):
        os._exit(PARENT_GONE)
    go, stop = threading.Event(), threading.Event()
    if not header.get("paused"):
        go.set()
    run = training.Training(conn, header, arrays, go, stop)
    threading.Thread(target=_listen, args=(conn, parent_pid, go, stop, run.abandon), name="smartflow-listen",
                     daemon=True).start()
    run.run()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # at once: the listener thread may be waiting on the pipe, and the handle has the end message


__all__ = ["main", "nice_step", "NICE", "NICE_ENV", "PROCESS_NAME", "PARENT_GONE"]
