"""The network: layers in order, a loss, and one random generator shared by every layer."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy import ndarray

from smartflow_core.layer import Layer
from smartflow_core.loss import Loss, MeanSquaredError
from smartflow_core.operation import ReLU
from smartflow_core.pooling import Pool2D


class LayerBlock:
    """Layers run forward in order and backward in reverse."""

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = list(layers)
        if len({id(layer) for layer in self.layers}) != len(self.layers):
            raise ValueError("the same layer object appears twice: each position needs its own layer")
        activations = [id(layer.activation) for layer in self.layers if hasattr(layer, "activation")]
        if len(set(activations)) != len(activations):
            raise ValueError("two layers share one activation object: give each layer its own (e.g. Tanh())")

    def forward(self, X_batch: ndarray, inference: bool = False) -> ndarray:
        setting_up = any(layer.first for layer in self.layers)
        for layer in self.layers:
            X_batch = layer.forward(X_batch, inference)
        if setting_up:  # layers made their operations in this pass
            link_rectified(self.layers)
        return X_batch

    def backward(self, loss_grad: ndarray, input_grad: bool = True) -> ndarray | None:
        """Back through every layer; returns dL/dinput, or None with ``input_grad=False`` (training skips
        the first layer's input gradient, which nothing reads)."""
        grad = loss_grad
        for i in reversed(range(len(self.layers))):
            grad = self.layers[i].backward(grad, input_grad=input_grad or i > 0)
        return grad

    def params(self) -> Iterator[ndarray]:
        for layer in self.layers:
            yield from layer.params

    def param_grads(self) -> Iterator[ndarray]:
        for layer in self.layers:
            yield from layer.param_grads

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self) -> str:
        layer_strs = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"{type(self).__name__}(\n  {layer_strs}\n)"


def link_rectified(layers: list[Layer]) -> None:
    """Where a ReLU's output goes straight into a max pooling (a layer ends in one, the next begins with the
    other), let the pooling's gradient apply the ReLU's mask, on the pooled maps (a quarter of the size), and
    the ReLU pass it through: the same numbers, one pass over the full maps fewer."""
    ops = [op for layer in layers for op in layer.operations]
    for op in ops:  # a layer made again (a restarted fit) starts unlinked
        if isinstance(op, Pool2D):
            op.rectify = False
    for op, after in zip(ops, ops[1:] + [None]):
        if type(op) is ReLU:
            op.masked = isinstance(after, Pool2D) and after.mode == "max"
            if op.masked:
                after.rectify = True


class NeuralNetwork(LayerBlock):
    """``NeuralNetwork(layers, loss, seed)``: every layer gets ``seed`` and the network's ``RandomState``.

    The Trainer re-seeds the same generator in ``fit`` and shuffles with it, so initial weights, shuffles and
    dropout masks are drawn in the book's order without touching NumPy's global generator.
    ``fast_dropout=True`` draws dropout masks from raw random bits (:func:`smartflow_core.operation.fast_mask`):
    several milliseconds faster per batch, but no longer the book's numbers.
    """

    def __init__(self, layers: list[Layer], loss: Loss | None = None, seed: int | None = 1,
                 fast_dropout: bool = False) -> None:
        super().__init__(layers)
        self.loss = MeanSquaredError() if loss is None else loss
        self.seed = seed
        self.fast_dropout = fast_dropout
        self.rng = np.random.RandomState(seed if seed else None)
        for layer in self.layers:
            layer.rng = self.rng
            layer.fast_dropout = fast_dropout
            if seed:
                layer.seed = seed

    def forward_loss(self, X_batch: ndarray, y_batch: ndarray, inference: bool = False) -> float:
        prediction = self.forward(X_batch, inference)
        return self.loss.forward(prediction, y_batch)

    def train_batch(self, X_batch: ndarray, y_batch: ndarray, inference: bool = False) -> float:
        """Forward, loss, and backward; the optimizer's step is separate. Returns the batch's loss."""
        prediction = self.forward(X_batch, inference)
        batch_loss = self.loss.forward(prediction, y_batch)
        self.backward(self.loss.backward(), input_grad=False)
        return batch_loss

    def predict(self, X: ndarray, batch_size: int = 1000) -> ndarray:
        """Outputs for ``X`` in inference mode, ``batch_size`` examples at a time so memory stays bounded."""
        if len(X) == 0:
            raise ValueError("predict needs at least one example")
        return np.concatenate([self.forward(X[i:i + batch_size], inference=True)
                               for i in range(0, len(X), batch_size)])

    def shapes(self, input_shape: tuple) -> list[tuple[Layer, tuple, int]]:
        """Each layer's per-example output shape and parameter count for ``input_shape`` (no batch axis)."""
        rows = []
        for layer in self.layers:
            out = layer.output_shape(tuple(input_shape))
            rows.append((layer, out, layer.param_count(tuple(input_shape))))
            input_shape = out
        return rows

    def __repr__(self) -> str:
        fast = ", fast_dropout=True" if self.fast_dropout else ""
        return super().__repr__()[:-2] + f",\n  loss={self.loss!r}, seed={self.seed}{fast}\n)"


__all__ = ["LayerBlock", "NeuralNetwork", "link_rectified"]
