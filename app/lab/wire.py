"""The messages between a training run's handle (the web process) and its worker process, never pickled.

A message is a JSON header frame, then one raw frame per array it names: ``header["arrays"]`` lists each array's
dtype (``np.dtype.str``, plain numbers only) and shape, and the frames that follow carry its bytes
(``Connection.send_bytes``, no copy of a contiguous array). The receiver rebuilds each array with
``np.frombuffer``: read-only, without a copy. Only one thread sends on each end, so frames never interleave.
This module imports no Streamlit.
"""
from __future__ import annotations

import json

import numpy as np


class WireError(ValueError):
    """A frame that does not follow the protocol (a bug, or something that is not our worker on the line)."""


def _plain(dtype: np.dtype) -> np.dtype:
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise WireError(f"only plain numeric arrays go over the wire, not {dtype}")
    return dtype


def _number(value):
    if isinstance(value, np.generic):  # a NumPy scalar in a header (a float32 loss): as the Python number
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-ready")


def send(conn, header: dict, arrays=()) -> None:
    """Send ``header`` (JSON-ready) and ``arrays`` (NumPy arrays of plain numbers) over ``conn``."""
    arrays = [a if a.flags.c_contiguous else a.copy(order="C") for a in map(np.asarray, arrays)]
    specs = [[_plain(a.dtype).str, list(a.shape)] for a in arrays]
    conn.send_bytes(json.dumps({**header, "arrays": specs}, default=_number).encode())
    for a in arrays:
        conn.send_bytes(memoryview(a.reshape(-1)).cast("B") if a.size else b"")


def recv(conn) -> tuple[dict, list[np.ndarray]]:
    """The next message: its header and its arrays (read-only). EOFError when the other end closed."""
    try:
        header = json.loads(conn.recv_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"a header frame that is not JSON ({exc})") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
        raise WireError("a header frame without its list of arrays")
    arrays = []
    for dtype, shape in header.pop("arrays"):
        dt = _plain(np.dtype(dtype))
        raw = conn.recv_bytes()
        if len(raw) != dt.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise WireError(f"an array frame of {len(raw)} bytes for {dtype} {shape}")
        arrays.append(np.frombuffer(raw, dt).reshape(shape))
    return header, arrays


__all__ = ["send", "recv", "WireError"]
