"""Save and load a model as one ``.npz``: its parameters plus JSON metadata. Nothing is ever pickled.

The archive holds ``param_0 ... param_n`` (the network's parameters in order) and ``metadata``, a JSON string:
``{"format": "smartflow-model", "version": 1, "layers": [...], "loss": {...}, "seed": ..., "input_shape": [...],
"dtype": "float32", "history": {...}, ...}``, plus ``"fast_dropout": true`` for a network that draws its
dropout masks from raw bits. Loading rebuilds the layers from the JSON and checks every
array's shape against the rebuilt network, so a foreign or damaged file fails with a message naming it.

A model may be uploaded by anyone, so loading checks before it allocates: each entry's declared size and
compression ratio (a zip bomb is refused without inflating it), each array's ``.npy`` header (shape and dtype,
read from the zip entry as a stream), the metadata's size and nesting depth, and the shapes the architecture needs,
computed from its geometry (``Layer.param_shapes``) and capped (:data:`MAX_MODEL_BYTES`, :data:`MAX_VALUES`);
only then are the arrays read and the network created, without a forward pass.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from smartflow_core.layer import LAYERS
from smartflow_core.loss import LOSSES
from smartflow_core.nn import NeuralNetwork

FORMAT, VERSION = "smartflow-model", 1
PRETRAINED = Path(__file__).resolve().parent / "models" / "pretrained.npz"  # made by smartflow_core.train

# What a model file may ask for. The training lab's builder makes at most 5 convolutions of 64 filters up to 28x28
# and 3 dense layers of 512 on MNIST: 375 MB of float64 parameters at the very most (every kernel 28, no pooling),
# so the caps leave a margin; a file beyond them is refused before anything it describes is allocated.
MAX_MODEL_BYTES = 512 * 2 ** 20       # all parameters together, as the metadata's architecture and dtype need them
MAX_METADATA_BYTES = 32 * 2 ** 20     # the metadata entry as stored (4 bytes per character): a long history fits
MAX_FILE_BYTES = MAX_MODEL_BYTES + MAX_METADATA_BYTES + 2 ** 20
MAX_RATIO = 20                        # a parameter entry over 1 MB inflating more than this is a zip bomb
MAX_ENTRIES = 1_000                   # entries in the archive
MAX_DEPTH = 32                        # nesting of the metadata's JSON (a model's is 4 deep)
MAX_LAYERS = 64
MAX_SIDE = 4_096                      # each number of the input shape
MAX_VALUES = 2 ** 24                  # values one layer computes per image (the builder's largest: 69,696)


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
    """Read a model saved by :func:`save_model` from a path or bytes; returns ``(network, metadata)``.

    Everything is checked before anything large is allocated: the archive's entries (declared sizes and
    compression ratios), each array's ``.npy`` header (shape and dtype, read without inflating the data), the
    metadata's size and nesting depth, and the shapes its architecture needs (computed, not built). Any failure,
    ``MemoryError`` and ``RecursionError`` included, is a :class:`ModelFileError` naming the file."""
    name = name or str(source if not isinstance(source, (bytes, bytearray, memoryview)) else "uploaded file")
    try:
        return _load(source, name)
    except ModelFileError:
        raise
    except (MemoryError, RecursionError):
        raise ModelFileError(f"{name}: this file asks for more memory or nesting than a model may use, so it was "
                             "not loaded") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{name}: not a readable .npz model file: it is damaged or incomplete "
                             f"({type(exc).__name__}: {_short(exc)})") from None


def load_pretrained() -> tuple[NeuralNetwork, dict]:
    """The CNN shipped with the package (99 % on MNIST's test digits) and its metadata: the preset, the seed, the
    accuracy, the standardisation and the command that trained it. ``ModelFileError`` when it is missing."""
    if not PRETRAINED.is_file():
        raise ModelFileError(f"{PRETRAINED.name}: the pretrained model is missing (python -m smartflow_core.train "
                             "makes it)")
    return load_model(PRETRAINED)


def _short(exc: BaseException, n: int = 200) -> str:
    text = str(exc)
    return text if len(text) <= n else text[:n] + "…"


def _load(source, name: str) -> tuple[NeuralNetwork, dict]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
        size, head = len(raw), raw[:8]
        fileobj = io.BytesIO(raw)
    else:
        try:
            size = os.stat(source).st_size
            with open(source, "rb") as f:
                head = f.read(8)
        except FileNotFoundError:
            raise ModelFileError(f"{name}: no such file") from None
        except OSError as exc:
            raise ModelFileError(f"{name}: cannot be read ({exc.strerror or exc})") from None
        fileobj = source
    if size == 0:
        raise ModelFileError(f"{name}: the file is empty")
    if size > MAX_FILE_BYTES:
        raise ModelFileError(f"{name}: the file is {size / 2 ** 20:.0f} MB, more than the {MAX_FILE_BYTES // 2 ** 20} "
                             "MB a model may have")
    if not head.startswith(b"PK"):
        raise ModelFileError(f"{name}: not a readable .npz model file: {_what_it_is(head)}")
    try:
        archive = zipfile.ZipFile(fileobj)
    except zipfile.BadZipFile:
        raise ModelFileError(f"{name}: not a readable .npz model file: it starts like a zip archive but is damaged "
                             "or incomplete (was the download or upload cut short?)") from None
    with archive:
        members = _members(archive, name)
        meta = _metadata(archive, members, name)
        headers = {k: _checked_header(archive, info, k, name) for k, info in members.items() if k != "metadata"}
        net, shapes = _plan(meta, name)
        _check_shapes(headers, shapes, name)
        arrays = [_read_array(archive, members[f"param_{i}"]) for i in range(len(shapes))]
    _fill_params(net, meta, arrays, name)
    return net, meta


def _what_it_is(head: bytes) -> str:
    if head.startswith(b"\x93NUMPY"):
        return "it is a single NumPy array (.npy), not a model archive (.npz)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "it is a Python pickle, which is never loaded (a model is a .npz archive of plain arrays)"
    if head.startswith(b"\x1f\x8b"):
        return "it is a gzip file, not a .npz archive"
    return "it is not a zip archive (a .npz model is one), so no model saved by this app"


def _members(archive: zipfile.ZipFile, name: str) -> dict[str, zipfile.ZipInfo]:
    """The archive's ``.npy`` entries by array name, each refused if its declared size or compression is absurd."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ModelFileError(f"{name}: holds {len(infos):,} entries; a model has a few dozen at most")
    members, total = {}, 0
    for info in infos:
        key = info.filename.removesuffix(".npy")
        if key != "metadata" and not (key.startswith("param_") and key[6:].isdigit()):
            continue  # not ours: never read
        limit, what = (MAX_METADATA_BYTES, "metadata") if key == "metadata" else (MAX_MODEL_BYTES, "parameters")
        if info.file_size > limit:
            raise ModelFileError(f"{name}: its entry {key} declares {info.file_size / 2 ** 20:,.0f} MB, more than "
                                 f"the {limit // 2 ** 20} MB a model's {what} may take")
        ratio = info.file_size // max(info.compress_size, 1)
        if key != "metadata" and info.file_size > 2 ** 20 and ratio > MAX_RATIO:
            raise ModelFileError(f"{name}: its entry {key} would inflate {ratio:,} times (from {info.compress_size:,} "
                                 f"to {info.file_size:,} bytes): a model's numbers do not compress like that, so it "
                                 "looks like a zip bomb")
        total += info.file_size
        members[key] = info
    if total > MAX_MODEL_BYTES + MAX_METADATA_BYTES:
        raise ModelFileError(f"{name}: its entries declare {total / 2 ** 20:,.0f} MB in all, more than a model may "
                             f"take ({MAX_MODEL_BYTES // 2 ** 20} MB)")
    if "metadata" not in members:
        raise ModelFileError(f"{name}: no 'metadata' entry, so not a SmartFlow model")
    return members


def _header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple, np.dtype, int]:
    """``(shape, dtype, header bytes)`` of a stored ``.npy`` entry, reading only its header."""
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        return tuple(shape), dtype, f.tell()


def _checked_header(archive, info, key: str, name: str) -> tuple[tuple, np.dtype]:
    shape, dtype, offset = _header(archive, info)
    if dtype.hasobject:
        raise ModelFileError(f"{name}: its entry {key} holds Python objects (pickled data), which are never loaded; "
                             "a model holds only numbers and text")
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise ModelFileError(f"{name}: its entry {key} has an impossible shape {shape}")
    declared = math.prod(shape) * dtype.itemsize
    if offset + declared != info.file_size:
        raise ModelFileError(f"{name}: its entry {key} claims {math.prod(shape):,} values of {dtype} "
                             f"({declared:,} bytes) but holds {info.file_size - offset:,} bytes: the file is damaged "
                             "or forged")
    return shape, dtype


def _read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _metadata(archive: zipfile.ZipFile, members: dict, name: str) -> dict:
    shape, dtype = _checked_header(archive, members["metadata"], "metadata", name)
    if shape != () or dtype.kind != "U":
        raise ModelFileError(f"{name}: its metadata is not a JSON text (found {dtype} values of shape {shape})")
    text = str(_read_array(archive, members["metadata"]))
    depth = _nesting(text)
    if depth > MAX_DEPTH:
        raise ModelFileError(f"{name}: its metadata is nested {depth:,} levels deep; a model's is a few levels "
                             f"(at most {MAX_DEPTH})")
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise ModelFileError(f"{name}: its metadata is not valid JSON ({_short(exc)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelFileError(f"{name}: not a SmartFlow model (format {_short(repr(found), 40)})")
    if meta.get("version") != VERSION:
        raise ModelFileError(f"{name}: model format version {_short(repr(meta.get('version')), 40)}, this library "
                             f"reads {VERSION}")
    return meta


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _nesting(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in a JSON text (brackets inside strings not counted), computed
    without recursion so a hostile text cannot exhaust the stack."""
    bare = _STRINGS.sub('""', text).encode("utf-8", "replace")
    codes = np.frombuffer(bare, dtype=np.uint8)
    steps = (np.isin(codes, (ord("["), ord("{"))).astype(np.int32)
             - np.isin(codes, (ord("]"), ord("}"))).astype(np.int32))
    return int(np.cumsum(steps).max(initial=0))


def _plan(meta: dict, name: str) -> tuple[NeuralNetwork, list[tuple]]:
    """The network the metadata describes (parameters not created) and every parameter's shape, computed from
    the layers' geometry; refused when any shape or the total is larger than a model may be."""
    layers, input_shape = meta.get("layers"), meta.get("input_shape")
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        raise ModelFileError(f"{name}: the architecture in its metadata is invalid (it needs a list of 1 to "
                             f"{MAX_LAYERS} layers)")
    if (not isinstance(input_shape, list) or not 1 <= len(input_shape) <= 3
            or any(type(n) is not int or not 1 <= n <= MAX_SIDE for n in input_shape)):
        raise ModelFileError(f"{name}: its input shape {_short(repr(input_shape), 40)} is invalid (1 to 3 whole "
                             f"numbers from 1 to {MAX_SIDE})")
    for spec in layers:
        if not isinstance(spec, dict) or any(not _plain(v) for v in spec.values()):
            raise ModelFileError(f"{name}: the architecture in its metadata is invalid (a layer is "
                                 f"{_short(repr(spec), 60)})")
    if meta.get("dtype", "float64") not in ("float32", "float64"):
        raise ModelFileError(f"{name}: its parameters' dtype {_short(repr(meta.get('dtype')), 40)} is not float32 "
                             "or float64")
    try:
        net = build_model(meta)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"{name}: the architecture in its metadata is invalid ({_short(exc)})") from None
    shape, shapes = tuple(input_shape), []
    too_big = math.prod(shape) > MAX_VALUES
    try:
        for layer in net.layers:
            shapes += layer.param_shapes(shape)
            shape = layer.output_shape(shape)
            too_big = too_big or math.prod(shape) > MAX_VALUES
    except (ValueError, TypeError, AssertionError) as exc:
        raise ModelFileError(f"{name}: the architecture does not fit input shape {list(input_shape)} "
                             f"({_short(exc)})") from None
    itemsize = np.dtype(meta.get("dtype", "float64")).itemsize
    need = sum(math.prod(s) for s in shapes) * itemsize
    if need > MAX_MODEL_BYTES:
        raise ModelFileError(f"{name}: its architecture needs {need / 2 ** 20:,.0f} MB of parameters, more than the "
                             f"{MAX_MODEL_BYTES // 2 ** 20} MB a model may have")
    if too_big:
        raise ModelFileError(f"{name}: its architecture computes more than {MAX_VALUES:,} values per image in one "
                             "layer, more than a model may use on this server")
    return net, shapes


def _plain(value) -> bool:
    """A JSON value a layer's constructor may take: short text, a bool, None, a finite number of sane size, or a
    pair of them (a padding)."""
    if isinstance(value, list):
        return len(value) <= 2 and all(not isinstance(v, list) and _plain(v) for v in value)
    if value is None or isinstance(value, (bool, str)):
        return not isinstance(value, str) or len(value) <= 40
    if isinstance(value, int):
        return abs(value) <= 2 ** 31
    return isinstance(value, float) and math.isfinite(value)


def _check_shapes(headers: dict[str, tuple], shapes: list[tuple], name: str) -> None:
    """The stored arrays (their headers) against the shapes the architecture needs."""
    expected = [f"param_{i}" for i in range(len(shapes))]
    if sorted(headers) != sorted(expected):
        raise ModelFileError(f"{name}: holds {len(headers)} parameter arrays, its architecture needs {len(shapes)}")
    for key, need in zip(expected, shapes):
        shape, dtype = headers[key]
        if shape != need:
            raise ModelFileError(f"{name}: {key} has shape {shape}, the architecture needs {need}")
        if dtype.kind != "f" or dtype.itemsize > 8:
            raise ModelFileError(f"{name}: {key} holds {dtype} values, not floating-point numbers")


def _fill_params(net: NeuralNetwork, meta: dict, arrays: list[np.ndarray], name: str) -> None:
    """Create each layer's parameters from one zero example of its input shape (no forward pass), then copy the
    stored values in."""
    dtype = np.dtype(meta.get("dtype", "float64"))
    shape = tuple(meta["input_shape"])
    for layer in net.layers:
        layer._setup_layer(np.zeros((1, *shape), dtype=dtype))
        layer.first = False
        shape = layer.output_shape(shape)
    for i, (param, value) in enumerate(zip(net.params(), arrays)):
        if not np.all(np.isfinite(value)):
            raise ModelFileError(f"{name}: param_{i} contains NaN or infinite values")
        param[...] = value


__all__ = ["save_model", "load_model", "load_pretrained", "PRETRAINED", "model_bytes", "model_config", "build_model",
           "ModelFileError"]
