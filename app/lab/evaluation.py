"""A model on the whole test set: probabilities computed in chunks, accuracy, the confusion matrix, the mistakes.

No Streamlit here: :func:`evaluate` reports progress through a callback, and the page draws what it returns.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from smartflow_core.eval import accuracy, confusion_matrix
from smartflow_core.nn import NeuralNetwork
from smartflow_core.presets import prepare_images
from smartflow_core.util import softmax

CHUNK = 500


@dataclass(frozen=True, eq=False)
class Evaluation:
    """``probs[i]``: the model's probabilities for test digit ``i``, whose true class is ``labels[i]``."""
    labels: np.ndarray
    probs: np.ndarray

    @cached_property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @cached_property
    def accuracy(self) -> float:
        """Percent of test digits classified right."""
        return 100.0 * accuracy(self.predicted, self.labels)

    @cached_property
    def confusion(self) -> np.ndarray:
        """``confusion[true, predicted]`` counts."""
        return confusion_matrix(self.labels, self.predicted, self.probs.shape[1])

    @property
    def right(self) -> int:
        """How many test digits were classified right."""
        return int(np.trace(self.confusion))

    def __len__(self) -> int:
        return len(self.labels)

    def cell(self, true: int, predicted: int, least_first: bool = False) -> np.ndarray:
        """Indices of the test digits of class ``true`` that the model called ``predicted``, most confident first
        (or least confident first)."""
        return self._by_confidence(np.flatnonzero((self.labels == true) & (self.predicted == predicted)),
                                   least_first)

    def mistakes(self, least_first: bool = False) -> np.ndarray:
        """Indices of every misclassified digit, the most confidently wrong first (or the least confidently)."""
        return self._by_confidence(np.flatnonzero(self.labels != self.predicted), least_first)

    def _by_confidence(self, where: np.ndarray, least_first: bool) -> np.ndarray:
        """``where`` sorted by the probability of the model's own answer; ties keep the test set's order."""
        p = self.probs[where, self.predicted[where]]
        return where[np.argsort(p if least_first else -p, kind="stable")]

    def confidence(self, index: int) -> float:
        """The probability the model gave its own answer for digit ``index``."""
        return float(self.probs[index, self.predicted[index]])


def evaluate(net: NeuralNetwork, images: np.ndarray, labels: np.ndarray, chunk: int = CHUNK,
             on_progress: Callable[[int, int], None] | None = None) -> Evaluation:
    """Run ``net`` (which the caller owns: forward passes store activations) on raw uint8 ``images`` ``(n, 784)``,
    ``chunk`` at a time, standardising each chunk as the chapter does. ``on_progress(done, total)`` after each."""
    dtype = next(iter(net.params())).dtype
    n = len(images)
    probs = np.empty((n, 10), dtype=np.float32)
    for start in range(0, n, chunk):
        x = prepare_images(images[start:start + chunk], dtype)
        logits = net.forward(x, inference=True).astype(np.float64)
        probs[start:start + chunk] = softmax(logits, axis=1)
        if on_progress is not None:
            on_progress(min(start + chunk, n), n)
    probs.setflags(write=False)
    labels = np.asarray(labels, dtype=np.int64).copy()
    labels.setflags(write=False)
    return Evaluation(labels, probs)


__all__ = ["Evaluation", "evaluate", "CHUNK"]
