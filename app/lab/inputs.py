"""The arrays a run trains on: its subsets of the shared uint8 MNIST arrays as standardised floats and one-hot
labels, made in chunks so that a Stop acts between them. This module imports no Streamlit."""
from __future__ import annotations

import threading

import numpy as np

from app.lab.config import TrainConfig
from smartflow_core.presets import INPUT_SHAPE, one_hot, prepare_images

CHUNK = 5000  # images standardised at a time: bounds the float64 temporary, lets Stop act between chunks


def prepare(config: TrainConfig, data, n_train: int, n_test: int, stop: threading.Event):
    """``(X_train, y_train, X_test, y_test)`` as the network reads them, or None when ``stop`` was set."""
    dtype = np.dtype(config.dtype)
    X_train, y_train, X_test, y_test = data
    Xtr = _images(X_train[:n_train], dtype, stop)
    Xte = None if Xtr is None else _images(X_test[:n_test], dtype, stop)
    if Xte is None:
        return None
    ytr = one_hot(np.asarray(y_train[:n_train]), dtype=dtype)
    return Xtr, ytr, Xte, one_hot(np.asarray(y_test[:n_test]), dtype=dtype)


def _images(X, dtype, stop: threading.Event):
    X = np.asarray(X)
    out = np.empty((len(X), *INPUT_SHAPE), dtype)
    for i in range(0, len(X), CHUNK):
        if stop.is_set():
            return None
        out[i:i + CHUNK] = prepare_images(X[i:i + CHUNK], dtype)
    return out


__all__ = ["prepare", "CHUNK"]
