"""The fast im2col kernels (smartflow_core.conv, smartflow_core.pooling) against the chapter's loops, the
book's buggy backward pass against its printed values, and clear errors for bad geometry."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from smartflow_core import reference as ref
from smartflow_core.conv import (
    Conv2D_Op,
    book_input_grad,
    book_param_grad,
    conv2d_forward,
    conv2d_input_grad,
    conv2d_param_grad,
    conv_geometry,
)
from smartflow_core.pooling import Pool2D, pool2d_forward, pool2d_input_grad

# the loops are slow: few examples, no per-example deadline
PROPERTY = settings(max_examples=75, deadline=None)


@st.composite
def conv_cases(draw):
    """A random valid convolution in float64: (x, param, g, stride, pad)."""
    batch = draw(st.integers(1, 3))
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride, pad = draw(st.integers(1, 3)), draw(st.integers(0, 3))
    assume(h + 2 * pad >= kh and w + 2 * pad >= kw)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, cin, h, w))
    param = rng.normal(size=(cin, cout, kh, kw))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    g = rng.normal(size=(batch, cout, oh, ow))
    return x, param, g, stride, pad


@PROPERTY
@given(conv_cases())
def test_forward_matches_reference_loops(case):
    # reference takes one scalar pad for both axes, so the fast kernel gets the same int
    x, param, g, stride, pad = case
    fast = conv2d_forward(x, param, stride, pad)
    assert fast.shape == g.shape  # the output-size formula
    assert_allclose(fast, ref._output(x, param, pad, stride), rtol=1e-10, atol=1e-10)


@PROPERTY
@given(conv_cases())
def test_input_grad_matches_reference_loops(case):
    x, param, g, stride, pad = case
    fast = conv2d_input_grad(x.shape, param, g, stride, pad)
    assert fast.shape == x.shape
    assert_allclose(fast, ref._input_grad(x, g, param, pad, stride), rtol=1e-10, atol=1e-10)


@PROPERTY
@given(conv_cases())
def test_param_grad_matches_reference_loops(case):
    x, param, g, stride, pad = case
    fast = conv2d_param_grad(x, g, param.shape[2:], stride, pad)
    assert fast.shape == param.shape
    assert_allclose(fast, ref._param_grad(x, g, param, pad, stride), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_chapter_geometry_matches_reference_loops(k):
    # the chapter's own case (odd square kernel, padding None = k // 2, stride 1) runs the loops' index formulas
    rng = np.random.default_rng(k)
    x, param = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(3, 2, k, k))
    g = rng.normal(size=(2, 2, 7, 6))
    assert_allclose(conv2d_forward(x, param), ref._output(x, param), rtol=1e-10, atol=1e-10)
    assert_allclose(conv2d_input_grad(x.shape, param, g), ref._input_grad(x, g, param), rtol=1e-10, atol=1e-10)
    assert_allclose(conv2d_param_grad(x, g, (k, k)), ref._param_grad(x, g, param), rtol=1e-10, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 30), w=st.integers(1, 30), kh=st.integers(1, 7), kw=st.integers(1, 7),
       stride=st.integers(1, 4), ph=st.integers(0, 3), pw=st.integers(0, 3))
def test_output_shape_follows_the_formula(h, w, kh, kw, stride, ph, pw):
    # out = (n + 2p - k) // s + 1 on each axis, with (height, width) padding
    assume(h + 2 * ph >= kh and w + 2 * pw >= kw)
    x = np.zeros((2, 1, h, w))
    param = np.zeros((1, 3, kh, kw))
    expected = (2, 3, (h + 2 * ph - kh) // stride + 1, (w + 2 * pw - kw) // stride + 1)
    out = conv2d_forward(x, param, stride, (ph, pw))
    assert out.shape == expected
    assert conv2d_input_grad(x.shape, param, out, stride, (ph, pw)).shape == x.shape
    assert conv2d_param_grad(x, out, (kh, kw), stride, (ph, pw)).shape == param.shape


@pytest.mark.parametrize("kh, kw", [(3, 3), (5, 5), (2, 2), (2, 3), (4, 1)])
def test_default_padding_is_half_the_kernel(kh, kw):
    # padding None = (kh // 2, kw // 2): "same" for odd kernels, one more row/column for even ones
    pads, out_hw = conv_geometry((7, 8), (kh, kw))
    assert pads == (kh // 2, kw // 2)
    assert out_hw == (7 + 2 * (kh // 2) - kh + 1, 8 + 2 * (kw // 2) - kw + 1)
    x = np.random.default_rng(0).normal(size=(1, 1, 7, 8))
    param = np.random.default_rng(1).normal(size=(1, 1, kh, kw))
    assert_allclose(conv2d_forward(x, param), conv2d_forward(x, param, 1, (kh // 2, kw // 2)), rtol=0, atol=0)


def test_rectangular_padding_matches_explicitly_padded_input():
    # a (height, width) padding pair equals padding the input by hand and convolving with no padding
    rng = np.random.default_rng(3)
    x, param = rng.normal(size=(2, 2, 5, 6)), rng.normal(size=(2, 3, 3, 2))
    x_pad = np.pad(x, ((0, 0), (0, 0), (2, 2), (1, 1)))
    assert_allclose(conv2d_forward(x, param, 2, (2, 1)), conv2d_forward(x_pad, param, 2, 0), rtol=1e-12, atol=1e-12)


# -------------------------------------------------------------------------------------------- dtypes


def test_float32_in_float32_out():
    # every kernel computes in its inputs' dtype
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 2, 6, 6)).astype(np.float32)
    param = rng.normal(size=(2, 3, 3, 3)).astype(np.float32)
    out = conv2d_forward(x, param, 2, 1)
    g = np.ones_like(out)
    assert out.dtype == np.float32
    assert conv2d_input_grad(x.shape, param, g, 2, 1).dtype == np.float32
    assert conv2d_param_grad(x, g, (3, 3), 2, 1).dtype == np.float32
    for mode in ("max", "avg"):
        pooled = pool2d_forward(x, 2, 1, mode)
        assert pooled.dtype == np.float32
        assert pool2d_input_grad(x, np.ones_like(pooled), 2, 1, mode).dtype == np.float32
    g_same = np.ones((2, 3, 6, 6), np.float32)
    assert book_input_grad(x.shape, param, g_same).dtype == np.float32
    assert book_param_grad(x, g_same, (3, 3)).dtype == np.float32


# --------------------------------------------------------------------------------- §10: the book's bugs

X9 = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
FORWARD_9 = [[58, 100, 70], [132, 204, 132], [70, 100, 58]]


def test_forward_unit_values():
    assert_array_equal(conv2d_forward(X9, X9)[0, 0], FORWARD_9)


def test_book_input_grad_is_the_unflipped_correlation():
    # the book slid the unflipped kernel over the output gradient: the forward's matrix again
    assert_array_equal(book_input_grad(X9.shape, X9, X9)[0, 0], FORWARD_9)
    assert_array_equal(conv2d_input_grad(X9.shape, X9, X9)[0, 0], [[6, 20, 26], [36, 84, 84], [90, 164, 134]])


def test_book_param_grad_mixes_examples_when_batch_is_two():
    # B = 2: x2 = [x, 2x+1], g2 = [g, ones]
    x2 = np.concatenate([X9, 2 * X9 + 1])
    g2 = np.concatenate([X9, np.ones_like(X9)])
    assert_array_equal(book_param_grad(x2, g2, (3, 3))[0, 0], [[28, 64, 77], [107, 235, 207], [171, 340, 280]])
    assert_array_equal(conv2d_param_grad(x2, g2, (3, 3))[0, 0], [[78, 136, 98], [180, 285, 192], [114, 172, 110]])


def test_book_param_grad_is_correct_for_one_example():
    assert_array_equal(book_param_grad(X9, X9, (3, 3))[0, 0], FORWARD_9)
    rng = np.random.default_rng(5)
    x, g = rng.normal(size=(1, 3, 6, 5)), rng.normal(size=(1, 2, 6, 5))
    assert_allclose(book_param_grad(x, g, (3, 3)), conv2d_param_grad(x, g, (3, 3)), rtol=1e-12, atol=1e-12)


def test_book_input_grad_is_correct_for_symmetric_kernels():
    # a kernel unchanged by a 180 degree turn hides the missing flip
    rng = np.random.default_rng(6)
    k = rng.normal(size=(2, 3, 3, 3))
    k = k + k[:, :, ::-1, ::-1]
    g = rng.normal(size=(2, 3, 5, 5))
    assert_allclose(book_input_grad((2, 2, 5, 5), k, g), conv2d_input_grad((2, 2, 5, 5), k, g), rtol=1e-12,
                    atol=1e-12)


def test_book_mode_op_refuses_what_the_book_cannot_do():
    with pytest.raises(ValueError, match="book mode reproduces"):
        Conv2D_Op(np.zeros((1, 1, 2, 2)), book=True)
    with pytest.raises(ValueError, match="book mode reproduces"):
        Conv2D_Op(np.zeros((1, 1, 3, 3)), stride=2, book=True)


# ---------------------------------------------------------------------------------------------- errors


def test_channel_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3, 5, 5\).*\(2, 4, 3, 3\)"):
        conv2d_forward(np.zeros((2, 3, 5, 5)), np.zeros((2, 4, 3, 3)))


def test_wrong_rank_is_refused():
    with pytest.raises(ValueError, match=r"\(5, 5\)"):
        conv2d_forward(np.zeros((5, 5)), np.zeros((1, 1, 3, 3)))


@pytest.mark.parametrize("stride", [0, -1, 1.5])
def test_bad_stride_is_refused(stride):
    with pytest.raises(ValueError, match="stride must be"):
        conv2d_forward(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=stride)


def test_negative_padding_is_refused():
    with pytest.raises(ValueError, match="padding must be"):
        conv2d_forward(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding=-1)


def test_kernel_bigger_than_padded_input_is_refused():
    with pytest.raises(ValueError, match=r"5x5 kernel does not fit a 3x3 input"):
        conv2d_forward(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 5, 5)), padding=0)


def test_wrong_output_grad_shape_is_refused():
    x, param = np.zeros((2, 1, 5, 5)), np.zeros((1, 3, 3, 3))
    with pytest.raises(ValueError, match=r"output gradient has shape \(2, 3, 4, 4\).*\(2, 3, 5, 5\)"):
        conv2d_input_grad(x.shape, param, np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"output gradient has shape \(2, 3, 4, 4\).*\(2, 3, 5, 5\)"):
        conv2d_param_grad(x, np.zeros((2, 3, 4, 4)), (3, 3))
    with pytest.raises(ValueError, match=r"output gradient has shape \(1, 3, 5, 5\)"):
        conv2d_param_grad(x, np.zeros((1, 3, 5, 5)), (3, 3))


def test_op_backward_checks_the_gradient_shape():
    op = Conv2D_Op(np.ones((1, 2, 3, 3)))
    op.forward(np.ones((1, 1, 4, 4)))
    with pytest.raises(AssertionError, match=r"\(1, 2, 4, 4\).*\(1, 2, 3, 3\)"):
        op.backward(np.ones((1, 2, 3, 3)))


# --------------------------------------------------------------------------------------------- pooling


def loop_pool(x: np.ndarray, size: int, stride: int, mode: str) -> np.ndarray:
    """Pooling written the slow, obvious way."""
    b, c, h, w = x.shape
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.zeros((b, c, oh, ow))
    for i in range(b):
        for j in range(c):
            for y in range(oh):
                for z in range(ow):
                    win = x[i, j, y * stride:y * stride + size, z * stride:z * stride + size]
                    out[i, j, y, z] = win.max() if mode == "max" else win.mean()
    return out


def loop_pool_grad(x, g, size, stride, mode):
    grad = np.zeros_like(x)
    b, c, oh, ow = g.shape
    for i in range(b):
        for j in range(c):
            for y in range(oh):
                for z in range(ow):
                    win = x[i, j, y * stride:y * stride + size, z * stride:z * stride + size]
                    if mode == "max":
                        dy, dz = np.unravel_index(np.argmax(win), win.shape)
                        grad[i, j, y * stride + dy, z * stride + dz] += g[i, j, y, z]
                    else:
                        rows, cols = slice(y * stride, y * stride + size), slice(z * stride, z * stride + size)
                        grad[i, j, rows, cols] += g[i, j, y, z] / size**2
    return grad


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("h, w, size, stride", [
    (4, 4, 2, None), (6, 6, 2, 2), (5, 7, 2, None), (7, 5, 3, None), (6, 7, 3, 1), (7, 7, 2, 3), (5, 5, 3, 2),
    (3, 4, 1, 2), (4, 4, 4, None),
])
def test_pool_matches_loops(mode, h, w, size, stride):
    # includes stride != size and sizes that do not divide the image (the remainder is dropped)
    rng = np.random.default_rng(h * 100 + w * 10 + size)
    x = rng.normal(size=(2, 3, h, w))
    s = size if stride is None else stride
    out = pool2d_forward(x, size, stride, mode)
    assert_allclose(out, loop_pool(x, size, s, mode), rtol=1e-13, atol=1e-13)
    g = rng.normal(size=out.shape)
    assert_allclose(pool2d_input_grad(x, g, size, stride, mode), loop_pool_grad(x, g, size, s, mode),
                    rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("size,stride", [(2, None), (3, 1), (3, 2), (2, 1)])
def test_max_pool_gradient_with_many_ties_matches_the_loops(size, stride):
    # small whole numbers tie often: every window's gradient still goes to its first maximum only
    rng = np.random.default_rng(size * 10 + (stride or 0))
    x = rng.integers(0, 3, size=(2, 3, 7, 8)).astype(np.float64)
    g = rng.normal(size=pool2d_forward(x, size, stride).shape)
    s = size if stride is None else stride
    expected = loop_pool_grad(x, g, size, s, "max")  # overlapping windows add in another order: 1e-13
    assert_allclose(pool2d_input_grad(x, g, size, stride), expected, rtol=1e-13, atol=1e-13)
    assert_allclose(pool2d_input_grad(x, g, size, stride, output=pool2d_forward(x, size, stride)), expected,
                    rtol=1e-13, atol=1e-13)


def test_max_pool_gradient_goes_to_the_first_winner_on_a_tie():
    x = np.ones((1, 1, 2, 2))
    grad = pool2d_input_grad(x, np.full((1, 1, 1, 1), 5.0), 2, None, "max")
    assert_array_equal(grad[0, 0], [[5, 0], [0, 0]])


def test_pool_errors():
    x = np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match="mode must be one of"):
        pool2d_forward(x, 2, None, "median")
    with pytest.raises(ValueError, match="mode must be one of"):
        Pool2D(2, mode="min")
    with pytest.raises(ValueError, match=r"4x4 pool does not fit a 3x3 input"):
        pool2d_forward(x, 4)
    with pytest.raises(ValueError, match="at least 1"):
        pool2d_forward(x, 2, 0)
    with pytest.raises(ValueError, match=r"output gradient has shape \(1, 1, 2, 2\)"):
        pool2d_input_grad(x, np.zeros((1, 1, 2, 2)), 2)
