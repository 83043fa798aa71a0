"""Max and average pooling (the chapter describes them without code), with their gradients.

x: (batch, channels, height, width) -> (batch, channels, out_h, out_w), ``out_h = (height - size) // stride + 1``.
Each output cell summarises one ``size x size`` window: its maximum, or its mean. The gradient of a max goes
only to the cell that won the window (the first one on a tie); the gradient of a mean is shared equally.

Both directions work on ``size * size`` strided views of the whole batch (one per cell of the window), never on
copies of the windows, and keep the input's memory order (the convolution's row-by-row layout, batch innermost).
"""
from __future__ import annotations

import numpy as np
from numpy import ndarray

from smartflow_core.operation import Operation

MODES = ("max", "avg")


def pool_geometry(in_hw, size: int, stride: int | None = None):
    """Validate a pooling and return ``(stride, (out_h, out_w))``."""
    stride = size if stride is None else stride
    if size < 1 or stride < 1:
        raise ValueError(f"pool size and stride must be at least 1, got size {size} and stride {stride}")
    h, w = in_hw
    if size > h or size > w:
        raise ValueError(f"a {size}x{size} pool does not fit a {h}x{w} input")
    return stride, ((h - size) // stride + 1, (w - size) // stride + 1)


def _shifted(x: ndarray, size: int, stride: int, out_hw):
    """For each cell (i, j) of the window, the (batch, channels, out_h, out_w) slice it reads: a view."""
    oh, ow = out_hw
    for i in range(size):
        for j in range(size):
            yield x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]


def pool2d_forward(x: ndarray, size: int = 2, stride: int | None = None, mode: str = "max") -> ndarray:
    """Pool every ``size x size`` window (step ``stride``, default ``size``) to its max or mean.

    Computed as ``size * size`` element-wise maxima (or sums) of strided views, much faster than reducing
    the windows' last two axes."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if x.ndim != 4:
        raise ValueError(f"expected x of shape (batch, channels, h, w), got {x.shape}")
    stride, out_hw = pool_geometry(x.shape[2:], size, stride)
    views = _shifted(x, size, stride, out_hw)
    out = next(views).copy(order="K")  # in the input's memory order
    for view in views:
        if mode == "max":
            np.maximum(out, view, out=out)
        else:
            out += view
    return out if mode == "max" else out / out.dtype.type(size * size)


def pool2d_input_grad(x: ndarray, output_grad: ndarray, size: int = 2, stride: int | None = None,
                      mode: str = "max", output: ndarray | None = None, rectify: bool = False) -> ndarray:
    """dL/dx of :func:`pool2d_forward`, shape of ``x``. ``output`` (the forward's result) saves recomputing it.

    A max window sends its gradient to the first cell, in reading order, that equals the window's maximum: each
    cell of the window is compared with the maximum in turn, as a whole-batch strided view. With ``rectify``
    (max pooling of a ReLU's output, ``x >= 0``) it is also the ReLU's gradient: a window whose maximum is 0
    sends nothing, which is where the ReLU's mask ``x > 0`` would have zeroed it (computed on the pooled maps,
    a quarter of the size)."""
    stride, (oh, ow) = pool_geometry(x.shape[2:], size, stride)
    if output_grad.shape != x.shape[:2] + (oh, ow):
        raise ValueError(f"output gradient has shape {output_grad.shape}, the output has shape "
                         f"{x.shape[:2] + (oh, ow)}")
    # in x's memory order; no zeros needed when every cell lies in exactly one window and is written once
    tiled = mode == "max" and stride == size and (oh * size, ow * size) == x.shape[2:]
    grad = (np.empty_like if tiled else np.zeros_like)(x, dtype=np.result_type(x, output_grad))
    cells = zip(_shifted(x, size, stride, (oh, ow)), _shifted(grad, size, stride, (oh, ow)))
    if mode == "avg":
        share = output_grad / grad.dtype.type(size * size)
        for _, target in cells:
            target += share
        return grad
    best = pool2d_forward(x, size, stride, "max") if output is None else output
    if output_grad.strides != best.strides:  # (Flatten's backward) one copy into the maps' memory order
        output_grad = _in_order_of(best, output_grad)
    if rectify:
        output_grad = output_grad * (best > 0)
    hit = np.empty_like(best, dtype=bool)
    unclaimed = None  # the windows whose winner is still to be found
    for n, (view, target) in enumerate(cells):
        np.equal(view, best, out=hit)
        if unclaimed is None:
            unclaimed = ~hit
        else:
            hit &= unclaimed
            if n < size * size - 1:
                unclaimed ^= hit  # hit is within unclaimed: this clears the windows just won
        if stride >= size:  # windows do not overlap: each input cell belongs to one window at most
            np.multiply(output_grad, hit, out=target)
        else:
            target += output_grad * hit
    return grad


def _in_order_of(like: ndarray, a: ndarray) -> ndarray:
    out = np.empty_like(like, dtype=a.dtype)
    out[...] = a
    return out


class Pool2D(Operation):
    """Pooling as an Operation: ``Pool2D(size=2, mode="max")``."""

    def __init__(self, size: int = 2, stride: int | None = None, mode: str = "max") -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.size, self.stride, self.mode = size, stride, mode
        self.rectify = False  # set with the ReLU before it (nn.link_rectified): its gradient includes the mask

    def _output(self, inference: bool) -> ndarray:
        return pool2d_forward(self.input_, self.size, self.stride, self.mode)

    def _input_grad(self, output_grad: ndarray) -> ndarray:
        return pool2d_input_grad(self.input_, output_grad, self.size, self.stride, self.mode, self.output,
                                 self.rectify)

    def __repr__(self) -> str:
        return f"Pool2D(size={self.size}, stride={self.stride}, mode={self.mode!r})"


__all__ = ["pool_geometry", "pool2d_forward", "pool2d_input_grad", "Pool2D"]
