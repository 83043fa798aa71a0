"""The convolution's fast kernels for feature maps stored row by row, the layout the lab's networks keep.

Every array here has the chapter's shape, (batch, channels, height, width), but the maps these kernels return
are stored in the order (height, channels, width, batch): a row of the image holds every channel, and in a
channel's row every column holds the whole batch. Element-wise operations and pooling keep that order (NumPy's
order "K"), so each convolution reads what the one before it wrote without a transposing copy.

In that order ``kh`` consecutive rows of the input are one contiguous block, and read as a matrix of
``kh * channels`` rows by ``width * batch`` columns they are what an output row needs from the input, for every
example at once. So at stride 1 (:func:`correlate`) a row of the output costs one product with no copy at all,
``(out_channels * kw, kh * in_channels) @ (kh * in_channels, width * batch)``, and kw shifted additions then sum
the kernel's columns j. The same kernel with the flipped filters is the input gradient. Rows whose window
reaches into the zero padding multiply only the rows that exist.

Where ``in_channels * kh`` is too small for that product to pay (the first layer's 1 x 5), and for every filter
gradient at stride 1, the input is widened first (:func:`widen`: kw copies shifted by a column each, as
channels): then the kernel is one column wide, its products land in the output's rows without shifted
additions, and the filter gradient is one product of widened row blocks and gradient rows per output row.

At other strides the patches are copied into columns first (:func:`im2col`), as the chapter's Appendix does, and
the products of each output row land in that row of the output.

Memory stays in proportion to the maps, never to the patches: besides its result, a kernel holds one copy of
its inputs in its layout (kw shifted copies, widened) and buffers of at most ``CHUNK_ELEMENTS`` numbers; a batch
so large that one row of a buffer would exceed that goes through in groups of examples.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy import ndarray

# A band's buffers (patch columns, products) hold at most this many numbers: 2 MB in float32. On the lab's second
# convolution (bench/bench_lab_net.py --variants) every budget from 2**18 to 2**23 ran within 2 % of the others;
# the smaller keeps a huge batch's memory down.
CHUNK_ELEMENTS = 1 << 19
# The rows kernels need products whose inner dimension (in_channels * kh) is at least this; the first layer's
# (1 x 5) ran three times slower than its im2col product (25 long), the second layer's (16 x 5) a third faster
# (bench/bench_lab_net.py --variants). Below it the input is widened first (kw shifted copies as channels).
ROWS_MIN_INNER = 16


def stored(a: ndarray) -> ndarray:
    """(batch, channels, h, w) -> its (h, channels, w, batch) view: C-contiguous for the maps made here."""
    return a.transpose(2, 1, 3, 0)


def seen(a: ndarray) -> ndarray:
    """(h, channels, w, batch) -> the (batch, channels, h, w) view every caller sees."""
    return a.transpose(3, 1, 0, 2)


def family(stride: int, in_channels: int, kh: int) -> str:
    """Which kernels serve a convolution's forward pass and filter gradient: "rows" at stride 1 where the
    product over a block of rows pays (in_channels * kh >= ROWS_MIN_INNER), "widened" at stride 1 with fewer
    input channels (the first layer's: :func:`widen`), "im2col" at other strides."""
    if stride != 1:
        return "im2col"
    return "rows" if in_channels * kh >= ROWS_MIN_INNER else "widened"


def slices(n: int, per_item: int) -> list[slice]:
    """``range(n)`` in consecutive slices of at most ``CHUNK_ELEMENTS // per_item`` items (at least one)."""
    step = max(1, CHUNK_ELEMENTS // max(per_item, 1))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def groups(batch: int, per_row: int) -> list[slice]:
    """Groups of examples: the whole batch unless one row of buffers (``per_row`` numbers per example) for all
    of it would exceed the budget, as a huge inference batch's may."""
    return slices(batch, per_row)


def _source(x: ndarray, group: slice) -> ndarray:
    """The examples ``group`` of ``x`` stored (h, channels, w, batch), C-contiguous: a view of this module's
    maps, else one copy."""
    s = stored(x)[..., group]
    return s if s.flags.c_contiguous else np.ascontiguousarray(s)


def _columns(j: int, pw: int, in_w: int, out_w: int) -> tuple[int, int]:
    """The output columns x whose input column ``x + j - pw`` exists: ``range(x0, x1)``."""
    return max(0, pw - j), min(out_w, in_w + pw - j)


@lru_cache(maxsize=256)
def _segments(out_h: int, ph: int, kh: int, h: int, most: int) -> tuple[tuple[int, int, int, int], ...]:
    """Runs of at most ``most`` output rows whose windows read the same kernel rows: ``(y0, n, i0, i1)``, output
    rows y0 ... y0 + n - 1 reading input rows ``y + i - ph`` for i0 <= i < i1 (the rows of the window that lie
    inside the input; an interior run reads all kh). Cached: a small batch's pass (the Draw page's one drawing)
    spent a tenth of its time working these out again."""
    runs, y = [], 0
    while y < out_h:
        i0, i1 = max(0, ph - y), min(kh, h + ph - y)
        n = 1
        while n < most and y + n < out_h and (max(0, ph - y - n), min(kh, h + ph - y - n)) == (i0, i1):
            n += 1
        runs.append((y, n, i0, i1))
        y += n
    return tuple(runs)


def _windows(src: ndarray, start: int, n: int, length: int) -> ndarray:
    """``n`` overlapping blocks of ``length`` rows of ``src`` (h, channels, w, batch; C-contiguous), the r-th
    starting at row start + r, each read as a (length * channels, width * batch) matrix: a view, no copy (NumPy
    checks that the last block ends inside ``src``)."""
    h, c, w, b = src.shape
    if start < 0 or start + n - 1 + length > h:
        raise IndexError(f"rows {start} ... {start + n - 2 + length} are outside the {h} rows of the input")
    row, item = c * w * b * src.itemsize, src.itemsize
    return np.ndarray((n, length * c, w * b), src.dtype, src, offset=start * row, strides=(row, w * b * item, item))


def correlate(x: ndarray, k: ndarray, pads, out_hw, relu: bool = False) -> ndarray:
    """Stride 1: ``out[b, o, y, x] = sum_{c,i,j} k[o, c, i, j] * x[b, c, y + i - ph, x + j - pw]`` (zero outside
    ``x``) for ``x`` (batch, in, h, w) in any memory order and ``k`` (out, in, kh, kw); the result stored row by
    row (module docstring), and with ``relu`` its ReLU, applied band by band while it is in the cache.

    For a run of output rows, one product per row over (i, c), the blocks of input rows as they lie in memory;
    then kw shifted additions over j."""
    (b, c, h, w), (o, _, kh, kw) = x.shape, k.shape
    (ph, pw), (oh, ow) = pads, out_hw
    wmat = np.ascontiguousarray(k.transpose(0, 3, 2, 1)).reshape(o * kw, kh * c)  # rows (o, j), columns (i, c)
    out = np.empty((oh, o, ow, b), dtype=np.result_type(x, k))
    spans = [_columns(j, pw, w, ow) for j in range(kw)]
    first = next((j for j, span in enumerate(spans) if span == (0, ow)), None)  # a shift that covers every column
    direct = kw == 1 and pw == 0 and w == ow
    for group in groups(b, o * kw * w):
        src, nb = _source(x, group), group.stop - group.start
        most = max(1, CHUNK_ELEMENTS // (o * kw * w * nb))
        products = np.empty((most, o * kw, w * nb), dtype=out.dtype)
        for y0, n, i0, i1 in _segments(oh, ph, kh, h, most):
            target = out[y0:y0 + n, :, :, group]
            if i1 <= i0:  # the window reads only padding
                target[...] = 0
                continue
            blocks = _windows(src, y0 + i0 - ph, n, i1 - i0)
            if direct and nb == b:  # a one-column kernel's products are the output rows themselves
                np.matmul(wmat[:, i0 * c:i1 * c], blocks, out=out[y0:y0 + n].reshape(n, o, ow * b))
                if relu:
                    np.maximum(target, 0, out=target)
                continue
            t = np.matmul(wmat[:, i0 * c:i1 * c], blocks, out=products[:n])
            t = t.reshape(n, o, kw, w, nb)
            if first is None:
                target[...] = 0
            else:
                target[...] = t[:, :, first, first - pw:first - pw + ow]
            for j, (x0, x1) in enumerate(spans):
                if j != first and x1 > x0:
                    target[:, :, x0:x1] += t[:, :, j, x0 + j - pw:x1 + j - pw]
            if relu:
                np.maximum(target, 0, out=target)
    return seen(out)


def input_grad_rows(x_shape, param: ndarray, output_grad: ndarray, pads) -> ndarray:
    """Stride 1: ``dx[b, c, y, x] = sum_{o,i,j} param[c,o,i,j] * g[b, o, y + ph - i, x + pw - j]``, the output
    gradient correlated with the kernel turned by 180 degrees and padded by ``k - 1 - pad``."""
    (kh, kw), (ph, pw) = param.shape[2:], pads
    flipped = param[:, :, ::-1, ::-1]  # (in, out, kh, kw): the correlation's (to, from) order
    return correlate(output_grad, flipped, (kh - 1 - ph, kw - 1 - pw), x_shape[2:])


def widen(x: ndarray, kw: int, pw: int, out_w: int) -> ndarray:
    """``x`` (batch, c, h, w) -> (batch, c * kw, h, out_w), stored row by row: channel ``c * kw + j`` holds x
    shifted by j - pw columns (zero where that leaves x). A stride-1 convolution of ``x`` is then one with a
    kernel one column wide, whose row blocks :func:`correlate` multiplies as they lie: kw copies of the input,
    where im2col makes kh * kw."""
    b, c, h, w = x.shape
    src = stored(x)
    wide = np.empty((h, c, kw, out_w, b), dtype=x.dtype)
    for j in range(kw):
        x0, x1 = _columns(j, pw, w, out_w)
        wide[:, :, j, :x0] = 0
        wide[:, :, j, x0:max(x0, x1)] = src[:, :, x0 + j - pw:max(x0, x1) + j - pw]
        wide[:, :, j, max(x0, x1):] = 0
    return seen(wide.reshape(h, c * kw, out_w, b))


def _one_column(param: ndarray) -> ndarray:
    """The filters (in, out, kh, kw) as the one-column kernel over :func:`widen`'s channels: (out, in * kw, kh, 1),
    ``k[o, c * kw + j, i, 0] = param[c, o, i, j]``."""
    c, o, kh, kw = param.shape
    return param.transpose(1, 0, 3, 2).reshape(o, c * kw, kh, 1)


def forward_widened(x: ndarray, param: ndarray, pads, out_hw, relu: bool = False) -> ndarray:
    """Stride 1 for few input channels (the first layer's one): the widened input correlated with the
    one-column kernel, its products landing in the output's rows."""
    return correlate(widen(x, param.shape[3], pads[1], out_hw[1]), _one_column(param), (pads[0], 0), out_hw, relu)


def filter_grad_widened(x: ndarray, output_grad: ndarray, kernel_hw, pads) -> ndarray:
    """Stride 1: ``dparam[c, o, i, j] = sum_{b,y,x} x[b, c, y + i - ph, x + j - pw] * g[b, o, y, x]``.

    The input widened (:func:`widen`), each output row's block of kh widened rows, (kh * in * kw, width * batch)
    as it lies, times that row of the output gradient, (width * batch, out): one batched product for all rows,
    summed. On the lab's second layer this ran 7 % faster than the rows kernel with the gradient shifted
    instead (kw copies of the larger array), on the first a fifth faster than im2col."""
    (b, c, h), (o, oh, ow), (kh, kw), (ph, pw) = x.shape[:3], output_grad.shape[1:], kernel_hw, pads
    src, g = _source(widen(x, kw, pw, ow), slice(0, b)), _source(output_grad, slice(0, b))
    grad = np.zeros((kh, c * kw, o), dtype=np.result_type(x, output_grad))
    for y0, n, i0, i1 in _segments(oh, ph, kh, h, oh):
        if i1 > i0:
            g_rows = g[y0:y0 + n].reshape(n, o, ow * b).transpose(0, 2, 1)
            part = np.matmul(_windows(src, y0 + i0 - ph, n, i1 - i0), g_rows)
            grad[i0:i1] += part.sum(axis=0).reshape(i1 - i0, c * kw, o)
    return np.ascontiguousarray(grad.reshape(kh, c, kw, o).transpose(1, 3, 0, 2))


# --------------------------------------------------------------------------------------- im2col and col2im


def _pad_stored(x: ndarray, pads) -> ndarray:
    """``x`` (batch, channels, h, w), any memory order -> zero-padded (channels, h + 2 ph, w + 2 pw, batch)."""
    (ph, pw), (b, c, h, w) = pads, x.shape
    x_pad = np.zeros((c, h + 2 * ph, w + 2 * pw, b), dtype=x.dtype)
    x_pad[:, ph:ph + h, pw:pw + w] = x.transpose(1, 2, 3, 0)
    return x_pad


def im2col(x_pad: ndarray, kernel_hw, stride: int, out_w: int, rows: slice, out: ndarray | None = None) -> ndarray:
    """Patches of the output rows ``rows``, every example at once:
    ``cols[y, (c, i, j), (x, b)] = x_pad[c, y*stride + i, x*stride + j, b]``, shape (n_rows, channels * kh * kw,
    out_w * batch), so that ``W @ cols`` is those rows of the output stored row by row.

    ``x_pad``: (channels, padded_h, padded_w, batch). One strided copy per kernel cell; into ``out`` when given."""
    c, b = x_pad.shape[0], x_pad.shape[3]
    (kh, kw), n = kernel_hw, rows.stop - rows.start
    size = n * c * kh * kw * out_w * b
    cols = np.empty(size, dtype=x_pad.dtype) if out is None else out[:size]
    cells = cols.reshape(n, c, kh, kw, out_w, b)
    for i in range(kh):
        top = rows.start * stride + i
        for j in range(kw):
            cells[:, :, i, j] = x_pad[:, top:top + stride * n:stride, j:j + stride * out_w:stride].transpose(1, 0, 2, 3)
    return cols.reshape(n, c * kh * kw, out_w * b)


def col2im_add(grad_pad: ndarray, dcols: ndarray, kernel_hw, stride: int, out_w: int, rows: slice) -> None:
    """The adjoint of :func:`im2col`: add every column entry back onto the input cell it was read from.
    ``grad_pad`` (channels, padded_h, padded_w, batch), any memory order."""
    c, b = grad_pad.shape[0], grad_pad.shape[3]
    (kh, kw), n = kernel_hw, rows.stop - rows.start
    d = dcols.reshape(n, c, kh, kw, out_w, b)
    for i in range(kh):
        top = rows.start * stride + i
        for j in range(kw):
            grad_pad[:, top:top + stride * n:stride, j:j + stride * out_w:stride] += d[:, :, i, j].transpose(1, 0, 2, 3)


def matrix(param: ndarray) -> ndarray:
    """The filters as an (out_channels, in_channels * kh * kw) matrix, columns matching :func:`im2col`'s rows."""
    c, o, kh, kw = param.shape
    return np.ascontiguousarray(param.transpose(1, 0, 2, 3)).reshape(o, c * kh * kw)


def _column_bands(x: ndarray, kernel_hw, stride: int, pads, out_hw):
    """For each group of examples and band of output rows, ``(group, rows, cols)``: the band's patch columns
    (:func:`im2col`), in one buffer of at most CHUNK_ELEMENTS numbers that every band of the group reuses."""
    k, (oh, ow) = x.shape[1] * kernel_hw[0] * kernel_hw[1], out_hw
    for group in groups(x.shape[0], k * ow):
        nb = group.stop - group.start
        x_pad = _pad_stored(x[group], pads)
        bands = slices(oh, k * ow * nb)
        buffer = np.empty(k * ow * nb * (bands[0].stop - bands[0].start), dtype=x.dtype)
        for rows in bands:
            yield group, rows, im2col(x_pad, kernel_hw, stride, ow, rows, buffer)


def forward_im2col(x: ndarray, param: ndarray, stride: int, pads, out_hw, relu: bool = False) -> ndarray:
    """The output stored row by row: for each band of output rows, the patches of every example, then one
    product per row into that row of the output."""
    w = matrix(param)
    o, b, (oh, ow) = w.shape[0], x.shape[0], out_hw
    out = np.empty((oh, o, ow, b), dtype=np.result_type(x, param))
    for group, rows, cols in _column_bands(x, param.shape[2:], stride, pads, out_hw):
        target = out[rows, :, :, group]
        if group.stop - group.start == b:  # the products land in the output
            np.matmul(w, cols, out=target.reshape(len(cols), o, ow * b))
        else:  # part of a huge batch: copied into place
            target[...] = (w @ cols).reshape(target.shape)
        if relu:
            np.maximum(target, 0, out=target)
    return seen(out)


def filter_grad_im2col(x: ndarray, output_grad: ndarray, kernel_hw, stride: int, pads, out_hw) -> ndarray:
    """dL/dparam: for each band of output rows, the patch columns (extracted again, in the cache: cheaper than
    keeping the whole batch's) times the output gradient's rows, one product per row."""
    c, (kh, kw), o, ow = x.shape[1], kernel_hw, output_grad.shape[1], out_hw[1]
    grad = np.zeros((c * kh * kw, o), dtype=np.result_type(x, output_grad))  # transposed: cols @ g.T ran faster
    g = stored(output_grad)
    for group, rows, cols in _column_bands(x, kernel_hw, stride, pads, out_hw):
        # one product per output row, batched: the first layer's one long thin product per band
        # (25 x 19,712 x 16) ran at half the speed
        g_rows = g[rows, :, :, group].reshape(len(cols), o, ow * (group.stop - group.start)).transpose(0, 2, 1)
        grad += np.matmul(cols, g_rows).sum(axis=0)
    return np.ascontiguousarray(grad.reshape(c, kh, kw, o).transpose(0, 3, 1, 2))


def input_grad_col2im(x_shape, param: ndarray, output_grad: ndarray, stride: int, pads, out_hw) -> ndarray:
    """dL/dx at any stride, stored row by row: for each band of output rows, the kernel's transpose times the
    output gradient's rows (one product per row), its columns added back onto the windows they came from."""
    wt = matrix(param).T  # (in_channels * kh * kw, out_channels)
    (b, c, h, w), k, (oh, ow), (ph, pw) = x_shape, wt.shape[0], out_hw, pads
    grad_pad = np.zeros((h + 2 * ph, c, w + 2 * pw, b), dtype=np.result_type(param, output_grad))
    g = stored(output_grad)
    for group in groups(b, k * ow):
        nb = group.stop - group.start
        bands = slices(oh, k * ow * nb)
        buffer = np.empty(k * ow * nb * (bands[0].stop - bands[0].start), dtype=grad_pad.dtype)
        for rows in bands:
            n = rows.stop - rows.start
            g_rows = g[rows, :, :, group].reshape(n, -1, ow * nb)
            dcols = np.matmul(wt, g_rows, out=buffer[:n * k * ow * nb].reshape(n, k, ow * nb))
            col2im_add(grad_pad[..., group].transpose(1, 0, 2, 3), dcols, param.shape[2:], stride, ow, rows)
    return seen(grad_pad[ph:ph + h, :, pw:pw + w])


__all__ = ["CHUNK_ELEMENTS", "ROWS_MIN_INNER", "stored", "seen", "family", "correlate", "input_grad_rows",
           "widen", "forward_widened", "filter_grad_widened", "im2col", "col2im_add",
           "forward_im2col", "filter_grad_im2col", "input_grad_col2im"]
