"""Train a CNN on MNIST live: one run on its background thread, :class:`TrainingRun`.

A page builds a :class:`app.lab.config.TrainConfig`, hands it and the shared read-only MNIST arrays to a
:class:`TrainingRun`, starts it through the session's slot (:mod:`app.lab.slot`), and polls
:meth:`TrainingRun.snapshot` (an :class:`app.lab.snapshot.Snapshot` of copies) from a ticking fragment.

Why pages never see half-updated weights: only the worker thread touches the live network. Between two optimizer
steps (after step 1, then every ``publish_every`` s, before blocking on a pause, at the end) it *publishes*
read-only copies of the parameters, which :meth:`~TrainingRun.snapshot` and :meth:`~TrainingRun.network_copy`
hand out; the lock is held only to swap references, never during a batch. Runs wait their turn in the server's
:class:`app.lab.run_queue.RunQueue`; a paused run keeps its slot. This module imports no Streamlit.
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np

from app.lab import inputs, weights
from app.lab.config import TrainConfig, run_metadata
from app.lab.run_queue import RunQueue, run_queue
from app.lab.snapshot import ACTIVE, ENDED, Snapshot, Status
from smartflow_core import persist
from smartflow_core.book import book_mode
from smartflow_core.nn import NeuralNetwork
from smartflow_core.persist import build_model, model_config
from smartflow_core.presets import INPUT_SHAPE
from smartflow_core.trainer import BatchInfo, EvalInfo, History, Trainer, evaluate

log = logging.getLogger(__name__)

THREAD_NAME = "smartflow-train"
EVAL_CHUNK = 500


# ---------------------------------------------------------------------------------------------- the run


class TrainingRun:
    """One training run on a background thread named ``smartflow-train``.

    ``X_train``/``X_test`` are uint8 MNIST images ``(n, 784)`` or ``(n, 28, 28)`` and ``y_*`` integer labels,
    shared and read-only: the thread standardises its own float subset. ``initial`` continues training a network
    (a pretrained or uploaded model): its architecture and weights are copied here, the original is never touched,
    and ``config.model`` is ignored. ``start``, ``pause``, ``resume`` and ``stop`` never block.
    """

    def __init__(self, config: TrainConfig, X_train, y_train, X_test, y_test, *,
                 initial: NeuralNetwork | None = None, label: str | None = None, queue: RunQueue | None = None,
                 publish_every: float = 0.3) -> None:
        self.config = config
        self.label = label or config.summary()
        self._data = (X_train, y_train, X_test, y_test)
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
        self.batches_per_epoch = -(-self.n_train // config.batch_size)
        self.total_steps = config.epochs * self.batches_per_epoch

        self._lock = threading.Lock()
        self._go, self._stop, self._ended = threading.Event(), threading.Event(), threading.Event()
        self._go.set()
        self._thread: threading.Thread | None = None
        self._status, self._message, self._error = Status.IDLE, None, None
        self._last: BatchInfo | None = None
        self._losses: list[tuple[int, float]] = []
        self._evals: list[EvalInfo] = []
        self._grad_labels: tuple = ()
        self._grads: list[tuple[int, tuple]] = []
        self._params: tuple | None = None  # published read-only copies
        self._filters: np.ndarray | None = None
        self._arch: dict | None = None
        self._published_at = 0.0
        self._lr = config.lr
        self._started_at: float | None = None
        self._paused_seconds, self._paused_since = 0.0, None
        self._train_seconds, self._images_done, self._batch_t0 = 0.0, 0, 0.0
        self._finished_at: float | None = None
        self._trainer: Trainer | None = None
        self._eval_data = None
        self.history: History | None = None

    # ------------------------------------------------------------------ controls (any thread, non-blocking)

    def start(self) -> TrainingRun:
        """Enter the queue and start the thread; it trains as soon as a slot is free."""
        with self._lock:
            if self._status != Status.IDLE:
                raise RuntimeError(f"this run is already {self._status}: create a new TrainingRun to train again")
            self._status = Status.QUEUED
        if self._queue is None:
            self._queue = run_queue()
        self._queue.enter(self)
        self._thread = threading.Thread(target=self._work, name=THREAD_NAME, daemon=True)
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

    def resume(self) -> None:
        self._go.set()

    def stop(self) -> None:
        """End the run at the next batch boundary, from any state; a queued run leaves the queue now.

        Only sets events, so it is safe in ``on_release``, which runs on the server's event loop
        (docs/ARCHITECTURE.md, Streamlit rule S3)."""
        with self._lock:
            self._stop.set()
            self._go.set()  # wake a paused worker so it can see the stop
            if self._status == Status.IDLE:
                self._status = Status.STOPPED
                self._ended.set()
        if self._queue is not None:
            self._queue.cancel(self)

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the run to end; True when it has (and its thread has exited)."""
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
            last, now = self._last, self._finished_at or time.perf_counter()
            seconds = 0.0
            if self._started_at is not None:
                paused = self._paused_seconds + (now - self._paused_since if self._paused_since else 0.0)
                seconds = max(now - self._started_at - paused, 0.0)
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

    def metadata(self) -> dict:
        """JSON-ready facts to save with the model: the settings, the curves, the last test accuracy."""
        return run_metadata(self.config, self.snapshot(), self.n_train, self.n_test, self.continued)

    def model_bytes(self) -> bytes | None:
        """The current weights as a ``.npz`` model file (``persist.load_model`` reads it), or None."""
        net = self.network_copy()
        return None if net is None else persist.model_bytes(net, INPUT_SHAPE, self.metadata())

    def __repr__(self) -> str:
        return f"TrainingRun({self.label!r}, status={self._status!r})"

    # ------------------------------------------------------------------ the worker thread

    def _work(self) -> None:
        has_slot = False
        try:
            has_slot = self._queue.wait_turn(self, self._stop)
            if not has_slot:
                self._end(Status.STOPPED)
                return
            with self._lock:
                self._status, self._started_at = Status.RUNNING, time.perf_counter()
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported by status, not warnings
                self._train()
        except Exception as exc:  # never let a run take the server down: report it instead
            log.exception("training run %r failed", self.label)
            self._end(Status.ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            if self._status not in ENDED:
                self._end(Status.STOPPED)
            if has_slot:
                self._queue.release(self)
            # free the float copies, the shared arrays and the initial weights; the published copies stay
            self._trainer, self._eval_data, self._data, self._initial = None, None, None, None
            self._ended.set()

    def _train(self) -> None:
        cfg = self.config
        data = inputs.prepare(self.config, self._data, self.n_train, self.n_test, self._stop)
        if data is None:
            return self._end(Status.STOPPED)
        Xtr, ytr, Xte, yte = data
        self._eval_data = (Xte, yte)
        net = self._build()
        trainer = self._trainer = Trainer(net, cfg.make_optimizer())
        if self._initial is not None:
            self._publish(net)
        self.history = history = trainer.fit(
            Xtr, ytr, Xte, yte, epochs=cfg.epochs, eval_every=cfg.eval_every, batch_size=cfg.batch_size,
            seed=cfg.seed, restart=self._initial is None,  # restart would re-initialise the given weights
            early_stopping=cfg.early_stopping, on_batch=self._on_batch, on_eval=self._on_eval,
            should_stop=self._should_stop, eval_batch_size=EVAL_CHUNK)
        self._publish(trainer.net)
        if history.diverged:
            step = len(history.batch_losses) + 1
            self._end(Status.DIVERGED, f"The loss became NaN at step {step}: lower the learning rate "
                                  f"(try {cfg.lr / 10:g}).")
        elif history.stopped:
            self._end(Status.STOPPED)
        elif history.early_stopped:
            epoch = history.epochs_completed
            self._end(Status.DONE, f"Early stopping: the test loss rose after epoch {epoch}, so the run kept the "
                              f"model from the end of epoch {epoch - cfg.eval_every}.")
        else:
            self._end(Status.DONE)

    def _build(self) -> NeuralNetwork:
        """A fresh network (or the initial one rebuilt), its convolutions in or out of book mode."""
        arch = self._initial[0] if self._initial is not None else self.config.model_config
        arch = {**arch, "seed": self.config.seed,
                "layers": [{k: v for k, v in spec.items() if k != "book"} for spec in arch["layers"]]}
        with book_mode(self.config.book):
            net = build_model(arch)
        if self._initial is not None:
            weights.fill(net, self._initial[1], np.dtype(self.config.dtype))
        with self._lock:
            self._arch = model_config(net, INPUT_SHAPE)
        return net

    def _should_stop(self) -> bool:
        """Polled by ``fit`` before every batch: blocks here while paused."""
        if not self._go.is_set():
            self._publish(self._trainer.net)  # the exact weights the learner will inspect while paused
            with self._lock:
                if not self._stop.is_set():
                    self._status, self._paused_since = Status.PAUSED, time.perf_counter()
            self._go.wait()
            with self._lock:
                if self._paused_since is not None:
                    self._paused_seconds += time.perf_counter() - self._paused_since
                    self._paused_since = None
                if self._status == Status.PAUSED:
                    self._status = Status.RUNNING
        self._batch_t0 = time.perf_counter()
        return self._stop.is_set()

    def _on_batch(self, info: BatchInfo) -> None:
        now, cfg = time.perf_counter(), self.config
        net = self._trainer.net
        images = cfg.batch_size if info.batch < info.batches_per_epoch - 1 else \
            self.n_train - cfg.batch_size * (info.batches_per_epoch - 1)
        grads = weights.grad_rms(net) if info.step == 1 or info.step % cfg.grad_every == 0 else None
        labels = weights.grad_labels(net) if grads is not None and not self._grad_labels else None
        with self._lock:
            self._last = info
            self._losses.append((info.step, info.loss))
            self._train_seconds += now - self._batch_t0
            self._images_done += images
            self._lr = float(self._trainer.optim.lr)
            if labels is not None:
                self._grad_labels = labels
            if grads is not None:
                self._grads.append((info.step, grads))
        epoch_end = info.batch == info.batches_per_epoch - 1 and info.epoch % cfg.eval_every == 0
        if cfg.eval_steps and info.step % cfg.eval_steps == 0 and not epoch_end:
            loss, accuracy = evaluate(net, *self._eval_data, EVAL_CHUNK)
            self._on_eval(EvalInfo(info.epoch, info.batch, info.step, loss, accuracy))
        if info.step == 1 or now - self._published_at >= self.publish_every:
            self._publish(net)

    def _on_eval(self, info: EvalInfo) -> None:
        with self._lock:
            self._evals.append(info)

    def _publish(self, net: NeuralNetwork) -> None:
        """Read-only copies of the weights, taken on the worker between optimizer steps."""
        params, filters = weights.published(net)
        if not params:  # before the first batch creates them
            return
        with self._lock:
            self._params, self._filters = params, filters
        self._published_at = time.perf_counter()

    def _end(self, status: str, message: str | None = None) -> None:
        with self._lock:
            self._status, self._message = status, message
            self._error = message if status == Status.ERROR else None
            if self._paused_since is not None:
                self._paused_seconds += time.perf_counter() - self._paused_since
                self._paused_since = None
            self._finished_at = time.perf_counter()


__all__ = ["TrainingRun", "THREAD_NAME"]
