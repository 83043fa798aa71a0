"""What every section shares, loaded once per server process: the MNIST digits, the pretrained model, images a
learner uploads, and models a learner uploads.

``st.cache_resource`` holds the datasets and the pretrained network (one read-only copy per process: the arrays
are flagged unwritable, and the cached network is never trained or run). A forward pass stores activations in the
layers, so each caller works on its own deep copy (:func:`pretrained_copy`, 0.2 MB). Uploaded models are read
with ``persist.load_model`` (never pickle) and checked to be an MNIST classifier before anything uses them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image, ImageOps

from app.i18n import N_, Later
from smartflow_core import data, persist
from smartflow_core.digits import DigitImageError, ImageTooLargeError, load_image
from smartflow_core.nn import NeuralNetwork
from smartflow_core.presets import INPUT_SHAPE

SUBSET = Path(data.__file__).resolve().parent / "datasets" / "mnist_subset.npz"


@dataclass(frozen=True, eq=False)
class Digits:
    images: np.ndarray  # (n, 28, 28) uint8, read-only
    labels: np.ndarray  # (n,) uint8

    def __len__(self) -> int:
        return len(self.labels)

    def find(self, label: int, nth: int) -> int | None:
        """Index of the ``nth`` example (0-based) of ``label``, or None."""
        where = np.flatnonzero(self.labels == label)
        return int(where[nth]) if nth < len(where) else None

    def count(self, label: int) -> int:
        return int(np.count_nonzero(self.labels == label))

    def image(self, index: int) -> np.ndarray:
        """Pixel values scaled to 0..1 and rounded to 2 decimals, so every printed product adds up exactly."""
        return np.round(self.images[index] / 255.0, 2)


def _load_arrays():
    """The bundled subset, on every machine the same, so a shared link's digit index shows the same digit."""
    try:
        from smartflow_core.data import load_mnist
    except ImportError:
        with np.load(SUBSET) as f:
            return f["training_images"], f["training_labels"]
    x, y, _, _ = load_mnist(SUBSET)
    return x, y


@st.cache_resource(show_spinner=Later(N_("Loading MNIST digits...")))
def digits() -> Digits | None:
    """The training digits of the bundled MNIST subset, or None (the page then says so) when it is missing."""
    try:
        x, y = _load_arrays()
    except (OSError, KeyError, ValueError):
        return None
    images = np.ascontiguousarray(x, dtype=np.uint8).reshape(-1, 28, 28)
    labels = np.ascontiguousarray(y, dtype=np.uint8).reshape(-1)
    images.setflags(write=False)
    labels.setflags(write=False)
    return Digits(images, labels)


# ---------------------------------------------------------------------------------------------- the labs' data


CLASSES = 10


@dataclass(frozen=True, eq=False)
class Mnist:
    """The four MNIST arrays (uint8 pixels ``(n, 784)``, uint8 labels), read-only, and where they came from."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    description: str
    full: bool

    def test_image(self, index: int) -> np.ndarray:
        """Test digit ``index`` as a 28x28 picture, 0..1."""
        return self.X_test[index].reshape(28, 28) / 255.0


@st.cache_resource(show_spinner=Later(N_("Loading MNIST...")))
def mnist() -> Mnist:
    """The full MNIST when a local copy is configured (``SMARTFLOW_MNIST_DIR``), else the bundled subset."""
    source = data.mnist_source()
    arrays = [np.ascontiguousarray(a) for a in data.load_mnist(source.path)]
    for a in arrays:
        a.setflags(write=False)
    return Mnist(*arrays, source.description, source.kind == "full")


@st.cache_resource(show_spinner=Later(N_("Loading the pretrained model...")))
def pretrained() -> tuple[NeuralNetwork, dict]:
    """The shipped model and its metadata, shared by every session: never train it or run it (use a copy)."""
    net, meta = persist.load_pretrained()
    for p in net.params():
        p.setflags(write=False)
    return net, meta


def pretrained_copy() -> NeuralNetwork:
    """A private, writable copy of the pretrained network for this caller."""
    net = copy.deepcopy(pretrained()[0])
    for p in net.params():
        p.setflags(write=True)
    return net


def read_model(raw: bytes, name: str) -> tuple[NeuralNetwork, dict]:
    """An uploaded ``.npz`` model, checked to read MNIST images and give 10 classes; ``ModelFileError`` (a
    ValueError with a sentence naming the file) otherwise."""
    if not raw:
        raise persist.ModelFileError(f"{name}: the file is empty")
    net, meta = persist.load_model(raw, name)
    if tuple(meta.get("input_shape", ())) != INPUT_SHAPE:
        raise persist.ModelFileError(f"{name}: this model reads images of shape {meta.get('input_shape')}, not "
                                     f"MNIST's {list(INPUT_SHAPE)}")
    out = net.shapes(INPUT_SHAPE)[-1][1]
    if out != (CLASSES,):
        raise persist.ModelFileError(f"{name}: this model gives {out} outputs, a digit classifier gives "
                                     f"{CLASSES} (one per digit)")
    return net, meta


# ---------------------------------------------------------------------------------------------- images


def _open(data: bytes) -> Image.Image:
    """The image, its size checked from the header before decoding (``digits.load_image``: a JPEG decoded at a
    reduced scale, larger pictures refused, 16-bit grey scaled to 8 bits by its range, downscaled to 1024 px)."""
    try:
        return load_image(data)
    except ImageTooLargeError as exc:
        raise ValueError(str(exc)) from None
    except DigitImageError as exc:
        raise ValueError("this file is not an image Pillow can read (try a PNG, JPEG, GIF, BMP or WebP)") from exc


@st.cache_data(max_entries=8, show_spinner=False)
def image_to_gray(data: bytes, size: int) -> np.ndarray:
    """Any image Pillow reads -> grayscale, the centre square resized to ``size x size``, values 0..1 (2 dp)."""
    img = ImageOps.fit(_open(data).convert("L"), (size, size), Image.Resampling.LANCZOS)
    return np.round(np.asarray(img, dtype=np.float64) / 255.0, 2)


@st.cache_data(max_entries=8, show_spinner=False)
def image_to_rgb(data: bytes, size: int) -> np.ndarray:
    """Any image Pillow reads -> (3, size, size) red, green and blue channels, values 0..1 (2 dp)."""
    img = ImageOps.fit(_open(data).convert("RGB"), (size, size), Image.Resampling.LANCZOS)
    return np.round(np.asarray(img, dtype=np.float64).transpose(2, 0, 1) / 255.0, 2)
