"""The server-wide line of training runs: at most ``max_runs`` train at once, the others wait their turn.

A classroom shares one server and two cores, so :func:`run_queue` caps the runs training at the same time
(``$SMARTFLOW_MAX_RUNS``, default 2). A run enters the line when it starts (so its position is right at once), its
thread blocks in :meth:`RunQueue.wait_turn` until a slot is free, and it gives the slot back when it ends. A paused
run keeps its slot. Pages show a queued run's position from :meth:`RunQueue.position`.

A class server runs several app processes on one machine (``deploy/serve.py``); they share the cap through a folder
(``$SMARTFLOW_RUN_SLOTS``) of lock files, :class:`MachineSlots`: a slot is a file a run holds an ``flock`` on, a
place in the line is a ticket file, named by the time it was taken, that its run holds locked. The kernel drops the
locks of a process that dies, so a crashed process never keeps a slot; a ticket left unlocked is deleted by the
next process that sees it. The line is first come, first served across every process.

No Streamlit here: the queue is tested on its own.
"""
from __future__ import annotations

import fcntl
import itertools
import os
import threading
import time
from pathlib import Path

MAX_RUNS_ENV = "SMARTFLOW_MAX_RUNS"
SLOTS_ENV = "SMARTFLOW_RUN_SLOTS"
POLL = 0.25  # seconds between looks at the machine's slots while a run waits for one


def _check_max(max_runs) -> None:
    if isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1:
        raise ValueError(f"max_runs must be a whole number >= 1, got {max_runs!r}")


def _try_lock(path: Path, create: bool = False) -> int | None:
    """An open descriptor of ``path`` holding an exclusive flock, or None when another holder has it (or it is
    gone)."""
    try:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class MachineSlots:
    """``max_runs`` slots shared by every process that uses ``folder``, and their first-come line."""

    _names = itertools.count()

    def __init__(self, folder: str | Path, max_runs: int) -> None:
        _check_max(max_runs)
        self.folder, self.max_runs = Path(folder), int(max_runs)
        self.folder.mkdir(parents=True, exist_ok=True)

    def ticket(self) -> tuple[str, int]:
        """A place at the back of the line: (its file's name, the descriptor that holds it locked)."""
        name = f"wait-{time.time_ns():020d}-{os.getpid()}-{next(self._names)}"
        part = self.folder / (name + ".part")  # locked before it gets its name, so nobody sees it unlocked
        fd = _try_lock(part, create=True)
        if fd is None:
            raise RuntimeError(f"could not lock {part}")
        os.rename(part, self.folder / name)
        return name, fd

    def drop(self, ticket: tuple[str, int]) -> None:
        name, fd = ticket
        (self.folder / name).unlink(missing_ok=True)
        os.close(fd)

    def line(self) -> list[str]:
        """The tickets of runs still waiting, first come first; stale ones (their process died) are deleted."""
        live = []
        for path in sorted(self.folder.glob("wait-*[0-9]")):
            fd = _try_lock(path)
            if fd is None:
                live.append(path.name)  # held: its run is waiting
            else:  # nobody holds it: the process that took it has died
                path.unlink(missing_ok=True)
                os.close(fd)
        return live

    def busy(self) -> int:
        """How many slots are held now, by any process."""
        held = 0
        for k in range(self.max_runs):
            fd = _try_lock(self.folder / f"slot-{k}", create=True)
            if fd is None:
                held += 1
            else:
                os.close(fd)
        return held

    def take(self, ticket: tuple[str, int]) -> int | None:
        """A held slot's descriptor when ``ticket`` is at the front of the line and a slot is free, else None.
        The ticket is dropped once it holds a slot."""
        line = self.line()
        if ticket[0] not in line[: max(self.max_runs - self.busy(), 0)]:
            return None
        for k in range(self.max_runs):
            fd = _try_lock(self.folder / f"slot-{k}", create=True)
            if fd is not None:
                self.drop(ticket)
                return fd
        return None

    def position(self, ticket: tuple[str, int]) -> int:
        line = self.line()
        return line.index(ticket[0]) + 1 if ticket[0] in line else 0


class RunQueue:
    """At most ``max_runs`` runs train at once; the others wait first come, first served. With ``slots`` (a
    folder), the cap and the line are shared by every process on the machine that uses the same folder."""

    def __init__(self, max_runs: int = 2, slots: str | Path | None = None) -> None:
        _check_max(max_runs)
        self._max = int(max_runs)
        self._cond = threading.Condition()
        self._waiting: list = []
        self._active: list = []
        self._machine = MachineSlots(slots, self._max) if slots else None
        self._held: dict[int, tuple[str, int] | int] = {}  # id(run) -> its ticket while waiting, its slot's fd after

    @property
    def max_runs(self) -> int:
        return self._max

    def set_max_runs(self, max_runs: int) -> None:
        _check_max(max_runs)
        with self._cond:
            self._max = int(max_runs)
            if self._machine is not None:
                self._machine.max_runs = self._max
            self._cond.notify_all()

    def enter(self, run) -> None:
        """Join the back of the line (called by :meth:`TrainingRun.start`, so positions are right at once)."""
        with self._cond:
            self._waiting.append(run)
            if self._machine is not None:
                self._held[id(run)] = self._machine.ticket()

    def wait_turn(self, run, cancelled: threading.Event) -> bool:
        """Block the run's thread until it holds a slot (True) or it left the line (False)."""
        with self._cond:
            while run in self._waiting and not cancelled.is_set():
                if self._machine is not None:
                    fd = self._machine.take(self._held[id(run)])
                    if fd is not None:
                        self._held[id(run)] = fd
                        self._waiting.remove(run)
                        self._active.append(run)
                        self._cond.notify_all()
                        return True
                    self._cond.wait(POLL)
                    continue
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
                held = self._held.pop(id(run), None)
                if isinstance(held, int):
                    os.close(held)  # the slot is free for any process
            self._cond.notify_all()

    def position(self, run) -> int:
        """1 for the next run to start, 2 after it...; 0 when ``run`` is not waiting."""
        with self._cond:
            if run not in self._waiting:
                return 0
            if self._machine is not None:
                return self._machine.position(self._held[id(run)])
            return self._waiting.index(run) + 1

    def counts(self) -> tuple[int, int]:
        """(runs training, runs waiting), on the whole machine when the slots are shared."""
        with self._cond:
            if self._machine is not None:
                return self._machine.busy(), len(self._machine.line())
            return len(self._active), len(self._waiting)

    def _drop(self, run) -> None:
        if run in self._waiting:
            self._waiting.remove(run)
            held = self._held.pop(id(run), None)
            if isinstance(held, tuple):
                self._machine.drop(held)
            self._cond.notify_all()

    def __repr__(self) -> str:
        active, waiting = self.counts()
        return f"RunQueue(max_runs={self._max}, active={active}, waiting={waiting})"


_QUEUE: RunQueue | None = None
_QUEUE_LOCK = threading.Lock()


def run_queue() -> RunQueue:
    """The server-wide queue, created on first use with ``$SMARTFLOW_MAX_RUNS`` slots (default 2), shared by the
    machine's app processes when ``$SMARTFLOW_RUN_SLOTS`` names their common folder."""
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            raw = os.environ.get(MAX_RUNS_ENV, "2")
            try:
                max_runs = int(raw)
                _check_max(max_runs)
            except ValueError:
                raise ValueError(f"{MAX_RUNS_ENV} must be a whole number >= 1, got {raw!r}") from None
            _QUEUE = RunQueue(max_runs, os.environ.get(SLOTS_ENV) or None)
        return _QUEUE


__all__ = ["MachineSlots", "RunQueue", "run_queue", "MAX_RUNS_ENV", "SLOTS_ENV"]
