"""Step-by-step records of the backward pass of a convolution, for the lessons.

The forward records live in :mod:`smartflow_core.trace`; these follow the same idea for the gradients:

* :func:`perturb_1d`: the chapter's opening experiment: nudge one input or kernel element, recompute the loss,
  compare the change with the gradient the formulas give;
* :func:`trace_input_grad_1d`: every pass of the chapter's loop ``input_grad[o] += output_pad[o + k - p - 1] *
  param[p]``, with the output cells each input fed in the forward pass;
* :func:`trace_param_grad_1d`: every term ``input_pad[i][o + p] * output_grad[i][o]`` that adds into weight ``p``,
  summed over a batch.

The 2D and multichannel gradients, the numerical check and the book's bug are in
:mod:`smartflow_core.trace.backward_2d`.

Loops run in the reference's order (:mod:`smartflow_core.reference`), so every running sum of a chapter-sized
example ends on the number the library computes. Pure NumPy: pages render these records and compute nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy import ndarray

from smartflow_core import reference
from smartflow_core.loss import MeanSquaredError
from smartflow_core.trace._common import Vec, _vec

UPSTREAMS = ("ones", "random", "loss")
TARGETS = ("input", "kernel")


# ---------------------------------------------------------------------------------------------- the loss


@dataclass(frozen=True)
class Upstream:
    """Where dL/dout comes from.

    ``ones``: L = sum(out), the chapter's choice, so dL/dout = 1 everywhere. ``random``: L = sum(g * out) for a
    fixed g of integers -2..2 drawn from ``seed``, so dL/dout = g. ``loss``: the library's
    ``MeanSquaredError`` against ``target`` (one row, repeated for every observation; zeros when None), so
    dL/dout = 2 (out - target) / batch and, unlike the first two, it changes when the output changes.
    """

    kind: str = "ones"
    seed: int = 0
    target: Vec | None = None

    def __post_init__(self):
        if self.kind not in UPSTREAMS:
            raise ValueError(f"the upstream gradient must be one of {UPSTREAMS}, got {self.kind!r}")

    def _rows(self, out: ndarray) -> tuple[ndarray, ndarray]:
        rows = out.reshape(1, -1) if out.ndim == 1 else out.reshape(out.shape[0], -1)
        if self.target is None:
            return rows, np.zeros_like(rows)
        t = np.asarray(self.target, dtype=np.float64).ravel()
        if t.size != rows.shape[1]:
            raise ValueError(f"the target has {t.size} values, the output has {rows.shape[1]} per observation")
        return rows, np.broadcast_to(t, rows.shape)

    def weights(self, shape) -> ndarray:
        """The fixed g of the ``random`` kind."""
        return np.random.default_rng(self.seed).integers(-2, 3, size=shape).astype(np.float64)

    def loss(self, out: ndarray) -> float:
        out = np.asarray(out, dtype=np.float64)
        if self.kind == "ones":
            return float(np.sum(out))
        if self.kind == "random":
            return float(np.sum(self.weights(out.shape) * out))
        return MeanSquaredError().forward(*self._rows(out))

    def grad(self, out: ndarray) -> ndarray:
        out = np.asarray(out, dtype=np.float64)
        if self.kind == "ones":
            return np.ones_like(out)
        if self.kind == "random":
            return self.weights(out.shape)
        mse = MeanSquaredError()
        mse.forward(*self._rows(out))
        return mse.backward().reshape(out.shape)


ONES = Upstream()  # L = sum(out), the chapter's choice: the default everywhere


# ---------------------------------------------------------------------------------------------- perturbation


@dataclass(frozen=True)
class Perturbation1D:
    """Nudge ``target[index]`` by ``delta`` and recompute the loss of ``conv_1d`` (the chapter's padding)."""

    target: str
    index: int
    delta: float
    inp: Vec
    kernel: Vec
    out_before: Vec
    out_after: Vec
    upstream: Vec  # dL/dout at the original output
    loss_before: float
    loss_after: float
    loss_minus: float  # nudged by -delta, for the central difference
    input_grad: Vec  # reference._input_grad_1d with the upstream gradient
    param_grad: Vec  # reference._param_grad_1d with the upstream gradient

    @property
    def value(self) -> float:
        return (self.inp if self.target == "input" else self.kernel)[self.index]

    @property
    def gradient(self) -> float:
        return (self.input_grad if self.target == "input" else self.param_grad)[self.index]

    @property
    def change(self) -> float:
        return self.loss_after - self.loss_before

    @property
    def predicted(self) -> float:
        """What the gradient predicts the change to be: ``gradient * delta``."""
        return self.gradient * self.delta

    @property
    def slope(self) -> float:
        """The measured change per unit of nudge (the chapter's 41 - 39 = 2 for a nudge of 1)."""
        return self.change / self.delta

    @property
    def central(self) -> float:
        return (self.loss_after - self.loss_minus) / (2 * self.delta)

    @property
    def out_change(self) -> Vec:
        return tuple(a - b for a, b in zip(self.out_after, self.out_before))

    @property
    def touched(self) -> tuple[int, ...]:
        """The output cells the nudged element feeds (its change shows there unless a partner is 0)."""
        k, n = len(self.kernel), len(self.inp)
        pad = k // 2
        if self.target == "input":
            return tuple(o for o in (self.index + pad - p for p in range(k)) if 0 <= o < n)
        return tuple(o for o in range(n) if 0 <= o + self.index - pad < n)


def check_1d(inp: ndarray, kernel: ndarray) -> None:
    if inp.ndim != 1 or kernel.ndim != 1 or not inp.size or not kernel.size:
        raise ValueError(f"expected a non-empty 1D input and kernel, got shapes {inp.shape} and {kernel.shape}")
    if kernel.size % 2 == 0:
        raise ValueError(f"the chapter's backward formulas need an odd kernel, got {kernel.size} values")


def perturb_1d(inp, kernel, target: str, index: int, delta: float, upstream: Upstream = ONES) -> Perturbation1D:
    """The chapter's experiment: ``conv_1d_sum([1,2,3,4,5], [1,1,1])`` is 39; with the fifth input 6 it is 41."""
    x, w = np.asarray(inp, dtype=np.float64), np.asarray(kernel, dtype=np.float64)
    check_1d(x, w)
    if target not in TARGETS:
        raise ValueError(f"nudge the input or the kernel, got {target!r}")
    size = x.size if target == "input" else w.size
    if not 0 <= index < size:
        raise ValueError(f"the {target} has no element {index} (it has {size})")
    if delta == 0:
        raise ValueError("the nudge must not be 0")

    def run(d: float) -> ndarray:
        xs, ws = x.copy(), w.copy()
        (xs if target == "input" else ws)[index] += d
        return reference.conv_1d(xs, ws)

    out, after, minus = run(0.0), run(delta), run(-delta)
    g = upstream.grad(out)
    return Perturbation1D(target, index, float(delta), _vec(x), _vec(w), _vec(out), _vec(after), _vec(g),
                          upstream.loss(out), upstream.loss(after), upstream.loss(minus),
                          _vec(reference._input_grad_1d(x, w, g)), _vec(reference._param_grad_1d(x, w, g)))


# ---------------------------------------------------------------------------------------------- 1D input gradient


@dataclass(frozen=True)
class InputTerm:
    """One pass of ``input_grad[o] += output_pad[o + k - p - 1] * param[p]``."""

    o: int
    p: int
    pad_index: int  # o + k - p - 1, a position in the padded output gradient
    out_index: int | None  # the output cell it is (None: a padding zero)
    grad: float
    weight: float
    product: float
    running: float  # input_grad[o] after this term


@dataclass(frozen=True)
class InputGrad1DTrace:
    inp: Vec
    kernel: Vec
    output_grad: Vec
    pad: int
    output_pad: Vec
    flipped: Vec
    terms: tuple[InputTerm, ...]  # loop order: o outer, p inner
    input_grad: Vec  # reference._input_grad_1d
    as_convolution: Vec  # reference.conv_1d(output_grad, flipped): the same numbers

    def term(self, o: int, p: int) -> InputTerm:
        return self.terms[o * len(self.kernel) + p]

    def touched(self, o: int) -> tuple[tuple[int, int], ...]:
        """(output cell, weight) pairs input ``o`` fed on the forward pass: ``out[o + pad - p]`` through ``p``."""
        return tuple((t.out_index, t.p) for t in self.terms[o * len(self.kernel):(o + 1) * len(self.kernel)]
                     if t.out_index is not None)


def trace_input_grad_1d(inp, kernel, output_grad=None) -> InputGrad1DTrace:
    x, w = np.asarray(inp, dtype=np.float64), np.asarray(kernel, dtype=np.float64)
    check_1d(x, w)
    g = np.ones_like(x) if output_grad is None else np.asarray(output_grad, dtype=np.float64)
    if g.shape != x.shape:
        raise ValueError(f"the output gradient has {g.size} values, the output has {x.size}")
    k, pad = w.size, w.size // 2
    gpad = reference._pad_1d(g, pad).astype(np.float64)
    terms = []
    for o in range(x.size):
        total = 0.0
        for p in range(k):
            j = o + k - p - 1
            product = float(gpad[j] * w[p])
            total += product
            inside = pad <= j < pad + x.size
            terms.append(InputTerm(o, p, j, j - pad if inside else None, float(gpad[j]), float(w[p]), product, total))
    flipped = w[::-1].copy()
    return InputGrad1DTrace(_vec(x), _vec(w), _vec(g), pad, _vec(gpad), _vec(flipped), tuple(terms),
                            _vec(reference._input_grad_1d(x, w, g)), _vec(reference.conv_1d(g, flipped)))


# ---------------------------------------------------------------------------------------------- 1D filter gradient


@dataclass(frozen=True)
class ParamTerm:
    """One pass of ``param_grad[p] += input_pad[i][o + p] * output_grad[i][o]``."""

    obs: int
    o: int
    p: int
    pad_index: int  # o + p in the padded input
    x: float
    grad: float
    product: float
    running: float  # param_grad[p] after this term


@dataclass(frozen=True)
class ParamGrad1DTrace:
    inp: tuple[Vec, ...]  # (batch, length)
    kernel: Vec
    output_grad: tuple[Vec, ...]
    pad: int
    input_pad: tuple[Vec, ...]
    param_grad: Vec  # reference._param_grad_1d_batch
    per_obs: tuple[Vec, ...]  # reference._param_grad_1d of each observation alone

    def terms(self, p: int) -> tuple[ParamTerm, ...]:
        """Every term that adds into weight ``p``, in the reference loop's order (observation, then output)."""
        if not 0 <= p < len(self.kernel):
            raise IndexError(f"the kernel has no weight {p}")
        out, total = [], 0.0
        for i, (row, grads) in enumerate(zip(self.input_pad, self.output_grad)):
            for o, g in enumerate(grads):
                product = row[o + p] * g
                total += product
                out.append(ParamTerm(i, o, p, o + p, row[o + p], g, product, total))
        return tuple(out)


def trace_param_grad_1d(inp, kernel, output_grad=None) -> ParamGrad1DTrace:
    """``inp`` one observation (length,) or a batch (batch, length); ``output_grad`` the same shape."""
    x, w = np.atleast_2d(np.asarray(inp, dtype=np.float64)), np.asarray(kernel, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected an input of shape (length,) or (batch, length), got {x.shape}")
    check_1d(x[0], w)
    g = np.ones_like(x) if output_grad is None else np.atleast_2d(np.asarray(output_grad, dtype=np.float64))
    if g.shape != x.shape:
        raise ValueError(f"the output gradient has shape {g.shape}, the output has shape {x.shape}")
    pad = w.size // 2
    xpad = np.stack([reference._pad_1d(row, pad) for row in x]).astype(np.float64)
    per = tuple(_vec(reference._param_grad_1d(row, w, grow)) for row, grow in zip(x, g))
    return ParamGrad1DTrace(tuple(map(_vec, x)), _vec(w), tuple(map(_vec, g)), pad, tuple(map(_vec, xpad)),
                            _vec(reference._param_grad_1d_batch(x, w, g)), per)
