"""What the trace modules share: the record types and the helpers that freeze arrays, turn them into tuples, add
up products in the loops' order, and compare results."""
from __future__ import annotations

import numpy as np
from numpy import ndarray

Vec = tuple[float, ...]
Grid = tuple[Vec, ...]


def _frozen(a: ndarray) -> ndarray:
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _grid(a: ndarray) -> Grid:
    return tuple(tuple(float(v) for v in row) for row in a)


def _running(products) -> Vec:
    """Running sums as the reference loop accumulates them: ``total += product``, starting from 0."""
    total, out = 0.0, []
    for p in products:
        total += p
        out.append(total)
    return tuple(out)


def _vec(a) -> Vec:
    return tuple(float(v) for v in np.asarray(a, dtype=np.float64).ravel())


def rel_error(a: float, b: float) -> float:
    """``|a - b| / max(|a|, |b|)``: 0 when both are 0."""
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def array_rel_error(a, b) -> float:
    """``||a - b|| / max(||a||, ||b||)`` over whole arrays: 0 when both are 0."""
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def cosine(a, b) -> float:
    """The cosine of the angle between two arrays seen as vectors (1: same direction, 0: unrelated)."""
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na and nb else 0.0
