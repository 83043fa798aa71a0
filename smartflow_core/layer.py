"""Layers: a set of operations with the parameters they share, created from the first batch's shape.

``NeuralNetwork`` gives each layer its seed and the network's ``RandomState`` (``layer.rng``); every draw
(initial weights, dropout masks) comes from that generator, in the book's order.
"""
from __future__ import annotations

import numpy as np
from numpy import ndarray

from smartflow_core.book import is_book_mode
from smartflow_core.conv import Conv2D_Op, Conv2DOperation, conv_geometry
from smartflow_core.operation import (
    ACTIVATIONS,
    BiasAdd,
    Dropout,
    Flatten,
    Linear,
    Operation,
    ParamOperation,
    ReLU,
    WeightMultiply,
)
from smartflow_core.pooling import Pool2D, pool_geometry
from smartflow_core.util import assert_same_shape

WEIGHT_INITS = ("standard", "normal", "glorot", "he")


class Layer:
    """Runs its operations forward and backward; ``_setup_layer`` builds them from the first input."""

    def __init__(self, neurons: int) -> None:
        self.neurons = neurons
        self.first = True
        self.params: list[ndarray] = []
        self.param_grads: list[ndarray] = []
        self.operations: list[Operation] = []
        self.seed: int | None = None
        self.rng: np.random.RandomState | None = None
        self.fast_dropout = False  # set by NeuralNetwork: draw dropout masks with operation.fast_mask

    def _setup_layer(self, input_: ndarray) -> None:
        raise NotImplementedError

    def _random(self) -> np.random.RandomState:
        if self.rng is None:  # a layer used on its own, outside a NeuralNetwork
            self.rng = np.random.RandomState(self.seed)
        return self.rng

    def forward(self, input_: ndarray, inference: bool = False) -> ndarray:
        if self.first:
            self._setup_layer(input_)
            self.first = False
        self.input_ = input_
        for operation in self.operations:
            input_ = operation.forward(input_, inference)
        self.output = input_
        return self.output

    def backward(self, output_grad: ndarray, input_grad: bool = True) -> ndarray | None:
        """Gradients of every operation, last to first. ``input_grad=False`` lets a first parameter operation
        skip dL/dinput, which nobody reads when this is the network's first layer (returns None then)."""
        assert_same_shape(self.output, output_grad)
        for i in reversed(range(len(self.operations))):
            operation = self.operations[i]
            if i == 0 and not input_grad and isinstance(operation, ParamOperation):
                output_grad = operation.backward(output_grad, input_grad=False)
            else:
                output_grad = operation.backward(output_grad)
        if output_grad is not None:
            assert_same_shape(self.input_, output_grad)
        self.param_grads = [op.param_grad for op in self.operations if isinstance(op, ParamOperation)]
        return output_grad

    def _params(self) -> None:
        self.params = [op.param for op in self.operations if isinstance(op, ParamOperation)]

    def output_shape(self, input_shape: tuple) -> tuple:
        """The shape of one example's output for one example's ``input_shape`` (no batch axis)."""
        raise NotImplementedError

    def param_count(self, input_shape: tuple) -> int:
        return 0

    def param_shapes(self, input_shape: tuple) -> list[tuple[int, ...]]:
        """The shapes of the parameters this layer creates for one example's ``input_shape``, in ``params``
        order, computed without creating them (a model file is checked against them before it is read)."""
        return []

    def config(self) -> dict:
        """The constructor's arguments, JSON-ready (for saving and for ``__repr__``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}()" if k == "activation" else f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def _activation(activation: Operation | str | None) -> Operation:
    if activation is None:
        return Linear()
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        return ACTIVATIONS[activation]()
    return activation


def _param_dtype(input_: ndarray):
    return input_.dtype if np.issubdtype(input_.dtype, np.floating) else np.float64


def _scale(weight_init: str, fan_in: int, fan_out: int) -> float:
    """The standard deviation of the initial weights. The book's "glorot" uses 2 / (fan_in + fan_out) as the
    standard deviation (its text calls it the variance); "he" is sqrt(2 / fan_in)."""
    if weight_init == "glorot":
        return 2 / (fan_in + fan_out)
    if weight_init == "he":
        return float(np.sqrt(2 / fan_in))
    return 1.0


def _check_init(weight_init: str) -> str:
    if weight_init not in WEIGHT_INITS:
        raise ValueError(f"weight_init must be one of {WEIGHT_INITS}, got {weight_init!r}")
    return weight_init


def _check_keep(dropout: float) -> float:
    if not 0 < dropout <= 1:
        raise ValueError(f"dropout is the probability of keeping a unit, in (0, 1]; got {dropout}")
    return dropout


class DenseLayer(Layer):
    """A fully connected layer: ``activation(X @ W + B)``, then dropout (``dropout`` = keep probability)."""

    def __init__(self, neurons: int, activation: Operation | str | None = None, conv_in: bool = False,
                 dropout: float = 1.0, weight_init: str = "standard") -> None:
        super().__init__(neurons)
        if neurons < 1:
            raise ValueError(f"a dense layer needs at least 1 neuron, got {neurons}")
        self.activation = _activation(activation)
        self.conv_in = conv_in
        self.dropout = _check_keep(dropout)
        self.weight_init = _check_init(weight_init)

    def _setup_layer(self, input_: ndarray) -> None:
        if input_.ndim != 2:
            raise ValueError(f"DenseLayer expects (batch, features), got shape {input_.shape}: "
                             "flatten convolutional feature maps first (Conv2DLayer(flatten=True))")
        rng = self._random()
        if self.seed is not None:
            rng.seed(self.seed)  # the book re-seeds here, and its printed numbers depend on it
        n_in = input_.shape[1]
        scale = _scale(self.weight_init, n_in, self.neurons)
        dtype = _param_dtype(input_)
        W = rng.normal(0, scale, size=(n_in, self.neurons)).astype(dtype, copy=False)
        B = rng.normal(0, scale, size=(1, self.neurons)).astype(dtype, copy=False)
        self.params = [W, B]
        self.operations = [WeightMultiply(W), BiasAdd(B), self.activation]
        if self.dropout < 1.0:
            self.operations.append(Dropout(self.dropout, rng, self.fast_dropout))

    def output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 1:
            raise ValueError(f"DenseLayer expects a flat vector, got per-example shape {input_shape}")
        return (self.neurons,)

    def param_count(self, input_shape: tuple) -> int:
        return (int(np.prod(input_shape)) + 1) * self.neurons

    def param_shapes(self, input_shape: tuple) -> list[tuple[int, ...]]:
        self.output_shape(input_shape)  # validates
        return [(int(input_shape[0]), self.neurons), (1, self.neurons)]

    def config(self) -> dict:
        return {"neurons": self.neurons, "activation": type(self.activation).__name__,
                "dropout": self.dropout, "weight_init": self.weight_init}


class Conv2DLayer(Layer):
    """Multichannel convolution (no bias), activation, optional Flatten, then dropout.

    Filters have shape (in_channels, out_channels, param_size, param_size). ``book`` None follows
    :func:`smartflow_core.book_mode` at construction.
    """

    def __init__(self, out_channels: int, param_size: int, dropout: float = 1.0, weight_init: str = "normal",
                 activation: Operation | str | None = None, flatten: bool = False, stride: int = 1,
                 padding: int | None = None, book: bool | None = None) -> None:
        super().__init__(out_channels)
        if out_channels < 1 or param_size < 1:
            raise ValueError(f"out_channels and param_size must be at least 1, got {out_channels}, {param_size}")
        self.out_channels, self.param_size = out_channels, param_size
        self.dropout = _check_keep(dropout)
        self.weight_init = _check_init(weight_init)
        self.activation = _activation(activation)
        self.flatten, self.stride, self.padding = flatten, stride, padding
        self.book = is_book_mode() if book is None else book
        conv_geometry((param_size, param_size), (param_size, param_size), stride, padding)  # validate early

    def _setup_layer(self, input_: ndarray) -> None:
        if input_.ndim != 4:
            raise ValueError(f"Conv2DLayer expects (batch, channels, height, width), got shape {input_.shape}")
        in_channels = input_.shape[1]
        # the book's glorot counts channels; "he" counts every input a filter reads
        fan_in = in_channels * self.param_size ** 2 if self.weight_init == "he" else in_channels
        scale = _scale(self.weight_init, fan_in, self.out_channels)
        shape = (in_channels, self.out_channels, self.param_size, self.param_size)
        W = self._random().normal(0, scale, size=shape).astype(_param_dtype(input_), copy=False)
        self.params = [W]
        # a flattened output is stored in the chapter's order, which Flatten and the dense layer read as it is
        # a ReLU is applied by the convolution itself, band by band while its output is in the cache
        fused = type(self.activation) is ReLU
        if fused:
            self.activation.applied = True
        self.operations = [Conv2D_Op(W, self.stride, self.padding, self.book, batch_first=self.flatten,
                                     relu=fused), self.activation]
        if self.flatten:
            self.operations.append(Flatten())
        if self.dropout < 1.0:
            self.operations.append(Dropout(self.dropout, self._random(), self.fast_dropout))

    def output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"Conv2DLayer expects (channels, height, width) per example, got {input_shape}")
        _, (oh, ow) = conv_geometry(input_shape[1:], (self.param_size, self.param_size), self.stride, self.padding)
        shape = (self.out_channels, oh, ow)
        return (int(np.prod(shape)),) if self.flatten else shape

    def param_count(self, input_shape: tuple) -> int:
        return input_shape[0] * self.out_channels * self.param_size ** 2

    def param_shapes(self, input_shape: tuple) -> list[tuple[int, ...]]:
        self.output_shape(input_shape)  # validates
        return [(int(input_shape[0]), self.out_channels, self.param_size, self.param_size)]

    def config(self) -> dict:
        return {"out_channels": self.out_channels, "param_size": self.param_size, "dropout": self.dropout,
                "weight_init": self.weight_init, "activation": type(self.activation).__name__,
                "flatten": self.flatten, "stride": self.stride, "padding": self.padding, "book": self.book}


class Pool2DLayer(Layer):
    """Max or average pooling over ``size x size`` windows, optionally flattened for a Dense layer."""

    def __init__(self, size: int = 2, stride: int | None = None, mode: str = "max", flatten: bool = False) -> None:
        super().__init__(0)
        Pool2D(size, stride, mode)  # validates the mode
        self.size, self.stride, self.mode, self.flatten = size, stride, mode, flatten

    def _setup_layer(self, input_: ndarray) -> None:
        if input_.ndim != 4:
            raise ValueError(f"Pool2DLayer expects (batch, channels, height, width), got shape {input_.shape}")
        self.neurons = input_.shape[1]
        self.operations = [Pool2D(self.size, self.stride, self.mode)] + ([Flatten()] if self.flatten else [])

    def output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"Pool2DLayer expects (channels, height, width) per example, got {input_shape}")
        _, (oh, ow) = pool_geometry(input_shape[1:], self.size, self.stride)
        shape = (input_shape[0], oh, ow)
        return (int(np.prod(shape)),) if self.flatten else shape

    def config(self) -> dict:
        return {"size": self.size, "stride": self.stride, "mode": self.mode, "flatten": self.flatten}


def MaxPool2DLayer(size: int = 2, stride: int | None = None, flatten: bool = False) -> Pool2DLayer:
    return Pool2DLayer(size, stride, "max", flatten)


def AvgPool2DLayer(size: int = 2, stride: int | None = None, flatten: bool = False) -> Pool2DLayer:
    return Pool2DLayer(size, stride, "avg", flatten)


LAYERS = {cls.__name__: cls for cls in (DenseLayer, Conv2DLayer, Pool2DLayer)}

__all__ = ["Layer", "DenseLayer", "Conv2DLayer", "Pool2DLayer", "MaxPool2DLayer", "AvgPool2DLayer", "LAYERS",
           "Conv2D_Op", "Conv2DOperation"]
