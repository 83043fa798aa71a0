"""The row-by-row layout and the chunking of smartflow_core.conv_kernels: outputs stored (h, channels, w, batch),
inputs of either layout give the same numbers, each kernel family (rows, widened, im2col) matches the
chapter's loops with batches and row bands split across chunks (remainders included), one example and many
channels work, and a large batch stays within the memory bound. Speed is measured in bench/bench_lab_net.py,
never here."""
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from smartflow_core import conv
from smartflow_core import conv_kernels as kernels
from smartflow_core import reference as ref
from smartflow_core.layer import Conv2DLayer
from smartflow_core.operation import ReLU
from smartflow_core.pooling import pool2d_forward, pool2d_input_grad

TOL = {"rtol": 1e-10, "atol": 1e-10}


def batch_last(a: np.ndarray) -> bool:
    """Stored row by row, (h, channels, w, batch): the batch axis innermost, then the width, the channels, the
    height."""
    return a.strides[0] == a.itemsize and a.strides[2] > a.strides[1] > a.strides[3] > a.strides[0]


@pytest.fixture(params=["rows", "widened", "im2col"])
def family(request, monkeypatch):
    """Run a test with one kernel family at stride 1 whatever the channels (rows, widened, or im2col; other
    strides always take im2col, the filter gradient at stride 1 is widened unless im2col is asked for, and the
    input gradient at stride 1 is always the flipped kernel's correlation)."""
    monkeypatch.setattr(kernels, "family", lambda stride, c, kh: request.param if stride == 1 else "im2col")
    return request.param


def check_against_loops(x, w, stride, pad):
    out = conv.conv2d_forward(x, w, stride, pad)
    g = np.random.default_rng(1).normal(size=out.shape)
    assert_allclose(out, ref._output(x, w, pad, stride), **TOL)
    assert_allclose(conv.conv2d_input_grad(x.shape, w, g, stride, pad), ref._input_grad(x, g, w, pad, stride), **TOL)
    assert_allclose(conv.conv2d_param_grad(x, g, w.shape[2:], stride, pad), ref._param_grad(x, g, w, pad, stride),
                    **TOL)


def test_outputs_are_stored_row_by_row_and_the_chain_keeps_it(family):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(3, 2, 8, 8)), rng.normal(size=(2, 4, 3, 3))
    out = conv.conv2d_forward(x, w)
    assert out.shape == (3, 4, 8, 8) and batch_last(out) and kernels.stored(out).flags.c_contiguous
    relu = ReLU()
    pooled = pool2d_forward(relu.forward(out), 2)
    assert batch_last(relu.output) and batch_last(pooled)  # the next convolution reads it without a copy
    g = rng.normal(size=out.shape)
    assert batch_last(conv.conv2d_input_grad(x.shape, w, g))  # stride 1: the flipped kernel's correlation
    assert batch_last(conv.conv2d_input_grad(x.shape, w, g[:, :, ::2, ::2].copy()[:, :, :4, :4], 2))  # col2im
    assert conv.conv2d_param_grad(x, g, (3, 3)).flags.c_contiguous  # parameters keep the chapter's layout


@pytest.mark.parametrize("stride,pad", [(1, 1), (1, 0), (2, 1)])
def test_either_input_layout_gives_the_same_numbers(family, stride, pad):
    rng = np.random.default_rng(stride)
    x, w = rng.normal(size=(4, 3, 7, 6)), rng.normal(size=(3, 2, 3, 3))
    x_last = kernels.seen(np.ascontiguousarray(kernels.stored(x)))
    out = conv.conv2d_forward(x, w, stride, pad)
    g = rng.normal(size=out.shape)
    g_last = kernels.seen(np.ascontiguousarray(kernels.stored(g)))
    assert_array_equal(conv.conv2d_forward(x_last, w, stride, pad), out)
    assert_array_equal(conv.conv2d_input_grad(x.shape, w, g_last, stride, pad),
                       conv.conv2d_input_grad(x.shape, w, g, stride, pad))
    # a gradient in the chapter's order (from a Flatten) takes the per-example products: other rounding
    assert_allclose(conv.conv2d_param_grad(x_last, g_last, (3, 3), stride, pad),
                    conv.conv2d_param_grad(x, g, (3, 3), stride, pad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride,pad", [(1, None), (2, 1)])
def test_a_layer_that_flattens_stores_its_output_in_the_chapters_order(stride, pad):
    # Flatten then reads it without a copy; the training pass keeps its columns for the filter gradient
    rng = np.random.default_rng(6)
    x, w = rng.normal(size=(3, 2, 7, 7)), rng.normal(size=(2, 4, 3, 3))
    out = conv.conv2d_forward(x, w, stride, pad, batch_first=True)
    assert out.flags.c_contiguous
    assert_allclose(out, ref._output(x, w, pad, stride), **TOL)
    layer = Conv2DLayer(4, 3, stride=stride, padding=pad, flatten=True, book=False)
    layer.seed = 0
    flat = layer.forward(x)
    op = layer.operations[0]
    assert op.batch_first and np.shares_memory(flat, op.output)  # Flatten's output is a view
    g = rng.normal(size=flat.shape)
    layer.backward(g)
    g4 = g.reshape(op.output.shape)
    assert_allclose(op.param_grad, ref._param_grad(x, g4, op.param, pad, stride), **TOL)
    assert_allclose(op.input_grad, ref._input_grad(x, g4, op.param, pad, stride), **TOL)


@pytest.mark.parametrize("budget", [
    1,  # every chunk is one example and one row: groups of one, with no copy-free path
    3 * 9 * 6 * 2,  # groups of two examples (the batch of 5 leaves a remainder of one), one row per band
    3 * 9 * 6 * 5 * 3,  # the whole batch in one group, bands of three rows (7 rows: a remainder of one)
])
@pytest.mark.parametrize("stride,pad", [(1, 1), (1, 2), (2, 1), (3, 0)])
def test_batches_and_rows_split_across_chunks_match_the_loops(monkeypatch, family, budget, stride, pad):
    monkeypatch.setattr(kernels, "CHUNK_ELEMENTS", budget)
    rng = np.random.default_rng(budget + stride)
    check_against_loops(rng.normal(size=(5, 3, 7, 6)), rng.normal(size=(3, 2, 3, 3)), stride, pad)


def test_chunk_boundaries_fall_inside_kernel_overlaps(monkeypatch, family):
    # bands of one output row: every band's windows overlap its neighbours' (5x5 kernel), rectangular padding
    monkeypatch.setattr(kernels, "CHUNK_ELEMENTS", 4 * 25 * 9 * 3)
    rng = np.random.default_rng(7)
    x, w = rng.normal(size=(3, 4, 9, 9)), rng.normal(size=(4, 3, 5, 5))
    for pads in ((2, 2), (1, 3), (0, 0)):
        out = conv.conv2d_forward(x, w, 1, pads)
        g = rng.normal(size=out.shape)
        assert_allclose(conv.conv2d_input_grad(x.shape, w, g, 1, pads),
                        kernels.input_grad_col2im(x.shape, w, g, 1, pads, out.shape[2:]), **TOL)
        assert_allclose(out, kernels.forward_im2col(x, w, 1, pads, out.shape[2:]), **TOL)
        assert_allclose(conv.conv2d_param_grad(x, g, (5, 5), 1, pads),
                        kernels.filter_grad_im2col(x, g, (5, 5), 1, pads, out.shape[2:]), **TOL)
        if pads[0] == pads[1]:  # the loops take one padding for both axes
            assert_allclose(out, ref._output(x, w, pads[0], 1), **TOL)
            assert_allclose(conv.conv2d_param_grad(x, g, (5, 5), 1, pads), ref._param_grad(x, g, w, pads[0], 1),
                            **TOL)


def test_one_example(family):
    rng = np.random.default_rng(2)
    for stride in (1, 2):
        check_against_loops(rng.normal(size=(1, 2, 6, 5)), rng.normal(size=(2, 3, 3, 3)), stride, 1)


def test_many_channels(family):
    rng = np.random.default_rng(3)
    check_against_loops(rng.normal(size=(2, 40, 5, 5)), rng.normal(size=(40, 24, 3, 3)), 1, 1)


def test_a_gradient_in_the_chapters_layout_pools_back_like_one_in_the_maps_layout():
    # Flatten's backward hands pooling a (batch, channels, h, w) gradient for batch-innermost maps
    rng = np.random.default_rng(4)
    maps = conv.conv2d_forward(rng.integers(0, 3, (4, 1, 8, 8)).astype(float), np.ones((1, 3, 3, 3)))
    pooled = pool2d_forward(maps, 2)
    g = rng.normal(size=pooled.shape)  # C-contiguous
    g_last = kernels.seen(np.ascontiguousarray(kernels.stored(g)))
    grad = pool2d_input_grad(maps, g, 2, output=pooled)
    assert_array_equal(grad, pool2d_input_grad(maps, g_last, 2, output=pooled))
    assert_array_equal(grad, pool2d_input_grad(np.ascontiguousarray(maps), g, 2))
    assert batch_last(grad)


def peak_bytes(f) -> int:
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_batch_stays_within_the_memory_bound(family):
    # Columns for the whole batch would take 25 x the input (80 MB here). The kernels hold their result, one
    # copy of each input in their layout (padded, for im2col and col2im; kw = 5 shifted copies of the input,
    # widened), and buffers of at most CHUNK_ELEMENTS numbers (two of them at most), whatever the batch size.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 8, 14, 14)).astype(np.float32)
    w = rng.normal(size=(8, 16, 5, 5)).astype(np.float32)
    g = rng.normal(size=(400, 16, 14, 14)).astype(np.float32)
    whole_batch_columns = x.size * 25 * 4
    buffers, slack = 2 * kernels.CHUNK_ELEMENTS * 4, 1 << 20
    x_pad = x.nbytes * 5 if family == "widened" else x.nbytes * 18 * 18 // (14 * 14)
    bounds = {
        "forward": (lambda: conv.conv2d_forward(x, w), g.nbytes + x_pad + buffers),
        "filter gradient": (lambda: conv.conv2d_param_grad(x, g, (5, 5)),
                            (x.nbytes * 5 if family != "im2col" else x_pad) + g.nbytes + buffers),
        "input gradient": (lambda: conv.conv2d_input_grad(x.shape, w, g), x_pad + g.nbytes + buffers),
    }
    for name, (f, bound) in bounds.items():
        assert peak_bytes(f) <= bound + slack, name
        assert bound + slack < whole_batch_columns / 2  # the bound means something


@pytest.mark.parametrize("flatten", [False, True])
def test_a_relu_layer_rectifies_inside_the_convolution_with_the_same_numbers(family, flatten):
    # the convolution returns max(out, 0) band by band; the layer's ReLU passes it on and masks the gradient as
    # a ReLU after it would: the same maps, the same gradients as the loops with the mask applied
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 2, 6, 6))
    layer = Conv2DLayer(4, 3, activation="ReLU", flatten=flatten, book=False)
    layer.seed = 1
    out = layer.forward(x)
    conv_op, relu = layer.operations[:2]
    assert conv_op.relu and relu.applied and relu.output is conv_op.output
    z = ref._output(x, conv_op.param, 1, 1)
    assert_allclose(out.reshape(z.shape), np.maximum(z, 0), **TOL)
    g = rng.normal(size=out.shape)
    layer.backward(g)
    masked = g.reshape(z.shape) * (z > 0)
    assert_allclose(conv_op.param_grad, ref._param_grad(x, masked, conv_op.param, 1, 1), **TOL)
    assert_allclose(conv_op.input_grad, ref._input_grad(x, masked, conv_op.param, 1, 1), **TOL)
    assert not Conv2DLayer(4, 3, activation="Tanh").activation.__dict__.get("applied")


def test_a_relu_before_a_max_pool_leaves_its_mask_to_the_pool_with_the_same_gradients():
    # nn.link_rectified: the pooling's gradient zeroes windows whose maximum is 0 and the ReLU passes it on;
    # the network's gradients equal those of the same network with the link undone, and a restarted set-up
    # links its new operations again
    from smartflow_core.layer import DenseLayer, Pool2DLayer
    from smartflow_core.loss import SoftmaxCrossEntropy
    from smartflow_core.nn import NeuralNetwork
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(4, 1, 8, 8)), np.eye(3)[[0, 1, 2, 1]]

    def net():
        return NeuralNetwork([Conv2DLayer(3, 3, activation="ReLU", weight_init="he", book=False),
                              Pool2DLayer(2), Conv2DLayer(2, 3, activation="ReLU", weight_init="he", book=False),
                              Pool2DLayer(2, mode="avg", flatten=True), DenseLayer(3)], SoftmaxCrossEntropy(), seed=3)
    linked, plain = net(), net()
    linked.train_batch(x, y)
    relu1, pool1 = linked.layers[0].operations[1], linked.layers[1].operations[0]
    relu2, pool2 = linked.layers[2].operations[1], linked.layers[3].operations[0]
    assert relu1.masked and pool1.rectify and not relu2.masked and not pool2.rectify  # only before a max pool
    plain.forward(x)  # sets the layers up and links them; undone here, and train_batch does not link again
    plain.layers[0].operations[1].masked = plain.layers[1].operations[0].rectify = False
    plain.train_batch(x, y)
    for a, b in zip(linked.param_grads(), plain.param_grads()):
        assert_array_equal(a, b)
    assert_array_equal(relu1.input_grad, plain.layers[0].operations[1].input_grad)
    for layer in linked.layers:
        layer.first = True
    linked.forward(x)
    assert linked.layers[0].operations[1].masked and linked.layers[1].operations[0].rectify


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("layout", ["chapter", "rows", "channels inside rows", "strided"])
def test_tiled_max_pool_gradients_with_many_ties_match_the_loops(size, layout):
    # windows that tile the map (written once each, without zeroing the gradient first), in any memory order;
    # small whole numbers tie often, and with rectify the windows whose maximum is 0 send nothing
    from tests.core.test_conv import loop_pool_grad
    rng = np.random.default_rng(size)
    x = rng.integers(0, 3, size=(3, 2, 4 * size, 2 * size)).astype(np.float64)
    if layout == "rows":
        x = kernels.seen(np.ascontiguousarray(kernels.stored(x)))
    elif layout == "channels inside rows":
        x = np.ascontiguousarray(x.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)  # (batch, h, channels, w)
    elif layout == "strided":
        x = np.repeat(x, 2, axis=3)[..., ::2]
    best = pool2d_forward(x, size)
    g = rng.normal(size=best.shape)
    expected = loop_pool_grad(x, g, size, size, "max")
    assert_array_equal(pool2d_input_grad(x, g, size, output=best), expected)
    rectified = pool2d_input_grad(x, g, size, output=best, rectify=True)
    assert_array_equal(rectified, expected * (x > 0))
