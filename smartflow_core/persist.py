"""Save and load a model as one ``.npz``: its parameters plus JSON metadata. Nothing is ever pickled.

The archive holds ``param_0 ... param_n`` (the network's parameters in order) and ``metadata``, a JSON string:
``{"format": "smartflow-model", "version": 1, "layers": [...], "loss": {...}, "seed": ..., "input_shape": [...],
"dtype": "float32", "history": {...}, ...}``, plus ``"fast_dropout": true`` for a network that draws its
dropout masks from raw bits. Loading rebuilds the layers from the JSON and checks every
array's shape against the rebuilt network, so a foreign or damaged file fails with a message naming it.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from smartflow_core.layer import LAYERS
from smartflow_core.loss import LOSSES
from smartflow_core.nn import NeuralNetwork

FORMAT, VERSION = "smartflow-model", 1
PRETRAINED = Path(__file__).resolve().parent / "models" / "pretrained.npz"  # made by smartflow_core.train


class ModelFileError(ValueError):
    """A model file that cannot be read: names the file and what is wrong."""


def model_config(net: NeuralNetwork, input_shape) -> dict:
    """The JSON-ready description of ``net`` that :func:`build_model` turns back into a network."""
    config = {"layers": [{"type": type(layer).__name__, **layer.config()} for layer in net.layers],
              "loss": {"type": type(net.loss).__name__}, "seed": net.seed, "input_shape": list(input_shape)}
    if net.fast_dropout:
        config["fast_dropout"] = True
    return config


def build_model(config: dict) -> NeuralNetwork:
    """A fresh network from :func:`model_config`'s description (parameters not yet created)."""
    layers = []
    for spec in config["layers"]:
        spec = dict(spec)
        kind = spec.pop("type")
        if kind not in LAYERS:
            raise ValueError(f"unknown layer type {kind!r}")
        layers.append(LAYERS[kind](**spec))
    loss_kind = config["loss"]["type"]
    if loss_kind not in LOSSES:
        raise ValueError(f"unknown loss {loss_kind!r}")
    fast = config.get("fast_dropout", False)
    if not isinstance(fast, bool):
        raise ValueError(f"fast_dropout must be true or false, got {fast!r}")
    return NeuralNetwork(layers, LOSSES[loss_kind](), seed=config.get("seed"), fast_dropout=fast)


def save_model(net: NeuralNetwork, path, input_shape, metadata: dict | None = None) -> Path:
    """Write ``net`` to ``path`` (``.npz``) atomically; ``input_shape`` is one example's shape, e.g. (1, 28, 28)."""
    params = list(net.params())
    if not params:
        raise ValueError("the network has no parameters yet: run a forward pass (or train it) before saving")
    meta = {"format": FORMAT, "version": VERSION, **model_config(net, input_shape),
            "dtype": str(params[0].dtype), **(metadata or {})}
    arrays = {f"param_{i}": p for i, p in enumerate(params)}
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", suffix=".npz.part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, metadata=np.array(json.dumps(meta)), **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it private; a saved model is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def model_bytes(net: NeuralNetwork, input_shape, metadata: dict | None = None) -> bytes:
    """The ``.npz`` file :func:`save_model` writes, as bytes (for a download button)."""
    with tempfile.TemporaryDirectory() as d:
        return save_model(net, Path(d) / "model.npz", input_shape, metadata).read_bytes()


def load_model(source, name: str | None = None) -> tuple[NeuralNetwork, dict]:
    """Read a model saved by :func:`save_model` from a path or bytes; returns ``(network, metadata)``."""
    name = name or str(source if not isinstance(source, (bytes, bytearray)) else "uploaded file")
    try:
        raw = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray)) else source
        with np.load(raw, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except FileNotFoundError:
        raise ModelFileError(f"{name}: no such file") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ModelFileError(f"{name}: not a readable .npz model file ({exc})") from None
    meta = _metadata(arrays, name)
    try:
        net = build_model(meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{name}: the architecture in its metadata is invalid ({exc})") from None
    _fill_params(net, meta, arrays, name)
    return net, meta


def load_pretrained() -> tuple[NeuralNetwork, dict]:
    """The CNN shipped with the package (99 % on MNIST's test digits) and its metadata: the preset, the seed, the
    accuracy, the standardisation and the command that trained it. ``ModelFileError`` when it is missing."""
    if not PRETRAINED.is_file():
        raise ModelFileError(f"{PRETRAINED.name}: the pretrained model is missing (python -m smartflow_core.train "
                             "makes it)")
    return load_model(PRETRAINED)


def _metadata(arrays: dict, name: str) -> dict:
    if "metadata" not in arrays:
        raise ModelFileError(f"{name}: no 'metadata' entry, so not a SmartFlow model")
    try:
        meta = json.loads(str(arrays["metadata"]))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{name}: its metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelFileError(f"{name}: not a SmartFlow model (format {found!r})")
    if meta.get("version") != VERSION:
        raise ModelFileError(f"{name}: model format version {meta.get('version')!r}, this library reads {VERSION}")
    return meta


def _fill_params(net: NeuralNetwork, meta: dict, arrays: dict, name: str) -> None:
    dtype = np.dtype(meta.get("dtype", "float64"))
    try:
        net.forward(np.zeros((1, *meta["input_shape"]), dtype=dtype), inference=True)  # creates the parameters
    except (ValueError, AssertionError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{name}: the architecture does not fit input shape {meta.get('input_shape')} "
                             f"({exc})") from None
    params = list(net.params())
    stored = sorted((k for k in arrays if k.startswith("param_")), key=lambda k: int(k.split("_")[1]))
    if len(stored) != len(params):
        raise ModelFileError(f"{name}: holds {len(stored)} parameter arrays, its architecture needs {len(params)}")
    for key, param in zip(stored, params):
        value = arrays[key]
        if value.shape != param.shape:
            raise ModelFileError(f"{name}: {key} has shape {value.shape}, the architecture needs {param.shape}")
        if not np.all(np.isfinite(value)):
            raise ModelFileError(f"{name}: {key} contains NaN or infinite values")
        param[...] = value


__all__ = ["save_model", "load_model", "load_pretrained", "PRETRAINED", "model_bytes", "model_config", "build_model",
           "ModelFileError"]
