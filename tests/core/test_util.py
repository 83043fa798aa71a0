"""The chapter's small helpers: softmax, logsumexp, shape checks, reshapes, shuffling, padding."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal

from smartflow_core.util import (
    _pad_1d,
    _pad_2d_channel,
    _pad_conv_input,
    assert_dim,
    assert_same_shape,
    logsumexp,
    normalize,
    permute_data,
    softmax,
    to_2d,
    unnormalize,
)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 8)), elements=finite))
def test_softmax_rows_sum_to_one(x):
    p = softmax(x, axis=1)
    assert np.all(np.isfinite(p))
    assert np.all((p >= 0) & (p <= 1))
    assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12, atol=1e-12)
    # the largest logit gets the largest probability (up to rounding on near-ties)
    rows = np.arange(x.shape[0])
    assert_allclose(p[rows, np.argmax(x, axis=1)], p.max(axis=1), rtol=1e-12, atol=0)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 5)), elements=st.floats(-30, 30)),
       st.floats(-500, 500))
def test_softmax_is_shift_invariant(x, shift):
    assert_allclose(softmax(x + shift, axis=1), softmax(x, axis=1), rtol=1e-9, atol=1e-12)


def test_softmax_is_stable_for_large_inputs():
    # naive exp(1000) overflows; the stable form equals softmax([0, 1, 2])
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]])
    p = softmax(x, axis=1)
    assert np.all(np.isfinite(p))
    assert_allclose(p[0], softmax(np.array([0.0, 1.0, 2.0])), rtol=1e-12)
    assert_allclose(p[1], softmax(np.array([0.0, -1.0, -2.0])), rtol=1e-12)
    assert_allclose(softmax(np.array([[1e308, 0.0]]), axis=1), [[1.0, 0.0]], rtol=0, atol=0)


def test_softmax_float32_stays_float32():
    assert softmax(np.array([[1.0, 2.0]], dtype=np.float32), axis=1).dtype == np.float32


def test_softmax_without_axis_normalises_everything():
    x = np.random.default_rng(0).normal(size=(3, 4))
    assert_allclose(softmax(x).sum(), 1.0, rtol=1e-12)


def naive_logsumexp(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_matches_naive(axis, keepdims):
    x = np.random.default_rng(1).normal(scale=5, size=(4, 6))
    got = logsumexp(x, axis=axis, keepdims=keepdims)
    want = naive_logsumexp(x, axis=axis, keepdims=keepdims)
    assert np.shape(got) == np.shape(want)
    assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def test_logsumexp_large_and_infinite_inputs():
    assert_allclose(logsumexp(np.array([1000.0, 1000.0])), 1000 + np.log(2), rtol=1e-15)
    # -inf entries contribute nothing; an all -inf row is -inf (no NaN)
    assert_allclose(logsumexp(np.array([0.0, -np.inf])), 0.0, atol=0)
    with np.errstate(divide="ignore"):
        assert logsumexp(np.array([-np.inf, -np.inf])) == -np.inf


def test_assert_same_shape_names_both_shapes():
    assert_same_shape(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(AssertionError, match=r"expected \(2, 3\), got \(3, 2\)"):
        assert_same_shape(np.zeros((2, 3)), np.zeros((3, 2)))


def test_assert_dim():
    assert_dim(np.zeros((2, 3)), 2)
    with pytest.raises(AssertionError, match=r"expected a 4-dimensional array, got 2 dimensions \(shape \(2, 3\)\)"):
        assert_dim(np.zeros((2, 3)), 4)


def test_to_2d():
    a = np.arange(4)
    assert_array_equal(to_2d(a), [[0], [1], [2], [3]])
    assert_array_equal(to_2d(a, "row"), [[0, 1, 2, 3]])
    with pytest.raises(AssertionError, match=r"1-dimensional array, got shape \(2, 2\)"):
        to_2d(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="type must be 'col' or 'row'"):
        to_2d(a, "diag")


def test_permute_data_needs_a_generator():
    X, y = np.arange(5), np.arange(5)
    with pytest.raises(ValueError, match="permute_data needs a RandomState"):
        permute_data(X, y)


def test_permute_data_keeps_pairs_aligned_and_is_reproducible():
    X = np.arange(40).reshape(20, 2)
    y = X[:, 0] * 10
    Xp, yp = permute_data(X, y, np.random.RandomState(3))
    assert_array_equal(yp, Xp[:, 0] * 10)  # each row still with its label
    assert sorted(Xp[:, 0].tolist()) == X[:, 0].tolist()  # a permutation, nothing lost
    assert not np.array_equal(Xp, X)
    Xq, yq = permute_data(X, y, np.random.RandomState(3))
    assert_array_equal(Xq, Xp)
    assert_array_equal(Xp, X[np.random.RandomState(3).permutation(20)])  # one permutation(len(X)) draw


def test_normalize_and_unnormalize():
    a = np.array([[0.25], [0.9]])
    two = normalize(a)
    assert_allclose(two, [[0.25, 0.75], [0.9, 0.1]], rtol=1e-15)
    assert_array_equal(unnormalize(two), a)  # the first column (the book took the first row)


def test_padding_helpers():
    assert_array_equal(_pad_1d(np.array([1, 2]), 2), [0, 0, 1, 2, 0, 0])
    chans = np.ones((2, 2, 3))
    padded = _pad_2d_channel(chans, 1)
    assert padded.shape == (2, 4, 5)
    assert padded.sum() == chans.sum()
    batch = np.ones((3, 2, 2, 2))
    assert _pad_conv_input(batch, 2).shape == (3, 2, 6, 6)
