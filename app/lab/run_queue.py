"""The server-wide line of training runs: at most ``max_runs`` train at once, the others wait their turn.

A classroom shares one server and two cores, so :func:`run_queue` caps the runs training at the same time
(``$SMARTFLOW_MAX_RUNS``, default 2). A run enters the line when it starts (so its position is right at once), its
thread blocks in :meth:`RunQueue.wait_turn` until a slot is free, and it gives the slot back when it ends. A paused
run keeps its slot. Pages show a queued run's position from :meth:`RunQueue.position`.

No Streamlit here: the queue is tested on its own.
"""
from __future__ import annotations

import os
import threading

MAX_RUNS_ENV = "SMARTFLOW_MAX_RUNS"


def _check_max(max_runs) -> None:
    if isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1:
        raise ValueError(f"max_runs must be a whole number >= 1, got {max_runs!r}")


class RunQueue:
    """At most ``max_runs`` runs train at once; the others wait first come, first served."""

    def __init__(self, max_runs: int = 2) -> None:
        _check_max(max_runs)
        self._max = int(max_runs)
        self._cond = threading.Condition()
        self._waiting: list = []
        self._active: list = []

    @property
    def max_runs(self) -> int:
        return self._max

    def set_max_runs(self, max_runs: int) -> None:
        _check_max(max_runs)
        with self._cond:
            self._max = int(max_runs)
            self._cond.notify_all()

    def enter(self, run) -> None:
        """Join the back of the line (called by :meth:`TrainingRun.start`, so positions are right at once)."""
        with self._cond:
            self._waiting.append(run)

    def wait_turn(self, run, cancelled: threading.Event) -> bool:
        """Block the run's thread until it holds a slot (True) or it left the line (False)."""
        with self._cond:
            while run in self._waiting and not cancelled.is_set():
                if self._waiting[0] is run and len(self._active) < self._max:
                    self._waiting.pop(0)
                    self._active.append(run)
                    self._cond.notify_all()
                    return True
                self._cond.wait(1.0)
            self._drop(run)
            return False

    def cancel(self, run) -> None:
        """Leave the line without waiting (a queued run that is stopped)."""
        with self._cond:
            self._drop(run)

    def release(self, run) -> None:
        """Give the slot back (every ending: done, stopped, error, diverged)."""
        with self._cond:
            if run in self._active:
                self._active.remove(run)
            self._cond.notify_all()

    def position(self, run) -> int:
        """1 for the next run to start, 2 after it...; 0 when ``run`` is not waiting."""
        with self._cond:
            return self._waiting.index(run) + 1 if run in self._waiting else 0

    def counts(self) -> tuple[int, int]:
        """(runs training, runs waiting)."""
        with self._cond:
            return len(self._active), len(self._waiting)

    def _drop(self, run) -> None:
        if run in self._waiting:
            self._waiting.remove(run)
            self._cond.notify_all()

    def __repr__(self) -> str:
        active, waiting = self.counts()
        return f"RunQueue(max_runs={self._max}, active={active}, waiting={waiting})"


_QUEUE: RunQueue | None = None
_QUEUE_LOCK = threading.Lock()


def run_queue() -> RunQueue:
    """The server-wide queue, created on first use with ``$SMARTFLOW_MAX_RUNS`` slots (default 2)."""
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            raw = os.environ.get(MAX_RUNS_ENV, "2")
            try:
                _QUEUE = RunQueue(int(raw))
            except ValueError:
                raise ValueError(f"{MAX_RUNS_ENV} must be a whole number >= 1, got {raw!r}") from None
        return _QUEUE


__all__ = ["RunQueue", "run_queue", "MAX_RUNS_ENV"]
