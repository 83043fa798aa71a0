"""Train a CNN on MNIST live: one run in a worker process of its own, watched through :class:`TrainingRun`.

A page builds a :class:`app.lab.config.TrainConfig`, hands it and the shared read-only MNIST arrays to a
:class:`TrainingRun`, starts it through the session's slot (:mod:`app.lab.slot`), and polls
:meth:`TrainingRun.snapshot` (an :class:`app.lab.snapshot.Snapshot` of copies) from a ticking fragment.

The web process keeps only this light handle. When the run gets its slot in the server's
:class:`app.lab.run_queue.RunQueue`, its *relay thread* starts the worker (:func:`app.lab.worker.main`, spawn
context, lower priority, one BLAS thread), sends it the config, the data subsets and any initial network as raw
arrays (:mod:`app.lab.wire`: JSON headers and raw bytes, never pickle), then reads what the worker reports
(progress, the weights it publishes between two optimizer steps, its end) and updates the handle under a lock held
only to swap references: :meth:`~TrainingRun.snapshot` never waits for the worker. The relay also carries pause,
resume and stop to the worker, ends a worker that has not exited :data:`STOP_GRACE` s after a stop, and reports a
worker that died (a crash, SIGKILL, out of memory) as an error; the slot is given back on every ending. A paused run
keeps its slot. This module imports no Streamlit.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from app.lab import weights
from app.lab.config import TrainConfig, run_metadata
from app.lab.relay import STOP_GRACE, THREAD_NAME, WORKER_NAME, Relay, crash_message, workers
from app.lab.run_queue import RunQueue, run_queue
from app.lab.snapshot import ACTIVE, ENDED, Snapshot, Status
from smartflow_core import persist
from smartflow_core.nn import NeuralNetwork
from smartflow_core.persist import model_config
from smartflow_core.presets import INPUT_SHAPE
from smartflow_core.trainer import BatchInfo, EvalInfo, History


class TrainingRun(Relay):
    """One training run in a worker process named ``smartflow-train``, watched from a relay thread.

    ``X_train``/``X_test`` are uint8 MNIST images ``(n, 784)`` or ``(n, 28, 28)`` and ``y_*`` integer labels,
    shared and read-only: the worker gets the subsets it trains on and standardises its own floats. ``initial``
    continues training a network (a pretrained or uploaded model): its architecture and weights are copied here,
    the original is never touched, and ``config.model`` is ignored. ``start``, ``pause``, ``resume`` and ``stop``
    never block. ``pid`` is the worker's process id once it runs.
    """

    def __init__(self, config: TrainConfig, X_train, y_train, X_test, y_test, *,
                 initial: NeuralNetwork | None = None, label: str | None = None, queue: RunQueue | None = None,
                 publish_every: float = 0.3) -> None:
        self.config = config
        self.label = label or config.summary()
        self._queue = queue
        self.publish_every = publish_every
        self._initial = None
        self.continued = initial is not None
        if initial is not None:
            params = [np.array(p, copy=True) for p in initial.params()]
            if not params:
                raise ValueError("the initial network has no parameters yet: load it or run a batch through it")
            self._initial = (model_config(initial, INPUT_SHAPE), params)
        self.n_train = min(config.train_size, len(X_train))
        self.n_test = min(config.eval_test_size, len(X_test))
        self._data = (X_train[:self.n_train], y_train[:self.n_train], X_test[:self.n_test], y_test[:self.n_test])
        self.batches_per_epoch = -(-self.n_train // config.batch_size)
        self.total_steps = config.epochs * self.batches_per_epoch

        self._lock = threading.Lock()
        self._go, self._stop, self._ended = threading.Event(), threading.Event(), threading.Event()
        self._go.set()
        self._thread: threading.Thread | None = None
        self._process, self._overdue = None, False
        self._wake = None  # the relay's wake-up socket pair while its worker runs (see Relay._nudge)
        self.pid: int | None = None
        self._status, self._message, self._error = Status.IDLE, None, None
        self._last: BatchInfo | None = None
        self._losses: list[tuple[int, float]] = []
        self._evals: list[EvalInfo] = []
        self._grad_labels: tuple = ()
        self._grads: list[tuple[int, tuple]] = []
        self._params: tuple | None = None  # the last published weights, read-only
        self._filters: np.ndarray | None = None
        self._start_filters: tuple | None = None  # (layer positions, indices among the parameters, filters)
        self._arch: dict | None = None
        self._lr = config.lr
        self._seconds, self._seconds_at = 0.0, None  # the worker's training clock, and when it was read here
        self._train_seconds, self._images_done = 0.0, 0
        self.history: History | None = None

    # ------------------------------------------------------------------ controls (any thread, non-blocking)

    def start(self) -> TrainingRun:
        """Enter the queue and start the relay; the worker process starts as soon as a slot is free."""
        with self._lock:
            if self._status != Status.IDLE:
                raise RuntimeError(f"this run is already {self._status}: create a new TrainingRun to train again")
            self._status = Status.QUEUED
        if self._queue is None:
            self._queue = run_queue()
        self._queue.enter(self)
        self._thread = threading.Thread(target=self._relay, name=THREAD_NAME, daemon=True)
        try:
            self._thread.start()
        except RuntimeError as exc:  # the process cannot start another thread
            self._queue.cancel(self)
            self._end(Status.ERROR, f"could not start the training thread ({exc})")
            self._ended.set()
        return self

    def pause(self) -> None:
        """Ask the worker to wait before its next batch (status Status.PAUSED once it does)."""
        with self._lock:
            if not self._stop.is_set() and self._status in ACTIVE:
                self._go.clear()
                self._nudge()

    def resume(self) -> None:
        with self._lock:
            self._go.set()
            self._nudge()

    def stop(self) -> None:
        """End the run at the next batch boundary, from any state; a queued run leaves the queue now.

        Only sets events (the relay thread tells the worker, and ends it if it lingers), so it is safe in
        ``on_release``, which runs on the server's event loop (docs/ARCHITECTURE.md, Streamlit rule S3)."""
        with self._lock:
            self._stop.set()
            self._go.set()
            self._nudge()
            if self._status == Status.IDLE:
                self._status = Status.STOPPED
                self._ended.set()
        if self._queue is not None:
            self._queue.cancel(self)

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the run to end; True when it has (worker and relay gone)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._ended.wait(timeout):
            return False
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(None if deadline is None else max(deadline - time.monotonic(), 0))
            return not thread.is_alive()
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ reading (any thread)

    def snapshot(self) -> Snapshot:
        position = self._queue.position(self) if self._queue is not None else 0  # outside our lock: no nesting
        with self._lock:
            last, seconds = self._last, self._seconds
            if self._status == Status.RUNNING and self._seconds_at is not None:  # the clock runs on since
                seconds += time.perf_counter() - self._seconds_at
            step = last.step if last else 0
            eta = None
            if step and self._status in (Status.RUNNING, Status.PAUSED):
                eta = (self.total_steps - step) * seconds / step
            return Snapshot(
                status=self._status, label=self.label, queue_position=position if self._status == Status.QUEUED else 0,
                pause_requested=not self._go.is_set(), stop_requested=self._stop.is_set(),
                epoch=last.epoch if last else 0, epochs=self.config.epochs, batch=last.batch + 1 if last else 0,
                batches_per_epoch=self.batches_per_epoch, step=step, total_steps=self.total_steps, lr=self._lr,
                images_per_second=self._images_done / self._train_seconds if self._train_seconds else None,
                seconds=seconds, eta_seconds=eta, losses=tuple(self._losses), evals=tuple(self._evals),
                filters=self._filters, grad_labels=self._grad_labels, grad_norms=tuple(self._grads),
                message=self._message, error=self._error)

    def network_copy(self) -> NeuralNetwork | None:
        """A fresh network holding the last published weights (at most ``publish_every`` s old while training,
        exact when paused or ended), or None before the first publication. Yours to use and change."""
        with self._lock:
            params, arch = self._params, self._arch
        if params is None:
            return None
        return weights.network_from(arch, params)

    def start_and_now(self) -> tuple[tuple | None, tuple | None, dict | None]:
        """The convolutions' filters as the run began (positions, parameter indices, arrays: sent once by the
        worker), the last published weights and their architecture; None before each arrives."""
        with self._lock:
            return self._start_filters, self._params, self._arch

    def metadata(self) -> dict:
        """JSON-ready facts to save with the model: the settings, the curves, the last test accuracy."""
        return run_metadata(self.config, self.snapshot(), self.n_train, self.n_test, self.continued)

    def model_bytes(self) -> bytes | None:
        """The current weights as a ``.npz`` model file (``persist.load_model`` reads it), or None."""
        net = self.network_copy()
        return None if net is None else persist.model_bytes(net, INPUT_SHAPE, self.metadata())

    def __repr__(self) -> str:
        return f"TrainingRun({self.label!r}, status={self._status!r}, pid={self.pid})"

    def _end(self, status: str, message: str | None = None) -> None:
        with self._lock:
            if self._status in ENDED and status == Status.STOPPED:
                return  # an ending already reported stays
            self._status, self._message = status, message
            self._error = message if status == Status.ERROR else None
            self._seconds_at = None


__all__ = ["TrainingRun", "THREAD_NAME", "WORKER_NAME", "STOP_GRACE", "crash_message", "workers"]
