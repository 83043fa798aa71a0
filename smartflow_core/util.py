"""Small helpers the chapter calls without defining: shape checks, reshapes, softmax; the logger (from
:mod:`smartflow_core.log`) and the MNIST loaders (from :mod:`smartflow_core.data`), which the chapter's
``from smartflow_core.util import *`` brings."""
from __future__ import annotations

import numpy as np
from numpy import ndarray

from smartflow_core.data import init_mnist, load_mnist
from smartflow_core.log import enable_logging, logger


def assert_same_shape(array: ndarray, array_grad: ndarray) -> None:
    """Raise ``AssertionError`` naming both shapes when they differ."""
    assert array.shape == array_grad.shape, (
        f"shape mismatch: expected {tuple(array.shape)}, got {tuple(array_grad.shape)}"
    )


def assert_dim(t: ndarray, dim: int) -> None:
    """Raise ``AssertionError`` unless ``t`` has ``dim`` dimensions."""
    assert t.ndim == dim, f"expected a {dim}-dimensional array, got {t.ndim} dimensions (shape {t.shape})"


def _pad_1d(inp: ndarray, num: int) -> ndarray:
    """``num`` zeros on each end of a 1D array (the chapter's helper)."""
    z = np.repeat(np.array([0]), num)
    return np.concatenate([z, inp, z])


def _pad_2d(inp: ndarray, num: int) -> ndarray:
    """``num`` zeros around a 2D array."""
    return np.pad(inp, num)


def _pad_2d_channel(inp: ndarray, num: int) -> ndarray:
    """Pad each channel of a ``(channels, height, width)`` array."""
    return np.stack([_pad_2d(channel, num) for channel in inp])


def _pad_conv_input(inp: ndarray, num: int) -> ndarray:
    """Pad each image of a ``(batch, channels, height, width)`` array."""
    return np.stack([_pad_2d_channel(obs, num) for obs in inp])


def to_2d(a: ndarray, type: str = "col") -> ndarray:
    """A 1D array as a column ``(n, 1)`` or a row ``(1, n)``."""
    assert a.ndim == 1, f"to_2d expects a 1-dimensional array, got shape {a.shape}"
    if type == "col":
        return a.reshape(-1, 1)
    if type == "row":
        return a.reshape(1, -1)
    raise ValueError(f"type must be 'col' or 'row', got {type!r}")


to_2d_np = to_2d  # the name chapter 3 uses


def permute_data(X: ndarray, y: ndarray, rng: np.random.RandomState | None = None):
    """Shuffle ``X`` and ``y`` together with one permutation drawn from ``rng``."""
    if rng is None:
        raise ValueError("permute_data needs a RandomState: the library never draws from the global generator")
    perm = rng.permutation(X.shape[0])
    return X[perm], y[perm]


def logsumexp(x: ndarray, axis=None, keepdims: bool = False) -> ndarray:
    """``log(sum(exp(x)))`` without overflow (as scipy.special.logsumexp)."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax(x: ndarray, axis=None) -> ndarray:
    """``exp(x) / sum(exp(x))`` along ``axis``, computed stably."""
    return np.exp(x - logsumexp(x, axis=axis, keepdims=True))


def normalize(a: ndarray) -> ndarray:
    """One column of probabilities as two: ``[a, 1 - a]``."""
    other = 1 - a
    return np.concatenate([a, other], axis=1)


def unnormalize(a: ndarray) -> ndarray:
    """Inverse of :func:`normalize`: the first column (the book took the first row, a bug)."""
    return a[:, [0]]


__all__ = [
    "logger", "enable_logging", "assert_same_shape", "assert_dim", "to_2d", "to_2d_np", "permute_data",
    "logsumexp", "softmax", "_pad_1d", "_pad_2d", "_pad_2d_channel", "_pad_conv_input", "normalize", "unnormalize",
    "init_mnist", "load_mnist",
]
