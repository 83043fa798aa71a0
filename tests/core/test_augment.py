"""smartflow_core.augment against the definitions of its transforms, its seeding, shapes, dtypes and errors."""
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartflow_core.augment import (
    AUGMENT_PRESETS,
    Augment,
    augment,
    augment_dataset,
    gaussian_matrix,
    preview_strip,
    smooth,
    thicken,
    warp,
)
from smartflow_core.data import SUBSET_PATH, load_mnist
from smartflow_core.presets import prepare_images

STRONG = AUGMENT_PRESETS["strong"]


@pytest.fixture(scope="module")
def digits():
    """200 raw MNIST digits, uint8 (200, 784)."""
    return load_mnist(SUBSET_PATH)[0][:200]


def centre_of_mass(images):
    """(rows, columns) of each (batch, h, w) image's centre of mass."""
    yy, xx = np.mgrid[:images.shape[1], :images.shape[2]]
    mass = images.sum((1, 2))
    return (images * yy).sum((1, 2)) / mass, (images * xx).sum((1, 2)) / mass


def test_zero_strength_is_the_identity_and_draws_nothing(digits):
    X = prepare_images(digits[:16])
    rng = np.random.RandomState(5)
    state = rng.get_state()[1].copy()
    for params in (Augment(), Augment(elastic_alpha=0, elastic_sigma=7), AUGMENT_PRESETS["none"]):
        assert augment(X, params, rng) is X
    np.testing.assert_array_equal(rng.get_state()[1], state)  # the generator was not touched
    for x in (X, digits[:16], X.astype(np.float64), X.reshape(16, 28, 28)):
        # the kernels with neutral parameters give the pixels back exactly, not just closely
        np.testing.assert_array_equal(warp(x), x)
        np.testing.assert_array_equal(warp(x, displacement=np.zeros((16, 2, 28, 28))), x)
    np.testing.assert_array_equal(thicken(X, np.zeros(16), X.min()), X)


def test_a_shift_moves_the_centre_of_mass_by_the_shift(digits):
    images = digits.reshape(-1, 28, 28).astype(np.float64)
    rows, cols = np.nonzero(images.any(2)), np.nonzero(images.any(1))
    inside = [i for i in range(len(images))  # digits at least 4 pixels from every edge: nothing is cut off
              if rows[1][rows[0] == i].min() >= 4 and rows[1][rows[0] == i].max() <= 23
              and cols[1][cols[0] == i].min() >= 4 and cols[1][cols[0] == i].max() <= 23]
    images = images[inside]
    shift = np.random.default_rng(0).uniform(-3.5, 3.5, (len(images), 2))  # (right, down), fractions included
    moved = warp(images, shift=shift, fill=0)
    (r0, c0), (r1, c1) = centre_of_mass(images), centre_of_mass(moved)
    # linear interpolation of a translation keeps mass and first moments: exact up to rounding
    np.testing.assert_allclose(c1 - c0, shift[:, 0], atol=1e-9)
    np.testing.assert_allclose(r1 - r0, shift[:, 1], atol=1e-9)
    # a whole-pixel shift is np.roll with the background coming in
    np.testing.assert_array_equal(warp(images, shift=(2, -3), fill=0), np.roll(images, (-3, 2), axis=(1, 2)))


def test_rotation_by_90_degrees_is_rot90_counter_clockwise(digits):
    X = prepare_images(digits[:8])  # float32, standardised: the background is negative
    np.testing.assert_allclose(warp(X, angle=90), np.rot90(X, 1, axes=(2, 3)), atol=1e-4)
    np.testing.assert_allclose(warp(X, angle=-90), np.rot90(X, -1, axes=(2, 3)), atol=1e-4)
    np.testing.assert_allclose(warp(X, angle=180), np.rot90(X, 2, axes=(2, 3)), atol=1e-4)


def test_zoom_and_shear_follow_their_definitions():
    bar = np.zeros((1, 28, 28))
    bar[0, 4:24, 13:15] = 1.0  # a vertical bar, two pixels wide, centred on column 13.5
    slanted = warp(bar, shear=0.5, fill=0)[0]
    r = np.nonzero(slanted.sum(1) > 0)[0]
    cols = (slanted * np.arange(28)).sum(1)[r] / slanted.sum(1)[r]
    # x' = x + shear * y about the centre: each row's centre moves by 0.5 * (row - 13.5)
    np.testing.assert_allclose(cols, 13.5 + 0.5 * (r - 13.5), atol=1e-9)
    dot = np.zeros((1, 28, 28))
    dot[0, 9:11, 9:11] = 1.0  # centre (9.5, 9.5), 4 pixels from the image centre along each axis
    big = warp(dot, zoom=1.5, fill=0)
    np.testing.assert_allclose(np.array(centre_of_mass(big)).ravel(), 13.5 - 4 * 1.5, atol=1e-9)


def test_a_constant_displacement_is_the_opposite_shift(digits):
    X = digits[:4].reshape(4, 28, 28).astype(np.float64)
    field = np.zeros((4, 2, 28, 28))
    field[:, 0], field[:, 1] = 0.75, -1.25  # source = target + (rows, columns)
    np.testing.assert_allclose(warp(X, displacement=field, fill=0), warp(X, shift=(1.25, -0.75), fill=0),
                               atol=1e-9)


def test_gaussian_smoothing_matches_a_direct_convolution():
    sigma = 2.5
    radius = int(4 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    f = np.random.default_rng(1).uniform(-1, 1, (3, 28, 20))
    # the slow reference: zero-padded 1D convolutions along columns, then rows

    def conv(v):
        return np.convolve(v, k)[radius:radius + len(v)]
    ref = np.apply_along_axis(conv, 2, np.apply_along_axis(conv, 1, f))
    np.testing.assert_allclose(smooth(f, sigma), ref, atol=1e-12)
    np.testing.assert_allclose(gaussian_matrix(60, 4).sum(1)[20:40], 1.0)  # away from the edges: a weighted mean


def test_elastic_distortion_has_the_strength_alpha_sets(digits):
    X = prepare_images(digits[:64])
    small = augment(X, Augment(elastic_alpha=5), np.random.RandomState(0))
    large = augment(X, Augment(elastic_alpha=34), np.random.RandomState(0))
    assert 0 < np.abs(small - X).mean() < np.abs(large - X).mean()
    # the same draws: a field of alpha 34 is the field of alpha 5 scaled by 34/5
    rng = np.random.RandomState(0)
    noise = rng.uniform(-1, 1, (64, 2, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(warp(X, displacement=smooth(noise, 4.0) * 34), large, atol=1e-4)


def test_thicken_dilates_and_erodes_with_a_cross():
    dot = np.zeros((2, 1, 7, 7))
    dot[:, 0, 3, 3] = 1.0
    plus = thicken(dot, np.array([1.0, 0.5]), 0.0)
    expected = np.zeros((7, 7))
    expected[3, 2:5] = expected[2:5, 3] = 1.0
    np.testing.assert_array_equal(plus[0, 0], expected)
    np.testing.assert_array_equal(plus[1, 0], (dot[1, 0] + expected) / 2)  # half-way to one step
    np.testing.assert_array_equal(thicken(plus[:1], np.array([-1.0]), 0.0)[0, 0], dot[0, 0])  # erosion undoes it
    assert thicken(dot[:1], np.array([2.0]), 0.0).sum() == 13  # two steps: a diamond of radius 2


def test_shifted_pixels_bring_in_the_background(digits):
    X = prepare_images(digits[:8])
    out = warp(X, shift=(0, 5))
    np.testing.assert_array_equal(out[..., :5, :], X.min())  # the batch's smallest value: MNIST's zero pixel


def test_seeds_reproduce_and_differ(digits):
    X = prepare_images(digits[:32])
    a = augment(X, STRONG, np.random.RandomState(7))
    np.testing.assert_array_equal(a, augment(X, STRONG, np.random.RandomState(7)))
    assert not np.array_equal(a, augment(X, STRONG, np.random.RandomState(8)))
    rng = np.random.RandomState(7)
    first, second = augment(X, STRONG, rng), augment(X, STRONG, rng)
    np.testing.assert_array_equal(first, a)
    assert not np.array_equal(first, second)  # the generator moves on
    assert not np.array_equal(a[0], a[1])  # each image draws its own transform


@pytest.mark.parametrize("shape, dtype", [((5, 1, 28, 28), np.float32), ((5, 784), np.float32),
                                          ((5, 28, 28), np.uint8), ((5, 784), np.float64), ((3, 2, 9, 12), np.float32)])
def test_shape_and_dtype_are_kept(shape, dtype):
    X = np.random.default_rng(0).uniform(0, 255, shape).astype(dtype)
    out = augment(X, STRONG, np.random.RandomState(0))
    assert out.shape == X.shape and out.dtype == X.dtype
    assert X.min() <= out.min() and out.max() <= X.max()  # interpolation and dilation stay within the range


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), h=st.integers(2, 16), w=st.integers(2, 16), shift=st.floats(0, 14),
       rotate=st.floats(0, 180), scale=st.floats(0, 0.9), shear=st.floats(0, 1), alpha=st.floats(0, 100),
       sigma=st.floats(0.5, 20), thickness=st.floats(0, 3), seed=st.integers(0, 2 ** 31))
def test_any_valid_strength_gives_finite_images_of_the_same_shape(n, h, w, shift, rotate, scale, shear, alpha,
                                                                  sigma, thickness, seed):
    params = Augment(shift, rotate, scale, shear, alpha, sigma, thickness)
    X = np.random.default_rng(seed).normal(size=(n, 1, h, w)).astype(np.float32)
    out = augment(X, params, np.random.RandomState(seed))
    assert out.shape == X.shape and out.dtype == X.dtype and np.isfinite(out).all()


@pytest.mark.parametrize("kwargs, name", [({"rotate": -1}, "rotate"), ({"scale": 1.5}, "scale"),
                                          ({"shift": float("nan")}, "shift"), ({"shear": 2}, "shear"),
                                          ({"elastic_sigma": 0.1}, "elastic_sigma"),
                                          ({"elastic_alpha": float("inf")}, "elastic_alpha"),
                                          ({"thickness": "1"}, "thickness"), ({"rotate": True}, "rotate")])
def test_bad_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=f"Augment {name} must be"):
        Augment(**kwargs)


def test_parse_reads_presets_and_pairs_and_names_mistakes():
    assert Augment.parse("medium") == AUGMENT_PRESETS["medium"]
    assert Augment.parse("shift=2, rotate=15") == Augment(shift=2, rotate=15)
    assert Augment.parse("medium,thickness=0") == replace(AUGMENT_PRESETS["medium"], thickness=0)
    assert Augment.from_dict(STRONG.to_dict()) == STRONG
    with pytest.raises(ValueError, match="unknown augmentation preset 'huge'"):
        Augment.parse("huge")
    with pytest.raises(ValueError, match="Augment rotate must be a number, got 'abc'"):
        Augment.parse("rotate=abc")
    with pytest.raises(ValueError, match="cannot read 'spin=3'"):
        Augment.parse("shift=1,spin=3")
    with pytest.raises(ValueError, match="unknown Augment parameter"):
        Augment.from_dict({"spin": 3})


def test_non_images_are_refused():
    with pytest.raises(ValueError, match=r"augmentation needs images .* got shape \(4, 10\)"):
        augment(np.zeros((4, 10)), STRONG, np.random.RandomState(0))
    with pytest.raises(ValueError, match="params must be an Augment"):
        augment(np.zeros((4, 784)), {"shift": 2}, np.random.RandomState(0))


def test_augmented_test_set_is_fixed_by_its_seed(digits):
    X = prepare_images(digits)
    copy = augment_dataset(X, STRONG, seed=3, batch_size=64)
    assert copy.shape == X.shape and copy.dtype == X.dtype
    np.testing.assert_array_equal(copy, augment_dataset(X, STRONG, seed=3, batch_size=64))
    assert not np.array_equal(copy, augment_dataset(X, STRONG, seed=4, batch_size=64))
    np.testing.assert_array_equal(X, prepare_images(digits))  # the original is left alone
    plain = augment_dataset(X, Augment(), seed=3)
    np.testing.assert_array_equal(plain, X)
    assert plain is not X


def test_preview_strip(digits):
    strip = preview_strip(digits[:3], STRONG, k=5, seed=1)
    assert strip.shape == (3, 6, 28, 28) and strip.dtype == np.uint8
    np.testing.assert_array_equal(strip[:, 0], digits[:3].reshape(3, 28, 28))
    np.testing.assert_array_equal(strip, preview_strip(digits[:3], STRONG, k=5, seed=1))
    assert len({strip[0, i].tobytes() for i in range(1, 6)}) == 5  # five different copies
    assert preview_strip(digits[:2], STRONG, k=4, originals=False).shape == (2, 4, 28, 28)
    with pytest.raises(ValueError, match="k must be at least 1"):
        preview_strip(digits[:2], STRONG, k=0)
