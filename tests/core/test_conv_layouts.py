"""The batch-innermost layout and the chunking of smartflow_core.conv: outputs stored (channels, h, w, batch),
inputs of either layout give the same numbers, batches and row bands split across chunks (remainders included)
still match the chapter's loops, one example and many channels work, and a large batch stays within the memory
bound. Speed is measured in bench/bench_lab_net.py, never here."""
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from smartflow_core import conv
from smartflow_core import reference as ref
from smartflow_core.layer import Conv2DLayer
from smartflow_core.operation import ReLU
from smartflow_core.pooling import pool2d_forward, pool2d_input_grad

TOL = {"rtol": 1e-10, "atol": 1e-10}


def batch_last(a: np.ndarray) -> bool:
    """Stored (channels, h, w, batch): the batch axis is the innermost one, the others in the chapter's order."""
    return a.strides[0] == a.itemsize and a.strides[1] > a.strides[2] > a.strides[3] > a.strides[0]


def check_against_loops(x, w, stride, pad):
    out = conv.conv2d_forward(x, w, stride, pad)
    g = np.random.default_rng(1).normal(size=out.shape)
    assert_allclose(out, ref._output(x, w, pad, stride), **TOL)
    assert_allclose(conv.conv2d_input_grad(x.shape, w, g, stride, pad), ref._input_grad(x, g, w, pad, stride), **TOL)
    assert_allclose(conv.conv2d_param_grad(x, g, w.shape[2:], stride, pad), ref._param_grad(x, g, w, pad, stride),
                    **TOL)


def test_outputs_are_stored_batch_innermost_and_the_chain_keeps_it():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(3, 2, 8, 8)), rng.normal(size=(2, 4, 3, 3))
    out = conv.conv2d_forward(x, w)
    assert out.shape == (3, 4, 8, 8) and batch_last(out) and out.transpose(1, 2, 3, 0).flags.c_contiguous
    relu = ReLU()
    pooled = pool2d_forward(relu.forward(out), 2)
    assert batch_last(relu.output) and batch_last(pooled)  # the next convolution reads it without a copy
    g = rng.normal(size=out.shape)
    assert batch_last(conv.conv2d_input_grad(x.shape, w, g))  # stride 1: rows and shifts
    assert batch_last(conv.conv2d_input_grad(x.shape, w, g[:, :, ::2, ::2].copy()[:, :, :4, :4], 2))  # col2im
    assert conv.conv2d_param_grad(x, g, (3, 3)).flags.c_contiguous  # parameters keep the chapter's layout


@pytest.mark.parametrize("stride,pad", [(1, 1), (1, 0), (2, 1)])
def test_either_input_layout_gives_the_same_numbers(stride, pad):
    rng = np.random.default_rng(stride)
    x, w = rng.normal(size=(4, 3, 7, 6)), rng.normal(size=(3, 2, 3, 3))
    x_last = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    out = conv.conv2d_forward(x, w, stride, pad)
    g = rng.normal(size=out.shape)
    g_last = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
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
def test_batches_and_rows_split_across_chunks_match_the_loops(monkeypatch, budget, stride, pad):
    monkeypatch.setattr(conv, "CHUNK_ELEMENTS", budget)
    rng = np.random.default_rng(budget + stride)
    check_against_loops(rng.normal(size=(5, 3, 7, 6)), rng.normal(size=(3, 2, 3, 3)), stride, pad)


def test_chunk_boundaries_fall_inside_kernel_overlaps(monkeypatch):
    # bands of one output row: every band's windows overlap its neighbours' (5x5 kernel), rectangular padding
    monkeypatch.setattr(conv, "CHUNK_ELEMENTS", 4 * 25 * 9 * 3)
    rng = np.random.default_rng(7)
    x, w = rng.normal(size=(3, 4, 9, 9)), rng.normal(size=(4, 3, 5, 5))
    for pads in ((2, 2), (1, 3), (0, 0)):
        out = conv.conv2d_forward(x, w, 1, pads)
        g = rng.normal(size=out.shape)
        assert_allclose(conv.conv2d_input_grad(x.shape, w, g, 1, pads),
                        conv._input_grad_col2im(x.shape, w, g, 1, pads, out.shape[2:]), **TOL)


def test_one_example():
    rng = np.random.default_rng(2)
    for stride in (1, 2):
        check_against_loops(rng.normal(size=(1, 2, 6, 5)), rng.normal(size=(2, 3, 3, 3)), stride, 1)


def test_many_channels():
    rng = np.random.default_rng(3)
    check_against_loops(rng.normal(size=(2, 40, 5, 5)), rng.normal(size=(40, 24, 3, 3)), 1, 1)


def test_a_gradient_in_the_chapters_layout_pools_back_like_one_in_the_maps_layout():
    # Flatten's backward hands pooling a (batch, channels, h, w) gradient for batch-innermost maps
    rng = np.random.default_rng(4)
    maps = conv.conv2d_forward(rng.integers(0, 3, (4, 1, 8, 8)).astype(float), np.ones((1, 3, 3, 3)))
    pooled = pool2d_forward(maps, 2)
    g = rng.normal(size=pooled.shape)  # C-contiguous
    g_last = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
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


def test_a_large_batch_stays_within_the_memory_bound():
    # Columns for the whole batch would take 25 x the input (80 MB here). The kernels hold their result, one
    # padded copy of their input (the gradient's: kh - 1 zero rows above and below) or the gradient in their
    # layout, and band buffers of at most CHUNK_ELEMENTS numbers (two in the input gradient), whatever the batch
    # size. The batch here is split in two groups, as a huge inference batch is.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 8, 14, 14)).astype(np.float32)
    w = rng.normal(size=(8, 16, 5, 5)).astype(np.float32)
    g = rng.normal(size=(400, 16, 14, 14)).astype(np.float32)
    whole_batch_columns = x.size * 25 * 4
    chunk, slack = conv.CHUNK_ELEMENTS * 4, 1 << 20
    x_pad = x.nbytes * 18 * 18 // (14 * 14)
    g_rows = g.nbytes * (14 + 8) // 14
    bounds = {
        "forward": (lambda: conv.conv2d_forward(x, w), g.nbytes + x_pad + 2 * chunk),
        "filter gradient": (lambda: conv.conv2d_param_grad(x, g, (5, 5)), x_pad + g.nbytes + chunk),
        "input gradient": (lambda: conv.conv2d_input_grad(x.shape, w, g), x.nbytes + g_rows + 2 * chunk),
    }
    for name, (f, bound) in bounds.items():
        assert peak_bytes(f) <= bound + slack, name
        assert bound + slack < whole_batch_columns / 2  # the bound means something
