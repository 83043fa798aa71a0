"""A drawn or photographed digit to an MNIST-style input, one named step at a time.

MNIST's digits went through the same steps (LeCun, Cortes and Burges): black-and-white NIST scans were
size-normalised to fit a 20x20 box, keeping their aspect ratio, with anti-aliasing (hence the grey levels); then
"centered in a 28x28 image by computing the center of mass of the pixels, and translating the image so as to
position this point at the center of the 28x28 field". The digits are white (255) on black (0). A network trained on
them expects exactly that, so :func:`prepare` redoes it: ``to_gray -> detect_ink -> crop_to_ink ->
scale_longer_side -> center_by_mass -> to_model_input``. Every step is a pure function returning an image (values
0..1, ink = 1) that the app can show as a thumbnail; :class:`Steps` switches steps off to show what each one is for.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from numpy import ndarray
from PIL import Image, ImageOps, UnidentifiedImageError

from smartflow_core.presets import MNIST_MEAN, MNIST_STD

BOX, FIELD = 20, 28          # MNIST: the digit fits a 20x20 box inside a 28x28 field
MAX_SIDE = 1024              # larger uploads are downscaled on loading: the result is 28 pixels wide anyway
MAX_PIXELS = 40_000_000      # larger images are refused from their header, before decoding (JPEGs: after draft)
HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # 16- and 32-bit grey: scaled by their range, not clipped
INK_THRESHOLD = 0.25         # fraction of the ink's contrast below which a pixel counts as paper
MIN_CONTRAST = 0.1           # a difference from the paper smaller than this (0..1 grey levels) is never ink


class DigitImageError(ValueError):
    """An image that cannot be turned into a digit; the message is meant for the learner."""


class UnreadableImageError(DigitImageError):
    """Bytes that Pillow cannot read as an image."""


class ImageTooLargeError(UnreadableImageError):
    """An image with more pixels than :data:`MAX_PIXELS`, refused before it is decoded."""


class EmptyImageError(DigitImageError):
    """An image with no ink on it."""


def load_image(source) -> Image.Image:
    """Open bytes, a file object or a path in any format Pillow reads; EXIF orientation applied (phone photos),
    large images downscaled so their longer side is at most ``MAX_SIDE``, 16- and 32-bit grey scaled to 8 bits by
    their range.

    The size is read from the header before anything is decoded (``Image.open`` is lazy): a JPEG is decoded at a
    reduced scale (``draft``), and an image still above :data:`MAX_PIXELS` is refused with
    :class:`ImageTooLargeError`, so a small file of a huge picture never takes the server's memory."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    try:
        with warnings.catch_warnings():  # between Pillow's warning and error limits: refused below, by MAX_PIXELS
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(source)
        img.draft(None, (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced scale, much faster for photos
        width, height = img.size
        if width * height > MAX_PIXELS:
            raise ImageTooLargeError(
                f"this image is {width:,}×{height:,} pixels ({width * height / 1e6:,.0f} megapixels), more than the "
                f"{MAX_PIXELS / 1e6:.0f} megapixels that can be opened safely: scale it down (a digit needs no more "
                "than 1,000×1,000) and upload it again")
        img = ImageOps.exif_transpose(img)
        img.load()
    except FileNotFoundError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"this image is too large to open safely ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        if isinstance(exc, DigitImageError):
            raise
        detail = "" if isinstance(exc, UnidentifiedImageError) else f" ({type(exc).__name__}: {exc})"
        raise UnreadableImageError(f"this file is not an image that can be read: try a PNG or JPEG{detail}") from None
    if max(img.size) > MAX_SIDE:
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
    return to_8bit(img)


def to_8bit(img: Image.Image) -> Image.Image:
    """A 16- or 32-bit grey image (modes I;16, I, F) as 8-bit grey "L", scaled by its range (see
    :func:`_full_scale`): Pillow's own ``convert`` clips every value above 255, so ink at 3,000 on paper at 60,000
    would become all white. Other modes are returned as they are."""
    if img.mode not in HIGH_DEPTH:
        return img
    a = np.asarray(img)  # uint16, int32 or float32
    scaled = np.clip(a.astype(np.float64) / _full_scale(a), 0.0, 1.0)
    return Image.fromarray(np.round(255 * scaled).astype(np.uint8), "L")


def to_gray(image) -> ndarray:
    """A PIL image or an array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), uint8 or float -> grey (H, W) in 0..1.

    Luminance is ITU-R 601 (as Pillow's "L"). Transparent pixels become background: where most of the image is
    transparent (a canvas with no background) the opaque pixels are the drawing, and the transparent ones take the
    opposite shade; otherwise they take the median shade of the opaque pixels (the paper).
    """
    a = None if isinstance(image, Image.Image) else np.asarray(image)
    if a is not None and a.ndim == 2 and min(a.shape) >= 1:  # grey already: only the scale (3x faster)
        return np.clip(a.astype(np.float64) / _full_scale(a), 0.0, 1.0)
    rgba = _rgba(image)
    rgb, alpha = rgba[..., :3], rgba[..., 3]
    lum = rgb @ np.array([299.0, 587.0, 114.0]) / 1000.0  # white stays exactly 1
    if alpha.min() >= 1:
        return lum
    opaque = alpha > 0.5
    if not opaque.any():
        return np.ones_like(lum)
    if opaque.mean() < 0.5:
        background = 1.0 if np.average(lum, weights=alpha) < 0.5 else 0.0
    else:
        background = float(np.median(lum[opaque]))
    return alpha * lum + (1 - alpha) * background


def _rgba(image) -> ndarray:
    """Any accepted input -> float (H, W, 4) in 0..1."""
    if isinstance(image, Image.Image):
        image = to_8bit(image)
        has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
        image = np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = a[..., None].repeat(3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or min(a.shape[:2]) < 1:
        raise ValueError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    a = a.astype(np.float64) / _full_scale(a)
    if a.shape[2] == 3:
        a = np.concatenate([a, np.ones(a.shape[:2] + (1,))], axis=2)
    return np.clip(a, 0.0, 1.0)


def _full_scale(a: ndarray) -> float:
    """The value of white: 1 (floats 0..1), 255 (8 bits, or floats 0..255 as some canvases send), 65535 (16 bits),
    else the largest value."""
    if a.dtype == np.bool_:
        return 1.0
    top = float(a.max()) if a.size else 1.0
    if not np.issubdtype(a.dtype, np.integer) and top <= 1.0:
        return 1.0
    for scale in (255.0, 65535.0):
        if top <= scale:
            return scale
    return top


def detect_ink(gray: ndarray, threshold: float = INK_THRESHOLD, min_contrast: float = MIN_CONTRAST) -> ndarray:
    """Grey (H, W) -> ink (H, W) in 0..1: 1 where the pen was, 0 on the paper, whatever the colours.

    MNIST's digits are white ink on black; a drawing may be dark on light. The paper's shade is the median of the
    border pixels; ink is whichever direction (darker or lighter) the image departs from it most. On images of
    56 pixels or more a 3x3 median filter removes isolated specks of noise; the ink is then stretched so its
    strongest part is 1, and differences under ``threshold`` of that contrast count as paper (shadows, grain).
    """
    gray = np.asarray(gray, dtype=np.float64)
    if gray.ndim != 2:
        raise ValueError(f"expected a grey image (H, W), got shape {gray.shape}")
    paper = float(np.median(_border(gray)))
    darker, lighter = np.clip(paper - gray, 0, None), np.clip(gray - paper, 0, None)
    raw = darker if darker.sum() >= lighter.sum() else lighter
    if min(raw.shape) >= 56:
        raw = median3x3(raw.astype(np.float32)).astype(np.float64)
    candidates = raw[raw > min_contrast]
    if candidates.size == 0:
        return np.zeros_like(raw)
    peak = float(np.percentile(candidates, 90))
    return np.clip((raw / peak - threshold) / (1 - threshold), 0.0, 1.0)


# a sorting network that leaves the median of 9 values in position 4 (19 compare-exchanges)
_MEDIAN9 = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8), (4, 7), (3, 6),
            (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def median3x3(a: ndarray) -> ndarray:
    """The median of every 3x3 neighbourhood, edges repeated outwards: Pillow's ``MedianFilter(3)``, computed as a
    sorting network over the nine shifted images (element-wise minima and maxima) several times faster."""
    h, w = a.shape
    padded = np.pad(a, 1, mode="edge")
    v = [padded[i:i + h, j:j + w].copy() for i in range(3) for j in range(3)]
    low = np.empty_like(v[0])
    for i, j in _MEDIAN9:
        np.minimum(v[i], v[j], out=low)
        np.maximum(v[i], v[j], out=v[j])
        v[i], low = low, v[i]
    return v[4]


def _border(a: ndarray) -> ndarray:
    k = max(1, min(a.shape) // 20)
    return np.concatenate([a[:k].ravel(), a[-k:].ravel(), a[:, :k].ravel(), a[:, -k:].ravel()])


def ink_bbox(ink: ndarray) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` of the pixels with ink (bottom and right exclusive)."""
    _require_ink(ink)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0), np.flatnonzero(ink.max(axis=0) > 0)
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def crop_to_ink(ink: ndarray) -> ndarray:
    """Ink (H, W) -> (h, w), the bounding box of the ink: MNIST measured a digit by its box, not its paper."""
    top, left, bottom, right = ink_bbox(ink)
    return ink[top:bottom, left:right]


def _require_ink(ink: ndarray) -> None:
    if not np.any(np.asarray(ink) > 0):
        raise EmptyImageError("there is no digit here: draw a digit first (or upload a picture of one, dark on "
                              "light or light on dark)")


def scale_longer_side(ink: ndarray, size: int = BOX) -> ndarray:
    """Ink (h, w) -> (size, w') or (h', size): the longer side becomes ``size``, the aspect ratio is kept.

    MNIST size-normalised each (black-and-white) digit into a 20x20 box with anti-aliasing, so a pixel's grey
    level is how much of it the ink covers; shrinking here does the same (area resampling). MNIST's digits all reach
    full intensity, so a thin stroke that shrinking has faded is stretched back to a maximum of 1; values under half
    a grey level (of 255) become 0, as in the 8-bit originals.
    """
    h, w = ink.shape
    scale = size / max(h, w)
    shape = (size, max(1, round(w * scale))) if h >= w else (max(1, round(h * scale)), size)
    out = _resize(ink, shape)
    out[out < 0.5 / 255] = 0.0
    return out / out.max() if out.max() > 0 else out


def _resize(a: ndarray, shape: tuple[int, int]) -> ndarray:
    """Area averaging when shrinking (no ringing, ink is conserved); Lanczos when enlarging (smooth, not blocky)."""
    shrink = shape[0] <= a.shape[0] and shape[1] <= a.shape[1]
    img = Image.fromarray(np.asarray(a, dtype=np.float32))
    out = img.resize((shape[1], shape[0]), Image.BOX if shrink else Image.LANCZOS)
    return np.clip(np.asarray(out, np.float64), 0.0, 1.0)


def stretch_to_field(image: ndarray, size: int = FIELD) -> ndarray:
    """The naive alternative to cropping and scaling: resize the whole image to ``size x size``, whatever its
    aspect ratio (what ``img.resize((28, 28))`` does)."""
    return _resize(image, (size, size))


def center_of_mass(image: ndarray) -> tuple[float, float]:
    """``(row, col)`` of the intensity-weighted mean pixel position (pixel centres at whole numbers)."""
    _require_ink(image)
    mass = image.sum()
    return (float(image.sum(axis=1) @ np.arange(image.shape[0]) / mass),
            float(image.sum(axis=0) @ np.arange(image.shape[1]) / mass))


def center_by_mass(ink: ndarray, size: int = FIELD) -> ndarray:
    """Ink (h, w) -> (size, size) with its centre of mass moved to ``(size/2, size/2)`` = (14, 14), as MNIST did.

    The shift is a whole number of pixels (so the centre lands within half a pixel, as in MNIST, without blurring),
    limited so that the whole digit stays inside the field.
    """
    cy, cx = center_of_mass(ink)
    top = int(np.clip(round(size / 2 - cy), 0, size - ink.shape[0]))
    left = int(np.clip(round(size / 2 - cx), 0, size - ink.shape[1]))
    return _paste(ink, size, top, left)


def center_by_box(ink: ndarray, size: int = FIELD) -> ndarray:
    """The naive alternative to :func:`center_by_mass`: the bounding box's middle at the field's middle."""
    return _paste(ink, size, (size - ink.shape[0]) // 2, (size - ink.shape[1]) // 2)


def _paste(ink: ndarray, size: int, top: int, left: int) -> ndarray:
    h, w = ink.shape
    if h > size or w > size:
        raise ValueError(f"a {h}x{w} image does not fit a {size}x{size} field")
    out = np.zeros((size, size))
    out[top:top + h, left:left + w] = ink
    return out


def to_model_input(img28: ndarray, mean: float = MNIST_MEAN, std: float = MNIST_STD, dtype=np.float32) -> ndarray:
    """Ink (28, 28) in 0..1 -> (1, 1, 28, 28), standardised as the training data: ``(255 * ink - mean) / std``."""
    img28 = np.asarray(img28, dtype=np.float64)
    if img28.shape != (FIELD, FIELD):
        raise ValueError(f"expected a {FIELD}x{FIELD} image, got shape {img28.shape}")
    return ((255.0 * img28 - mean) / std).reshape(1, 1, FIELD, FIELD).astype(dtype)


@dataclass(frozen=True)
class Steps:
    """Which of MNIST's preparation steps :func:`prepare` runs; a step switched off does the naive thing.

    ``ink`` off: brightness is taken as ink (right only for light on dark). ``crop`` off: the whole image is kept.
    ``scale`` off: stretched to 28x28 whatever its shape (then nothing is left to centre). ``center`` off: the
    image's box is centred instead of its mass.
    """
    ink: bool = True
    crop: bool = True
    scale: bool = True
    center: bool = True

    def __post_init__(self):
        for f in fields(self):
            if not isinstance(getattr(self, f.name), bool):
                raise TypeError(f"Steps.{f.name} must be True or False, got {getattr(self, f.name)!r}")


@dataclass(frozen=True, eq=False)
class Prepared:
    """Every intermediate image of :func:`prepare` (values 0..1) and the network's input ``x`` (1, 1, 28, 28)."""
    gray: ndarray      # (H, W) the picture in grey, 0 = black
    ink: ndarray       # (H, W) 1 = ink, 0 = paper
    cropped: ndarray   # (h, w) the ink's bounding box (the whole image with crop off)
    scaled: ndarray    # longer side 20 (28x28 stretched with scale off)
    image: ndarray     # (28, 28) what the network sees
    x: ndarray         # (1, 1, 28, 28) standardised
    steps: Steps

    def thumbnails(self) -> dict[str, ndarray]:
        """The images in pipeline order, by field name."""
        return {name: getattr(self, name) for name in ("gray", "ink", "cropped", "scaled", "image")}

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v.shape}" for k, v in {**self.thumbnails(), "x": self.x}.items())
        return f"Prepared({shapes}, steps={self.steps!r})"


def prepare(image, steps: Steps | None = None, mean: float = MNIST_MEAN, std: float = MNIST_STD,
            threshold: float = INK_THRESHOLD, dtype=np.float32) -> Prepared:
    """A drawing or photo (PIL image, array, bytes or file) -> :class:`Prepared`, MNIST's steps in order.

    Raises :class:`UnreadableImageError` for bytes that are no image, :class:`EmptyImageError` when no ink is found.
    """
    steps = Steps() if steps is None else steps
    if isinstance(image, (bytes, bytearray, memoryview, str, Path)) or hasattr(image, "read"):
        image = load_image(image)
    gray = to_gray(image)
    ink = detect_ink(gray, threshold) if steps.ink else gray
    _require_ink(ink)
    cropped = crop_to_ink(ink) if steps.crop else ink
    scaled = scale_longer_side(cropped) if steps.scale else stretch_to_field(cropped)
    _require_ink(scaled)
    image28 = center_by_mass(scaled) if steps.center else center_by_box(scaled)
    return Prepared(gray, ink, cropped, scaled, image28, to_model_input(image28, mean, std, dtype), steps)


def prepare_again(prepared: Prepared, steps: Steps, mean: float = MNIST_MEAN, std: float = MNIST_STD,
                  threshold: float = INK_THRESHOLD, dtype=np.float32) -> Prepared:
    """What :func:`prepare` makes of ``prepared.gray`` with other ``steps``, reusing the stages before the first
    step that differs (the Draw page reads each drawing again with every step switched the other way)."""
    old = prepared.steps
    if steps.ink != old.ink:
        return prepare(prepared.gray, steps, mean, std, threshold, dtype)
    same_crop = steps.crop == old.crop
    cropped = prepared.cropped if same_crop else (crop_to_ink(prepared.ink) if steps.crop else prepared.ink)
    if same_crop and steps.scale == old.scale:
        scaled = prepared.scaled
    else:
        scaled = scale_longer_side(cropped) if steps.scale else stretch_to_field(cropped)
        _require_ink(scaled)
    image28 = center_by_mass(scaled) if steps.center else center_by_box(scaled)
    return Prepared(prepared.gray, prepared.ink, cropped, scaled, image28, to_model_input(image28, mean, std, dtype),
                    steps)


__all__ = ["BOX", "FIELD", "MAX_SIDE", "MAX_PIXELS", "INK_THRESHOLD", "DigitImageError", "UnreadableImageError",
           "ImageTooLargeError", "EmptyImageError", "load_image", "to_8bit", "to_gray", "detect_ink", "ink_bbox",
           "crop_to_ink", "scale_longer_side", "stretch_to_field", "center_of_mass", "center_by_mass",
           "center_by_box", "to_model_input", "Steps", "Prepared", "prepare", "prepare_again"]
