"""The relay thread of a :class:`app.lab.run.TrainingRun`, in the web process: it starts the run's worker
process when the run gets its slot, and carries everything between the two.

:class:`Relay` is the handle's half that runs on that thread (``TrainingRun`` inherits it): it waits for the slot
in the :class:`app.lab.run_queue.RunQueue`, starts :func:`app.lab.worker.main` (spawn context, so the worker
starts from a clean interpreter, not a copy of the web process and its threads), sends the start message
(:mod:`app.lab.wire`: the config as JSON, the data subsets and an initial network's parameters as raw arrays),
then reads the worker's messages into the handle under its lock, passes on pause, resume and stop, ends a worker
that has not exited :data:`STOP_GRACE` s after a stop (terminate, then kill), reports a worker that died without
a word as an error (:func:`crash_message`), and gives the slot back on every ending.

The spawn context would run the parent's main script again in each child ("preparing" it): under Streamlit that
is whichever page script last installed itself as ``__main__``, so a worker would import Streamlit and run the app
in bare mode. :func:`_preparation_data` leaves the main script out for our workers, which need nothing from it
(and so a script that starts runs needs no ``if __name__ == "__main__":`` guard either). No Streamlit here.
"""
from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing import spawn
from multiprocessing.connection import wait

from app.i18n import N_
from app.lab import wire, worker
from app.lab.snapshot import ACTIVE, ENDED, Status
from smartflow_core.trainer import BatchInfo, EvalInfo, History

log = logging.getLogger("app.lab.run")

THREAD_NAME = "smartflow-relay"  # the relay thread of each run, in the web process
WORKER_NAME = "smartflow-train"  # each run's worker process (its multiprocessing name and its /proc comm)
POLL = 1.0  # seconds the relay waits at most for a message or a command (a command wakes it at once)
STOP_GRACE = 3.0  # seconds a stopped worker has to exit before the relay terminates it (then kills it)
_SPAWN = multiprocessing.get_context("spawn")
_preparation_of = spawn.get_preparation_data


def _preparation_data(name: str) -> dict:
    """What a spawned child is told to prepare, without the parent's main script for a training worker."""
    data = _preparation_of(name)
    if name.startswith(WORKER_NAME):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


if getattr(spawn.get_preparation_data, "__name__", "") != _preparation_data.__name__:  # once, even on reload
    spawn.get_preparation_data = _preparation_data


def crash_message(exitcode: int | None) -> str:
    """The sentence a page shows when the worker ended without reporting."""
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = N_("an unknown signal")
        hint = N_(", perhaps out of memory") if number == signal.SIGKILL else ""
        return N_("The training process ended unexpectedly (killed by signal {number}, {name}{hint}).").format(
            number=number, name=name, hint=hint)
    return N_("The training process ended unexpectedly (exit code {exitcode}).").format(exitcode=exitcode)


def workers() -> list[int]:
    """The process ids of the training workers of this process that are still alive."""
    return [p.pid for p in multiprocessing.active_children() if p.name.startswith(WORKER_NAME)]


class Relay:
    """The relay thread's methods of :class:`app.lab.run.TrainingRun` (which holds the state they update)."""

    def _nudge(self) -> None:
        """Wake the relay for a new command (called under the handle's lock; never blocks)."""
        wake = self._wake
        if wake is not None:
            try:
                wake[1].send(b"!")
            except OSError:  # full (it is awake anyway) or closed (it has ended)
                pass

    def _relay(self) -> None:
        has_slot = False
        try:
            has_slot = self._queue.wait_turn(self, self._stop)
            if has_slot and not self._stop.is_set():
                with self._lock:
                    if self._status == Status.QUEUED:  # it holds its slot: no longer in the line
                        self._status = Status.RUNNING
                self._watch(*self._spawn())
        except Exception as exc:  # never let a run take the server down: report it instead
            log.exception("training run %r failed", self.label)
            self._end(Status.ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            self._reap()
            if self._status not in ENDED:
                self._end(Status.STOPPED)
            if has_slot:
                self._queue.release(self)
            self._data, self._initial = None, None
            with self._lock:  # under the lock: a _nudge never writes to a closed socket
                for end in self._wake or ():
                    end.close()
                self._wake = None
            self._ended.set()

    def _spawn(self):
        """Start the worker and send it the start message; returns the web process's end of the pipe and whether
        the worker was told to train (True) or to wait paused."""
        wake = socket.socketpair()
        wake[1].setblocking(False)
        with self._lock:
            self._wake = wake
        mine, theirs = _SPAWN.Pipe(duplex=True)
        process = _SPAWN.Process(target=worker.main, args=(theirs, os.getpid()), daemon=True,
                                 name=f"{WORKER_NAME} {self.label}"[:60])
        try:
            process.start()
        except OSError as exc:  # no memory or processes left to start it
            mine.close()
            raise RuntimeError(f"could not start the training process ({exc})") from None
        finally:
            theirs.close()  # ours is closed: the pipe reaches its end when the worker dies
        self._process, self.pid = process, process.pid
        initial, go = self._initial, self._go.is_set()
        header = {"kind": "start", "config": dataclasses.asdict(self.config), "publish_every": self.publish_every,
                  "n_train": self.n_train, "n_test": self.n_test, "paused": not go,
                  "initial": initial[0] if initial is not None else None}
        arrays = list(self._data) + (list(initial[1]) if initial is not None else [])
        self._data, self._initial = None, None  # the worker has its own copies now
        try:
            wire.send(mine, header, arrays)
        except OSError:
            pass  # it died at once: _watch reports how
        return mine, go

    def _watch(self, conn, sent_go: bool) -> None:
        """Read the worker's messages, pass it the commands, end it after a stop it does not obey."""
        process, sent_stop, stop_seen, ended = self._process, False, None, False
        try:
            while not ended:
                if self._stop.is_set() and not sent_stop:
                    self._command(conn, "stop")
                    sent_stop, stop_seen = True, time.monotonic()
                elif not sent_stop and self._go.is_set() != sent_go:
                    sent_go = self._go.is_set()
                    self._command(conn, "resume" if sent_go else "pause")
                if stop_seen is not None and time.monotonic() - stop_seen > STOP_GRACE:
                    log.warning("training run %r did not stop within %s s: ending its process", self.label, STOP_GRACE)
                    self._end(Status.STOPPED)
                    self._overdue = True
                    return
                ready = wait([conn, process.sentinel, self._wake[0]], POLL)
                if self._wake[0] in ready:
                    self._wake[0].recv(4096)  # a command came: the loop's top sends it
                    continue
                if conn in ready:
                    try:
                        ended = self._receive(*wire.recv(conn))
                    except (EOFError, OSError):
                        break
                elif ready:  # the process ended and nothing is left to read
                    break
        finally:
            conn.close()
        if not ended:
            process.join(1.0)
            if self._stop.is_set() and process.exitcode in (0, worker.PARENT_GONE, None):
                self._end(Status.STOPPED)
            else:
                self._end(Status.ERROR, crash_message(process.exitcode))

    def _command(self, conn, kind: str) -> None:
        try:
            wire.send(conn, {"kind": kind})
        except OSError:
            pass  # the worker is gone: the sentinel says so next

    def _receive(self, header: dict, arrays) -> bool:
        """Apply one message to the handle; True for the last one."""
        kind = header.get("kind")
        if kind == "progress":
            last = header.get("last")
            with self._lock:
                self._losses.extend((int(s), float(v)) for s, v in header["losses"])
                self._evals.extend(EvalInfo(**e) for e in header["evals"])
                self._grads.extend((int(s), tuple(v)) for s, v in header["grads"])
                if "grad_labels" in header and not self._grad_labels:
                    self._grad_labels = tuple(header["grad_labels"])
                self._last = BatchInfo(**last) if last else self._last
                self._train_seconds, self._images_done = header["train_seconds"], header["images"]
                self._lr = header["lr"]
                self._clock(header["seconds"])
        elif kind == "weights":
            params = tuple(arrays)
            with self._lock:
                self._params, self._arch = params, header["arch"]
                self._filters = params[header["filters"]] if header.get("filters") is not None else None
        elif kind == "start":  # every convolution's filters as the run begins, once
            with self._lock:
                self._start_filters = (tuple(header["layers"]), tuple(header["index"]), tuple(arrays))
        elif kind == "status":
            with self._lock:
                if self._status in ACTIVE:
                    self._status = Status(header["status"])
                self._clock(header["seconds"])
        elif kind == "end":
            if self._queue is not None:
                self._queue.release(self)  # before the status: a page that sees the end sees the slot free
            record = header.get("history")
            if record is not None:
                self.history = History(
                    batch_losses=[(int(s), float(v)) for s, v in record["batch_losses"]],
                    evals=[EvalInfo(**e) for e in record["evals"]], epochs_completed=record["epochs_completed"],
                    stopped=record["stopped"], diverged=record["diverged"], early_stopped=record["early_stopped"],
                    seconds=record["seconds"])
            with self._lock:
                self._clock(header["seconds"])
            self._end(Status(header["status"]), header.get("message"))
            return True
        return False

    def _clock(self, seconds: float) -> None:
        self._seconds, self._seconds_at = float(seconds), time.perf_counter()

    def _reap(self) -> None:
        """Wait for the worker to exit (``STOP_GRACE`` s at most, none when a stop already waited that long);
        terminate it, then kill it, if it lingers."""
        process = self._process
        if process is None:
            return
        process.join(0 if self._overdue else STOP_GRACE)
        for end in (process.terminate, process.kill):
            if process.exitcode is not None:
                break
            end()
            process.join(2.0)
        if process.exitcode is not None:
            process.close()


__all__ = ["Relay", "THREAD_NAME", "WORKER_NAME", "STOP_GRACE", "crash_message", "workers"]
