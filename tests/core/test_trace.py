"""The lessons' step records agree with the chapter's loops in smartflow_core.reference, to the last bit."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from smartflow_core import reference, trace
from smartflow_core.operation import Flatten

small_ints = st.integers(-5, 5)


# ---------------------------------------------------------------------------------------------- 1D


def test_chapter_example_steps():
    t = trace.trace_conv_1d([1, 2, 3, 4, 5], [1, 1, 1])
    assert t.pad == 1 and t.padded == (0, 1, 2, 3, 4, 5, 0)
    assert t.output == (3, 6, 9, 12, 9)  # the chapter prints array([ 3.,  6.,  9., 12.,  9.])
    third = t.steps[2]
    assert third.window == (2, 3, 4)
    assert third.inputs == (2, 3, 4) and third.products == (2, 3, 4)
    assert third.running == (2, 5, 9) and third.output == 9
    assert [t.is_pad(i) for i in range(7)] == [True] + [False] * 5 + [True]


def test_stride_two_with_padding_one_gives_three_outputs():
    t = trace.trace_conv_1d([1, 2, 3, 4, 5], [1, 1, 1], pad=1, stride=2)
    assert len(t.steps) == t.size.size == 3
    assert [s.window for s in t.steps] == [(0, 1, 2), (2, 3, 4), (4, 5, 6)]
    assert t.output == (3, 9, 9)


def test_output_size_floor_when_stride_does_not_divide():
    s = trace.OutputSize(n=6, k=3, pad=0, stride=2)
    assert (s.padded, s.span, s.size, s.remainder) == (6, 3, 2, 1)
    assert trace.trace_conv_1d([1, 2, 3, 4, 5, 6], [1, 0, -1], pad=0, stride=2).unread == (5,)
    assert trace.trace_conv_1d([1, 2, 3, 4, 5, 6, 7], [1], pad=0, stride=3).unread == (1, 2, 4, 5)
    assert trace.OutputSize(5, 3, 1, 2).remainder == 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=2, k=5, pad=0, stride=1), "larger than the padded input"),
    (dict(n=5, k=3, pad=0, stride=0), "stride must be at least 1"),
    (dict(n=5, k=3, pad=-1, stride=1), "padding must be 0 or more"),
])
def test_output_size_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        trace.OutputSize(**kwargs)


def test_even_kernel_with_chapter_padding_follows_the_formula():
    t = trace.trace_conv_1d([1, 2, 3, 4, 5], [1, 1, 1, 1])
    assert len(t.steps) == len(t.output) == t.size.size == 6
    assert_array_equal(t.output, reference.conv_1d(np.array([1, 2, 3, 4, 5]), np.array([1, 1, 1, 1])))


@settings(max_examples=60, deadline=None)
@given(inp=st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=1, max_size=16),
       kernel=st.lists(small_ints, min_size=1, max_size=5), pad=st.none() | st.integers(0, 3),
       stride=st.integers(1, 4))
def test_1d_steps_match_reference(inp, kernel, pad, stride):
    p = len(kernel) // 2 if pad is None else pad
    if len(inp) + 2 * p < len(kernel):
        with pytest.raises(ValueError):
            trace.trace_conv_1d(inp, kernel, pad, stride)
        return
    t = trace.trace_conv_1d(inp, kernel, pad, stride)
    expected = reference.conv_1d(np.array(inp), np.array(kernel, dtype=float), pad, stride)
    assert t.output == tuple(expected)
    assert tuple(s.output for s in t.steps) == t.output  # each running sum ends on the library's number
    for s in t.steps:
        assert s.window[0] == s.index * stride
        assert s.running[-1] == s.output


# ---------------------------------------------------------------------------------------------- 2D

EDGE = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]


def test_edge_detector_step():
    img = np.arange(25.0).reshape(5, 5)
    t = trace.trace_conv_2d(img, EDGE)
    s = t.step(6)  # row 1, column 1
    assert (s.row, s.col, s.top, s.left) == (1, 1, 1, 1)
    assert s.patch == ((0, 1, 2), (5, 6, 7), (10, 11, 12))
    assert s.products == ((0, 1, 0), (5, -24, 7), (0, 11, 0))
    assert s.output == 0 == t.output[1, 1]  # a linear ramp has no edge
    assert t.n_steps == 25 and t.cell(24) == (4, 4)
    with pytest.raises(IndexError):
        t.step(25)


def test_rejects_non_square_kernel():
    with pytest.raises(ValueError, match="square"):
        trace.trace_conv_2d(np.zeros((4, 4)), np.zeros((2, 3)))


@settings(max_examples=30, deadline=None)
@given(h=st.integers(3, 8), w=st.integers(3, 8), k=st.sampled_from([1, 2, 3]), pad=st.none() | st.integers(0, 2),
       stride=st.integers(1, 3), seed=st.integers(0, 1000))
def test_2d_steps_match_reference(h, w, k, pad, stride, seed):
    rng = np.random.default_rng(seed)
    img, ker = rng.normal(size=(h, w)), rng.normal(size=(k, k))
    t = trace.trace_conv_2d(img, ker, pad, stride)
    expected = reference.conv_2d(img, ker, pad, stride)
    assert_array_equal(t.output, expected)
    for i in range(t.n_steps):
        s = t.step(i)
        assert s.output == expected[s.row, s.col]
    top, bottom = t.strongest()
    assert t.output.ravel()[top] == expected.max() and t.output.ravel()[bottom] == expected.min()


# ---------------------------------------------------------------------------------------------- multichannel


@settings(max_examples=15, deadline=None)
@given(cin=st.integers(1, 3), cout=st.integers(1, 3), n=st.integers(3, 6), stride=st.integers(1, 2),
       seed=st.integers(0, 1000))
def test_multichannel_partials_sum_to_reference(cin, cout, n, stride, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=(1, cin, n, n)), rng.normal(size=(cin, cout, 3, 3))
    t = trace.trace_multichannel(x, w, None, stride)
    expected = reference._output(x, w, 1, stride)
    assert_array_equal(t.output, expected)
    assert t.param_count == cin * cout * 9
    assert_allclose(t.per_channel.sum(axis=2), expected, rtol=1e-12, atol=1e-12)
    for o in range(cout):
        for r in range(t.rows.size):
            for c in range(t.cols.size):
                s = t.step(o, r, c)
                assert s.output == s.running[-1] == expected[0, o, r, c]  # the reference's own order
                assert len(s.partials) == cin
                assert_allclose(sum(s.partials), s.output, atol=1e-12)
                assert_allclose(s.partials, t.per_channel[0, o, :, r, c], atol=1e-12)


def test_multichannel_rejects_channel_mismatch():
    with pytest.raises(ValueError, match="channels"):
        trace.trace_multichannel(np.zeros((1, 3, 4, 4)), np.zeros((2, 1, 3, 3)))


# ---------------------------------------------------------------------------------------------- pooling


def _pool_library(img, size, mode):
    pooling = pytest.importorskip("smartflow_core.pooling")
    return pooling.pool2d_forward(img[None, None], size=size, mode=mode)[0, 0]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size", [2, 3])
def test_pooling_matches_library(mode, size):
    img = np.random.default_rng(size).integers(-9, 10, size=(7, 8)).astype(float)
    t = trace.trace_pool(img, size, mode=mode)
    assert t.output.shape == ((7 - size) // size + 1, (8 - size) // size + 1)
    assert_allclose(t.output, _pool_library(img, size, mode), rtol=1e-12)
    s = t.step(t.n_steps - 1)
    assert s.output == t.output[s.row, s.col]
    if mode == "max":
        assert s.window[s.winner[0]][s.winner[1]] == s.output


def test_max_pool_winner_is_first_on_a_tie_and_reach_is_one_quarter():
    img = np.zeros((4, 4))
    img[1, 1] = 5
    t = trace.trace_pool(img, 2)
    assert t.step(0).winner == (1, 1) and t.step(1).winner == (0, 0)
    assert trace.pool_reach(t).sum() == 4  # one pixel of 16 per window
    assert trace.pool_reach(trace.trace_pool(img, 2, mode="avg")).all()


def test_stride_two_reaches_every_pixel():
    cmp = trace.stride_vs_pool(np.random.default_rng(0).normal(size=(8, 8)), EDGE, 2)
    assert cmp.conv_pixels == cmp.pixels == 64 and cmp.pool_pixels == 16
    assert cmp.conv.output.shape == cmp.pool.output.shape == (4, 4)
    assert (trace.conv_reach(8, 8, 3, 1, 4) == 0).any()  # stride 4 > kernel 3 leaves gaps


def test_pooling_rejects_bad_settings():
    with pytest.raises(ValueError, match="mode"):
        trace.trace_pool(np.zeros((4, 4)), 2, mode="min")
    with pytest.raises(ValueError, match="larger than the padded input"):
        trace.trace_pool(np.zeros((2, 2)), 3)


@settings(max_examples=40, deadline=None)
@given(cin=st.integers(1, 3), cout=st.integers(1, 3), h=st.integers(3, 9), w=st.integers(3, 9),
       k=st.integers(1, 3), pad=st.integers(0, 2), stride=st.integers(1, 3), seed=st.integers(0, 2 ** 32 - 1))
def test_loop_order_conv_is_the_reference_to_the_last_bit(cin, cout, h, w, k, pad, stride, seed):
    # real-valued inputs, where a different summation order would show in the last bits
    rng = np.random.default_rng(seed)
    x, f = rng.normal(size=(cin, h, w)), rng.normal(size=(cin, cout, k, k))
    expected = reference._compute_output_obs(x, f, pad, stride)
    padded = np.stack([np.pad(c, pad) for c in x])
    assert_array_equal(trace.loop_order_conv(padded, f, stride, expected.shape[1:]), expected)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(2, 9), w=st.integers(2, 9), size=st.integers(2, 3), stride=st.integers(1, 3),
       ties=st.booleans(), seed=st.integers(0, 2 ** 32 - 1))
def test_pool_records_match_their_steps_and_reach_to_the_last_bit(h, w, size, stride, ties, seed):
    # whole maps (computed at once) against the one-cell records the lesson shows, with and without ties
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 3, size=(h, w)).astype(float) if ties else rng.normal(size=(h, w))
    if size > min(h, w):
        return
    for mode in ("max", "avg"):
        t = trace.trace_pool(img, size, stride, mode)
        steps = [t.step(i) for i in range(t.n_steps)]
        assert_array_equal(t.output.ravel(), [s.output for s in steps])
        reach = np.zeros(img.shape, bool)
        for s in steps:  # the loop pool_reach replaced
            if s.winner is None:
                reach[s.top:s.top + size, s.left:s.left + size] = True
            else:
                reach[s.top + s.winner[0], s.left + s.winner[1]] = True
        assert_array_equal(trace.pool_reach(t), reach)


@pytest.mark.parametrize("h,w,k,pad,stride", [(8, 8, 3, 1, 2), (7, 9, 5, 2, 3), (6, 6, 3, 0, 4), (5, 5, 1, 0, 1)])
def test_conv_reach_counts_the_windows_over_each_pixel(h, w, k, pad, stride):
    rows, cols = trace.OutputSize(h, k, pad, stride), trace.OutputSize(w, k, pad, stride)
    count = np.zeros((h + 2 * pad, w + 2 * pad), int)
    for r in range(rows.size):
        for c in range(cols.size):
            count[r * stride:r * stride + k, c * stride:c * stride + k] += 1
    assert_array_equal(trace.conv_reach(h, w, k, pad, stride), count[pad:pad + h, pad:pad + w])


# ---------------------------------------------------------------------------------------------- flatten


def test_flatten_index_matches_the_flatten_operation():
    shape = trace.FlattenShapes(batch=2, channels=3, height=2, width=4)
    x = np.random.default_rng(1).normal(size=(2, 3, 2, 4))
    flat = Flatten().forward(x)
    assert flat.shape == (2, shape.features) == (2, 24)
    for c in range(3):
        for i in range(2):
            for j in range(4):
                assert flat[1, shape.index(c, i, j)] == x[1, c, i, j]
    assert trace.FlattenShapes(1, 32, 28, 28).dense_weights(10) == 250_880
    with pytest.raises(ValueError):
        trace.FlattenShapes(1, 0, 2, 2)


# ---------------------------------------------------------------------------------------------- records


def test_records_are_frozen():
    s = trace.trace_conv_1d([1, 2], [1]).steps[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.output = 3.0
    assert not trace.trace_conv_2d(np.ones((3, 3)), np.ones((1, 1))).output.flags.writeable


def test_trace_does_not_import_streamlit():
    code = "import sys, smartflow_core.trace; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
