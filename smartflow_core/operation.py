"""Operations: the building blocks a layer chains together.

The base class owns the bookkeeping (it stores the input, checks every gradient's shape); a subclass writes
``_output`` and ``_input_grad`` side by side. Operations compute in the dtype of their input.
"""
from __future__ import annotations

import numpy as np
from numpy import ndarray

from smartflow_core.util import assert_same_shape


class Operation:
    """A function of one array with a derivative: ``forward`` then ``backward``."""

    def __init__(self) -> None:
        self.input_: ndarray | None = None
        self.output: ndarray | None = None
        self.input_grad: ndarray | None = None

    def forward(self, input_: ndarray, inference: bool = False) -> ndarray:
        self.input_ = input_
        self.output = self._output(inference)
        return self.output

    def backward(self, output_grad: ndarray) -> ndarray:
        assert_same_shape(self.output, output_grad)
        self.input_grad = self._input_grad(output_grad)
        assert_same_shape(self.input_, self.input_grad)
        return self.input_grad

    def _output(self, inference: bool) -> ndarray:
        raise NotImplementedError

    def _input_grad(self, output_grad: ndarray) -> ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ParamOperation(Operation):
    """An operation with a parameter array; ``backward`` also computes ``param_grad``.

    ``param`` is the very array the layer lists, so an optimizer's in-place update reaches it.
    """

    def __init__(self, param: ndarray) -> None:
        super().__init__()
        self.param = param
        self.param_grad: ndarray | None = None

    def backward(self, output_grad: ndarray, input_grad: bool = True) -> ndarray | None:
        """``input_grad=False`` skips dL/dinput (a network's first operation: nothing reads it)."""
        assert_same_shape(self.output, output_grad)
        self.input_grad = self._input_grad(output_grad) if input_grad else None
        self.param_grad = self._param_grad(output_grad)
        if input_grad:
            assert_same_shape(self.input_, self.input_grad)
        assert_same_shape(self.param, self.param_grad)
        return self.input_grad

    def _param_grad(self, output_grad: ndarray) -> ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(param_shape={tuple(self.param.shape)})"


class WeightMultiply(ParamOperation):
    """``X @ W``; dX = ``g @ W.T``; dW = ``X.T @ g``. X: (batch, n_in), W: (n_in, n_out)."""

    def _output(self, inference: bool) -> ndarray:
        return self.input_ @ self.param

    def _input_grad(self, output_grad: ndarray) -> ndarray:
        return output_grad @ self.param.T

    def _param_grad(self, output_grad: ndarray) -> ndarray:
        return self.input_.T @ output_grad


class BiasAdd(ParamOperation):
    """``X + B`` with B: (1, n); dX = g; dB = column sums of g."""

    def __init__(self, B: ndarray) -> None:
        if B.ndim != 2 or B.shape[0] != 1:
            raise ValueError(f"a bias must have shape (1, n), got {B.shape}")
        super().__init__(B)

    def _output(self, inference: bool) -> ndarray:
        return self.input_ + self.param

    def _input_grad(self, output_grad: ndarray) -> ndarray:
        return output_grad

    def _param_grad(self, output_grad: ndarray) -> ndarray:
        return np.sum(output_grad, axis=0, keepdims=True)


class Flatten(Operation):
    """(batch, channels, height, width) -> (batch, channels * height * width), the vector a Dense layer reads."""

    def _output(self, inference: bool) -> ndarray:
        return self.input_.reshape(self.input_.shape[0], -1)

    def _input_grad(self, output_grad: ndarray) -> ndarray:
        return output_grad.reshape(self.input_.shape)


class Dropout(Operation):
    """Zero each unit with probability ``1 - keep_prob`` while training; scale by ``keep_prob`` at inference.

    As in the book, ``keep_prob`` is the probability of *keeping* a unit (0.8 keeps 80 %) and the kept units are
    not rescaled while training (not "inverted" dropout). The mask is drawn from ``rng`` (a ``RandomState``,
    normally the network's): ``random_sample(shape) <= p`` consumes the stream exactly as the book's
    ``binomial(1, p, shape)`` and gives the same mask, about three times faster.

    ``fast=True`` draws the mask with :func:`fast_mask` instead: about six times faster again, but other
    numbers than the book's (for models that promise no book fidelity, such as the app's own presets).
    """

    def __init__(self, keep_prob: float = 0.8, rng: np.random.RandomState | None = None, fast: bool = False) -> None:
        super().__init__()
        if not 0 < keep_prob <= 1:
            raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
        self.keep_prob = keep_prob
        self.rng = rng
        self.fast = fast
        self.mask: ndarray | None = None
        self._scale: ndarray | None = None  # the mask in the input's dtype, kept for backward

    def _output(self, inference: bool) -> ndarray:
        self.inference = inference
        if inference:
            return self.input_ * self.input_.dtype.type(self.keep_prob)
        if self.rng is None:
            raise RuntimeError("Dropout has no random generator: give it rng= or put it in a NeuralNetwork")
        draw = fast_mask if self.fast else binomial_mask
        self.mask = draw(self.rng, self.keep_prob, self.input_.shape)
        self._scale = self.mask.astype(self.input_.dtype)
        return self.input_ * self._scale

    def _input_grad(self, output_grad: ndarray) -> ndarray:
        if self.inference:  # after an inference forward (saliency maps): the derivative of x * keep_prob
            return output_grad * output_grad.dtype.type(self.keep_prob)
        scale = self._scale if self._scale.dtype == output_grad.dtype else self.mask.astype(output_grad.dtype)
        return output_grad * scale

    def __repr__(self) -> str:
        return f"Dropout(keep_prob={self.keep_prob}" + (", fast=True)" if self.fast else ")")


def binomial_mask(rng: np.random.RandomState, p: float, shape) -> ndarray:
    """The mask ``rng.binomial(1, p, shape)`` draws (bool), with the same draws from the stream."""
    u = rng.random_sample(shape)
    return u <= p if p > 0.5 else u > 1 - p


def fast_mask(rng: np.random.RandomState, p: float, shape) -> ndarray:
    """A keep-mask (bool) from raw random bits: each unit is kept with probability ``round(p * 65536) / 65536``
    (within 1/65536 of ``p``).

    One draw from ``rng`` seeds an SFC64 stream for this mask, so the masks still follow the network's seed (and
    its re-seeding in ``fit``); 16 random bits per unit are compared with the threshold.
    """
    n = int(np.prod(shape))
    bits = np.random.SFC64(rng.randint(0, 2 ** 63, dtype=np.int64)).random_raw((n + 3) // 4).view(np.uint16)
    return (bits[:n] < np.uint16(min(round(p * 65536), 65535)) if p < 1 else np.ones(n, bool)).reshape(shape)


class Linear(Operation):
    """The identity: f(x) = x, f'(x) = 1."""

    def _output(self, inference: bool) -> ndarray:
        return self.input_

    def _input_grad(self, output_grad: ndarray) -> ndarray:
        return output_grad


class Sigmoid(Operation):
    """f(x) = 1 / (1 + e^-x); f'(x) = f(x) (1 - f(x))."""

    def _output(self, inference: bool) -> ndarray:
        return 1.0 / (1.0 + np.exp(-self.input_))

    def _input_grad(self, output_grad: ndarray) -> ndarray:
        return output_grad * self.output * (1.0 - self.output)


class Tanh(Operation):
    """f(x) = tanh(x); f'(x) = 1 - tanh(x)^2."""

    def _output(self, inference: bool) -> ndarray:
        return np.tanh(self.input_)

    def _input_grad(self, output_grad: ndarray) -> ndarray:
        grad = np.multiply(self.output, self.output, dtype=np.result_type(self.output, output_grad))
        np.subtract(1, grad, out=grad)  # one new array, updated in place: three passes instead of three arrays
        grad *= output_grad
        return grad


class ReLU(Operation):
    """f(x) = max(x, 0); f'(x) = 1 where x > 0, else 0.

    (The book's mask was ``output >= 0``, always true, so its ReLU passed every gradient through.)

    ``applied`` is set by a layer whose convolution already returns max(x, 0) (computed while its output is in
    the cache): then the input is its own ReLU and is passed on as it is; ``x > 0`` is the same mask either way.
    ``masked`` is set by a network whose next operation, a max pooling, already zeroes the gradient wherever
    this ReLU's output is 0 (:func:`smartflow_core.nn.link_rectified`): then the gradient passes through.
    """

    def __init__(self) -> None:
        super().__init__()
        self.applied = False
        self.masked = False

    def _output(self, inference: bool) -> ndarray:
        if self.applied:
            return self.input_
        return np.maximum(self.input_, 0)

    def _input_grad(self, output_grad: ndarray) -> ndarray:
        if self.masked:
            return output_grad
        return output_grad * (self.input_ > 0)


ACTIVATIONS = {cls.__name__: cls for cls in (Linear, Sigmoid, Tanh, ReLU)}

__all__ = [
    "Operation", "ParamOperation", "WeightMultiply", "BiasAdd", "Flatten", "Dropout", "binomial_mask", "fast_mask",
    "Linear", "Sigmoid", "Tanh", "ReLU", "ACTIVATIONS",
]
