"""Losses: a number from predictions and targets, and its gradient with respect to the predictions."""
from __future__ import annotations

import numpy as np
from numpy import ndarray

from smartflow_core.util import assert_same_shape, normalize, softmax, unnormalize


class Loss:
    """``forward(prediction, target)`` returns the loss; ``backward()`` returns d(loss)/d(prediction)."""

    def forward(self, prediction: ndarray, target: ndarray) -> float:
        assert_same_shape(prediction, target)
        self.prediction, self.target = prediction, target
        return self._output()

    def backward(self) -> ndarray:
        self.input_grad = self._input_grad()
        assert_same_shape(self.prediction, self.input_grad)
        return self.input_grad

    def _output(self) -> float:
        raise NotImplementedError

    def _input_grad(self) -> ndarray:
        raise NotImplementedError


class MeanSquaredError(Loss):
    """``sum((p - t)^2) / batch``; gradient ``2 (p - t) / batch``. ``normalize`` first divides each row of
    predictions by its sum (not differentiated, as in the book)."""

    def __init__(self, normalize: bool = False) -> None:
        self.normalize = normalize

    def _output(self) -> float:
        if self.normalize:
            self.prediction = self.prediction / self.prediction.sum(axis=1, keepdims=True)
        return float(np.sum(np.power(self.prediction - self.target, 2)) / self.prediction.shape[0])

    def _input_grad(self) -> ndarray:
        return 2.0 * (self.prediction - self.target) / self.prediction.shape[0]

    def __repr__(self) -> str:
        return f"MeanSquaredError(normalize={self.normalize})"


class SoftmaxCrossEntropy(Loss):
    """The book's softmax cross-entropy: ``p = clip(softmax(x), eps, 1 - eps)``,
    loss ``= sum(-t log p - (1 - t) log(1 - p)) / batch`` (note the second term, so values run larger than plain
    cross-entropy); gradient ``(p - t) / batch``.

    The loss is computed in float64 whatever the input's dtype (in float32, ``1 - 1e-9`` rounds to 1 and the
    log would be infinite); the gradient comes back in the prediction's dtype.
    """

    def __init__(self, eps: float = 1e-9) -> None:
        self.eps = eps
        self.single_class = False

    def _output(self) -> float:
        prediction, target = self.prediction, self.target
        if prediction.shape[1] == 1:  # one column of probabilities: make it two (the book meant this case)
            self.single_class = True
            prediction, target = normalize(prediction), normalize(target)
        p = softmax(prediction.astype(np.float64, copy=False), axis=1)
        self.softmax_preds = np.clip(p, self.eps, 1 - self.eps)
        self._target64 = target
        loss = -target * np.log(self.softmax_preds) - (1.0 - target) * np.log(1 - self.softmax_preds)
        return float(np.sum(loss) / prediction.shape[0])

    def _input_grad(self) -> ndarray:
        grad = (self.softmax_preds - self._target64) / self.prediction.shape[0]
        if self.single_class:
            grad = unnormalize(grad)
        return grad.astype(self.prediction.dtype, copy=False)

    def __repr__(self) -> str:
        return f"SoftmaxCrossEntropy(eps={self.eps})"


LOSSES = {cls.__name__: cls for cls in (MeanSquaredError, SoftmaxCrossEntropy)}

__all__ = ["Loss", "MeanSquaredError", "SoftmaxCrossEntropy", "LOSSES"]
