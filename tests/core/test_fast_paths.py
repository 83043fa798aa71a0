"""The speed-ups keep their promises: chunked im2col and the raw-bit dropout masks give the same numbers as the
plain paths (or, for the masks, the documented statistics), only a small layer that flattens keeps its patch
columns, and the mask choice survives a save and a load. Speed itself is measured in bench/, not here."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from smartflow_core import conv
from smartflow_core import conv_kernels as kernels
from smartflow_core import reference as ref
from smartflow_core.layer import Conv2DLayer, DenseLayer
from smartflow_core.loss import SoftmaxCrossEntropy
from smartflow_core.nn import NeuralNetwork
from smartflow_core.operation import Dropout, binomial_mask, fast_mask
from smartflow_core.persist import build_model, load_model, model_config, save_model
from smartflow_core.presets import PRESETS


@pytest.mark.parametrize("stride,pad", [(1, 1), (2, 0), (3, 2)])
@pytest.mark.parametrize("family", ["rows", "widened", "im2col"])  # at stride 1; other strides take im2col
def test_chunked_kernels_match_the_loops(monkeypatch, stride, pad, family):
    # chunks of one or two examples (a tiny chunk budget) give the loops' numbers, remainder chunk included
    monkeypatch.setattr(kernels, "CHUNK_ELEMENTS", 2 * 3 * 9 * 16)
    monkeypatch.setattr(kernels, "family", lambda s, c, kh: family if s == 1 else "im2col")
    rng = np.random.default_rng(stride)
    x, w = rng.normal(size=(5, 3, 7, 6)), rng.normal(size=(3, 2, 3, 3))
    out = conv.conv2d_forward(x, w, stride, pad)
    g = rng.normal(size=out.shape)
    assert_allclose(out, ref._output(x, w, pad, stride), rtol=1e-10, atol=1e-10)
    assert_allclose(conv.conv2d_input_grad(x.shape, w, g, stride, pad), ref._input_grad(x, g, w, pad, stride),
                    rtol=1e-10, atol=1e-10)
    assert_allclose(conv.conv2d_param_grad(x, g, (3, 3), stride, pad), ref._param_grad(x, g, w, pad, stride),
                    rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride,pad", [(1, None), (2, 1)])
def test_only_a_small_flattening_layer_keeps_its_patch_columns(monkeypatch, stride, pad):
    # a training pass of a layer that flattens keeps the whole batch's columns for its filter gradient when they
    # fit KEEP_ELEMENTS; inference, book mode, larger columns and batch-innermost layers keep none (their filter
    # gradient extracts the columns again, band by band): the gradients are the loops' either way
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(4, 2, 6, 6)), rng.normal(size=(2, 3, 3, 3))

    def trained(op, inference=False):
        out = op.forward(x, inference)
        g = rng.normal(size=out.shape)
        op.backward(g)
        assert_allclose(op.param_grad, ref._param_grad(x, g, w, pad, stride), rtol=1e-12, atol=1e-12)
        assert_allclose(op.input_grad, ref._input_grad(x, g, w, pad, stride), rtol=1e-12, atol=1e-12)
        return op
    flattening = conv.Conv2D_Op(w.copy(), stride, pad, book=False, batch_first=True)
    assert trained(flattening)._cols.shape == (4, 2 * 9, flattening.output[0, 0].size)
    assert trained(flattening, inference=True)._cols is None
    assert trained(conv.Conv2D_Op(w.copy(), stride, pad, book=False))._cols is None
    monkeypatch.setattr(conv, "KEEP_ELEMENTS", 4 * 2 * 9 * flattening.output[0, 0].size - 1)
    assert trained(conv.Conv2D_Op(w.copy(), stride, pad, book=False, batch_first=True))._cols is None


def test_book_mode_keeps_no_columns():
    op = conv.Conv2D_Op(np.ones((1, 1, 3, 3)), book=True, batch_first=True)
    op.forward(np.ones((2, 1, 4, 4)))
    assert op._cols is None


def test_fast_mask_keeps_the_asked_fraction_and_follows_the_seed():
    n = 1_000_000
    for p in (0.8, 0.5, 0.1):
        kept = fast_mask(np.random.RandomState(0), p, (n,)).mean()
        assert abs(kept - p) < 5 * np.sqrt(p * (1 - p) / n) + 1e-5  # five standard errors, plus the 1/65536 step
    a, b = np.random.RandomState(7), np.random.RandomState(7)
    assert_array_equal(fast_mask(a, 0.8, (60, 100)), fast_mask(b, 0.8, (60, 100)))
    assert_array_equal(fast_mask(a, 0.8, (60, 100)), fast_mask(b, 0.8, (60, 100)))  # the streams stay in step
    assert not np.array_equal(fast_mask(a, 0.8, (60, 100)), fast_mask(a, 0.8, (60, 100)))  # and move on
    assert fast_mask(np.random.RandomState(0), 1.0, (3, 4)).all()
    assert fast_mask(np.random.RandomState(0), 0.8, (3, 4, 5)).shape == (3, 4, 5)


def test_fast_mask_is_not_the_books_mask():
    a = fast_mask(np.random.RandomState(1), 0.8, (200, 50))
    b = binomial_mask(np.random.RandomState(1), 0.8, (200, 50))
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_dropout_masks_forward_and_backward_alike(dtype):
    op = Dropout(0.8, rng=np.random.RandomState(3), fast=True)
    x = np.random.default_rng(0).normal(size=(6, 40)).astype(dtype)
    out = op.forward(x)
    assert out.dtype == dtype
    assert_array_equal(out, np.where(op.mask, x, 0))
    g = np.random.default_rng(1).normal(size=x.shape).astype(dtype)
    assert_array_equal(op.backward(g), np.where(op.mask, g, 0))
    assert repr(op) == "Dropout(keep_prob=0.8, fast=True)"


def _net(fast: bool) -> NeuralNetwork:
    return NeuralNetwork([Conv2DLayer(3, 3, dropout=0.8, activation="Tanh", flatten=True),
                          DenseLayer(10, dropout=0.7)], SoftmaxCrossEntropy(), seed=5, fast_dropout=fast)


def _losses(net: NeuralNetwork) -> list[float]:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 1, 6, 6)), np.eye(10)[rng.integers(0, 10, 8)]
    return [net.train_batch(x, y) for _ in range(3)]


def test_fast_dropout_networks_are_reproducible_and_differ_from_the_book_draws():
    assert _losses(_net(True)) == _losses(_net(True))
    assert _losses(_net(True)) != _losses(_net(False))
    net = _net(True)
    _losses(net)
    assert all(op.fast for layer in net.layers for op in layer.operations if isinstance(op, Dropout))
    assert "fast_dropout=True" in repr(net)


def test_fast_dropout_survives_save_and_load(tmp_path):
    net = _net(True)
    _losses(net)
    config = model_config(net, (1, 6, 6))
    assert config["fast_dropout"] is True
    assert "fast_dropout" not in model_config(_net(False), (1, 6, 6))
    loaded, _meta = load_model(save_model(net, tmp_path / "m.npz", (1, 6, 6)))
    assert loaded.fast_dropout is True
    with pytest.raises(ValueError, match="fast_dropout must be true or false"):
        build_model({**config, "fast_dropout": "yes"})


def test_presets_promise_book_draws_only_for_the_chapter():
    assert "fast_dropout" not in PRESETS["chapter"].config()  # book and correct mode share the book's masks
    assert PRESETS["default"].config()["fast_dropout"] is True
