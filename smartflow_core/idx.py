"""The IDX file format of MNIST: parse and validate the image and label files, gzipped or not.

An IDX file is a big-endian header of unsigned 32-bit integers, then the data as unsigned bytes:
images ``magic=2051, n, rows=28, cols=28`` then ``n * 784`` pixels; labels ``magic=2049, n`` then ``n`` digits.
Gzip is recognised by its magic bytes, not by the file name. Every problem raises :class:`MnistFormatError`
naming the file and what is wrong.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from numpy import ndarray

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
ROWS = COLS = 28
PIXELS = ROWS * COLS
GZIP_MAGIC = b"\x1f\x8b"


class MnistFormatError(ValueError):
    """An MNIST file (IDX or ``.npz``) is truncated, corrupt or not what its name says; the message names it."""


def read_idx_images(path: str | os.PathLike) -> ndarray:
    """The images of an IDX3 file, gzipped or not, as ``uint8 (n_images, 784)`` (rows of 28x28 pixels)."""
    data = _read_bytes(path)
    _check_magic(path, _header(path, data, 1)[0], IMAGE_MAGIC, "image")
    _, n, rows, cols = _header(path, data, 4)
    if (rows, cols) != (ROWS, COLS):
        raise MnistFormatError(f"{path}: expected images of {ROWS}x{COLS} pixels, found {rows}x{cols}")
    _check_size(path, len(data), 16 + n * PIXELS, f"{n} images of {ROWS}x{COLS}")
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, PIXELS).copy()


def read_idx_labels(path: str | os.PathLike) -> ndarray:
    """The labels of an IDX1 file, gzipped or not, as ``uint8 (n_labels,)`` with values 0..9."""
    data = _read_bytes(path)
    _check_magic(path, _header(path, data, 1)[0], LABEL_MAGIC, "label")
    _, n = _header(path, data, 2)
    _check_size(path, len(data), 8 + n, f"{n} labels")
    labels = np.frombuffer(data, np.uint8, offset=8).copy()
    if labels.size and labels.max() > 9:
        raise MnistFormatError(f"{path}: label values must be 0..9, found {labels.max()}")
    return labels


def read_idx_count(path: str | os.PathLike) -> int:
    """The number of records an IDX file's header announces, reading only its first 8 bytes."""
    try:
        with open(path, "rb") as raw:
            head = raw.read(8)
        if head.startswith(GZIP_MAGIC):
            with gzip.open(path, "rb") as f:
                head = f.read(8)
    except (OSError, EOFError, zlib.error) as exc:
        raise MnistFormatError(f"{path}: cannot read the IDX header ({exc})") from exc
    return _header(path, head, 2)[1]


def read_mnist_idx(folder: str | os.PathLike) -> dict[str, ndarray]:
    """Parse the four MNIST IDX files in ``folder``.

    Returns ``training_images: (n_train, 784)``, ``training_labels: (n_train,)``, ``test_images: (n_test, 784)``,
    ``test_labels: (n_test,)``, all uint8. Each file may be gzipped or not, named with or without ``.gz``.
    """
    arrays = {}
    for split, prefix in (("training", "train"), ("test", "t10k")):
        image_path = _require(folder, f"{prefix}-images-idx3-ubyte.gz")
        label_path = _require(folder, f"{prefix}-labels-idx1-ubyte.gz")
        images, labels = read_idx_images(image_path), read_idx_labels(label_path)
        if len(images) != len(labels):
            raise MnistFormatError(f"{label_path} has {len(labels)} labels but {image_path} has {len(images)} images")
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    return arrays


def find_idx_file(folder: str | os.PathLike, gz_name: str) -> Path | None:
    """``folder/NAME.gz`` if it exists, else the uncompressed ``folder/NAME``, else ``None``."""
    for candidate in (Path(folder) / gz_name, Path(folder) / gz_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _require(folder, gz_name: str) -> Path:
    path = find_idx_file(folder, gz_name)
    if path is None:
        raise FileNotFoundError(f"{Path(folder) / gz_name}: no such file (nor without .gz)")
    return path


def _read_bytes(path) -> bytes:
    """The content of ``path``, uncompressed if it starts with the gzip magic bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise MnistFormatError(f"{path}: gzip data is truncated or corrupt ({exc})") from exc


def _header(path, data: bytes, n_ints: int) -> tuple[int, ...]:
    """The first ``n_ints`` big-endian unsigned 32-bit integers of an IDX file."""
    if len(data) < 4 * n_ints:
        raise MnistFormatError(f"{path}: too short for an IDX header: {len(data)} bytes, need {4 * n_ints}")
    return struct.unpack_from(f">{n_ints}I", data)


def _check_magic(path, magic: int, expected: int, what: str) -> None:
    if magic == expected:
        return
    hint = {IMAGE_MAGIC: "; it looks like an image file", LABEL_MAGIC: "; it looks like a label file"}
    raise MnistFormatError(f"{path}: not an MNIST {what} file: magic number {magic} (0x{magic:08x}), "
                           f"expected {expected} (0x{expected:08x}){hint.get(magic, '')}")


def _check_size(path, found: int, expected: int, content: str) -> None:
    if found != expected:
        raise MnistFormatError(f"{path}: expected {expected} bytes for {content}, found {found}")
