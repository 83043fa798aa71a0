"""``Trainer.fit``: batches, evaluation and early stopping, reported through callbacks and a returned history.

It never prints: the book's progress lines go to the ``smartflow`` logger (``batch#N loss: ...``,
``Validation accuracy after N batches is ...``) and to the callbacks a UI passes in.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field

import numpy as np
from numpy import ndarray

from smartflow_core.augment import Augment, as_images
from smartflow_core.augment import augment as augment_batch
from smartflow_core.log import logger
from smartflow_core.nn import NeuralNetwork
from smartflow_core.optimizers import SGD, Optimizer, SGDMomentum
from smartflow_core.util import assert_same_shape, permute_data


@dataclass(frozen=True)
class BatchInfo:
    """One training step: its loss (training mode, before the update) and where it fell."""
    epoch: int
    batch: int
    step: int
    batches_per_epoch: int
    loss: float
    images_seen: int
    seconds: float


@dataclass(frozen=True)
class EvalInfo:
    """A test-set evaluation: loss and accuracy (percent) in inference mode; ``aug_accuracy``, when a caller
    measures it, the accuracy on an augmented copy of the same test digits (the training lab does)."""
    epoch: int
    batch: int
    step: int
    loss: float | None
    accuracy: float
    aug_accuracy: float | None = None


@dataclass
class History:
    """What a ``fit`` did, for charts and for saving with a model."""
    batch_losses: list[tuple[int, float]] = field(default_factory=list)
    evals: list[EvalInfo] = field(default_factory=list)
    epochs_completed: int = 0
    stopped: bool = False
    diverged: bool = False
    early_stopped: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"batch_losses": [[s, float(v)] for s, v in self.batch_losses],
                "evals": [e.__dict__ for e in self.evals], "epochs_completed": self.epochs_completed,
                "stopped": self.stopped, "diverged": self.diverged, "early_stopped": self.early_stopped,
                "seconds": self.seconds}


def evaluate(net: NeuralNetwork, X: ndarray, y: ndarray, batch_size: int = 1000) -> tuple[float, float]:
    """Loss and accuracy (percent) on ``(X, y)`` in inference mode, ``batch_size`` examples at a time.

    ``y`` is one-hot (batch, classes). Chunking bounds memory; the loss is the chunk losses weighted by size.
    """
    total_loss, correct = 0.0, 0
    for i in range(0, len(X), batch_size):
        Xb, yb = X[i:i + batch_size], y[i:i + batch_size]
        out = net.forward(Xb, inference=True)
        total_loss += net.loss.forward(out, yb) * len(Xb)
        correct += int(np.sum(np.argmax(out, axis=1) == np.argmax(yb, axis=1)))
    return total_loss / len(X), 100.0 * correct / len(X)


class Trainer:
    """Trains ``net`` with ``optim``: ``Trainer(net, SGDMomentum(lr=0.1, momentum=0.9)).fit(...)``."""

    def __init__(self, net: NeuralNetwork, optim: Optimizer) -> None:
        self.net = net
        self.optim = optim
        self.best_loss = 1e9

    def fit(self, X_train: ndarray, y_train: ndarray, X_test: ndarray, y_test: ndarray, epochs: int = 100,
            eval_every: int = 10, batch_size: int = 32, seed: int = 1, single_output: bool = False,
            restart: bool = True, early_stopping: bool = True, conv_testing: bool = False, *,
            on_batch: Callable[[BatchInfo], None] | None = None,
            on_eval: Callable[[EvalInfo], None] | None = None,
            on_epoch: Callable[[int, History], None] | None = None,
            should_stop: Callable[[], bool] | None = None,
            max_batches: int | None = None, eval_batch_size: int = 1000,
            augment: Augment | None = None) -> History:
        """Train for ``epochs`` over shuffled batches; evaluate on the test set every ``eval_every`` epochs.

        Labels are one-hot (n, classes). With ``early_stopping``, an evaluation whose loss does not improve
        restores the model from the start of that epoch and stops. ``conv_testing`` logs the loss of every 10th
        batch (re-run in inference mode after its update) and the test accuracy every 100 batches, as the
        chapter shows. ``should_stop`` is asked between batches; ``max_batches`` ends the run early (both leave
        ``history.stopped`` set). A NaN or infinite loss stops the run with ``history.diverged`` set.
        ``augment`` (an :class:`~smartflow_core.augment.Augment`) transforms each training batch, never the test
        set, with draws from the network's generator, so the seed still reproduces the run; ``None`` (the
        default) trains exactly as without it.
        """
        _check_data(X_train, y_train, X_test, y_test, batch_size, epochs, eval_every)
        _check_augment(augment, X_train)
        self.optim.max_epochs = epochs
        self.optim._setup_decay()
        self.net.rng.seed(seed)
        if restart:
            for layer in self.net.layers:
                layer.first = True
            self.best_loss = 1e9
        history, start = History(), time.perf_counter()
        batches_per_epoch = -(-len(X_train) // batch_size)
        step = 0
        for e in range(epochs):
            if (e + 1) % eval_every == 0:
                last_model = deepcopy(self.net)
            X_shuf, y_shuf = permute_data(X_train, y_train, self.net.rng)
            for ii, i in enumerate(range(0, len(X_shuf), batch_size)):
                if (should_stop is not None and should_stop()) or (max_batches is not None and step >= max_batches):
                    history.stopped = True
                    break
                X_batch, y_batch = X_shuf[i:i + batch_size], y_shuf[i:i + batch_size]
                if augment is not None:
                    X_batch = augment_batch(X_batch, augment, self.net.rng)
                loss = self.net.train_batch(X_batch, y_batch)
                if not np.isfinite(loss):
                    history.diverged = True
                    logger.warning("loss became %s at batch %d of epoch %d: training stopped (try a lower "
                                   "learning rate)", loss, ii, e + 1)
                    break
                self.optim.step(self.net.params(), self.net.param_grads())
                step += 1
                history.batch_losses.append((step, loss))
                if on_batch is not None:
                    on_batch(BatchInfo(e + 1, ii, step, batches_per_epoch, loss, step * batch_size,
                                       time.perf_counter() - start))
                if conv_testing:
                    self._conv_testing_log(ii, X_batch, y_batch, X_test, y_test, e, step, history, on_eval,
                                           eval_batch_size)
            if history.stopped or history.diverged:
                break
            history.epochs_completed = e + 1
            if (e + 1) % eval_every == 0:
                if self._evaluate_epoch(e, eval_every, step, X_test, y_test, early_stopping, last_model, history,
                                        on_eval, eval_batch_size):
                    break
            if self.optim.final_lr and e + 1 < epochs:  # the book decayed once more, past final_lr
                self.optim._decay_lr()
            if on_epoch is not None:
                on_epoch(e + 1, history)
        history.seconds = time.perf_counter() - start
        return history

    def _conv_testing_log(self, ii, X_batch, y_batch, X_test, y_test, e, step, history, on_eval, chunk) -> None:
        if ii % 10 == 0:
            test_preds = self.net.forward(X_batch, inference=True)
            batch_loss = self.net.loss.forward(test_preds, y_batch)
            logger.info("batch#%d loss: %r", ii, batch_loss)
        if ii % 100 == 0 and ii > 0:
            _, accuracy = evaluate(self.net, X_test, y_test, chunk)
            logger.info("Validation accuracy after %d batches is %.2f%%", ii, accuracy)
            info = EvalInfo(e + 1, ii, step, None, accuracy)
            history.evals.append(info)
            if on_eval is not None:
                on_eval(info)

    def _evaluate_epoch(self, e, eval_every, step, X_test, y_test, early_stopping, last_model, history, on_eval,
                        chunk) -> bool:
        """Evaluate after epoch ``e``; True when early stopping ends the run."""
        loss, accuracy = evaluate(self.net, X_test, y_test, chunk)
        info = EvalInfo(e + 1, -1, step, loss, accuracy)
        history.evals.append(info)
        if on_eval is not None:
            on_eval(info)
        if not early_stopping or loss < self.best_loss:
            logger.info("Validation loss after %d epochs is %.3f", e + 1, loss)
            self.best_loss = min(loss, self.best_loss)
            return False
        logger.info("Loss increased after epoch %d, final loss was %.3f, using the model from epoch %d",
                    e + 1, self.best_loss, e)
        self.net = last_model
        history.early_stopped = True
        return True

    def __repr__(self) -> str:
        return f"Trainer(optim={self.optim!r})"


def _check_data(X_train, y_train, X_test, y_test, batch_size, epochs, eval_every) -> None:
    if len(X_train) != len(y_train):
        raise ValueError(f"X_train has {len(X_train)} examples but y_train has {len(y_train)}")
    if len(X_test) != len(y_test):
        raise ValueError(f"X_test has {len(X_test)} examples but y_test has {len(y_test)}")
    if len(X_train) == 0 or len(X_test) == 0:
        raise ValueError("training and test sets must each hold at least one example")
    if y_train.ndim != 2 or y_test.ndim != 2:
        raise ValueError(f"labels must be one-hot (examples, classes), got shapes {y_train.shape} and {y_test.shape}")
    assert_same_shape(X_train[:1], X_test[:1])
    if batch_size < 1 or epochs < 1 or eval_every < 1:
        raise ValueError(f"batch_size, epochs and eval_every must be at least 1, got {batch_size}, {epochs}, "
                         f"{eval_every}")


def _check_augment(augment, X_train) -> None:
    if augment is None:
        return
    if not isinstance(augment, Augment):
        raise ValueError(f"augment must be an Augment or None, got {type(augment).__name__}")
    as_images(X_train[:1])  # raises ValueError naming the shape when the data are not images


__all__ = ["Trainer", "BatchInfo", "EvalInfo", "History", "evaluate", "Optimizer", "SGD", "SGDMomentum"]
