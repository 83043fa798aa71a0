"""Named model recipes: the chapter's CNN and a better default, with the settings that train them.

A preset is data (``Preset``); :func:`build` turns it into a fresh ``NeuralNetwork``. The app's architecture
builder and the ``python -m smartflow_core.train`` command both start from these.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy import ndarray

from smartflow_core.marks import N_
from smartflow_core.nn import NeuralNetwork
from smartflow_core.persist import build_model

# the chapter's standardisation: statistics of the full MNIST training set (docs/ARCHITECTURE.md, the chapter's numbers)
MNIST_MEAN, MNIST_STD = 33.318421449829934, 78.56748998339798
INPUT_SHAPE = (1, 28, 28)


@dataclass(frozen=True)
class Preset:
    """An architecture (layer configs as :func:`smartflow_core.persist.model_config` writes them) and how to
    train it."""
    name: str
    description: str
    layers: tuple
    lr: float
    momentum: float
    epochs: int
    batch_size: int
    seed: int
    final_lr: float = 0.0
    decay_type: str | None = None
    dtype: str = "float32"
    fast_dropout: bool = False  # dropout masks from raw bits: faster, not the book's draws
    extra: dict = field(default_factory=dict)

    def config(self) -> dict:
        config = {"layers": [dict(layer) for layer in self.layers], "loss": {"type": "SoftmaxCrossEntropy"},
                  "seed": self.seed, "input_shape": list(INPUT_SHAPE)}
        if self.fast_dropout:
            config["fast_dropout"] = True
        return config


PRESETS = {
    "chapter": Preset(
        "chapter", N_("The chapter's model: 32 filters of 5x5 with tanh, flattened into a dense layer of 10 "
                      "(dropout keeps 80 %), one epoch of SGD with momentum at learning rate 0.1."),
        ({"type": "Conv2DLayer", "out_channels": 32, "param_size": 5, "dropout": 0.8, "weight_init": "glorot",
          "activation": "Tanh", "flatten": True},
         {"type": "DenseLayer", "neurons": 10, "activation": "Linear"}),
        lr=0.1, momentum=0.9, epochs=1, batch_size=60, seed=20190402, dtype="float64"),
    "default": Preset(
        "default", N_("Two convolution blocks (16 then 32 filters of 5x5, ReLU, 2x2 max pooling), a hidden dense "
                      "layer of 128 (ReLU, dropout keeps 80 %) and a dense layer of 10: faster and more accurate "
                      "than the chapter's model."),
        ({"type": "Conv2DLayer", "out_channels": 16, "param_size": 5, "weight_init": "he", "activation": "ReLU"},
         {"type": "Pool2DLayer", "size": 2, "mode": "max"},
         {"type": "Conv2DLayer", "out_channels": 32, "param_size": 5, "weight_init": "he", "activation": "ReLU"},
         {"type": "Pool2DLayer", "size": 2, "mode": "max", "flatten": True},
         {"type": "DenseLayer", "neurons": 128, "activation": "ReLU", "weight_init": "he", "dropout": 0.8},
         {"type": "DenseLayer", "neurons": 10, "activation": "Linear", "weight_init": "he"}),
        lr=0.02, momentum=0.9, epochs=8, batch_size=64, seed=20190402, final_lr=0.0005, decay_type="exponential",
        fast_dropout=True),
}


def build(preset: Preset) -> NeuralNetwork:
    """A fresh, untrained network for ``preset``."""
    return build_model(preset.config())


def prepare_images(X: ndarray, dtype=np.float32, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> ndarray:
    """uint8 images (n, 784) or (n, 28, 28) -> standardised (n, 1, 28, 28) as the chapter prepares them."""
    X = np.asarray(X)
    if X.shape[1:] not in ((784,), (28, 28), (1, 28, 28)):
        raise ValueError(f"expected MNIST images of shape (n, 784) or (n, 28, 28), got {X.shape}")
    return ((X.reshape(-1, *INPUT_SHAPE).astype(np.float64) - mean) / std).astype(dtype)


def one_hot(labels: ndarray, n_classes: int = 10, dtype=np.float32) -> ndarray:
    """Class indices (n,) -> one-hot rows (n, n_classes)."""
    return np.eye(n_classes, dtype=dtype)[np.asarray(labels, dtype=np.int64)]


__all__ = ["Preset", "PRESETS", "build", "prepare_images", "one_hot", "MNIST_MEAN", "MNIST_STD", "INPUT_SHAPE"]
