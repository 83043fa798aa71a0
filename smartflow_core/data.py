"""MNIST for the chapter: ``init_mnist`` / ``load_mnist``, the ``.npz`` cache, the bundled offline subset.

``init_mnist(path)`` downloads the four IDX files into ``path`` (see :mod:`smartflow_core.download`) and caches them
as ``path/mnist.npz``; ``load_mnist(path)`` returns ``(X_train, y_train, X_test, y_test)``:
``uint8 (60000, 784)``, ``uint8 (60000,)``, ``uint8 (10000, 784)``, ``uint8 (10000,)``, raw pixels 0..255.
``load_mnist()`` without a path uses a local full copy if there is one (``$SMARTFLOW_MNIST_DIR``, else
``~/.smartflow/mnist``), otherwise the stratified subset bundled in ``smartflow_core/datasets``.
Arrays are stored as ``.npz`` and read with ``allow_pickle=False``: never pickle. The IDX format is parsed in
:mod:`smartflow_core.idx`, downloads live in :mod:`smartflow_core.download`; both are re-exported here.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy import ndarray

from smartflow_core.download import (
    MNIST_MIRRORS,
    MnistDownloadError,
    Progress,
    ProgressBar,
    download_file,
)
from smartflow_core.idx import (
    PIXELS,
    MnistFormatError,
    find_idx_file,
    read_idx_count,
    read_idx_images,
    read_idx_labels,
    read_mnist_idx,
)
from smartflow_core.log import logger
from smartflow_core.marks import N_

#: The four files, in the order the chapter's log lists them.
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
NPZ_NAME = "mnist.npz"
KEYS = ("training_images", "training_labels", "test_images", "test_labels")
SUBSET_PATH = Path(__file__).resolve().parent / "datasets" / "mnist_subset.npz"
DIR_ENV = "SMARTFLOW_MNIST_DIR"


# ---------------------------------------------------------------------------------------------------- .npz cache

def _load_npz(path: Path) -> dict[str, ndarray]:
    """The four arrays of an MNIST ``.npz`` (no pickles allowed), checked for keys, dtypes and shapes."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in KEYS if k not in npz.files]
            arrays = {k: npz[k] for k in KEYS if k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise MnistFormatError(f"{path}: not a readable .npz file ({exc}); delete it to rebuild it") from exc
    if missing:
        raise MnistFormatError(f"{path}: missing arrays {missing}, expected the keys {list(KEYS)}")
    _check_arrays(path, arrays)
    return arrays


def _check_arrays(path, arrays: dict[str, ndarray]) -> None:
    for split in ("training", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        for key, array, ndim in ((f"{split}_images", images, 2), (f"{split}_labels", labels, 1)):
            if array.dtype != np.uint8 or array.ndim != ndim:
                raise MnistFormatError(f"{path}: {key} must be a {ndim}-d uint8 array, "
                                       f"found {array.dtype} {array.shape}")
        if images.shape[1] != PIXELS or len(images) != len(labels):
            raise MnistFormatError(f"{path}: {split}_images {images.shape} and {split}_labels {labels.shape} "
                                   f"do not match (expected (n, {PIXELS}) and (n,))")


def _save_npz_atomic(path: Path, arrays: dict[str, ndarray]) -> None:
    """Write ``arrays`` as a compressed ``.npz`` via a temporary file and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is as readable as the IDX files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _writable(folder: Path) -> bool:
    """Whether ``folder`` may be written; a folder without write bits counts as read-only even for root."""
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def _cache(folder: Path, arrays: dict[str, ndarray]) -> None:
    """Save ``folder/mnist.npz`` if the folder is writable; otherwise log and carry on without a cache."""
    if not _writable(folder):
        logger.warning("folder %s is not writable: `%s` not cached, the IDX files are parsed on each load",
                       folder, NPZ_NAME)
        return
    try:
        _save_npz_atomic(folder / NPZ_NAME, arrays)
    except OSError as exc:
        logger.warning("could not cache `%s` in %s (%s); carrying on without a cache", NPZ_NAME, folder, exc)


# ---------------------------------------------------------------------------------------------------- the chapter's API

def init_mnist(path: str | os.PathLike | None = None, mirrors: str | Sequence[str] | None = None,
               timeout: float = 30, progress: Progress | None = None) -> Path:
    """Make sure ``path`` holds the four MNIST files and ``mnist.npz``; download what is missing.

    ``path`` defaults to :func:`default_mnist_dir` and is created if missing. ``mirrors`` (base URLs) overrides
    ``$SMARTFLOW_MNIST_MIRRORS`` and :data:`MNIST_MIRRORS`; ``progress(name, bytes_done, bytes_total_or_None)`` is
    called while downloading (e.g. ``ProgressBar(sys.stderr)``). Returns the folder.
    """
    folder = Path(path) if path is not None else default_mnist_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for name in MNIST_FILES:
        existing = find_idx_file(folder, name)
        if existing is not None:
            logger.info("file `%s` already exist", existing.name)
        elif not _writable(folder):
            raise PermissionError(f"{folder}: folder is not writable, cannot download {name} into it")
        else:
            download_file(name, folder, mirrors, timeout, progress)
    logger.info("download complete.")
    if (folder / NPZ_NAME).exists():
        logger.info("file `%s` already exist", NPZ_NAME)
    elif _writable(folder):
        _cache(folder, read_mnist_idx(folder))
    else:
        logger.warning("folder %s is not writable: `%s` not cached", folder, NPZ_NAME)
    return folder


def load_mnist(path: str | os.PathLike | None = None) -> tuple[ndarray, ndarray, ndarray, ndarray]:
    """The MNIST arrays ``(X_train, y_train, X_test, y_test)``, raw uint8 pixels 0..255, flat images.

    Shapes ``(n_train, 784)``, ``(n_train,)``, ``(n_test, 784)``, ``(n_test,)``: 60,000 / 10,000 for the full set.
    From ``path/mnist.npz``, else from the IDX files in ``path`` (then cached as ``mnist.npz`` when the folder is
    writable); ``path`` may also be an ``.npz`` file itself. Without ``path``: the local full copy if any, else the
    bundled subset (see :func:`mnist_source`).
    """
    if path is None:
        source = mnist_source()
        logger.info("using the %s", source.description)
        path = source.path
    logger.info("load mnist dataset...")
    arrays = _load_path(Path(path))
    return tuple(arrays[k] for k in KEYS)


def _load_path(folder: Path) -> dict[str, ndarray]:
    """The arrays from an ``.npz`` file, or from a folder's ``mnist.npz``, or from its IDX files (then cached)."""
    if folder.is_file():
        return _load_npz(folder)
    if (folder / NPZ_NAME).is_file():
        return _load_npz(folder / NPZ_NAME)
    if not _has_full_copy(folder):
        raise FileNotFoundError(f"{folder}: neither `{NPZ_NAME}` nor the four MNIST files "
                                f"({', '.join(MNIST_FILES)}); call init_mnist({str(folder)!r}) to download them")
    arrays = read_mnist_idx(folder)
    _cache(folder, arrays)
    return arrays


# ---------------------------------------------------------------------------------------------------- which data

@dataclass(frozen=True)
class MnistSource:
    """Which MNIST ``load_mnist`` reads: ``kind`` "full" (a folder) or "subset" (the bundled ``.npz`` file)."""

    kind: str
    path: Path
    n_train: int
    n_test: int
    description: str

    def __post_init__(self):
        if self.kind not in ("full", "subset"):
            raise ValueError(f"kind must be 'full' or 'subset', got {self.kind!r}")


def default_mnist_dir() -> Path:
    """Where a full local copy lives: ``$SMARTFLOW_MNIST_DIR``, else ``~/.smartflow/mnist``."""
    return Path(os.environ.get(DIR_ENV) or Path.home() / ".smartflow" / "mnist")


def mnist_source(path: str | os.PathLike | None = None) -> MnistSource:
    """Describe the data :func:`load_mnist` would read for ``path`` (``None``: full local copy, else the subset)."""
    if path is not None:
        if not _has_full_copy(Path(path)):
            raise FileNotFoundError(f"{path}: neither `{NPZ_NAME}` nor the four MNIST files")
        return _full_source(Path(path))
    folder = default_mnist_dir()
    if _has_full_copy(folder):
        return _full_source(folder)
    n_train, n_test = _npz_count(SUBSET_PATH, "training_labels"), _npz_count(SUBSET_PATH, "test_labels")
    description = N_("bundled MNIST subset ({n_train} train / {n_test} test images); set {env} to a folder with the "
                     "four MNIST files (or run init_mnist()) to use the full 60,000 / 10,000").format(
        n_train=f"{n_train:,}", n_test=f"{n_test:,}", env=DIR_ENV)
    return MnistSource("subset", SUBSET_PATH, n_train, n_test, description)


def _has_full_copy(folder: Path) -> bool:
    return (folder / NPZ_NAME).is_file() or all(find_idx_file(folder, name) is not None for name in MNIST_FILES)


def _full_source(folder: Path) -> MnistSource:
    n_train, n_test = (_count(folder, prefix, key) for prefix, key in
                       (("train", "training_labels"), ("t10k", "test_labels")))
    description = N_("full MNIST from {folder} ({n_train} train / {n_test} test images)").format(
        folder=folder, n_train=f"{n_train:,}", n_test=f"{n_test:,}")
    return MnistSource("full", folder, n_train, n_test, description)


def _count(folder: Path, prefix: str, key: str) -> int:
    """The number of labels, from the IDX header (8 bytes) if the file is there, else from ``mnist.npz``."""
    label_path = find_idx_file(folder, f"{prefix}-labels-idx1-ubyte.gz")
    return read_idx_count(label_path) if label_path is not None else _npz_count(folder / NPZ_NAME, key)


def _npz_count(path: Path, key: str) -> int:
    """The length of one array of an ``.npz``, reading only that array."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return len(npz[key])
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise MnistFormatError(f"{path}: cannot read {key} ({exc})") from exc


__all__ = [
    "MNIST_FILES", "MNIST_MIRRORS", "KEYS", "SUBSET_PATH", "MnistFormatError", "MnistDownloadError", "MnistSource",
    "ProgressBar", "read_idx_images", "read_idx_labels", "read_idx_count", "read_mnist_idx", "init_mnist",
    "load_mnist", "mnist_source", "default_mnist_dir", "download_file",
]
