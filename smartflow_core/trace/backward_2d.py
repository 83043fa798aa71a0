"""Step-by-step records of the 2D and multichannel backward pass, the numerical gradient check, and the book's bug.

* :func:`trace_grad_2d`: dL/dX as a full correlation of the (dilated, padded) output gradient with the flipped
  kernel, then cropped; dL/dW as the correlation of the padded input with the output gradient; the terms of any
  cell, summed over the batch (and, for dL/dX, over the output channels);
* :func:`grad_check`: central differences beside an analytic value;
* :func:`compare_book`: the book's fast gradients beside the true ones and the finite differences, and
  :func:`book_cosines_by_batch`: how far apart they point on real digits.

The whole arrays come from the fast kernels of :mod:`smartflow_core.conv`; the reference loops agree with them
(tests/core/test_trace_backward.py). Pure NumPy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy import ndarray

from smartflow_core import conv
from smartflow_core.trace._common import Vec, _frozen, _running, array_rel_error, cosine, rel_error
from smartflow_core.trace.backward import ONES, TARGETS, Upstream

# ---------------------------------------------------------------------------------------------- 2D and multichannel


@dataclass(frozen=True)
class Term2D:
    """``g[obs, c_out, oy, ox] * param[c_in, c_out, i, j]`` (a dX term) or ``x_pad[...] * g[...]`` (a dW term)."""

    obs: int
    c_in: int
    c_out: int
    i: int  # the weight's row and column (unflipped)
    j: int
    oy: int  # the output cell
    ox: int
    a: float  # the output gradient (dX) or the padded input (dW)
    b: float  # the weight (dX) or the output gradient (dW)
    product: float


@dataclass(frozen=True)
class CellSum:
    terms: tuple[Term2D, ...]
    running: Vec
    value: float  # from the fast kernel


def dilate(g: ndarray, stride: int) -> ndarray:
    """``stride - 1`` zeros between neighbouring cells of the last two axes (the strided output gradient, spread
    back to the positions its windows started at)."""
    if stride == 1:
        return g.copy()
    *lead, oh, ow = g.shape
    out = np.zeros((*lead, (oh - 1) * stride + 1, (ow - 1) * stride + 1), dtype=g.dtype)
    out[..., ::stride, ::stride] = g
    return out


@dataclass(frozen=True, eq=False)
class Grad2DTrace:
    """x (batch, in, h, w); param (in, out, k, k); output gradient (batch, out, oh, ow)."""

    x: ndarray
    param: ndarray
    pad: int
    stride: int
    x_pad: ndarray
    output: ndarray
    output_grad: ndarray
    loss: float
    flipped: ndarray  # param turned by 180 degrees
    dilated: ndarray  # the output gradient with stride - 1 zeros between cells
    full: ndarray  # dilated, padded by k - 1 on every side
    grad_padded: ndarray  # (batch, in, h + 2p, w + 2p): dL/d(padded input), before the crop
    input_grad: ndarray  # conv.conv2d_input_grad
    param_grad: ndarray  # conv.conv2d_param_grad
    per_obs_param: ndarray  # (batch, in, out, k, k): each observation's share of param_grad

    @property
    def k(self) -> int:
        return self.param.shape[2]

    def input_cell(self, obs: int, c_in: int, y: int, x: int) -> CellSum:
        """The terms of ``input_grad[obs, c_in, y, x]``: each output cell whose window covered it, per output
        channel, times the weight that met it there."""
        k, s = self.k, self.stride
        py, px = y + self.pad, x + self.pad
        terms = []
        for co in range(self.param.shape[1]):
            for i in range(k):
                for j in range(k):
                    if (py - i) % s or (px - j) % s:
                        continue
                    oy, ox = (py - i) // s, (px - j) // s
                    if 0 <= oy < self.output_grad.shape[2] and 0 <= ox < self.output_grad.shape[3]:
                        g, wv = float(self.output_grad[obs, co, oy, ox]), float(self.param[c_in, co, i, j])
                        terms.append(Term2D(obs, c_in, co, i, j, oy, ox, g, wv, g * wv))
        return CellSum(tuple(terms), _running(t.product for t in terms), float(self.input_grad[obs, c_in, y, x]))

    def param_cell(self, c_in: int, c_out: int, i: int, j: int) -> CellSum:
        """The terms of ``param_grad[c_in, c_out, i, j]``: every output cell of every observation, its gradient
        times the padded input its window had under weight (i, j)."""
        s, terms = self.stride, []
        for b in range(self.x.shape[0]):
            for oy in range(self.output_grad.shape[2]):
                for ox in range(self.output_grad.shape[3]):
                    xv = float(self.x_pad[b, c_in, oy * s + i, ox * s + j])
                    g = float(self.output_grad[b, c_out, oy, ox])
                    terms.append(Term2D(b, c_in, c_out, i, j, oy, ox, xv, g, xv * g))
        return CellSum(tuple(terms), _running(t.product for t in terms), float(self.param_grad[c_in, c_out, i, j]))


def trace_grad_2d(x, param, pad: int | None = None, stride: int = 1, upstream: Upstream = ONES) -> Grad2DTrace:
    x, w = _frozen(x), _frozen(param)
    if x.ndim != 4 or w.ndim != 4 or w.shape[2] != w.shape[3]:
        raise ValueError(f"expected x (batch, in, h, w) and square filters (in, out, k, k), got {x.shape}, {w.shape}")
    k = w.shape[2]
    pad = k // 2 if pad is None else int(pad)
    out = conv.conv2d_forward(x, w, stride, pad)
    g = upstream.grad(out)
    dil = dilate(g, stride)
    full = np.pad(dil, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))
    flipped = w[:, :, ::-1, ::-1]
    # the full correlation: dL/d(padded input) over the cells windows started from; the rest (a stride that does
    # not divide) were never read, so their gradient is 0
    part = conv.conv2d_forward(full, flipped.transpose(1, 0, 2, 3), 1, 0)
    b, c, h, wd = x.shape
    grad_padded = np.zeros((b, c, h + 2 * pad, wd + 2 * pad))
    grad_padded[:, :, :part.shape[2], :part.shape[3]] = part
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    per = np.stack([conv.conv2d_param_grad(x[i:i + 1], g[i:i + 1], (k, k), stride, pad) for i in range(b)])
    return Grad2DTrace(x, w, pad, stride, _frozen(xp), _frozen(out), _frozen(g), upstream.loss(out),
                       _frozen(flipped), _frozen(dil), _frozen(full), _frozen(grad_padded),
                       _frozen(conv.conv2d_input_grad(x.shape, w, g, stride, pad)),
                       _frozen(conv.conv2d_param_grad(x, g, (k, k), stride, pad)), _frozen(per))


# ---------------------------------------------------------------------------------------------- gradient check


@dataclass(frozen=True)
class GradCheck:
    """``(L(v + h) - L(v - h)) / 2h`` for one element beside the analytic value."""

    where: str  # "input" or "kernel"
    index: tuple[int, ...]
    h: float
    loss_0: float
    loss_plus: float
    loss_minus: float
    analytic: float

    @property
    def numeric(self) -> float:
        return (self.loss_plus - self.loss_minus) / (2 * self.h)

    @property
    def forward(self) -> float:
        """The one-sided ``(L(v + h) - L(v)) / h``: off by about ``h * L'' / 2`` when the loss curves."""
        return (self.loss_plus - self.loss_0) / self.h

    @property
    def rel_error(self) -> float:
        return rel_error(self.analytic, self.numeric)


def grad_check(x, param, where: str, index, analytic: float, h: float = 1e-5, pad: int | None = None,
               stride: int = 1, upstream: Upstream = ONES) -> GradCheck:
    """Central difference of ``upstream.loss(conv2d_forward(x, param))`` in float64."""
    if where not in TARGETS:
        raise ValueError(f"check the input or the kernel, got {where!r}")
    if not h > 0:
        raise ValueError(f"the step h must be positive, got {h}")
    x, w = np.array(x, dtype=np.float64), np.array(param, dtype=np.float64)
    index = tuple(int(i) for i in index)
    pad = w.shape[2] // 2 if pad is None else pad

    def loss(d: float) -> float:
        xs, ws = x.copy(), w.copy()
        (xs if where == "input" else ws)[index] += d
        return upstream.loss(conv.conv2d_forward(xs, ws, stride, pad))

    return GradCheck(where, index, float(h), loss(0.0), loss(h), loss(-h), float(analytic))


# ---------------------------------------------------------------------------------------------- the book's bug


@dataclass(frozen=True)
class PairRow:
    """Row ``row`` of the book's filter-gradient product: a patch row and a gradient row multiplied together."""

    row: int
    patch_obs: int
    patch_pos: int
    grad_obs: int
    grad_pos: int

    @property
    def matched(self) -> bool:
        return (self.patch_obs, self.patch_pos) == (self.grad_obs, self.grad_pos)


def book_pairing(batch: int, positions: int) -> tuple[PairRow, ...]:
    """The book flattened its patches position-major (row r: position r // batch, example r % batch) and the
    output gradient example-major (row r: example r // positions, position r % positions)."""
    return tuple(PairRow(r, r % batch, r // batch, r // positions, r % positions) for r in range(batch * positions))


@dataclass(frozen=True, eq=False)
class BookComparison:
    """The book's fast gradients beside the true ones and central differences, for ``L = sum(g * out)``."""

    x: ndarray
    param: ndarray
    output_grad: ndarray
    true_param: ndarray
    book_param: ndarray
    numeric_param: ndarray
    true_input: ndarray
    book_input: ndarray
    numeric_input: ndarray
    pairing: tuple[PairRow, ...]

    @property
    def cosine_param(self) -> float:
        return cosine(self.book_param, self.true_param)

    @property
    def cosine_input(self) -> float:
        return cosine(self.book_input, self.true_input)

    def errors(self) -> dict[str, float]:
        """Each gradient's relative error against the central differences (whole arrays)."""
        return {"book_param": array_rel_error(self.book_param, self.numeric_param),
                "true_param": array_rel_error(self.true_param, self.numeric_param),
                "book_input": array_rel_error(self.book_input, self.numeric_input),
                "true_input": array_rel_error(self.true_input, self.numeric_input)}

    @property
    def mismatched(self) -> int:
        return sum(not r.matched for r in self.pairing)


def _numeric(x: ndarray, w: ndarray, g: ndarray, where: str, h: float) -> ndarray:
    """Central differences of ``L = sum(g * conv(x, w))`` for every cell of x (``where="input"``) or w.

    All 2n nudged copies go through one convolution: nudged inputs as a bigger batch, nudged filters as more
    output channels. Each copy is still a real forward pass on a real nudged array."""
    target = x if where == "input" else w
    n = target.size
    nudges = np.zeros((2 * n, n))
    nudges[np.arange(n), np.arange(n)] = h
    nudges[n + np.arange(n), np.arange(n)] = -h
    moved = target[None] + nudges.reshape((2 * n,) + target.shape)
    if where == "input":
        out = conv.conv2d_forward(moved.reshape((-1,) + x.shape[1:]), w).reshape((2 * n,) + g.shape)
    else:
        c, o = w.shape[:2]
        filters = moved.transpose(1, 0, 2, 3, 4).reshape((c, 2 * n * o) + w.shape[2:])
        out = conv.conv2d_forward(x, filters).reshape((x.shape[0], 2 * n, o) + g.shape[2:]).swapaxes(0, 1)
    losses = (g[None] * out).reshape(2 * n, -1).sum(axis=1)
    return ((losses[:n] - losses[n:]) / (2 * h)).reshape(target.shape)


def compare_book(x, param, output_grad, h: float = 1e-4) -> BookComparison:
    """The chapter's setting (odd square kernel, padding k // 2, stride 1), any batch."""
    x, w, g = (np.array(a, dtype=np.float64) for a in (x, param, output_grad))
    conv._book_check(x.shape, w.shape, 1, None)
    k = w.shape[2]
    true_p, book_p = conv.conv2d_param_grad(x, g, (k, k)), conv.book_param_grad(x, g, (k, k))
    true_i, book_i = conv.conv2d_input_grad(x.shape, w, g), conv.book_input_grad(x.shape, w, g)
    pairing = book_pairing(x.shape[0], x.shape[2] * x.shape[3])
    return BookComparison(*map(_frozen, (x, w, g, true_p, book_p, _numeric(x, w, g, "kernel", h), true_i, book_i,
                                         _numeric(x, w, g, "input", h))), pairing)


def book_cosines_by_batch(images, labels, sizes) -> tuple[float, ...]:
    """The cosine between the book's and the true filter gradient of the chapter's model (32 filters of 5x5,
    freshly initialised with the chapter's seed) on the first ``n`` digits, for each ``n`` in ``sizes``.

    ``images`` uint8 (n, 28, 28) or (n, 784), ``labels`` (n,). Both gradients are computed from the same input and
    output gradient of the convolution (the training step's, dropout included), so they differ only by the bug.
    """
    from smartflow_core import presets

    out = []
    for n in sizes:
        if not 1 <= n <= len(images):
            raise ValueError(f"batch size {n} is outside 1..{len(images)}")
        net = presets.build(presets.PRESETS["chapter"])
        net.train_batch(presets.prepare_images(images[:n], np.float64), presets.one_hot(labels[:n], dtype=np.float64))
        layer = net.layers[0]
        op, g = layer.operations[0], layer.operations[1].input_grad
        k = op.param.shape[2:]
        out.append(cosine(conv.book_param_grad(op.input_, g, k), conv.conv2d_param_grad(op.input_, g, k)))
    return tuple(out)


# The chapter's training cell (32 filters of 5x5, SoftmaxCrossEntropy, SGDMomentum(0.1, 0.9), batch 60, seeds
# 20190402, full MNIST) as it logs every 10 batches: the chapter's printed log, which the library reproduces with
# the book's gradients, and the same cell run with the true gradients (tests/core/test_trace_backward.py re-runs it).
CHAPTER_LOG = (  # (batch, printed in the chapter = book's gradients, true gradients)
    (0, 33.21654456232465, 24.50075064887358),
    (10, 6.721844280611935, 19.128383704455494),
    (20, 8.171938533609682, 7.598539108892564),
    (30, 7.790772208381125, 8.75479505719497),
    (40, 2.7634509970577077, 4.013114777615072),
)
