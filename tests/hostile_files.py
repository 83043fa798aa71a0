"""Hostile files made on the spot for tests/core/test_hostile.py and tests/app/test_hostile_pages.py: zip bombs,
forged .npy headers, absurd or deeply nested metadata, random bytes, huge and 16-bit images. Nothing here is stored.

Each model maker returns the bytes a learner could upload; :data:`MODELS` names them with a phrase of the message
that refuses each (``persist.ModelFileError``).
"""
from __future__ import annotations

import functools
import io
import json
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image, ImageDraw

from smartflow_core.persist import PRETRAINED

GOOD_META = {"format": "smartflow-model", "version": 1, "loss": {"type": "SoftmaxCrossEntropy"}, "seed": 1,
             "dtype": "float32", "input_shape": [1, 28, 28],
             "layers": [{"type": "Conv2DLayer", "out_channels": 2, "param_size": 3, "flatten": True},
                        {"type": "DenseLayer", "neurons": 10}]}


def npy_header(shape, dtype="<f4") -> bytes:
    """A version 1.0 ``.npy`` header (magic included) for an array of ``shape`` and ``dtype``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def npy(array) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=True)
    return buf.getvalue()


def meta_npy(meta) -> bytes:
    return npy(np.array(meta if isinstance(meta, str) else json.dumps(meta)))


def archive(entries: dict[str, bytes]) -> bytes:
    """A ``.npz``: each entry ``name.npy`` deflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name + ".npy", data)
    return buf.getvalue()


@functools.lru_cache(maxsize=4)
def zip_bomb(gib: float = 2.0) -> bytes:
    """A valid-looking model whose ``param_0`` inflates to ``gib`` GiB of zeros (4.5 MB per GiB on disk at
    deflate's fastest level, made in 1.5 s per GiB): its header claims as many float32 values as it holds."""
    n = int(gib * 2 ** 30) // 4
    header = npy_header((n,))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("metadata.npy", meta_npy(GOOD_META))
        with z.open("param_0.npy", "w", force_zip64=True) as f:
            f.write(header)
            zeros, left = bytes(2 ** 24), 4 * n
            while left > 0:
                f.write(zeros[:min(left, len(zeros))])
                left -= min(left, len(zeros))
    return buf.getvalue()


def forged_header(values: int = 10 ** 11) -> bytes:
    """``param_0``'s header claims ``values`` float32 values; the entry holds 100 bytes."""
    return archive({"metadata": meta_npy(GOOD_META), "param_0": npy_header((values,)) + bytes(100)})


def nested_json(depth: int = 100_000) -> bytes:
    text = json.dumps({"format": "smartflow-model", "version": 1})[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    return archive({"metadata": meta_npy(text)})


def _meta(**changes) -> dict:
    return {**GOOD_META, **changes}


def many_filters() -> bytes:
    """Metadata asking for 10^7 filters: a 360 MB parameter (under the cap), 31 GB of feature maps per image."""
    meta = _meta(layers=[{"type": "Conv2DLayer", "out_channels": 10 ** 7, "param_size": 3}])
    return archive({"metadata": meta_npy(meta), "param_0": npy(np.zeros((1, 1, 3, 3), np.float32))})


def many_neurons() -> bytes:
    """Metadata asking for a dense layer of 10^9 neurons on 784 inputs (3 TB of weights)."""
    meta = _meta(input_shape=[784], layers=[{"type": "DenseLayer", "neurons": 10 ** 9}])
    return archive({"metadata": meta_npy(meta), "param_0": npy(np.zeros((784, 1), np.float32)),
                    "param_1": npy(np.zeros((1, 1), np.float32))})


def huge_input() -> bytes:
    """Metadata asking for 28000x28000 input images (a forward pass of one zero image: 3 GB and more)."""
    meta = _meta(input_shape=[1, 28000, 28000], layers=[{"type": "Conv2DLayer", "out_channels": 1, "param_size": 1,
                                                         "flatten": True}, {"type": "DenseLayer", "neurons": 1}])
    return archive({"metadata": meta_npy(meta), "param_0": npy(np.zeros((1, 1, 1, 1), np.float32))})


def random_bytes(n: int = 50_000) -> bytes:
    data = np.random.default_rng(16).integers(0, 256, n, dtype=np.uint8).tobytes()
    return b"\x00" + data[1:]  # never "PK" by chance


def truncated() -> bytes:
    good = PRETRAINED.read_bytes()
    return good[: len(good) // 2]


def pickled_param() -> bytes:
    """Valid metadata, and a parameter stored as an object array (a pickle inside the .npy)."""
    return archive({"metadata": meta_npy(GOOD_META), "param_0": npy(np.array([{"evil": 1}], dtype=object))})


def pickled_metadata() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, metadata=np.array([{"format": "smartflow-model"}], dtype=object))
    return buf.getvalue()


# name -> (maker, a phrase of the refusal)
MODELS = {
    "bomb.npz": (zip_bomb, "declares 2,048 MB"),
    "small-bomb.npz": (lambda: zip_bomb(0.375), "looks like a zip bomb"),
    "forged-header.npz": (forged_header, "claims 100,000,000,000 values"),
    "nested.npz": (nested_json, "nested 100,001 levels deep"),
    "filters.npz": (many_filters, "more than 16,777,216 values per image"),
    "neurons.npz": (many_neurons, "MB of parameters, more than the 512 MB"),
    "huge-input.npz": (huge_input, "input shape [1, 28000, 28000] is invalid"),
    "random.npz": (random_bytes, "it is not a zip archive"),
    "truncated.npz": (truncated, "damaged or incomplete"),
    "pickled.npz": (pickled_param, "holds Python objects (pickled data), which are never loaded"),
    "pickled-meta.npz": (pickled_metadata, "holds Python objects (pickled data), which are never loaded"),
}


# ---------------------------------------------------------------------------------------------- images


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width: int = 13_000, height: int = 13_000) -> bytes:
    """A white greyscale PNG of ``width x height`` pixels, written row by row (never held in memory): 169 Mpx in
    about 700 KB, under Pillow's decompression-bomb limit."""
    comp, parts, row = zlib.compressobj(9), [], b"\x00" + b"\xff" * width
    for _ in range(height):
        parts.append(comp.compress(row))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts))
            + _chunk(b"IEND", b""))


def seven(size: int = 280) -> np.ndarray:
    """A drawn 7: 1 where the pen was, 0 on the paper."""
    img = Image.new("L", (size, size), 0)
    ImageDraw.Draw(img).line([(60, 60), (200, 60), (110, 240)], fill=255, width=20, joint="curve")
    return np.asarray(img, dtype=np.float64) / 255


def scan(ink: float, paper: float, dtype, mode: str | None = None, fmt: str = "PNG") -> bytes:
    """A scanned 7, ink at ``ink`` on paper at ``paper``, stored as ``dtype`` (e.g. 16-bit: 3000 on 60000)."""
    a = seven()
    values = (paper + (ink - paper) * a).astype(dtype)
    buf = io.BytesIO()
    Image.fromarray(values, mode).save(buf, fmt) if mode else Image.fromarray(values).save(buf, fmt)
    return buf.getvalue()
