"""Step-by-step records of pooling, of what reaches each output (stride versus pooling) and of flatten.

Like :mod:`smartflow_core.trace`, a record holds one output cell's window, its values and result; whole maps are
computed at once in the same order as the records, so a record's output equals the map's cell exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy import ndarray

from smartflow_core.trace._common import Grid, _frozen, _grid
from smartflow_core.trace.forward import Conv2DTrace, OutputSize, trace_conv_2d

# ---------------------------------------------------------------------------------------------- pooling


POOL_MODES = ("max", "avg")


@dataclass(frozen=True)
class PoolStep:
    """One pooled cell: the window's values and their max (with the winning cell) or their mean."""

    row: int
    col: int
    top: int
    left: int
    window: Grid
    mode: str
    output: float
    winner: tuple[int, int] | None  # offset in the window of the max (the first one on a tie)


@dataclass(frozen=True, eq=False)
class PoolTrace:
    image: ndarray
    size: int
    stride: int
    mode: str
    rows: OutputSize
    cols: OutputSize
    output: ndarray

    @property
    def n_steps(self) -> int:
        return self.rows.size * self.cols.size

    def step(self, i: int) -> PoolStep:
        if not 0 <= i < self.n_steps:
            raise IndexError(f"step {i} is outside 0..{self.n_steps - 1}")
        return _pool_step(self.image, self.size, self.stride, self.mode, *divmod(i, self.cols.size))


def _pool_step(image: ndarray, size: int, stride: int, mode: str, row: int, col: int) -> PoolStep:
    top, left = row * stride, col * stride
    window = _grid(image[top:top + size, left:left + size])
    if mode == "max":
        best, winner = window[0][0], (0, 0)
        for i, wrow in enumerate(window):
            for j, v in enumerate(wrow):
                if v > best:
                    best, winner = v, (i, j)
        return PoolStep(row, col, top, left, window, mode, best, winner)
    total = 0.0
    for wrow in window:
        for v in wrow:
            total += v
    return PoolStep(row, col, top, left, window, mode, total / (size * size), None)


def trace_pool(image, size: int = 2, stride: int | None = None, mode: str = "max") -> PoolTrace:
    """Max or average pooling of one map, without padding: ``out = floor((n - size) / stride) + 1``."""
    if mode not in POOL_MODES:
        raise ValueError(f"mode must be one of {POOL_MODES}, got {mode!r}")
    x = _frozen(image)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"expected a 2D image, got shape {x.shape}")
    stride = size if stride is None else stride
    rows, cols = OutputSize(x.shape[0], size, 0, stride), OutputSize(x.shape[1], size, 0, stride)
    cells = _pool_cells(x, size, stride, rows.size, cols.size)
    out = np.max(cells, axis=0) if mode == "max" else _sum_in_order(cells) / (size * size)
    return PoolTrace(x, size, stride, mode, rows, cols, _frozen(out))


def _pool_cells(x: ndarray, size: int, stride: int, oh: int, ow: int) -> ndarray:
    """(size * size, oh, ow): window cell k (row-major) of every window, as :func:`_pool_step` reads them."""
    return np.stack([x[i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
                     for i in range(size) for j in range(size)])


def _sum_in_order(cells: ndarray) -> ndarray:
    total = np.zeros(cells.shape[1:])
    for cell in cells:  # total += v from 0, as _pool_step adds: the same rounding
        total += cell
    return total


# ---------------------------------------------------------------------------------------------- reach


def conv_reach(h: int, w: int, k: int, pad: int, stride: int) -> ndarray:
    """How many output cells read each input pixel of an ``h x w`` image (padding cells dropped)."""
    rows, cols = OutputSize(h, k, pad, stride), OutputSize(w, k, pad, stride)
    count = np.zeros((h + 2 * pad, w + 2 * pad), dtype=np.int64)
    for i in range(k):  # every window's cell (i, j) at once
        for j in range(k):
            count[i:i + stride * (rows.size - 1) + 1:stride, j:j + stride * (cols.size - 1) + 1:stride] += 1
    return count[pad:pad + h, pad:pad + w]


def pool_reach(pool: PoolTrace) -> ndarray:
    """Which pixels change the output: for max pooling only each window's winner, for average all it covers."""
    size, stride, oh, ow = pool.size, pool.stride, pool.rows.size, pool.cols.size
    reach = np.zeros(pool.image.shape, dtype=bool)
    if pool.mode == "max":  # argmax takes the first maximum in reading order, as the step's strict > does
        winner = np.argmax(_pool_cells(pool.image, size, stride, oh, ow), axis=0)
    for i in range(size):
        for j in range(size):
            hit = True if pool.mode != "max" else winner == i * size + j
            reach[i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride] |= hit
    return reach


@dataclass(frozen=True, eq=False)
class StrideVsPool:
    """The chapter's comparison on one image: a ``k x k`` convolution with stride ``size`` (padding k // 2)
    beside ``size x size`` max pooling, and how many input pixels can change each output."""

    conv: Conv2DTrace
    pool: PoolTrace
    conv_reach: ndarray  # outputs each pixel is read by
    pool_reach: ndarray  # 1 where a pixel wins a window

    @property
    def pixels(self) -> int:
        return int(self.conv_reach.size)

    @property
    def conv_pixels(self) -> int:
        return int(np.count_nonzero(self.conv_reach))

    @property
    def pool_pixels(self) -> int:
        return int(np.count_nonzero(self.pool_reach))

    def pool_kept(self) -> ndarray:
        """The image where a pixel wins its window, NaN elsewhere: all that max pooling passes on."""
        return np.where(self.pool_reach > 0, self.pool.image, np.nan)


def stride_vs_pool(image, kernel, size: int = 2) -> StrideVsPool:
    x, w = _frozen(image), _frozen(kernel)
    k = w.shape[0]
    conv = trace_conv_2d(x, w, k // 2, size)
    pool = trace_pool(x, size, None, "max")
    return StrideVsPool(conv, pool, conv_reach(*x.shape, k, k // 2, size), pool_reach(pool).astype(np.float64))


# ---------------------------------------------------------------------------------------------- flatten


@dataclass(frozen=True)
class FlattenShapes:
    """(batch, channels, height, width) -> (batch, channels * height * width)."""

    batch: int
    channels: int
    height: int
    width: int

    def __post_init__(self):
        if min(self.batch, self.channels, self.height, self.width) < 1:
            raise ValueError(f"every dimension must be at least 1, got {self}")

    @property
    def features(self) -> int:
        return self.channels * self.height * self.width

    def index(self, c: int, i: int, j: int) -> int:
        """Where cell ``(c, i, j)`` lands in the vector: ``c*h*w + i*w + j``."""
        return (c * self.height + i) * self.width + j

    def dense_weights(self, neurons: int) -> int:
        """Weights (without bias) of a Dense layer with ``neurons`` outputs reading this vector."""
        return self.features * neurons
