"""The chapter's loop implementations (smartflow_core.reference) print the chapter's numbers, and their
generalised paths (pad, stride) are the true derivatives of their forward passes."""
import numpy as np
import pytest
from gradcheck import numeric_gradient
from numpy.testing import assert_allclose, assert_array_equal

from smartflow_core import reference as ref
from smartflow_core.conv import conv2d_forward

# ------------------------------------------------------------------------------------ chapter cells 5-11


def test_conv_1d_prints_the_chapters_output():
    # In [5]: "same" padding, stride 1, [1,1,1] filter
    out = ref.conv_1d(np.array([1, 2, 3, 4, 5]), np.array([1, 1, 1]))
    assert_array_equal(out, [3, 6, 9, 12, 9])


def test_conv_1d_sum_changes_as_the_chapter_shows():
    # In [7]: fifth input + 1 -> 39 to 41; In [8]: first weight + 1 -> 39 to 49
    inp, inp2 = np.array([1, 2, 3, 4, 5]), np.array([1, 2, 3, 4, 6])
    param, param2 = np.array([1, 1, 1]), np.array([2, 1, 1])
    assert ref.conv_1d_sum(inp, param) == 39.0
    assert ref.conv_1d_sum(inp2, param) == 41.0
    assert ref.conv_1d_sum(inp, param2) == 49.0


def test_1d_gradients_print_the_chapters_output():
    # In [10]: unit output gradient
    inp, param = np.array([1, 2, 3, 4, 5]), np.array([1, 1, 1])
    assert_array_equal(ref._param_grad_1d(inp, param), [10, 15, 14])
    assert_array_equal(ref._input_grad_1d(inp, param), [2, 3, 3, 3, 2])


def test_1d_batch_values():
    # In [11] and the batch section: sum 133, filter gradient summed over the batch [36, 49, 48]
    batch = np.array([[0, 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7]])
    param = np.array([1, 1, 1])
    assert_array_equal(ref.conv_1d_batch(batch, param),
                       [[1, 3, 6, 9, 12, 15, 11], [3, 6, 9, 12, 15, 18, 13]])
    assert ref.conv_1d_batch_sum(batch, param) == 133.0
    assert_array_equal(ref._param_grad_1d_batch(batch, param), [36, 49, 48])


def test_1d_batch_gradients_match_finite_differences():
    # the batch filter gradient is the derivative of the batch sum
    rng = np.random.default_rng(0)
    batch, param = rng.normal(size=(3, 7)), rng.normal(size=3)
    g = rng.normal(size=(3, 7))
    f = lambda p: np.sum(ref.conv_1d_batch(batch, p) * g)  # noqa: E731
    assert_allclose(ref._param_grad_1d_batch(batch, param, g), numeric_gradient(f, param.copy()), rtol=1e-7, atol=1e-8)
    f_in = lambda b: np.sum(ref.conv_1d_batch(b, param) * g)  # noqa: E731
    assert_allclose(ref._input_grad_1d_batch(batch, param, g), numeric_gradient(f_in, batch.copy()),
                    rtol=1e-7, atol=1e-8)


# ----------------------------------------------------------------------------------- §10 unit vectors

X9 = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
FORWARD_9 = [[58, 100, 70], [132, 204, 132], [70, 100, 58]]


def test_2d_output_unit_values():
    # x = W = arange(9): a cross-correlation, the kernel is not flipped
    assert_array_equal(ref._output(X9, X9)[0, 0], FORWARD_9)


def test_2d_input_grad_is_the_correct_one():
    # the loops flip the kernel (the book's fast version did not: that gives FORWARD_9 instead)
    assert_array_equal(ref._input_grad(X9, X9, X9)[0, 0], [[6, 20, 26], [36, 84, 84], [90, 164, 134]])


def test_2d_param_grad_unit_values():
    assert_array_equal(ref._param_grad(X9, X9, X9)[0, 0], FORWARD_9)
    # B = 2: x2 = [x, 2x+1], g2 = [g, ones] -> each example meets its own gradient
    x2 = np.concatenate([X9, 2 * X9 + 1])
    g2 = np.concatenate([X9, np.ones_like(X9)])
    assert_array_equal(ref._param_grad(x2, g2, X9)[0, 0], [[78, 136, 98], [180, 285, 192], [114, 172, 110]])


# ---------------------------------------------------------------------------------- generalised paths


def test_stride_2_pad_1_on_length_5_gives_3_outputs():
    out = ref.conv_1d(np.arange(1.0, 6.0), np.array([1.0, 1.0, 1.0]), pad=1, stride=2)
    assert out.shape == (3,)
    # windows of the padded [0,1,2,3,4,5,0] starting at 0, 2, 4
    assert_array_equal(out, [3, 9, 9])
    assert ref.output_size(5, 3, 1, 2) == 3


@pytest.mark.parametrize("k, pad, stride", [
    (3, None, 1), (3, 1, 1), (3, 0, 1), (3, 2, 1), (3, 1, 2), (5, 2, 3), (5, 0, 2), (1, 0, 1), (1, 2, 2),
    (2, 0, 1), (4, 1, 2), (4, 3, 1), (2, 1, 2),
])
def test_1d_gradients_match_central_differences(k, pad, stride):
    # with a random upstream gradient, d/dinput and d/dparam of sum(conv_1d * g) match central differences
    rng = np.random.default_rng(k * 100 + (pad or 0) * 10 + stride)
    inp, param = rng.normal(size=7), rng.normal(size=k)
    n_out = ref.conv_1d(inp, param, pad, stride).shape[0]
    g = rng.normal(size=n_out)
    f_in = lambda x: np.sum(ref.conv_1d(x, param, pad, stride) * g)  # noqa: E731
    f_par = lambda p: np.sum(ref.conv_1d(inp, p, pad, stride) * g)  # noqa: E731
    assert_allclose(ref._input_grad_1d(inp, param, g, pad, stride), numeric_gradient(f_in, inp.copy()),
                    rtol=1e-7, atol=1e-8)
    assert_allclose(ref._param_grad_1d(inp, param, g, pad, stride), numeric_gradient(f_par, param.copy()),
                    rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("k, pad, stride", [(3, None, 1), (2, 1, 2), (4, 0, 1), (5, 1, 3), (1, 0, 2)])
def test_1d_sum_gradients_match_central_differences_of_conv_1d_sum(k, pad, stride):
    # the chapter's check: unit output gradient against differences of conv_1d_sum
    rng = np.random.default_rng(7 + k)
    inp, param = rng.normal(size=6), rng.normal(size=k)
    tol = {"rtol": 1e-7, "atol": 1e-8}
    assert_allclose(ref._input_grad_1d(inp, param, None, pad, stride),
                    numeric_gradient(lambda x: ref.conv_1d_sum(x, param, pad, stride), inp.copy()), **tol)
    assert_allclose(ref._param_grad_1d(inp, param, None, pad, stride),
                    numeric_gradient(lambda p: ref.conv_1d_sum(inp, p, pad, stride), param.copy()), **tol)


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("pad", [None, "half"])
def test_1d_even_kernel_with_default_padding_follows_the_output_formula(k, pad):
    # an even kernel padded by k // 2 gives n + 1 outputs (output_size), as conv2d_forward does with the same
    # padding (the chapter only used odd kernels, where "same" padding keeps n outputs)
    pad = k // 2 if pad == "half" else pad
    rng = np.random.default_rng(k)
    inp, param = rng.normal(size=5), rng.normal(size=k)
    expected_len = ref.output_size(5, k, k // 2, 1)
    fast = conv2d_forward(inp.reshape(1, 1, 1, 5), param.reshape(1, 1, 1, k), padding=(0, k // 2))
    assert fast.shape == (1, 1, 1, expected_len)
    out = ref.conv_1d(inp, param, pad)
    assert out.shape == (expected_len,)
    assert_allclose(out, fast.ravel(), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("pad", [None, "half"])
def test_1d_even_kernel_input_grad_is_the_derivative_of_conv_1d_sum(k, pad):
    # whatever length conv_1d returns, _input_grad_1d must be the derivative of its sum
    pad = k // 2 if pad == "half" else pad
    rng = np.random.default_rng(10 + k)
    inp, param = rng.normal(size=5), rng.normal(size=k)
    numeric = numeric_gradient(lambda x: ref.conv_1d_sum(x, param, pad), inp.copy())
    assert_allclose(ref._input_grad_1d(inp, param, None, pad), numeric, rtol=1e-7, atol=1e-8)
    numeric_p = numeric_gradient(lambda p: ref.conv_1d_sum(inp, p, pad), param.copy())
    assert_allclose(ref._param_grad_1d(inp, param, None, pad), numeric_p, rtol=1e-7, atol=1e-8)


def test_1d_chapter_formula_and_scatter_path_agree(monkeypatch):
    # where both apply (odd kernel, pad k // 2, stride 1) the chapter's index formula and the general scatter
    # form give the same gradients; _is_chapter is switched off to force the general path
    rng = np.random.default_rng(11)
    results = {}
    for k in (1, 3, 5):
        inp, param, g = rng.normal(size=8), rng.normal(size=k), rng.normal(size=8)
        results[k] = (inp, param, g, ref.conv_1d(inp, param), ref._input_grad_1d(inp, param, g),
                      ref._param_grad_1d(inp, param, g))
    monkeypatch.setattr(ref, "_is_chapter", lambda *args: False)
    for inp, param, g, out, in_grad, par_grad in results.values():
        assert_allclose(ref.conv_1d(inp, param), out, rtol=1e-13, atol=1e-13)
        assert_allclose(ref._input_grad_1d(inp, param, g), in_grad, rtol=1e-13, atol=1e-13)
        assert_allclose(ref._param_grad_1d(inp, param, g), par_grad, rtol=1e-13, atol=1e-13)


def test_2d_chapter_formula_and_scatter_path_agree(monkeypatch):
    # the 2D input gradient: the chapter's flipped-kernel formula vs every output cell scattering back
    rng = np.random.default_rng(12)
    cases = []
    for k in (1, 3, 5):
        x = rng.normal(size=(2, 2, 5, 6))
        param = rng.normal(size=(2, 3, k, k))
        g = rng.normal(size=(2, 3, 5, 6))
        cases.append((x, param, g, ref._input_grad(x, g, param)))
    monkeypatch.setattr(ref, "_is_chapter", lambda *args: False)
    for x, param, g, chapter_grad in cases:
        assert_allclose(ref._input_grad(x, g, param), chapter_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kh, kw, pad, stride", [(3, 3, None, 1), (2, 3, 1, 2), (4, 4, 0, 1), (1, 3, 2, 3)])
def test_2d_gradients_match_central_differences(kh, kw, pad, stride):
    rng = np.random.default_rng(kh * 10 + kw)
    x = rng.normal(size=(2, 2, 5, 4))
    param = rng.normal(size=(2, 2, kh, kw))
    g = rng.normal(size=ref._output(x, param, pad, stride).shape)
    f_in = lambda a: np.sum(ref._output(a, param, pad, stride) * g)  # noqa: E731
    f_par = lambda p: np.sum(ref._output(x, p, pad, stride) * g)  # noqa: E731
    assert_allclose(ref._input_grad(x, g, param, pad, stride), numeric_gradient(f_in, x.copy()), rtol=1e-6, atol=1e-7)
    assert_allclose(ref._param_grad(x, g, param, pad, stride), numeric_gradient(f_par, param.copy()),
                    rtol=1e-6, atol=1e-7)


def test_output_size_rejects_bad_geometry():
    with pytest.raises(ValueError, match="stride must be at least 1"):
        ref.output_size(5, 3, 1, 0)
    with pytest.raises(ValueError, match="padding must be 0 or more"):
        ref.output_size(5, 3, -1, 1)
    with pytest.raises(ValueError, match="larger than the padded input"):
        ref.output_size(2, 5, 1, 1)


def test_2d_channel_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4, 4\).*\(2, 1, 3, 3\)"):
        ref._output(np.zeros((1, 3, 4, 4)), np.zeros((2, 1, 3, 3)))
