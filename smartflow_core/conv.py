"""Fast 2D convolution: im2col (one strided copy per kernel cell) and a matrix multiply per example, in chunks of
examples; and the Operation around it.

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

``book_input_grad`` and ``book_param_grad`` are the book's versions, bugs kept (see :mod:`smartflow_core.book`).
All kernels compute in the dtype of their inputs.
"""
from __future__ import annotations

import numpy as np
from numpy import ndarray
from numpy.lib.stride_tricks import sliding_window_view

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


def _windows(x_pad: ndarray, kernel_hw, stride: int, out_hw) -> ndarray:
    """A strided view (batch, channels, out_h, out_w, kh, kw) of the padded input: no copy."""
    v = sliding_window_view(x_pad, kernel_hw, axis=(2, 3))[:, :, ::stride, ::stride]
    return v[:, :, :out_hw[0], :out_hw[1]]


# im2col buffers hold at most this many numbers (8 MB in float32): big batches go through in chunks of examples,
# which keeps memory bounded and the working set in cache.
CHUNK_ELEMENTS = 1 << 21


def _chunks(batch: int, per_example: int):
    step = max(1, CHUNK_ELEMENTS // max(per_example, 1))
    for start in range(0, batch, step):
        yield slice(start, min(start + step, batch))


def im2col(x_pad: ndarray, kernel_hw, stride: int, out_hw, out: ndarray | None = None) -> ndarray:
    """Patches as columns: ``cols[b, (c, i, j), (y, x)] = x_pad[b, c, y*stride + i, x*stride + j]``.

    Shape (batch, channels * kh * kw, out_h * out_w), C-contiguous, so that ``W @ cols[b]`` is one example's
    output in (channels, height, width) order. Filled with one strided copy per kernel cell (kh * kw copies
    of a whole batch), not one per window; into ``out`` when given.
    """
    b, c = x_pad.shape[:2]
    (kh, kw), (oh, ow) = kernel_hw, out_hw
    cols = np.empty((b, c * kh * kw, oh * ow), dtype=x_pad.dtype) if out is None else out
    cells = cols.reshape(b, c, kh, kw, oh, ow)
    for i in range(kh):
        for j in range(kw):
            cells[:, :, i, j] = x_pad[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return cols


def col2im_add(grad_pad: ndarray, dcols: ndarray, kernel_hw, stride: int, out_hw) -> None:
    """The adjoint of :func:`im2col`: add every column entry back onto the input cell it was read from."""
    b, c = grad_pad.shape[:2]
    (kh, kw), (oh, ow) = kernel_hw, out_hw
    d = dcols.reshape(b, c, kh, kw, oh, ow)
    for i in range(kh):
        for j in range(kw):
            grad_pad[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += d[:, :, i, j]


def _check(x: ndarray, param: ndarray) -> None:
    if x.ndim != 4 or param.ndim != 4:
        raise ValueError(f"expected x (batch, channels, h, w) and param (in, out, fh, fw), "
                         f"got shapes {x.shape} and {param.shape}")
    if x.shape[1] != param.shape[0]:
        raise ValueError(f"input has {x.shape[1]} channels but the filters expect {param.shape[0]} "
                         f"(input shape {x.shape}, filter shape {param.shape})")


def _matrix(param: ndarray) -> ndarray:
    """The filters as an (out_channels, in_channels * kh * kw) matrix, rows matching :func:`im2col`."""
    c, o, kh, kw = param.shape
    return np.ascontiguousarray(param.transpose(1, 0, 2, 3)).reshape(o, c * kh * kw)


def conv2d_forward(x: ndarray, param: ndarray, stride: int = 1, padding=None) -> ndarray:
    """The convolution's output: (batch, out_channels, out_h, out_w), C-contiguous."""
    return _forward(x, param, stride, padding, keep_cols=False)[0]


def _forward(x: ndarray, param: ndarray, stride, padding, keep_cols: bool) -> tuple[ndarray, ndarray | None]:
    """The output, and with ``keep_cols`` the whole batch's :func:`im2col` columns for the filter gradient."""
    _check(x, param)
    pads, out_hw = conv_geometry(x.shape[2:], param.shape[2:], stride, padding)
    w = _matrix(param)
    x_pad = _pad(x, pads)
    b, o, k, p = x.shape[0], w.shape[0], w.shape[1], out_hw[0] * out_hw[1]
    out = np.empty((b, o, p), dtype=np.result_type(x, param))
    kept = np.empty((b, k, p), dtype=x.dtype) if keep_cols else None
    for part in _chunks(b, k * p):
        cols = im2col(x_pad[part], param.shape[2:], stride, out_hw, None if kept is None else kept[part])
        np.matmul(w, cols, out=out[part])
    return out.reshape((b, o) + out_hw), kept


def conv2d_input_grad(x_shape, param: ndarray, output_grad: ndarray, stride: int = 1, padding=None) -> ndarray:
    """dL/dx, shape ``x_shape``: each output cell's gradient times the kernel, added back onto its window."""
    pads, out_hw = conv_geometry(x_shape[2:], param.shape[2:], stride, padding)
    _check_grad(output_grad, (x_shape[0], param.shape[1]) + out_hw)
    wt = _matrix(param).T  # (in_channels * kh * kw, out_channels)
    b, c, h, w = x_shape
    g = output_grad.reshape(b, param.shape[1], -1)
    grad_pad = np.zeros((b, c, h + 2 * pads[0], w + 2 * pads[1]), dtype=np.result_type(param, output_grad))
    for part in _chunks(b, wt.shape[0] * g.shape[2]):
        col2im_add(grad_pad[part], np.matmul(wt, g[part]), param.shape[2:], stride, out_hw)
    if pads == (0, 0):
        return grad_pad
    return np.ascontiguousarray(grad_pad[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + w])


def conv2d_param_grad(x: ndarray, output_grad: ndarray, kernel_hw, stride: int = 1, padding=None,
                      cols: ndarray | None = None) -> ndarray:
    """dL/dparam: (in_channels, out_channels, kh, kw), each example's patches times its own gradient.

    ``cols``: the forward pass's :func:`im2col` columns of ``x``, if it kept them (saves extracting them again)."""
    pads, out_hw = conv_geometry(x.shape[2:], kernel_hw, stride, padding)
    _check_grad(output_grad, (x.shape[0], output_grad.shape[1]) + out_hw)
    b, c = x.shape[:2]
    (kh, kw), o = kernel_hw, output_grad.shape[1]
    x_pad = _pad(x, pads) if cols is None else None
    g = output_grad.reshape(b, o, -1)
    grad = np.zeros((o, c * kh * kw), dtype=np.result_type(x, output_grad))
    for part in _chunks(b, c * kh * kw * g.shape[2]):
        patches = im2col(x_pad[part], kernel_hw, stride, out_hw) if cols is None else cols[part]
        grad += np.matmul(g[part], patches.transpose(0, 2, 1)).sum(axis=0)
    return np.ascontiguousarray(grad.reshape(o, c, kh, kw).transpose(1, 0, 2, 3))


def _check_grad(output_grad: ndarray, expected) -> None:
    if output_grad.shape != tuple(expected):
        raise ValueError(f"output gradient has shape {output_grad.shape}, the output has shape {tuple(expected)}")


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
    pads, out_hw = conv_geometry((h, w), kernel_hw)
    cols = _windows(_pad(x, pads), kernel_hw, 1, out_hw)  # (b, c, h, w, kh, kw)
    patches = cols.transpose(2, 3, 0, 1, 4, 5).reshape(h * w * b, c * kh * kw)  # row r: position r // b
    grads = output_grad.transpose(0, 2, 3, 1).reshape(b * h * w, -1)  # row r: example r // (h * w)
    return (patches.T @ grads).reshape(c, kh, kw, -1).transpose(0, 3, 1, 2)


# ----------------------------------------------------------------------------------------- the Operation


class Conv2D_Op(ParamOperation):
    """Multichannel 2D convolution (no bias) with stride and zero padding.

    ``book=True`` uses the book's backward pass, bugs included; ``None`` follows :func:`book_mode`.
    """

    def __init__(self, W: ndarray, stride: int = 1, padding=None, book: bool | None = None) -> None:
        super().__init__(W)
        if W.ndim != 4:
            raise ValueError(f"filters must have shape (in_channels, out_channels, fh, fw), got {W.shape}")
        self.stride = stride
        self.padding = padding
        self._cols: ndarray | None = None  # the last training pass's im2col columns
        self.book = is_book_mode() if book is None else book
        if self.book:
            _book_check(None, W.shape, stride, padding)

    def _output(self, inference: bool) -> ndarray:
        # a training pass keeps its patch columns for the filter gradient (the book's backward has its own)
        out, self._cols = _forward(self.input_, self.param, self.stride, self.padding,
                                   keep_cols=not inference and not self.book)
        return out

    def _input_grad(self, output_grad: ndarray) -> ndarray:
        if self.book:
            return book_input_grad(self.input_.shape, self.param, output_grad)
        return conv2d_input_grad(self.input_.shape, self.param, output_grad, self.stride, self.padding)

    def _param_grad(self, output_grad: ndarray) -> ndarray:
        if self.book:
            return book_param_grad(self.input_, output_grad, self.param.shape[2:])
        return conv2d_param_grad(self.input_, output_grad, self.param.shape[2:], self.stride, self.padding,
                                 self._cols)

    def __repr__(self) -> str:
        return (f"Conv2D_Op(param_shape={tuple(self.param.shape)}, stride={self.stride}, "
                f"padding={self.padding}, book={self.book})")


Conv2DOperation = Conv2D_Op  # the name the chapter's text uses

__all__ = [
    "conv_geometry", "conv2d_forward", "conv2d_input_grad", "conv2d_param_grad", "book_input_grad",
    "book_param_grad", "Conv2D_Op", "Conv2DOperation",
]
