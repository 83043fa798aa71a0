"""Models saved as .npz + JSON load back identical; anything else is refused with a message naming the file."""
import io
import json

import numpy as np
import pytest

from smartflow_core.layer import Conv2DLayer, DenseLayer, Pool2DLayer
from smartflow_core.loss import SoftmaxCrossEntropy
from smartflow_core.nn import NeuralNetwork
from smartflow_core.operation import Linear, ReLU
from smartflow_core.persist import ModelFileError, load_model, model_bytes, save_model


@pytest.fixture
def trained():
    net = NeuralNetwork([Conv2DLayer(3, 3, activation=ReLU(), dropout=0.9, stride=2, padding=1),
                         Pool2DLayer(2, mode="avg", flatten=True), DenseLayer(4, activation=Linear())],
                        SoftmaxCrossEntropy(), seed=5)
    x = np.random.default_rng(0).normal(size=(6, 1, 9, 9)).astype(np.float32)
    net.forward(x)
    return net, x


def test_round_trip_keeps_architecture_weights_dtype_and_metadata(trained, tmp_path):
    net, x = trained
    path = save_model(net, tmp_path / "m.npz", (1, 9, 9), {"history": {"evals": [1, 2]}, "preset": "test"})
    loaded, meta = load_model(path)
    assert repr(loaded) == repr(net)
    assert meta["preset"] == "test" and meta["dtype"] == "float32" and meta["history"] == {"evals": [1, 2]}
    for a, b in zip(net.params(), loaded.params()):
        assert b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(net.forward(x, inference=True), loaded.forward(x, inference=True))
    assert not list(tmp_path.glob("*.part"))  # the atomic write left no temporary file


def test_bytes_round_trip(trained):
    net, x = trained
    loaded, _ = load_model(model_bytes(net, (1, 9, 9)), name="upload.npz")
    np.testing.assert_array_equal(net.forward(x, inference=True), loaded.forward(x, inference=True))


def test_unbuilt_network_cannot_be_saved(tmp_path):
    net = NeuralNetwork([DenseLayer(2)], SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match="no parameters yet"):
        save_model(net, tmp_path / "m.npz", (3,))


def _rewrite(data: bytes, change) -> bytes:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


@pytest.mark.parametrize("make, message", [
    (lambda good: good[: len(good) // 2], "not a readable .npz"),                      # truncated
    (lambda good: b"PK\x03\x04garbage" * 10, "not a readable .npz"),                  # corrupt
    (lambda good: b"\x80\x04\x95pickle", "not a readable .npz"),                      # a pickle is never loaded
    (lambda good: _rewrite(good, lambda a: a.pop("metadata")), "no 'metadata'"),       # foreign npz
    (lambda good: _rewrite(good, lambda a: a.update(metadata=np.array("{nope"))), "not valid JSON"),
    (lambda good: _rewrite(good, lambda a: a.update(metadata=np.array(json.dumps({"format": "other"})))),
     "not a SmartFlow model"),
    (lambda good: _rewrite(good, lambda a: a.update(param_0=np.zeros((2, 2), np.float32))), "param_0 has shape"),
    (lambda good: _rewrite(good, lambda a: a.pop("param_1")), "holds 2 parameter arrays, its architecture needs 3"),
    (lambda good: _rewrite(good, lambda a: a.update(param_1=np.full_like(a["param_1"], np.nan))), "NaN"),
])
def test_bad_files_are_refused_with_the_files_name(trained, make, message):
    good = model_bytes(trained[0], (1, 9, 9))
    with pytest.raises(ModelFileError, match=message) as err:
        load_model(make(good), name="model-from-a-student.npz")
    assert "model-from-a-student.npz" in str(err.value)


def test_missing_file_named(tmp_path):
    with pytest.raises(ModelFileError, match="nothing.npz: no such file"):
        load_model(tmp_path / "nothing.npz")


def test_object_arrays_are_not_unpickled(trained, tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, metadata=np.array([{"format": "smartflow-model"}], dtype=object))
    with pytest.raises(ModelFileError, match="evil.npz"):
        load_model(path)
