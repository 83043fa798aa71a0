"""smartflow_core.digits: a drawing or photo prepared as MNIST's digits were, step by step.

Synthetic digits are drawn with PIL on a 280x280 canvas (the size of the app's drawing canvas). What MNIST
promises, and every prepared digit must show: the ink's bounding box has a longer side of 20 pixels and its centre
of mass lies within half a pixel of (14, 14), with nothing cut off.
"""
import dataclasses
import io
import time

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from PIL import Image, ImageDraw, ImageFilter

from smartflow_core.digits import (
    EmptyImageError,
    Prepared,
    Steps,
    UnreadableImageError,
    center_by_box,
    center_by_mass,
    center_of_mass,
    crop_to_ink,
    detect_ink,
    ink_bbox,
    load_image,
    median3x3,
    prepare,
    prepare_again,
    scale_longer_side,
    stretch_to_field,
    to_gray,
    to_model_input,
)
from smartflow_core.persist import PRETRAINED
from smartflow_core.presets import prepare_images

SIZE = 280

SEVEN = [(0.15, 0.2), (0.8, 0.2), (0.4, 0.9)]     # stroke points, as fractions of the digit's box
ONE = [(0.3, 0.25), (0.55, 0.05), (0.55, 0.95)]


def draw(points=SEVEN, box=(40, 30, 240, 250), width=18, ink=255, paper=0, mode="L", size=SIZE) -> Image.Image:
    """A stroke through ``points`` (fractions of ``box`` = left, top, right, bottom) on a ``size`` canvas."""
    img = Image.new(mode, (size, size), paper)
    left, top, right, bottom = box
    xy = [(left + fx * (right - left), top + fy * (bottom - top)) for fx, fy in points]
    ImageDraw.Draw(img).line(xy, fill=ink, width=width, joint="curve")
    return img


def photo(seed=0) -> np.ndarray:
    """A grey "photo": dark ink on uneven paper, slightly blurred, with sensor noise, as uint8 (H, W)."""
    rng = np.random.default_rng(seed)
    ink = np.asarray(draw(width=14).filter(ImageFilter.GaussianBlur(2)), np.float64) / 255
    ramp = np.linspace(0.72, 0.82, SIZE)[None, :]            # lighting falls off across the page
    gray = ramp * (1 - ink) + 0.2 * ink + rng.normal(0, 0.03, (SIZE, SIZE))
    return np.clip(np.round(gray * 255), 0, 255).astype(np.uint8)


def rgba_transparent(ink=(0, 0, 0, 255)) -> np.ndarray:
    """What a drawing canvas with no background returns: (280, 280, 4) uint8, transparent where nothing is drawn."""
    return np.asarray(draw(ink=ink, paper=(0, 0, 0, 0), mode="RGBA"))


CASES = {
    "small seven in a corner": draw(box=(8, 10, 58, 80), width=7),
    "thick seven": draw(width=40),
    "thin seven": draw(width=4),
    "one": draw(ONE, width=16),
    "dark on white": draw(ink=0, paper=255),
    "rgba, transparent background, black ink": rgba_transparent(),
    "rgba, transparent background, white ink": rgba_transparent((255, 255, 255, 255)),
    "rgb array, blue ink on white": np.asarray(draw(ink=(20, 40, 200), paper=(255, 255, 255), mode="RGB")),
    "float array 0..1": np.asarray(draw(), np.float64) / 255,
    "grey photo with noise": photo(),
}


def mnist_like(image28: np.ndarray) -> None:
    """The checks every prepared digit must pass (computed here with NumPy, not with the module's helpers)."""
    assert image28.shape == (28, 28)
    assert image28.min() >= 0 and image28.max() == pytest.approx(1.0)
    rows, cols = np.flatnonzero(image28.max(axis=1) > 0), np.flatnonzero(image28.max(axis=0) > 0)
    assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) in (19, 20)
    mass = image28.sum()
    com = (image28.sum(axis=1) @ np.arange(28) / mass, image28.sum(axis=0) @ np.arange(28) / mass)
    assert_allclose(com, (14, 14), atol=0.5)


@pytest.mark.parametrize("name", CASES)
def test_prepared_digits_look_like_mnist(name):
    p = prepare(CASES[name])
    mnist_like(p.image)
    assert_allclose(p.image.sum(), p.scaled.sum(), rtol=1e-12)   # nothing was cut off by the 28x28 field
    assert p.x.shape == (1, 1, 28, 28) and p.x.dtype == np.float32


point = st.tuples(st.floats(0, 1), st.floats(0, 1))


@settings(max_examples=30, deadline=None)
@given(points=st.lists(point, min_size=2, max_size=5), left=st.integers(0, 200), top=st.integers(0, 200),
       width=st.integers(20, 270), height=st.integers(20, 270), pen=st.integers(3, 40), dark=st.booleans())
def test_any_stroke_anywhere_is_prepared_like_mnist(points, left, top, width, height, pen, dark):
    box = (left, top, min(left + width, SIZE - 1), min(top + height, SIZE - 1))
    paper = 255 if dark else 0
    canvas = draw(points, box, pen, ink=255 - paper, paper=paper)
    assume(np.sum(np.asarray(canvas) != paper) > 3 * pen ** 2)   # a stroke, not a dot
    image28 = prepare(canvas).image
    rows, cols = np.flatnonzero(image28.max(axis=1) > 0), np.flatnonzero(image28.max(axis=0) > 0)
    assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) in (19, 20)
    com = center_of_mass(image28)
    # centred by mass (a whole-pixel shift: a symmetric stroke stays exactly half a pixel off), unless that would
    # push the digit out of the field: then it touches the field's edge
    for axis, ink_at in enumerate((rows, cols)):
        assert abs(com[axis] - 14) <= 0.5 + 1e-9 or ink_at[0] == 0 or ink_at[-1] == 27


STEP_SETS = [Steps(*flags) for flags in np.ndindex(2, 2, 2, 2) for flags in [tuple(map(bool, flags))]]


@pytest.mark.parametrize("name", ["dark on white", "rgba, transparent background, black ink"])
def test_preparing_again_with_other_steps_is_preparing_anew(name):
    """The Draw page reads each drawing with every step the other way from the stages already made: the same
    numbers as preparing the picture from scratch, for every pair of step sets."""
    for first in STEP_SETS:
        done = prepare(CASES[name], first)
        for steps in STEP_SETS:
            again, anew = prepare_again(done, steps), prepare(CASES[name], steps)
            assert again.steps == steps
            for field in ("ink", "cropped", "scaled", "image", "x"):
                assert np.array_equal(getattr(again, field), getattr(anew, field)), (first, steps, field)


def test_the_same_digit_gives_the_same_input_whatever_its_colours():
    reference = prepare(CASES["dark on white"]).image
    for name in ("rgba, transparent background, black ink", "rgba, transparent background, white ink"):
        assert_allclose(prepare(CASES[name]).image, reference, atol=0.02)
    assert_allclose(prepare(draw()).image, reference, atol=1e-9)


def test_position_and_size_on_the_canvas_do_not_matter():
    big = prepare(draw(box=(40, 30, 240, 250), width=30)).image
    small = prepare(draw(box=(170, 160, 270, 270), width=15)).image
    assert np.abs(big - small).mean() < 0.05


def test_to_gray_reads_pil_images_and_arrays_alike():
    img = draw(ink=(200, 30, 60), paper=(250, 250, 240), mode="RGB")
    gray = to_gray(img)
    assert gray.shape == (SIZE, SIZE) and gray.dtype == np.float64
    assert_allclose(gray, np.asarray(img.convert("L")) / 255, atol=1 / 255)   # ITU-R 601 luma, as Pillow's "L"
    assert_allclose(to_gray(np.asarray(img)), gray)
    assert_allclose(to_gray(np.asarray(img, np.float64)), gray)              # floats 0..255
    assert_allclose(to_gray(np.asarray(img, np.float64) / 255), gray)        # floats 0..1
    assert_allclose(to_gray(np.asarray(img.convert("L"))[..., None]), np.asarray(img.convert("L")) / 255)


def test_to_gray_turns_transparency_into_background():
    black_ink = to_gray(rgba_transparent())
    assert black_ink[0, 0] == 1.0 and black_ink.min() == 0.0        # transparent -> white paper under black ink
    white_ink = to_gray(rgba_transparent((255, 255, 255, 255)))
    assert white_ink[0, 0] == 0.0 and white_ink.max() == 1.0        # transparent -> black paper under white ink
    # an opaque photo with a transparent frame: the frame takes the paper's shade, not the ink's
    framed = np.asarray(draw(ink=(0, 0, 0), paper=(230, 230, 230), mode="RGB").convert("RGBA")).copy()
    framed[:20, :, 3] = 0
    assert_allclose(to_gray(framed)[:20], 230 / 255, atol=1e-3)
    assert to_gray(Image.new("RGBA", (10, 10), (0, 0, 0, 0))).min() == 1.0   # nothing drawn: all paper


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_a_grey_array_is_read_as_the_same_picture_in_colour(dtype):
    """Grey input takes a short path (only its scale): the same values as its three-channel copy, to an ulp."""
    grey = np.random.default_rng(3).integers(0, 256, (30, 40)).astype(dtype)
    grey = grey / 255 if dtype == np.float64 else grey
    assert_allclose(to_gray(grey), to_gray(np.repeat(grey[..., None], 3, axis=2)), rtol=0, atol=1e-15)


def test_to_gray_rejects_other_shapes():
    with pytest.raises(ValueError, match=r"\(H, W, 3\).*got \(5, 5, 2\)"):
        to_gray(np.zeros((5, 5, 2), np.uint8))


def test_detect_ink_finds_the_minority_whatever_the_polarity():
    white_on_black = to_gray(draw())
    ink = detect_ink(white_on_black)
    assert ink.shape == (SIZE, SIZE) and ink.min() == 0 and ink.max() == 1
    assert_allclose(detect_ink(1 - white_on_black), ink)
    on_grey = 0.5 - 0.3 * white_on_black                      # dark ink on mid-grey paper
    assert_allclose(detect_ink(on_grey), ink, atol=1e-9)


def test_detect_ink_ignores_paper_noise_and_lighting():
    ink = detect_ink(to_gray(photo()))
    stroke = np.asarray(draw(width=14)) > 0
    far = ~np.asarray(Image.fromarray(stroke).filter(ImageFilter.MaxFilter(15)), bool)
    assert ink[far].max() == 0                                 # no speck of noise away from the stroke
    assert ink[stroke].mean() > 0.8


def test_detect_ink_finds_nothing_on_blank_paper():
    rng = np.random.default_rng(1)
    paper = np.clip(0.8 + rng.normal(0, 0.03, (SIZE, SIZE)), 0, 1)
    assert detect_ink(paper).max() == 0
    assert detect_ink(np.zeros((28, 28))).max() == 0


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 2 ** 32 - 1), sparse=st.booleans())
def test_median3x3_is_pillows_median_filter(h, w, seed, sparse):
    # the sorting network against Pillow's rank filter (edges repeated), value for value
    rng = np.random.default_rng(seed)
    a = rng.random((h, w)).astype(np.float32)
    if sparse:  # specks on paper, many ties: the case the filter is there for
        a *= rng.random((h, w)) > 0.8
    expected = np.asarray(Image.fromarray(a).filter(ImageFilter.MedianFilter(3)))
    np.testing.assert_array_equal(median3x3(a), expected)


def test_crop_to_ink_keeps_exactly_the_bounding_box():
    ink = np.zeros((40, 30))
    ink[5:12, 8:20] = 0.5
    ink[30, 3] = 1.0
    assert ink_bbox(ink) == (5, 3, 31, 20)
    assert_allclose(crop_to_ink(ink), ink[5:31, 3:20])


@pytest.mark.parametrize("blank", [np.zeros((SIZE, SIZE)), np.ones((SIZE, SIZE)), Image.new("RGBA", (64, 64))])
def test_no_ink_is_an_empty_image_error(blank):
    with pytest.raises(EmptyImageError, match="draw a digit first"):
        prepare(blank)
    with pytest.raises(EmptyImageError, match="draw a digit first"):
        crop_to_ink(np.zeros((5, 5)))


def test_scale_longer_side_keeps_the_aspect_ratio():
    rng = np.random.default_rng(2)
    assert scale_longer_side(rng.random((100, 40))).shape == (20, 8)
    assert scale_longer_side(rng.random((30, 90))).shape == (7, 20)
    assert scale_longer_side(np.ones((5, 3))).shape == (20, 12)      # small ink is enlarged
    assert scale_longer_side(np.ones((300, 1))).shape == (20, 1)
    faint = scale_longer_side(np.pad(np.ones((200, 2)), ((0, 0), (29, 29))))   # a thin stroke fades when shrunk
    assert faint.max() == 1.0 and faint.min() == 0.0                           # ...and is brought back to full ink


def test_stretch_to_field_ignores_the_aspect_ratio():
    assert stretch_to_field(np.ones((100, 40))).shape == (28, 28)
    assert_allclose(stretch_to_field(np.ones((100, 40))), 1.0, atol=1e-6)


def test_center_by_mass_moves_the_centre_of_mass_to_14_14():
    ink = np.zeros((16, 12))
    ink[:3, :] = 1.0          # a top-heavy shape: its centre of mass is high in its box
    ink[:, 10:] = 1.0
    out = center_by_mass(ink)
    assert out.shape == (28, 28) and out.sum() == ink.sum()
    assert_allclose(center_of_mass(out), (14, 14), atol=0.5)
    box = center_by_box(ink)
    assert ink_bbox(box) == (6, 8, 22, 20)                   # the box's middle at the field's middle
    assert abs(center_of_mass(box)[0] - 14) > 2


def test_center_by_mass_keeps_the_whole_digit_in_the_field():
    ink = np.zeros((20, 20))
    ink[0, :] = 1.0           # all the mass on the top row: centring it would push the box out of the field
    out = center_by_mass(ink)
    assert out.sum() == ink.sum() and ink_bbox(out) == (8, 4, 9, 24)
    with pytest.raises(ValueError, match="does not fit"):
        center_by_mass(np.ones((30, 5)))


def test_to_model_input_standardises_like_the_training_data():
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (28, 28)).astype(np.uint8)
    x = to_model_input(pixels / 255)
    assert x.shape == (1, 1, 28, 28) and x.dtype == np.float32
    assert_allclose(x, prepare_images(pixels[None]), rtol=1e-6)
    assert_allclose(to_model_input(np.zeros((28, 28)), mean=10.0, std=2.0), -5.0)
    with pytest.raises(ValueError, match=r"28x28 image, got shape \(20, 20\)"):
        to_model_input(np.zeros((20, 20)))


def png(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_load_image_reads_bytes_and_files():
    img = draw(ink=0, paper=255)
    data = png(img)
    assert_allclose(to_gray(load_image(data)), to_gray(img))
    assert load_image(io.BytesIO(png(img, "JPEG"))).size == (SIZE, SIZE)
    mnist_like(prepare(data).image)


def test_load_image_applies_exif_orientation():
    img = Image.new("L", (60, 30), 255)
    exif = Image.Exif()
    exif[0x0112] = 6                                  # "rotate 90 clockwise to display", as phones write it
    assert load_image(png(img, "JPEG", exif=exif)).size == (30, 60)


def test_load_image_downscales_very_large_images():
    img = load_image(png(Image.new("RGB", (3000, 1500), "white"), "JPEG"))
    assert max(img.size) <= 1024 and img.size[0] == 2 * img.size[1]


@pytest.mark.parametrize("data", [b"", b"garbage, not an image", png(draw())[:200]])
def test_unreadable_bytes_raise_a_clear_error(data):
    with pytest.raises(UnreadableImageError, match="not an image that can be read"):
        prepare(data)


def test_steps_off_do_the_naive_thing():
    corner = draw(box=(8, 10, 58, 80), width=7)                      # a small 7 near the top-left corner
    naive = prepare(corner, Steps(ink=True, crop=False, scale=False, center=False))
    assert naive.cropped.shape == (SIZE, SIZE) and naive.scaled.shape == (28, 28)
    top, left, bottom, right = ink_bbox(naive.image > 0.05)
    assert bottom <= 10 and right <= 8                              # still small, still in the corner
    no_crop = prepare(corner, Steps(crop=False))                     # the whole canvas shrunk into the 20x20 box
    top, left, bottom, right = ink_bbox(no_crop.image)
    assert max(bottom - top, right - left) < 7
    no_scale = prepare(draw(ONE), Steps(scale=False))                # the "1" stretched to fill 28x28
    assert ink_bbox(no_scale.image) == (0, 0, 28, 28)
    no_center = prepare(draw(), Steps(center=False))
    assert ink_bbox(no_center.image)[0] == 4                         # the box centred, not the mass
    assert abs(center_of_mass(no_center.image)[0] - 14) > 1


def test_without_the_ink_step_brightness_is_ink():
    white_on_black = prepare(draw(), Steps(ink=False))
    assert_allclose(white_on_black.ink, white_on_black.gray)
    mnist_like(white_on_black.image)
    dark_on_white = prepare(draw(ink=0, paper=255), Steps(ink=False))   # the paper becomes the "digit"
    assert dark_on_white.image[4:24, 4:24].mean() > 0.8
    assert prepare(draw(ink=0, paper=255)).image[4:24, 4:24].mean() < 0.3


def test_steps_and_prepared_are_frozen_and_validated():
    p = prepare(draw())
    assert isinstance(p, Prepared) and p.steps == Steps()
    assert list(p.thumbnails()) == ["gray", "ink", "cropped", "scaled", "image"]
    assert repr(p).startswith("Prepared(gray=(280, 280), ink=(280, 280), cropped=(")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = None
    with pytest.raises(TypeError, match="Steps.crop must be True or False"):
        Steps(crop=1)


def canvas_from_mnist(digit: np.ndarray, rng: np.random.Generator, invert: bool) -> np.ndarray:
    """One 28x28 MNIST digit redrawn as a 280x280 canvas: enlarged 4-8 times, thickened, placed at random."""
    side = int(28 * rng.uniform(4, 8))
    img = Image.fromarray(digit.reshape(28, 28)).resize((side, side), Image.BILINEAR)
    thickness = int(rng.choice([1, 3, 5, 7]))
    if thickness > 1:
        img = img.filter(ImageFilter.MaxFilter(thickness))
    canvas = Image.new("L", (SIZE, SIZE), 0)
    canvas.paste(img, tuple(int(v) for v in rng.integers(0, SIZE - side + 1, 2)))
    a = np.asarray(canvas)
    return 255 - a if invert else a


@pytest.mark.slow
def test_mnist_digits_redrawn_on_a_canvas_are_still_read(mnist_dir):
    """Real digits, enlarged, moved, thickened and half of them inverted, then prepared: the pretrained model
    reads them nearly as well as the originals (at least 97 % of its accuracy on the same 1000)."""
    if not PRETRAINED.exists():
        pytest.skip(f"no pretrained model yet at {PRETRAINED} (train it with python -m smartflow_core.train)")
    from smartflow_core.data import load_mnist
    from smartflow_core.persist import load_model
    net, meta = load_model(PRETRAINED)
    mean, std = meta["standardize"]["mean"], meta["standardize"]["std"]
    _, _, X_test, y_test = load_mnist(mnist_dir)
    X, y = X_test[:1000], y_test[:1000]
    original = np.mean(net.predict(prepare_images(X, mean=mean, std=std)).argmax(axis=1) == y)
    rng = np.random.default_rng(20190402)
    start = time.perf_counter()
    inputs = np.concatenate([prepare(canvas_from_mnist(d, rng, invert=i % 2 == 1), mean=mean, std=std).x
                             for i, d in enumerate(X)])
    seconds = time.perf_counter() - start
    redrawn = np.mean(net.predict(inputs).argmax(axis=1) == y)
    print(f"\naccuracy on 1000 MNIST test digits: originals {original:.1%}, redrawn on a canvas and prepared "
          f"{redrawn:.1%} ({redrawn / original:.1%} of the originals'); prepare took {1000 * seconds / 1000:.1f} "
          "ms per image")
    assert redrawn >= 0.97 * original
