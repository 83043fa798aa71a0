"""Looking inside a trained network for one input: feature maps, class probabilities, and saliency maps.

Every function takes one example ``x`` of shape (1, channels, height, width) (a 2-D image is taken as one channel)
and runs ``net`` in inference mode. The network's last layer gives logits (the app's models end in a linear layer
trained with softmax cross-entropy). These functions run ``net.forward`` / ``backward``, which store activations in
the layers: callers sharing one network between threads must not call them concurrently on it.
"""
from __future__ import annotations

import numpy as np
from numpy import ndarray

from smartflow_core.nn import NeuralNetwork
from smartflow_core.operation import Dropout
from smartflow_core.util import softmax


def _one(x: ndarray) -> ndarray:
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[None, None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one example of shape (1, channels, height, width) or (height, width), "
                         f"got {x.shape}")
    return x


def _maps(layer) -> ndarray:
    """A layer's output as it is best shown: a conv layer's activations before any flatten or dropout."""
    activation = getattr(layer, "activation", None)
    if any(op is activation for op in layer.operations) and activation.output.ndim == 4:
        return activation.output
    shown = [op.output for op in layer.operations if op.output is not None and op.output.ndim == 4]
    return shown[-1] if shown else layer.output


def _label(position: int, layer, maps: ndarray) -> str:
    kind = type(layer).__name__
    if maps.ndim == 3:
        return f"{kind} {position}: {maps.shape[0]} maps {maps.shape[1]}x{maps.shape[2]}"
    return f"{kind} {position}: {maps.size} outputs"


def feature_maps(net: NeuralNetwork, x: ndarray) -> list[tuple[str, ndarray]]:
    """Every layer's output for one input, in order: ``[(label, array), ...]``.

    A convolution layer contributes its activations (channels, height, width), before any Flatten; a pooling
    layer its pooled maps; a dense layer its outputs (neurons,). Labels read "Conv2DLayer 1: 16 maps 28x28",
    "DenseLayer 5: 10 outputs", numbered by position in the network from 1.
    """
    out = _one(x)
    result = []
    for position, layer in enumerate(net.layers, start=1):
        out = layer.forward(out, inference=True)
        maps = _maps(layer)[0]
        result.append((_label(position, layer, maps), maps.copy()))
    return result


def logits(net: NeuralNetwork, x: ndarray) -> ndarray:
    """The last layer's outputs for one input: (classes,)."""
    return net.forward(_one(x), inference=True)[0].copy()


def probabilities(net: NeuralNetwork, x: ndarray) -> ndarray:
    """Softmax of the logits for one input: (classes,), summing to 1."""
    return softmax(logits(net, x).astype(np.float64), axis=0)


def _backward_inference(net: NeuralNetwork, grad: ndarray) -> ndarray:
    """dL/dx through the network as it ran in inference mode.

    ``net.backward`` would do, but Dropout's backward uses the mask of the last *training* pass; in inference
    Dropout multiplies by ``keep_prob``, so its derivative is that constant.
    """
    for layer in reversed(net.layers):
        for op in reversed(layer.operations):
            grad = grad * grad.dtype.type(op.keep_prob) if isinstance(op, Dropout) else op.backward(grad)
    return grad


def logit_gradient(net: NeuralNetwork, x: ndarray, cls: int) -> ndarray:
    """d logit_cls / d x for one input, same shape as ``x``: one forward pass, then one backward pass started
    from a one-hot gradient on class ``cls``."""
    x = _one(x)
    out = net.forward(x, inference=True)
    if not 0 <= cls < out.shape[1]:
        raise ValueError(f"class {cls} out of range: the network has {out.shape[1]} outputs")
    upstream = np.zeros_like(out)
    upstream[0, cls] = 1
    return _backward_inference(net, upstream).reshape(x.shape)


def gradient_saliency(net: NeuralNetwork, x: ndarray, cls: int) -> ndarray:
    """|d logit_cls / d x| summed over channels: (height, width). Bright pixels are those whose small change
    would move the class's score most (Simonyan et al., 2014)."""
    return np.abs(logit_gradient(net, x, cls)[0]).sum(axis=0)


def _positions(length: int, patch: int, stride: int) -> list[int]:
    starts = list(range(0, length - patch + 1, stride))
    return starts if starts[-1] == length - patch else starts + [length - patch]


def occlusion_saliency(net: NeuralNetwork, x: ndarray, cls: int, patch: int = 4, stride: int = 2,
                       fill: float | None = None, batch_size: int = 256) -> ndarray:
    """How much the probability of ``cls`` drops when a ``patch x patch`` square is covered: (height, width).

    Every position (step ``stride`` <= ``patch``) is covered with ``fill`` (default: the input's lowest value, the
    background of a standardised MNIST digit); all the covered copies run in one batched prediction. A pixel's value
    is the mean drop over the patches covering it; negative where covering helps the class (Zeiler and Fergus, 2014).
    """
    x = _one(x)
    _, _, h, w = x.shape
    if not 1 <= patch <= min(h, w) or not 1 <= stride <= patch:
        raise ValueError(f"patch must be in 1..{min(h, w)} and stride in 1..patch (so every pixel is covered), "
                         f"got patch {patch}, stride {stride}")
    fill = float(x.min()) if fill is None else fill
    corners = [(i, j) for i in _positions(h, patch, stride) for j in _positions(w, patch, stride)]
    batch = np.repeat(x, len(corners), axis=0)
    for k, (i, j) in enumerate(corners):
        batch[k, :, i:i + patch, j:j + patch] = fill
    p_covered = softmax(net.predict(batch, batch_size).astype(np.float64), axis=1)[:, cls]
    drop = probabilities(net, x)[cls] - p_covered
    total, count = np.zeros((h, w)), np.zeros((h, w))
    for (i, j), d in zip(corners, drop):
        total[i:i + patch, j:j + patch] += d
        count[i:i + patch, j:j + patch] += 1
    return total / count


__all__ = ["feature_maps", "logits", "probabilities", "logit_gradient", "gradient_saliency", "occlusion_saliency"]
