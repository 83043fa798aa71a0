"""One training run inside its worker process (:mod:`app.lab.worker`), reporting to its handle over a pipe.

The start message (:mod:`app.lab.wire`) holds the config, the run's data subsets as raw arrays, and an initial
network as its model config plus raw parameters. While it trains, :class:`Training` sends

- ``progress`` (the new losses, evaluations and gradient sizes since the last one, the last step, the clock) at
  most every :data:`PROGRESS_EVERY` s, and always before it pauses or ends;
- ``weights`` (raw copies of the parameters, between two optimizer steps) after step 1, then every
  ``publish_every`` s, before it pauses and at the end;
- ``start`` once, with every convolution's filters as the run begins (the initial weights, taken just before
  the first optimizer step, or those of the network it continues), so a page can show what training changed;
- ``status`` when it starts running, pauses and resumes; ``end`` once, with the final status and the history.

Every evaluation measures the test digits twice: as they are, and an augmented copy of them (:data:`AUG_TEST`,
made once from a fixed seed, the same for every run), so runs with and without augmentation compare on both.

Pause and stop arrive through the ``go`` and ``stop`` events that the listener thread sets; a stop that has not
taken effect within ``worker.STOP_FAST`` s ends the run from the listener (:meth:`Training.abandon`). No
Streamlit here.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import traceback

import numpy as np

from app.i18n import N_
from app.lab import inputs, weights, wire
from app.lab.config import TrainConfig
from app.lab.snapshot import Status
from smartflow_core.augment import AUGMENT_PRESETS, augment_dataset
from smartflow_core.book import book_mode
from smartflow_core.layer import Conv2DLayer
from smartflow_core.nn import NeuralNetwork
from smartflow_core.persist import build_model, model_config
from smartflow_core.presets import INPUT_SHAPE
from smartflow_core.trainer import BatchInfo, EvalInfo, Trainer, evaluate

EVAL_CHUNK = 500
PROGRESS_EVERY = 0.25  # seconds between progress messages while training (a page redraws every 1 s)
AUG_TEST, AUG_TEST_SEED = "medium", 20190402  # the augmented test set: this strength, from this seed


class Training:
    def __init__(self, conn, header: dict, arrays, go, stop) -> None:
        self.conn, self.go, self.stop = conn, go, stop
        self.config = TrainConfig(**header["config"])
        self.publish_every = float(header["publish_every"])
        self.n_train, self.n_test = int(header["n_train"]), int(header["n_test"])
        self.data = tuple(arrays[:4])
        self.initial = (header["initial"], list(arrays[4:])) if header.get("initial") else None
        self.continued = self.initial is not None
        self.trainer: Trainer | None = None
        self.eval_data = None
        self.aug_eval_data = None
        self.started = time.perf_counter()
        self.paused_seconds = 0.0
        self.train_seconds, self.images, self.batch_t0 = 0.0, 0, 0.0
        self.losses, self.evals, self.grads, self.grad_labels = [], [], [], None
        self.last: BatchInfo | None = None
        self.flushed_at = self.published_at = 0.0
        self.send_lock, self.ended = threading.Lock(), False  # the listener may send the end (abandon)

    # ------------------------------------------------------------------ the run

    def run(self) -> None:
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported by status, not warnings
                status, message, history = self.train()
        except Exception as exc:  # reported to the handle, which shows it; the traceback goes to the server's log
            traceback.print_exc()
            status, message, history = Status.ERROR, f"{type(exc).__name__}: {exc}", None
        if self.trainer is not None:
            self.publish(self.trainer.net)
        self.flush()
        self.send({"kind": "end", "status": str(status), "message": message, "seconds": self.seconds(),
                   "history": history}, last=True)

    def train(self):
        cfg = self.config
        self.send({"kind": "status", "status": "running", "seconds": 0.0})
        data = inputs.prepare(cfg, self.data, self.n_train, self.n_test, self.stop)
        self.data = None  # the uint8 subsets are no longer needed: only the floats stay
        if data is None:
            return Status.STOPPED, None, None
        Xtr, ytr, Xte, yte = data
        self.eval_data = (Xte, yte)
        self.aug_eval_data = (augment_dataset(Xte, AUGMENT_PRESETS[AUG_TEST], AUG_TEST_SEED), yte)
        net = self.build()
        trainer = self.trainer = Trainer(net, cfg.make_optimizer())
        if self.continued:
            self.publish(net)
            self.send_start(net)
        else:
            self.before_first_step(trainer.optim)
        history = trainer.fit(
            Xtr, ytr, Xte, yte, epochs=cfg.epochs, eval_every=cfg.eval_every, batch_size=cfg.batch_size,
            seed=cfg.seed, restart=not self.continued,  # restart would re-initialise the given weights
            early_stopping=cfg.early_stopping, on_batch=self.on_batch, on_eval=self.on_eval,
            should_stop=self.should_stop, eval_batch_size=EVAL_CHUNK, augment=cfg.augmentation)
        record = history.to_dict()
        if history.diverged:
            step = len(history.batch_losses) + 1
            return Status.DIVERGED, N_("The loss became NaN at step {step}: lower the learning rate "
                                       "(try {lr}).").format(step=step, lr=f"{cfg.lr / 10:g}"), record
        if history.stopped:
            return Status.STOPPED, None, record
        if history.early_stopped:
            epoch = history.epochs_completed
            return Status.DONE, N_("Early stopping: the test loss rose after epoch {epoch}, so the run kept the "
                                   "model from the end of epoch {kept}.").format(epoch=epoch,
                                                                                 kept=epoch - cfg.eval_every), record
        return Status.DONE, None, record

    def build(self) -> NeuralNetwork:
        """A fresh network (or the initial one rebuilt), its convolutions in or out of book mode."""
        arch = self.initial[0] if self.initial is not None else self.config.model_config
        arch = {**arch, "seed": self.config.seed,
                "layers": [{k: v for k, v in spec.items() if k != "book"} for spec in arch["layers"]]}
        with book_mode(self.config.book):
            net = build_model(arch)
        if self.initial is not None:
            weights.fill(net, self.initial[1], np.dtype(self.config.dtype))
            self.initial = None
        return net

    def before_first_step(self, optim) -> None:
        """Send the initial filters just before the optimizer's first step: a fresh network creates its weights in
        its first forward pass, inside ``fit``, and the step then changes them. The optimizer's own ``step`` is
        restored at once, so nothing else about training changes."""
        def first(params, grads):
            del optim.step  # back to the class's method
            self.send_start(self.trainer.net)
            return optim.step(params, grads)
        optim.step = first

    # ------------------------------------------------------------------ fit's callbacks

    def should_stop(self) -> bool:
        """Polled by ``fit`` before every batch: blocks here while paused (that time is not counted)."""
        if not self.go.is_set() and not self.stop.is_set():
            self.publish(self.trainer.net)  # the exact weights the learner will inspect while paused
            self.flush()
            since = time.perf_counter()
            self.send({"kind": "status", "status": "paused", "seconds": self.seconds(since)})
            self.go.wait()
            self.paused_seconds += time.perf_counter() - since
            if not self.stop.is_set():
                self.send({"kind": "status", "status": "running", "seconds": self.seconds()})
        self.batch_t0 = time.perf_counter()
        return self.stop.is_set()

    def on_batch(self, info: BatchInfo) -> None:
        now, cfg = time.perf_counter(), self.config
        net = self.trainer.net
        self.images += cfg.batch_size if info.batch < info.batches_per_epoch - 1 else \
            self.n_train - cfg.batch_size * (info.batches_per_epoch - 1)
        self.train_seconds += now - self.batch_t0
        self.last = info
        self.losses.append((info.step, float(info.loss)))
        if info.step == 1 or info.step % cfg.grad_every == 0:
            self.grads.append((info.step, weights.grad_rms(net)))
            if self.grad_labels is None:
                self.grad_labels = weights.grad_labels(net)
        epoch_end = info.batch == info.batches_per_epoch - 1 and info.epoch % cfg.eval_every == 0
        if cfg.eval_steps and info.step % cfg.eval_steps == 0 and not epoch_end:
            loss, accuracy = evaluate(net, *self.eval_data, EVAL_CHUNK)
            self.on_eval(EvalInfo(info.epoch, info.batch, info.step, loss, accuracy))
        if info.step == 1 or now - self.published_at >= self.publish_every:
            self.publish(net)
        if info.step == 1 or now - self.flushed_at >= PROGRESS_EVERY:
            self.flush()

    def on_eval(self, info: EvalInfo) -> None:
        """Record an evaluation, with the accuracy on the augmented test digits beside the plain one."""
        if self.aug_eval_data is not None and self.trainer is not None:
            _, aug = evaluate(self.trainer.net, *self.aug_eval_data, EVAL_CHUNK)
            info = dataclasses.replace(info, aug_accuracy=aug)
        self.evals.append(dataclasses.asdict(info))

    # ------------------------------------------------------------------ messages

    def seconds(self, now: float | None = None) -> float:
        return max((now or time.perf_counter()) - self.started - self.paused_seconds, 0.0)

    def send(self, header: dict, arrays=(), last: bool = False) -> None:
        """One message to the handle; nothing after the last (the end, or :meth:`abandon`'s)."""
        with self.send_lock:
            if self.ended:
                return
            self.ended = last
            wire.send(self.conn, header, arrays)

    def abandon(self) -> None:
        """Called by the listener when a stop has not taken effect after ``worker.STOP_FAST`` s (a long batch or
        evaluation, a starved process): report the run stopped with what was already sent (the weights at most
        ``publish_every`` s old), and leave without finishing the batch."""
        self.send({"kind": "end", "status": str(Status.STOPPED), "message": None, "seconds": self.seconds(),
                   "history": None}, last=True)

    def flush(self) -> None:
        """The progress since the last message (nothing when there is none)."""
        if not (self.losses or self.evals or self.grads):
            return
        header = {"kind": "progress", "losses": self.losses, "evals": self.evals, "grads": self.grads,
                  "last": dataclasses.asdict(self.last) if self.last else None, "seconds": self.seconds(),
                  "train_seconds": self.train_seconds, "images": self.images,
                  "lr": float(self.trainer.optim.lr) if self.trainer is not None else self.config.lr}
        if self.grad_labels is not None:
            header["grad_labels"] = self.grad_labels
        self.send(header)
        self.losses, self.evals, self.grads = [], [], []
        self.flushed_at = time.perf_counter()

    def send_start(self, net: NeuralNetwork) -> None:
        """Every convolution's filters as they are now, once per run (sent as they are: the bytes leave before
        the next step changes them), with their places among the parameters and the layers."""
        convs = weights.conv_weights(net)
        self.send({"kind": "start", "index": [i for i, _n, _w in convs], "layers": [n for _i, n, _w in convs]},
                  [w for _i, _n, w in convs])

    def publish(self, net: NeuralNetwork) -> None:
        """Raw copies of the weights, taken between optimizer steps, and the architecture to rebuild them."""
        params = [p for layer in net.layers for p in layer.params]  # sent as they are: no copy in this process
        if not params:  # before the first batch creates them
            return
        index = next((sum(len(x.params) for x in net.layers[:i]) for i, layer in enumerate(net.layers)
                      if isinstance(layer, Conv2DLayer) and layer.params), None)
        self.send({"kind": "weights", "arch": model_config(net, INPUT_SHAPE), "filters": index}, params)
        self.published_at = time.perf_counter()


__all__ = ["Training", "EVAL_CHUNK", "PROGRESS_EVERY", "AUG_TEST", "AUG_TEST_SEED"]
