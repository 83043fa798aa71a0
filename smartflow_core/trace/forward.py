"""Step-by-step records of the forward pass, for the lessons.

Each record says, for one output cell, which cells of the padded input the kernel covered, the values it read, the
weights, the element-wise products, the running sum and the output value. The records are built with plain Python
loops in the same order as the chapter's loops in :mod:`smartflow_core.reference` (row by row, kernel cell by kernel
cell), so every running sum ends on exactly the number the library computes. The whole output maps are computed at
once in that same order (:func:`loop_order_conv`), equal to the reference loops to the last bit. Pooling, reach and
flatten records are in :mod:`smartflow_core.trace.pool`. Pure NumPy: pages render these records and compute
nothing themselves.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy import ndarray

from smartflow_core import reference
from smartflow_core.trace._common import Grid, Vec, _frozen, _grid, _running


def loop_order_conv(padded: ndarray, filters: ndarray, stride: int, out_hw) -> ndarray:
    """``reference._compute_output_obs`` for one padded observation, without its Python loops.

    padded: (in_channels, H, W); filters: (in_channels, out_channels, fh, fw) -> (out_channels, oh, ow). Every
    output cell starts from 0 and adds ``weight * value`` in the reference's order (input channel, then kernel row,
    then kernel column), each step vectorised over all cells at once, so the result is the reference's to the last
    bit (products and sums are rounded the same way) in ``fh * fw * in_channels`` array operations.
    """
    (oh, ow), (_, _, fh, fw) = out_hw, filters.shape
    out = np.zeros((filters.shape[1], oh, ow))
    for c in range(filters.shape[0]):
        for i in range(fh):
            for j in range(fw):
                window = padded[c, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
                out += filters[c, :, i, j][:, None, None] * window[None]
    return out


# ---------------------------------------------------------------------------------------------- output size


@dataclass(frozen=True)
class OutputSize:
    """``floor((n + 2*pad - k) / stride) + 1`` outputs along one axis, with the pieces of the formula."""

    n: int
    k: int
    pad: int
    stride: int

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"the kernel needs at least one cell, got size {self.k}")
        reference.output_size(self.n, self.k, self.pad, self.stride)  # raises ValueError with the reason

    @property
    def padded(self) -> int:
        return self.n + 2 * self.pad

    @property
    def span(self) -> int:
        """How far the window can move: ``n + 2*pad - k``."""
        return self.padded - self.k

    @property
    def size(self) -> int:
        return self.span // self.stride + 1

    @property
    def remainder(self) -> int:
        """``span mod stride``: when not 0 the floor drops a partial step and the last cells are never read."""
        return self.span % self.stride


def resolve_pad(k: int, pad: int | None) -> int:
    """The chapter's padding ``k // 2`` when ``pad`` is None."""
    return k // 2 if pad is None else int(pad)


# ---------------------------------------------------------------------------------------------- 1D convolution


@dataclass(frozen=True)
class Step1D:
    """One output cell of a 1D convolution: ``out[index] = sum_p weights[p] * inputs[p]``."""

    index: int
    window: tuple[int, ...]  # positions in the padded input
    inputs: Vec
    weights: Vec
    products: Vec
    running: Vec
    output: float


@dataclass(frozen=True)
class Conv1DTrace:
    inp: Vec
    kernel: Vec
    pad: int
    stride: int
    padded: Vec
    size: OutputSize
    steps: tuple[Step1D, ...]
    output: Vec  # from reference.conv_1d

    @property
    def unread(self) -> tuple[int, ...]:
        """Positions of the padded input that no window covers (a stride that skips, or the floor's remainder)."""
        covered = {i for s in self.steps for i in s.window}
        return tuple(i for i in range(len(self.padded)) if i not in covered)

    def anchor(self, o: int) -> int:
        """The padded-input position under the middle of output ``o``'s window (where a picture puts ``out[o]``)."""
        return o * self.stride + len(self.kernel) // 2

    def is_pad(self, i: int) -> bool:
        """Is position ``i`` of the padded input a padding zero?"""
        return i < self.pad or i >= self.pad + len(self.inp)


def trace_conv_1d(inp, kernel, pad: int | None = None, stride: int = 1) -> Conv1DTrace:
    """Every step of ``reference.conv_1d(inp, kernel, pad, stride)``."""
    x = np.asarray(inp, dtype=np.float64)
    w = np.asarray(kernel, dtype=np.float64)
    if x.ndim != 1 or w.ndim != 1 or w.size == 0 or x.size == 0:
        raise ValueError(f"expected a non-empty 1D input and kernel, got shapes {x.shape} and {w.shape}")
    pad = resolve_pad(w.size, pad)
    size = OutputSize(x.size, w.size, pad, stride)
    padded = tuple(float(v) for v in reference._pad_1d(x, pad))
    weights = tuple(float(v) for v in w)
    output = tuple(float(v) for v in reference.conv_1d(x, w, pad, stride))
    steps = []
    for o in range(len(output)):
        window = tuple(range(o * stride, o * stride + w.size))
        inputs = tuple(padded[i] for i in window)
        products = tuple(wp * xp for wp, xp in zip(weights, inputs))
        running = _running(products)
        steps.append(Step1D(o, window, inputs, weights, products, running, running[-1]))
    return Conv1DTrace(tuple(float(v) for v in x), weights, pad, stride, padded, size, tuple(steps), output)


# ---------------------------------------------------------------------------------------------- 2D convolution


@dataclass(frozen=True)
class Step2D:
    """One output cell of a 2D convolution; ``running`` follows the kernel row by row."""

    row: int
    col: int
    top: int  # the window's top-left corner in the padded input
    left: int
    patch: Grid
    weights: Grid
    products: Grid
    running: Vec
    output: float


def _step_2d(padded: ndarray, kernel: ndarray, stride: int, row: int, col: int) -> Step2D:
    kh, kw = kernel.shape
    top, left = row * stride, col * stride
    patch = _grid(padded[top:top + kh, left:left + kw])
    weights = _grid(kernel)
    products = tuple(tuple(wv * xv for wv, xv in zip(wr, xr)) for wr, xr in zip(weights, patch))
    running = _running(p for prow in products for p in prow)
    return Step2D(row, col, top, left, patch, weights, products, running, running[-1])


@dataclass(frozen=True, eq=False)
class Conv2DTrace:
    """One channel, one filter. ``output`` is ``reference.conv_2d``; ``step(i)`` builds cell ``i`` (row-major)."""

    image: ndarray
    kernel: ndarray
    pad: int
    stride: int
    padded: ndarray
    rows: OutputSize
    cols: OutputSize
    output: ndarray

    @property
    def n_steps(self) -> int:
        return self.rows.size * self.cols.size

    def cell(self, i: int) -> tuple[int, int]:
        if not 0 <= i < self.n_steps:
            raise IndexError(f"step {i} is outside 0..{self.n_steps - 1}")
        return divmod(i, self.cols.size)

    def step(self, i: int) -> Step2D:
        return _step_2d(self.padded, self.kernel, self.stride, *self.cell(i))

    def strongest(self) -> tuple[int, int]:
        """The steps (row-major) of the largest and the smallest output value (the first one on a tie)."""
        flat = self.output.ravel()
        return int(np.argmax(flat)), int(np.argmin(flat))


def _check_2d(image: ndarray, kernel: ndarray) -> None:
    if image.ndim != 2 or kernel.ndim != 2 or image.size == 0 or kernel.size == 0:
        raise ValueError(f"expected a 2D image and a 2D kernel, got shapes {image.shape} and {kernel.shape}")
    if kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"the kernel must be square, got {kernel.shape[0]} rows and {kernel.shape[1]} columns")


def trace_conv_2d(image, kernel, pad: int | None = None, stride: int = 1) -> Conv2DTrace:
    """The records of ``reference.conv_2d(image, kernel, pad, stride)``."""
    x, w = _frozen(image), _frozen(kernel)
    _check_2d(x, w)
    pad = resolve_pad(w.shape[0], pad)
    rows = OutputSize(x.shape[0], w.shape[0], pad, stride)
    cols = OutputSize(x.shape[1], w.shape[1], pad, stride)
    padded = reference._pad_2d(x, pad)
    out = loop_order_conv(padded[None], w[None, None], stride, (rows.size, cols.size))[0]
    return Conv2DTrace(x, w, pad, stride, _frozen(padded), rows, cols, _frozen(out))


# ---------------------------------------------------------------------------------------------- multichannel


@dataclass(frozen=True)
class MultiStep:
    """One cell of one output map: a 2D step per input channel, summed over the channels.

    ``partials[c]`` is channel ``c``'s own sum; ``running[c]`` the total after channel ``c``, accumulated in the
    reference's order (input channel outermost), so ``running[-1] == output`` exactly.
    """

    out_channel: int
    row: int
    col: int
    channels: tuple[Step2D, ...]
    partials: Vec
    running: Vec
    output: float


@dataclass(frozen=True, eq=False)
class MultiTrace:
    """x: (batch, in_channels, h, w); filters: (in_channels, out_channels, fh, fw) as in the chapter.

    ``output`` (batch, out_channels, oh, ow) is ``reference._output``; ``per_channel[b, o, c]`` is input channel
    ``c`` convolved with filter ``[c, o]`` alone.
    """

    x: ndarray
    filters: ndarray
    pad: int
    stride: int
    padded: ndarray  # (batch, in_channels, h + 2p, w + 2p)
    rows: OutputSize
    cols: OutputSize
    output: ndarray
    per_channel: ndarray

    @property
    def param_count(self) -> int:
        """``in_channels * out_channels * fh * fw`` (the chapter's Conv2D has no bias)."""
        return int(self.filters.size)

    def step(self, out_channel: int, row: int, col: int, obs: int = 0) -> MultiStep:
        chans, total, partials, running = [], 0.0, [], []
        for c in range(self.x.shape[1]):
            s = _step_2d(self.padded[obs, c], self.filters[c, out_channel], self.stride, row, col)
            for prow in s.products:  # continue the one running total, as the reference loop does
                for p in prow:
                    total += p
            chans.append(s)
            partials.append(s.output)
            running.append(total)
        return MultiStep(out_channel, row, col, tuple(chans), tuple(partials), tuple(running), total)


def trace_multichannel(x, filters, pad: int | None = None, stride: int = 1) -> MultiTrace:
    x, w = _frozen(x), _frozen(filters)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"expected x (batch, in_channels, h, w) and filters (in_channels, out_channels, fh, fw), "
                         f"got shapes {x.shape} and {w.shape}")
    _check_2d(x[0, 0], w[0, 0])
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"the input has {x.shape[1]} channels, the filters expect {w.shape[0]} "
                         f"(input shape {x.shape}, filter shape {w.shape})")
    pad = resolve_pad(w.shape[2], pad)
    rows = OutputSize(x.shape[2], w.shape[2], pad, stride)
    cols = OutputSize(x.shape[3], w.shape[3], pad, stride)
    padded, hw = reference._pad_conv_input(x, pad), (rows.size, cols.size)
    out = np.stack([loop_order_conv(obs, w, stride, hw) for obs in padded])
    # channel c alone: (batch, out, in, oh, ow)
    per = np.stack([np.stack([loop_order_conv(obs[c:c + 1], w[c:c + 1], stride, hw) for c in range(w.shape[0])], 1)
                    for obs in padded])
    return MultiTrace(x, w, pad, stride, _frozen(padded), rows, cols, _frozen(out), _frozen(per))
