"""Train a CNN on MNIST live: the run on its background thread (:class:`TrainingRun`) and what a page reads of it
(:class:`Snapshot`); what a run needs is a :class:`app.train_config.TrainConfig`.

A page builds a :class:`TrainConfig` from its controls, hands it and the shared read-only MNIST arrays to a
:class:`TrainingRun`, starts it through this session's slot (:func:`app.session.session_slot`), and polls
:meth:`TrainingRun.snapshot` from a fragment (``@st.fragment(run_every=...)``, recipe section 3). Clicks and page
switches never touch the thread.

Locking (why pages never see half-updated weights): the live network is read and written by the worker thread
only. Between two optimizer steps (in ``on_batch``, and before the worker blocks on a pause, and at the end) the
worker *publishes* read-only copies of the parameters: after step 1, then every ``publish_every`` (0.3) s.
:meth:`TrainingRun.snapshot` hands out those copies (the first convolution's filters) and
:meth:`TrainingRun.network_copy` rebuilds a fresh network from them; both take the run's lock only for the time it
takes to copy a few references and lists. The lock is never held during a batch, so a page waits microseconds.

Runs wait in the server-wide :class:`app.run_queue.RunQueue` (``SMARTFLOW_MAX_RUNS`` simultaneous runs, default 2);
a paused run keeps its slot. NumPy uses one BLAS thread per process: ``app/main.py`` sets ``OPENBLAS_NUM_THREADS=1``
before NumPy loads (recipe pitfall P1), so two runs and the server share the cores without thrashing.

Statuses: "idle" (built, not started), "queued" (``queue_position`` 1, 2, ...), "running", "paused", then one of
"stopped", "done", "error" (``error`` holds the message) or "diverged" (``message`` holds a hint). The worker sets
them when it gets there: after ``pause()`` the status says "running" until the current batch ends (the snapshot's
``pause_requested`` tells a page to show "pausing").

This module imports no Streamlit, so the runner is tested without it.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from app.run_queue import RunQueue, run_queue
from app.train_config import TrainConfig  # noqa: F401  (pages import it from here too)
from smartflow_core.book import book_mode
from smartflow_core.layer import Conv2DLayer
from smartflow_core.nn import NeuralNetwork
from smartflow_core.operation import BiasAdd, ParamOperation, WeightMultiply
from smartflow_core import persist
from smartflow_core.persist import build_model, model_config
from smartflow_core.presets import INPUT_SHAPE, MNIST_MEAN, MNIST_STD, one_hot, prepare_images
from smartflow_core.trainer import BatchInfo, EvalInfo, History, Trainer, evaluate

log = logging.getLogger(__name__)

THREAD_NAME = "smartflow-train"
ACTIVE = ("queued", "running", "paused")
ENDED = ("stopped", "done", "error", "diverged")
PREPARE_CHUNK = 5000  # images standardised at a time: bounds the float64 temporary, lets Stop act between chunks
EVAL_CHUNK = 500


# ---------------------------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class Snapshot:
    """A run's state at one instant, made of copies: safe to keep and draw while the run trains on.

    ``losses`` holds ``(step, loss)``; ``evals`` the test evaluations. ``filters`` is the first convolution's
    weights ``(in_channels, out_channels, size, size)``, read-only, or None. ``grad_norms`` holds
    ``(step, rms per parameter)`` every ``grad_every`` steps, where rms = ||g|| / sqrt(g.size), so layers of any
    size compare; ``grad_labels`` names the parameters. ``seconds`` and ``images_per_second`` leave pauses out.
    """
    status: str
    label: str
    queue_position: int = 0
    pause_requested: bool = False
    stop_requested: bool = False
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches_per_epoch: int = 0
    step: int = 0
    total_steps: int = 0
    lr: float = 0.0
    images_per_second: float | None = None
    seconds: float = 0.0
    eta_seconds: float | None = None
    losses: tuple = ()
    evals: tuple = ()
    filters: np.ndarray | None = None
    grad_labels: tuple = ()
    grad_norms: tuple = ()
    message: str | None = None
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def progress(self) -> float:
        return min(self.step / self.total_steps, 1.0) if self.total_steps else 0.0

    @property
    def loss(self) -> float | None:
        return self.losses[-1][1] if self.losses else None

    @property
    def accuracy(self) -> float | None:
        return self.evals[-1].accuracy if self.evals else None


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
        self._status, self._message, self._error = "idle", None, None
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
            if self._status != "idle":
                raise RuntimeError(f"this run is already {self._status}: create a new TrainingRun to train again")
            self._status = "queued"
        if self._queue is None:
            self._queue = run_queue()
        self._queue.enter(self)
        self._thread = threading.Thread(target=self._work, name=THREAD_NAME, daemon=True)
        try:
            self._thread.start()
        except RuntimeError as exc:  # the process cannot start another thread
            self._queue.cancel(self)
            self._end("error", f"could not start the training thread ({exc})")
            self._ended.set()
        return self

    def pause(self) -> None:
        """Ask the worker to wait before its next batch (status "paused" once it does)."""
        with self._lock:
            if not self._stop.is_set() and self._status in ACTIVE:
                self._go.clear()

    def resume(self) -> None:
        self._go.set()

    def stop(self) -> None:
        """End the run at the next batch boundary, from any state; a queued run leaves the queue now.

        Only sets events, so it is safe in ``on_release``, which runs on the server's event loop (pitfall P6)."""
        with self._lock:
            self._stop.set()
            self._go.set()  # wake a paused worker so it can see the stop
            if self._status == "idle":
                self._status = "stopped"
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
            if step and self._status in ("running", "paused"):
                eta = (self.total_steps - step) * seconds / step
            return Snapshot(
                status=self._status, label=self.label, queue_position=position if self._status == "queued" else 0,
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
        return _network_from(arch, params)

    def metadata(self) -> dict:
        """JSON-ready facts to save with the model: the settings, the curves, the last test accuracy."""
        snap = self.snapshot()
        config = dataclasses.asdict(self.config)
        config["model"] = json.loads(config["model"])
        last = snap.evals[-1] if snap.evals else None
        return {"train_config": config, "status": snap.status, "train_images": self.n_train, "book": self.config.book,
                "standardize": {"mean": MNIST_MEAN, "std": MNIST_STD}, "continued": self.continued,
                "eval_images": self.n_test,
                "eval_accuracy": last.accuracy if last else None, "train_seconds": round(snap.seconds, 1),
                "history": {"batch_losses": [[s, float(v)] for s, v in snap.losses],
                            "evals": [dataclasses.asdict(e) for e in snap.evals]}}

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
                self._end("stopped")
                return
            with self._lock:
                self._status, self._started_at = "running", time.perf_counter()
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported by status, not warnings
                self._train()
        except Exception as exc:  # never let a run take the server down: report it instead
            log.exception("training run %r failed", self.label)
            self._end("error", f"{type(exc).__name__}: {exc}")
        finally:
            if self._status not in ENDED:
                self._end("stopped")
            if has_slot:
                self._queue.release(self)
            # free the float copies, the shared arrays and the initial weights; the published copies stay
            self._trainer, self._eval_data, self._data, self._initial = None, None, None, None
            self._ended.set()

    def _train(self) -> None:
        cfg = self.config
        data = self._prepare()
        if data is None:
            return self._end("stopped")
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
            self._end("diverged", f"The loss became NaN at step {step}: lower the learning rate "
                                  f"(try {cfg.lr / 10:g}).")
        elif history.stopped:
            self._end("stopped")
        elif history.early_stopped:
            epoch = history.epochs_completed
            self._end("done", f"Early stopping: the test loss rose after epoch {epoch}, so the run kept the "
                              f"model from the end of epoch {epoch - cfg.eval_every}.")
        else:
            self._end("done")

    def _prepare(self):
        """Standardised float images and one-hot labels for the training and evaluation subsets (None: stopped)."""
        dtype = np.dtype(self.config.dtype)
        X_train, y_train, X_test, y_test = self._data
        n_test = self.n_test
        Xtr = self._images(X_train[:self.n_train], dtype)
        Xte = None if Xtr is None else self._images(X_test[:n_test], dtype)
        if Xte is None:
            return None
        ytr = one_hot(np.asarray(y_train[:self.n_train]), dtype=dtype)
        return Xtr, ytr, Xte, one_hot(np.asarray(y_test[:n_test]), dtype=dtype)

    def _images(self, X, dtype):
        X = np.asarray(X)
        out = np.empty((len(X), *INPUT_SHAPE), dtype)
        for i in range(0, len(X), PREPARE_CHUNK):
            if self._stop.is_set():
                return None
            out[i:i + PREPARE_CHUNK] = prepare_images(X[i:i + PREPARE_CHUNK], dtype)
        return out

    def _build(self) -> NeuralNetwork:
        """A fresh network (or the initial one rebuilt), its convolutions in or out of book mode."""
        arch = self._initial[0] if self._initial is not None else self.config.model_config
        arch = {**arch, "seed": self.config.seed,
                "layers": [{k: v for k, v in spec.items() if k != "book"} for spec in arch["layers"]]}
        with book_mode(self.config.book):
            net = build_model(arch)
        if self._initial is not None:
            _fill(net, self._initial[1], np.dtype(self.config.dtype))
        with self._lock:
            self._arch = model_config(net, INPUT_SHAPE)
        return net

    def _should_stop(self) -> bool:
        """Polled by ``fit`` before every batch: blocks here while paused."""
        if not self._go.is_set():
            self._publish(self._trainer.net)  # the exact weights the learner will inspect while paused
            with self._lock:
                if not self._stop.is_set():
                    self._status, self._paused_since = "paused", time.perf_counter()
            self._go.wait()
            with self._lock:
                if self._paused_since is not None:
                    self._paused_seconds += time.perf_counter() - self._paused_since
                    self._paused_since = None
                if self._status == "paused":
                    self._status = "running"
        self._batch_t0 = time.perf_counter()
        return self._stop.is_set()

    def _on_batch(self, info: BatchInfo) -> None:
        now, cfg = time.perf_counter(), self.config
        net = self._trainer.net
        images = cfg.batch_size if info.batch < info.batches_per_epoch - 1 else \
            self.n_train - cfg.batch_size * (info.batches_per_epoch - 1)
        grads = _grad_rms(net) if info.step == 1 or info.step % cfg.grad_every == 0 else None
        labels = _grad_labels(net) if grads is not None and not self._grad_labels else None
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
        params, filters = [], None
        for layer in net.layers:
            for p in layer.params:
                copy = np.array(p, copy=True)
                copy.setflags(write=False)
                params.append(copy)
                if filters is None and isinstance(layer, Conv2DLayer):
                    filters = copy
        if not params:  # before the first batch creates them
            return
        with self._lock:
            self._params, self._filters = tuple(params), filters
        self._published_at = time.perf_counter()

    def _end(self, status: str, message: str | None = None) -> None:
        with self._lock:
            self._status, self._message = status, message
            self._error = message if status == "error" else None
            if self._paused_since is not None:
                self._paused_seconds += time.perf_counter() - self._paused_since
                self._paused_since = None
            self._finished_at = time.perf_counter()


def _fill(net: NeuralNetwork, params, dtype) -> None:
    net.forward(np.zeros((1, *INPUT_SHAPE), dtype), inference=True)  # creates the parameters
    own = list(net.params())
    if len(own) != len(params):
        raise ValueError(f"the network has {len(own)} parameter arrays, {len(params)} were given")
    for mine, value in zip(own, params):
        if mine.shape != value.shape:
            raise ValueError(f"parameter shape {value.shape} does not fit the architecture's {mine.shape}")
        mine[...] = value


def _network_from(arch: dict, params) -> NeuralNetwork:
    net = build_model(arch)
    _fill(net, params, params[0].dtype)
    return net


def _grad_rms(net: NeuralNetwork) -> tuple:
    """||g|| / sqrt(g.size) for every parameter gradient: the typical size of one weight's gradient."""
    return tuple(float(np.linalg.norm(g.astype(np.float64, copy=False).ravel()) / np.sqrt(g.size))
                 for layer in net.layers for g in layer.param_grads)


def _grad_labels(net: NeuralNetwork) -> tuple:
    names = {WeightMultiply: "weights", BiasAdd: "bias"}
    return tuple(f"{i} {type(layer).__name__} {names.get(type(op), 'filters')}"
                 for i, layer in enumerate(net.layers, 1)
                 for op in layer.operations if isinstance(op, ParamOperation))



__all__ = ["TrainConfig", "Snapshot", "TrainingRun", "ACTIVE", "ENDED", "THREAD_NAME"]
