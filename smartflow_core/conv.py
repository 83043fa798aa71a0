"""2D convolution with stride and padding, its gradients, the book's versions of them, and the Operation around
it.

Shapes, in the chapter's order::

    x:      (batch, in_channels, height, width)
    param:  (in_channels, out_channels, filter_height, filter_width)
    out:    (batch, out_channels, out_height, out_width)
    out_height = (height + 2 * pad_h - filter_height) // stride + 1   (the same for the width)

Like the chapter's loops this is a cross-correlation, ``out[b,o,y,x] = sum_{c,i,j} x_pad[b,c,y*s+i,x*s+j] *
param[c,o,i,j]``. Its gradients:

* dL/dx: every output cell sends ``g[b,o,y,x] * param[c,o,i,j]`` back to the input cell it read. For stride 1
  that is the padded output gradient correlated with the kernel flipped by 180 degrees.
* dL/dparam: ``sum_{b,y,x} x_pad[b,c,y*s+i,x*s+j] * g[b,o,y,x]``: every example's patches meet its *own*
  output gradient, summed over the batch.

Layout: a layer whose output feeds another convolution or a pooling gets it stored row by row, batch innermost
(memory ordered (height, channels, width, batch); a transposed view, shapes and values the chapter's): there a
block of input rows is the matrix a row of the output multiplies, and the fast kernels in
:mod:`smartflow_core.conv_kernels` need no patch copies at stride 1. A layer that flattens into a dense layer
(the chapter's model) wants the chapter's order instead: there the product is one per example, as the chapter's
Appendix computes it (``batch_first``), because a transposing copy of the whole output cost more than that
convolution itself.

``book_input_grad`` and ``book_param_grad`` are the book's versions, bugs kept (see :mod:`smartflow_core.book`).
All kernels compute in the dtype of their inputs.
"""
from __future__ import annotations

import numpy as np
from numpy import ndarray
from numpy.lib.stride_tricks import sliding_window_view

from smartflow_core import conv_kernels as kernels
from smartflow_core.book import is_book_mode
from smartflow_core.operation import ParamOperation


def conv_geometry(in_hw, kernel_hw, stride: int = 1, padding=None):
    """Validate a convolution and return ``((pad_h, pad_w), (out_h, out_w))``.

    ``padding`` None is the chapter's ``k // 2`` ("same" for odd kernels at stride 1); an int pads every side
    by that much; a pair gives (height, width) padding.
    """
    (h, w), (kh, kw) = in_hw, kernel_hw
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride must be a whole number of at least 1, got {stride!r}")
    if padding is None:
        pads = (kh // 2, kw // 2)
    elif isinstance(padding, (int, np.integer)):
        pads = (int(padding), int(padding))
    else:
        pads = tuple(int(p) for p in padding)
    if len(pads) != 2 or min(pads) < 0:
        raise ValueError(f"padding must be None, an int >= 0 or a pair of them, got {padding!r}")
    if h + 2 * pads[0] < kh or w + 2 * pads[1] < kw:
        raise ValueError(f"a {kh}x{kw} kernel does not fit a {h}x{w} input padded by {pads}")
    out = ((h + 2 * pads[0] - kh) // stride + 1, (w + 2 * pads[1] - kw) // stride + 1)
    return pads, out


def _pad(x: ndarray, pads) -> ndarray:
    ph, pw = pads
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


# A training pass of a layer that flattens (products per example) keeps the whole batch's patch columns for the
# filter gradient when they take at most this many numbers (8 MB in float32; the chapter's model's do): that
# saved a fifth of its convolution's time.
KEEP_ELEMENTS = 1 << 21


def _check(x: ndarray, param: ndarray) -> None:
    if x.ndim != 4 or param.ndim != 4:
        raise ValueError(f"expected x (batch, channels, h, w) and param (in, out, fh, fw), "
                         f"got shapes {x.shape} and {param.shape}")
    if x.shape[1] != param.shape[0]:
        raise ValueError(f"input has {x.shape[1]} channels but the filters expect {param.shape[0]} "
                         f"(input shape {x.shape}, filter shape {param.shape})")


def _check_grad(output_grad: ndarray, expected) -> None:
    if output_grad.shape != tuple(expected):
        raise ValueError(f"output gradient has shape {output_grad.shape}, the output has shape {tuple(expected)}")


def conv2d_forward(x: ndarray, param: ndarray, stride: int = 1, padding=None, batch_first: bool = False,
                   relu: bool = False) -> ndarray:
    """The convolution's output: (batch, out_channels, out_h, out_w), stored row by row
    (:mod:`smartflow_core.conv_kernels`), or with ``batch_first`` in the chapter's order, C-contiguous, for a
    Flatten and a dense layer after it. ``relu`` returns max(output, 0) instead, computed in the same pass."""
    _check(x, param)
    pads, out_hw = conv_geometry(x.shape[2:], param.shape[2:], stride, padding)
    if batch_first:
        out = _forward_batch_first(x, param, stride, pads, out_hw)[0]
        return np.maximum(out, 0, out=out) if relu else out
    return _forward(x, param, stride, pads, out_hw, relu)


def _forward(x: ndarray, param: ndarray, stride: int, pads, out_hw, relu: bool = False) -> ndarray:
    family = kernels.family(stride, param.shape[0], param.shape[2])
    if family == "rows":
        return kernels.correlate(x, param.transpose(1, 0, 2, 3), pads, out_hw, relu)
    if family == "widened":
        return kernels.forward_widened(x, param, pads, out_hw, relu)
    return kernels.forward_im2col(x, param, stride, pads, out_hw, relu)


def conv2d_input_grad(x_shape, param: ndarray, output_grad: ndarray, stride: int = 1, padding=None) -> ndarray:
    """dL/dx, shape ``x_shape``, stored row by row.

    At stride 1, the output gradient correlated with the flipped kernel (:func:`kernels.input_grad_rows`), else
    the kernel's transpose times the output gradient, added back onto the windows (col2im), which at stride 1
    took twice as long (bench/bench_lab_net.py --variants)."""
    pads, (oh, ow) = conv_geometry(x_shape[2:], param.shape[2:], stride, padding)
    _check_grad(output_grad, (x_shape[0], param.shape[1]) + (oh, ow))
    if stride == 1:
        return kernels.input_grad_rows(x_shape, param, output_grad, pads)
    return kernels.input_grad_col2im(x_shape, param, output_grad, stride, pads, (oh, ow))


def conv2d_param_grad(x: ndarray, output_grad: ndarray, kernel_hw, stride: int = 1, padding=None) -> ndarray:
    """dL/dparam: (in_channels, out_channels, kh, kw), by the kernels :func:`kernels.family` chooses. A
    gradient stored in the chapter's order (a layer that flattens) takes :func:`_param_grad_batch_first`."""
    pads, out_hw = conv_geometry(x.shape[2:], kernel_hw, stride, padding)
    _check_grad(output_grad, (x.shape[0], output_grad.shape[1]) + out_hw)
    if output_grad.flags.c_contiguous and x.shape[0] > 1:
        return _param_grad_batch_first(x, output_grad, kernel_hw, stride, pads, out_hw)
    if kernels.family(stride, x.shape[1], kernel_hw[0]) == "im2col":
        return kernels.filter_grad_im2col(x, output_grad, kernel_hw, stride, pads, out_hw)
    return kernels.filter_grad_widened(x, output_grad, kernel_hw, pads)  # stride 1, whatever the channels


# ------------------------------------------------------------------- the chapter's order, for a Flatten


def _im2col_batch_first(x_pad: ndarray, kernel_hw, stride: int, out_hw, out: ndarray | None = None) -> ndarray:
    """``cols[b, (c, i, j), (y, x)] = x_pad[b, c, y*stride + i, x*stride + j]``, one strided copy per kernel
    cell, so that ``W @ cols[b]`` is example b's output in the chapter's (channels, height, width) order."""
    b, c = x_pad.shape[:2]
    (kh, kw), (oh, ow) = kernel_hw, out_hw
    cols = np.empty((b, c * kh * kw, oh * ow), dtype=x_pad.dtype) if out is None else out
    cells = cols.reshape(b, c, kh, kw, oh, ow)
    for i in range(kh):
        for j in range(kw):
            cells[:, :, i, j] = x_pad[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return cols


def _forward_batch_first(x: ndarray, param: ndarray, stride: int, pads, out_hw, keep_cols: bool = False):
    """The output in the chapter's order, a product per example (in chunks of examples), and with ``keep_cols``
    the whole batch's patch columns for the filter gradient if they fit in KEEP_ELEMENTS (the chapter's model's
    do). A transposing copy of the batch-innermost product cost more than this whole convolution on the chapter's
    model."""
    w = kernels.matrix(param)
    (o, k), b, p = w.shape, x.shape[0], out_hw[0] * out_hw[1]
    x_pad = _pad(x, pads)
    out = np.empty((b, o, p), dtype=np.result_type(x, param))
    kept = np.empty((b, k, p), dtype=x.dtype) if keep_cols and b * k * p <= KEEP_ELEMENTS else None
    for part in kernels.slices(b, k * p):
        cols = _im2col_batch_first(x_pad[part], param.shape[2:], stride, out_hw, None if kept is None else kept[part])
        np.matmul(w, cols, out=out[part])
    return out.reshape((b, o) + tuple(out_hw)), kept


def _param_grad_batch_first(x: ndarray, output_grad: ndarray, kernel_hw, stride: int, pads, out_hw,
                            cols: ndarray | None = None) -> ndarray:
    """dL/dparam for a gradient in the chapter's order (from a Flatten): per example, its gradient times its
    transposed patches (``cols``, the forward's, when it kept them), summed."""
    (b, c), (kh, kw), o = x.shape[:2], kernel_hw, output_grad.shape[1]
    x_pad = _pad(x, pads) if cols is None else None
    g = output_grad.reshape(b, o, -1)
    grad = np.zeros((o, c * kh * kw), dtype=np.result_type(x, output_grad))
    for part in kernels.slices(b, c * kh * kw * g.shape[2]):
        patches = _im2col_batch_first(x_pad[part], kernel_hw, stride, out_hw) if cols is None else cols[part]
        grad += np.matmul(g[part], patches.transpose(0, 2, 1)).sum(axis=0)
    return np.ascontiguousarray(grad.reshape(o, c, kh, kw).transpose(1, 0, 2, 3))


# ----------------------------------------------------------------------------------- the book's versions


def _book_check(x_shape, param_shape, stride, padding) -> None:
    k = param_shape[2]
    if stride != 1 or padding not in (None, k // 2) or param_shape[3] != k or k % 2 == 0:
        raise ValueError("book mode reproduces the book's convolution only: odd square kernels, stride 1, "
                         f"padding k // 2 (got kernel {param_shape[2:]}, stride {stride}, padding {padding})")


def book_input_grad(x_shape, param: ndarray, output_grad: ndarray) -> ndarray:
    """The book's dL/dx: the padded output gradient correlated with the *unflipped* kernel (a bug: right
    only for kernels symmetric under a 180-degree turn)."""
    swapped = param.transpose(1, 0, 2, 3)  # slide it over the output channels, sum them into input channels
    return conv2d_forward(output_grad, swapped)


def book_param_grad(x: ndarray, output_grad: ndarray, kernel_hw) -> ndarray:
    """The book's dL/dparam: patch rows ordered (position, example) multiplied with gradient rows ordered
    (example, position), so rows of different examples are paired whenever the batch holds more than one."""
    b, c, h, w = x.shape
    kh, kw = kernel_hw
    pads, _ = conv_geometry((h, w), kernel_hw)
    cols = sliding_window_view(_pad(x, pads), kernel_hw, axis=(2, 3))  # (b, c, h, w, kh, kw)
    patches = cols.transpose(2, 3, 0, 1, 4, 5).reshape(h * w * b, c * kh * kw)  # row r: position r // b
    grads = output_grad.transpose(0, 2, 3, 1).reshape(b * h * w, -1)  # row r: example r // (h * w)
    return (patches.T @ grads).reshape(c, kh, kw, -1).transpose(0, 3, 1, 2)


# ----------------------------------------------------------------------------------------- the Operation


class Conv2D_Op(ParamOperation):
    """Multichannel 2D convolution (no bias) with stride and zero padding.

    ``book=True`` uses the book's backward pass, bugs included; ``None`` follows :func:`book_mode`.
    """

    def __init__(self, W: ndarray, stride: int = 1, padding=None, book: bool | None = None,
                 batch_first: bool = False, relu: bool = False) -> None:
        super().__init__(W)
        self.relu = relu  # return max(output, 0): the layer's ReLU, applied in the same pass
        if W.ndim != 4:
            raise ValueError(f"filters must have shape (in_channels, out_channels, fh, fw), got {W.shape}")
        self.stride = stride
        self.padding = padding
        self.batch_first = batch_first  # store the output in the chapter's order (a Flatten follows)
        self._cols: ndarray | None = None  # the columns a training pass kept (a layer that flattens, small)
        self.book = is_book_mode() if book is None else book
        if self.book:
            _book_check(None, W.shape, stride, padding)

    def _output(self, inference: bool) -> ndarray:
        _check(self.input_, self.param)
        pads, out_hw = conv_geometry(self.input_.shape[2:], self.param.shape[2:], self.stride, self.padding)
        if not self.batch_first:
            return _forward(self.input_, self.param, self.stride, pads, out_hw, self.relu)
        out, self._cols = _forward_batch_first(self.input_, self.param, self.stride, pads, out_hw,
                                               keep_cols=not inference and not self.book)
        return np.maximum(out, 0, out=out) if self.relu else out

    def _input_grad(self, output_grad: ndarray) -> ndarray:
        if self.book:
            return book_input_grad(self.input_.shape, self.param, output_grad)
        return conv2d_input_grad(self.input_.shape, self.param, output_grad, self.stride, self.padding)

    def _param_grad(self, output_grad: ndarray) -> ndarray:
        kernel_hw = self.param.shape[2:]
        if self.book:
            return book_param_grad(self.input_, output_grad, kernel_hw)
        if self._cols is None:
            return conv2d_param_grad(self.input_, output_grad, kernel_hw, self.stride, self.padding)
        pads, out_hw = conv_geometry(self.input_.shape[2:], kernel_hw, self.stride, self.padding)
        _check_grad(output_grad, self.output.shape)
        return _param_grad_batch_first(self.input_, output_grad, kernel_hw, self.stride, pads, out_hw, self._cols)

    def __repr__(self) -> str:
        return (f"Conv2D_Op(param_shape={tuple(self.param.shape)}, stride={self.stride}, "
                f"padding={self.padding}, book={self.book})")


Conv2DOperation = Conv2D_Op  # the name the chapter's text uses

__all__ = [
    "conv_geometry", "conv2d_forward", "conv2d_input_grad", "conv2d_param_grad", "book_input_grad",
    "book_param_grad", "Conv2D_Op", "Conv2DOperation",
]
