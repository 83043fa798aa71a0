"""Fast 2D convolution: every example's patches in one matrix product per band of output rows, and the
Operation around it.

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

Layout: the batch is the innermost axis in memory. The kernels return (batch, channels, height, width) arrays
whose memory is ordered (channels, height, width, batch) (a transposed view; shapes and values are the
chapter's). In that order the patches of *all* examples for one kernel cell are long contiguous runs
(width x batch numbers), so :func:`im2col` is one copy per kernel cell, and one product
``W (out_channels, in_channels*kh*kw) @ cols (in_channels*kh*kw, rows*width*batch)`` lands exactly in the
output's memory. Element-wise operations and pooling keep the layout (NumPy's order "K"), so the next
convolution or pooling reads it without a transposing copy, and the input gradient comes back in it too.
A layer that flattens into a dense layer (the chapter's model) wants the chapter's order instead: there the
product is one per example, as the chapter's Appendix computes it (``batch_first``), because a transposing copy
of the whole output cost more than that convolution itself.

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


def _batch_last(x: ndarray) -> ndarray:
    """(batch, channels, h, w) -> its (channels, h, w, batch) view; C-contiguous for this module's outputs."""
    return x.transpose(1, 2, 3, 0)


def _batch_first(a: ndarray) -> ndarray:
    """(channels, h, w, batch) -> the (batch, channels, h, w) view every caller sees."""
    return a.transpose(3, 0, 1, 2)


def _pad_batch_last(x: ndarray, pads) -> ndarray:
    """``x`` (batch, channels, h, w), any memory order -> zero-padded (channels, h + 2 ph, w + 2 pw, batch)."""
    (ph, pw), (b, c, h, w) = pads, x.shape
    x_pad = np.zeros((c, h + 2 * ph, w + 2 * pw, b), dtype=x.dtype)
    x_pad[:, ph:ph + h, pw:pw + w] = _batch_last(x)
    return x_pad


# Patch columns (im2col buffers) hold at most this many numbers (2 MB in float32; a band is at least one output
# row, so a row of a huge batch goes through in groups of examples), so memory stays bounded for any batch.
# Measured on the lab's second convolution (bench/bench_lab_net.py --variants, twice): a band of columns that
# stays in the cache keeps the matrix unit busier than the whole batch's columns at once; 2**19 was fastest of
# 2**18 ... 2**23 (2**20 within 5 %, 2**23 20 % slower).
CHUNK_ELEMENTS = 1 << 19
# A training pass of a layer that flattens (products per example) keeps the whole batch's patch columns for the
# filter gradient when they take at most this many numbers (8 MB in float32; the chapter's model's do): that
# saved a fifth of its convolution's time. Batch-innermost layers extract them again, band by band, in the
# cache, which measured as fast as keeping them.
KEEP_ELEMENTS = 1 << 21


def _slices(n: int, per_item: int) -> list[slice]:
    step = max(1, CHUNK_ELEMENTS // max(per_item, 1))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def _parts(batch: int, per_row: int, out_h: int):
    """Groups of examples (the whole batch unless one output row of its patches exceeds the budget, as a huge
    inference batch's may), and for each group bands of output rows whose patches fit the budget."""
    for group in _slices(batch, per_row):
        yield group, _slices(out_h, per_row * (group.stop - group.start))


def im2col(x_pad: ndarray, kernel_hw, stride: int, out_w: int, rows: slice, out: ndarray | None = None) -> ndarray:
    """Patches of the output rows ``rows`` as columns, every example at once:
    ``cols[(c, i, j), (y, x, b)] = x_pad[c, y*stride + i, x*stride + j, b]``.

    ``x_pad``: (channels, padded_h, padded_w, batch), C-contiguous. Shape (channels * kh * kw,
    n_rows * out_w * batch), so that ``W @ cols`` is those rows of the output in (channels, y, x, batch) order.
    One strided copy per kernel cell (runs of out_w * batch numbers at stride 1); into ``out`` when given."""
    c, b = x_pad.shape[0], x_pad.shape[3]
    (kh, kw), n = kernel_hw, rows.stop - rows.start
    size = c * kh * kw * n * out_w * b
    cols = np.empty(size, dtype=x_pad.dtype) if out is None else out[:size]
    cells = cols.reshape(c, kh, kw, n, out_w, b)
    for i in range(kh):
        top = rows.start * stride + i
        for j in range(kw):
            cells[:, i, j] = x_pad[:, top:top + stride * n:stride, j:j + stride * out_w:stride]
    return cols.reshape(c * kh * kw, -1)


def col2im_add(grad_pad: ndarray, dcols: ndarray, kernel_hw, stride: int, out_w: int, rows: slice) -> None:
    """The adjoint of :func:`im2col`: add every column entry back onto the input cell it was read from."""
    c, b = grad_pad.shape[0], grad_pad.shape[3]
    (kh, kw), n = kernel_hw, rows.stop - rows.start
    d = dcols.reshape(c, kh, kw, n, out_w, b)
    for i in range(kh):
        top = rows.start * stride + i
        for j in range(kw):
            grad_pad[:, top:top + stride * n:stride, j:j + stride * out_w:stride] += d[:, i, j]


def _check(x: ndarray, param: ndarray) -> None:
    if x.ndim != 4 or param.ndim != 4:
        raise ValueError(f"expected x (batch, channels, h, w) and param (in, out, fh, fw), "
                         f"got shapes {x.shape} and {param.shape}")
    if x.shape[1] != param.shape[0]:
        raise ValueError(f"input has {x.shape[1]} channels but the filters expect {param.shape[0]} "
                         f"(input shape {x.shape}, filter shape {param.shape})")


def _matrix(param: ndarray) -> ndarray:
    """The filters as an (out_channels, in_channels * kh * kw) matrix, columns matching :func:`im2col`'s rows."""
    c, o, kh, kw = param.shape
    return np.ascontiguousarray(param.transpose(1, 0, 2, 3)).reshape(o, c * kh * kw)


def _band_buffer(per_row: int, group: slice, bands: list[slice], dtype) -> ndarray:
    """One flat buffer for the largest band's columns (the first), reused by every band of the group."""
    return np.empty(per_row * (group.stop - group.start) * (bands[0].stop - bands[0].start), dtype=dtype)


def _rows_of(a: ndarray, rows: slice, group: slice = slice(None)) -> ndarray:
    """Rows ``rows`` of a (channels, h, w, batch) array for the examples ``group`` as a (channels, n) matrix: a
    view when the array is C-contiguous and the group is the whole batch, else a copy of just this band."""
    return a[:, rows, :, group].reshape(a.shape[0], -1)


def conv2d_forward(x: ndarray, param: ndarray, stride: int = 1, padding=None, batch_first: bool = False) -> ndarray:
    """The convolution's output: (batch, out_channels, out_h, out_w), stored batch innermost (module docstring),
    or with ``batch_first`` in the chapter's order, C-contiguous, for a Flatten and a dense layer after it.

    For each band of output rows: the patches of every example, then one matrix product into the output."""
    _check(x, param)
    pads, out_hw = conv_geometry(x.shape[2:], param.shape[2:], stride, padding)
    if batch_first:
        return _forward_batch_first(x, param, stride, pads, out_hw)[0]
    return _forward_batch_last(x, param, stride, pads, out_hw)


def _forward_batch_last(x: ndarray, param: ndarray, stride: int, pads, out_hw) -> ndarray:
    """The output stored batch innermost. Nothing is kept for the filter gradient: it extracts the columns
    again, band by band in the cache, which measured as fast as keeping them."""
    w = _matrix(param)
    (o, k), b, (oh, ow) = w.shape, x.shape[0], out_hw
    out = np.empty((o, oh, ow, b), dtype=np.result_type(x, param))
    for group, bands in _parts(b, k * ow, oh):
        x_pad = _pad_batch_last(x[group], pads)
        buffer = _band_buffer(k * ow, group, bands, x.dtype)
        for rows in bands:
            cols = im2col(x_pad, param.shape[2:], stride, ow, rows, buffer)
            if group == slice(0, b):  # the product lands in the output
                np.matmul(w, cols, out=_rows_of(out, rows))
            else:  # part of a huge batch: the band's product is copied into place
                out[:, rows, :, group] = (w @ cols).reshape(o, -1, ow, group.stop - group.start)
    return _batch_first(out)


def conv2d_input_grad(x_shape, param: ndarray, output_grad: ndarray, stride: int = 1, padding=None) -> ndarray:
    """dL/dx, shape ``x_shape`` (stored batch innermost).

    At stride 1, :func:`_input_grad_rows`. At other strides, for each band of output rows, the kernel's transpose
    times the output gradient (one product), its columns added back onto the windows they came from (col2im).
    At stride 1 col2im's kh * kw passes of additions took longer than the whole product, and so did a transposed
    convolution through :func:`conv2d_forward` (bench/bench_lab_net.py --variants times all three)."""
    pads, (oh, ow) = conv_geometry(x_shape[2:], param.shape[2:], stride, padding)
    _check_grad(output_grad, (x_shape[0], param.shape[1]) + (oh, ow))
    if stride == 1:
        return _input_grad_rows(x_shape, param, output_grad, pads)
    return _input_grad_col2im(x_shape, param, output_grad, stride, pads, (oh, ow))


def _input_grad_rows(x_shape, param: ndarray, output_grad: ndarray, pads) -> ndarray:
    """Stride 1: ``dx[c, y, x] = sum_{o,i,j} param[c,o,i,j] * g[o, y + ph - i, x + pw - j]``, for each band of
    input rows one product over (o, i), ``(in_channels * kw, out_channels * kh) @ (out_channels * kh, positions)``,
    of the gradient's rows shifted by i (whole rows: contiguous copies), then kw shifted additions over j."""
    (b, c, h, w), (_, o, kh, kw), (ph, pw) = x_shape, param.shape, pads
    oh, ow = output_grad.shape[2:]
    w2 = np.ascontiguousarray(param.transpose(0, 3, 1, 2)).reshape(c * kw, o * kh)  # rows (c, j), columns (o, i)
    dtype = np.result_type(param, output_grad)
    dx = np.zeros((c, h, w, b), dtype=dtype)
    for group, bands in _parts(b, o * kh * ow, h):
        nb, target = group.stop - group.start, dx[..., group]
        g_rows = np.zeros((o, oh + 2 * (kh - 1), ow, nb), dtype=output_grad.dtype)  # zero rows above and below
        g_rows[:, kh - 1:kh - 1 + oh] = _batch_last(output_grad)[..., group]
        shifted_buffer = _band_buffer(o * kh * ow, group, bands, g_rows.dtype)
        product_buffer = _band_buffer(c * kw * ow, group, bands, dtype)
        for rows in bands:
            n = rows.stop - rows.start
            shifted = shifted_buffer[:o * kh * n * ow * nb].reshape(o, kh, n, ow, nb)
            for i in range(kh):
                top = rows.start + ph - i + kh - 1
                shifted[:, i] = g_rows[:, top:top + n]
            t = product_buffer[:c * kw * n * ow * nb].reshape(c * kw, -1)
            np.matmul(w2, shifted.reshape(o * kh, -1), out=t)
            t = t.reshape(c, kw, n, ow, nb)
            for j in range(kw):
                x0, x1 = max(0, j - pw), min(w, ow + j - pw)
                target[:, rows, x0:x1] += t[:, j, :, x0 + pw - j:x1 + pw - j]
    return _batch_first(dx)


def _input_grad_col2im(x_shape, param: ndarray, output_grad: ndarray, stride: int, pads, out_hw) -> ndarray:
    wt = _matrix(param).T  # (in_channels * kh * kw, out_channels)
    (b, c, h, w), k, (oh, ow) = x_shape, wt.shape[0], out_hw
    dtype = np.result_type(param, output_grad)
    grad_pad = np.zeros((c, h + 2 * pads[0], w + 2 * pads[1], b), dtype=dtype)
    g = _batch_last(output_grad)
    for group, bands in _parts(b, k * ow, oh):
        buffer = _band_buffer(k * ow, group, bands, dtype)
        for rows in bands:
            g_rows = _rows_of(g, rows, group)
            dcols = np.matmul(wt, g_rows, out=buffer[:k * g_rows.shape[1]].reshape(k, -1))
            col2im_add(grad_pad[..., group], dcols, param.shape[2:], stride, ow, rows)
    return _batch_first(grad_pad[:, pads[0]:pads[0] + h, pads[1]:pads[1] + w])


def conv2d_param_grad(x: ndarray, output_grad: ndarray, kernel_hw, stride: int = 1, padding=None) -> ndarray:
    """dL/dparam: (in_channels, out_channels, kh, kw). For each band of output rows, the patch columns (extracted
    again, in the cache: cheaper than keeping the whole batch's) times the transposed output gradient.

    A gradient stored in the chapter's order (a layer that flattens) takes :func:`_param_grad_batch_first`."""
    pads, out_hw = conv_geometry(x.shape[2:], kernel_hw, stride, padding)
    _check_grad(output_grad, (x.shape[0], output_grad.shape[1]) + out_hw)
    grad = _param_grad_batch_first if output_grad.flags.c_contiguous and x.shape[0] > 1 else _param_grad_batch_last
    return grad(x, output_grad, kernel_hw, stride, pads, out_hw)


def _param_grad_batch_last(x: ndarray, output_grad: ndarray, kernel_hw, stride: int, pads, out_hw) -> ndarray:
    (b, c), (kh, kw), o, (oh, ow) = x.shape[:2], kernel_hw, output_grad.shape[1], out_hw
    k = c * kh * kw
    grad = np.zeros((k, o), dtype=np.result_type(x, output_grad))  # transposed: cols @ g.T ran faster
    g = _batch_last(output_grad)
    for group, bands in _parts(b, k * ow, oh):
        x_pad = _pad_batch_last(x[group], pads)
        buffer = _band_buffer(k * ow, group, bands, x.dtype)
        for rows in bands:
            # one product per output row, batched: the first layer's one long thin product per band
            # (25 x 19,712 x 16) ran at half the speed; the second layer's the same either way
            n = rows.stop - rows.start
            cols = im2col(x_pad, kernel_hw, stride, ow, rows, buffer).reshape(k, n, -1).transpose(1, 0, 2)
            g_rows = _rows_of(g, rows, group).reshape(o, n, -1).transpose(1, 2, 0)
            grad += np.matmul(cols, g_rows).sum(axis=0)
    return np.ascontiguousarray(grad.reshape(c, kh, kw, o).transpose(0, 3, 1, 2))


def _check_grad(output_grad: ndarray, expected) -> None:
    if output_grad.shape != tuple(expected):
        raise ValueError(f"output gradient has shape {output_grad.shape}, the output has shape {tuple(expected)}")


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
    w = _matrix(param)
    (o, k), b, p = w.shape, x.shape[0], out_hw[0] * out_hw[1]
    x_pad = _pad(x, pads)
    out = np.empty((b, o, p), dtype=np.result_type(x, param))
    kept = np.empty((b, k, p), dtype=x.dtype) if keep_cols and b * k * p <= KEEP_ELEMENTS else None
    for part in _slices(b, k * p):
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
    for part in _slices(b, c * kh * kw * g.shape[2]):
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
                 batch_first: bool = False) -> None:
        super().__init__(W)
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
            return _forward_batch_last(self.input_, self.param, self.stride, pads, out_hw)
        out, self._cols = _forward_batch_first(self.input_, self.param, self.stride, pads, out_hw,
                                               keep_cols=not inference and not self.book)
        return out

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
