"""What the labs share: the MNIST arrays, the pretrained model, and models a learner uploads.

The arrays and the pretrained network are ``st.cache_resource`` objects, one per server process, read-only: the
arrays are flagged unwritable, and the network is never trained or run. A forward pass stores activations in the
layers, so each session works on its own deep copy (:func:`pretrained_copy`, 0.2 MB). Uploaded files are read with
``persist.load_model`` (never pickle) and checked to be an MNIST classifier before anything uses them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from smartflow_core import data, persist
from smartflow_core.nn import NeuralNetwork
from smartflow_core.presets import INPUT_SHAPE

PRETRAINED = Path(data.__file__).resolve().parent / "models" / "pretrained.npz"
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


@st.cache_resource(show_spinner="Loading MNIST...")
def mnist() -> Mnist:
    """The full MNIST when a local copy is configured (``SMARTFLOW_MNIST_DIR``), else the bundled subset."""
    source = data.mnist_source()
    arrays = [np.ascontiguousarray(a) for a in data.load_mnist(source.path)]
    for a in arrays:
        a.setflags(write=False)
    return Mnist(*arrays, source.description, source.kind == "full")


@st.cache_resource(show_spinner="Loading the pretrained model...")
def pretrained() -> tuple[NeuralNetwork, dict]:
    """The shipped model and its metadata, shared by every session: never train it or run it (use a copy)."""
    net, meta = persist.load_model(PRETRAINED, "pretrained.npz")
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


__all__ = ["Mnist", "mnist", "pretrained", "pretrained_copy", "read_model", "PRETRAINED"]
