"""Data augmentation: random affine warps, elastic distortion and stroke thickness, a whole batch at a time.

Training on randomly shifted, rotated, scaled, sheared, elastically distorted (Simard et al. 2003) and thickened
or thinned copies teaches a network what convolution and pooling do not give it for free: convolution is
shift-equivariant and pooling adds a little shift invariance, but neither knows that a slanted, rotated or
thicker 7 is still a 7.

``Augment`` holds the strengths (zero means off); :func:`augment` draws one random transform per image from a
``np.random.RandomState`` passed in (the trainer passes its network's, so a seed reproduces a run) and applies
them all with one bilinear resampling: ``source = A⁻¹(target - centre - shift) + centre + elastic(target)``.
The pure kernels (:func:`warp`, :func:`bilinear`, :func:`thicken`, :func:`smooth`) take explicit parameters and
are what the tests check against their definitions.

Images are ``(batch, channels, height, width)``, ``(batch, height, width)`` or flat ``(batch, height·width)``
with a square side (MNIST's ``(batch, 784)``); the result has the input's shape and dtype. Pixels outside the
image are the background, by default the batch's smallest value: MNIST's zero pixel whatever the
standardisation, since strokes are brighter than the background.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from numpy import ndarray

_LIMITS = {"shift": 14.0, "rotate": 180.0, "scale": 0.9, "shear": 1.0, "elastic_alpha": 100.0,
           "elastic_sigma": 20.0, "thickness": 3.0}


@dataclass(frozen=True)
class Augment:
    """Strengths of each random transform; zero switches it off, and ``Augment()`` is the identity.

    Each image draws, uniformly: a shift of up to ``shift`` pixels along each axis, a rotation of up to
    ``rotate`` degrees either way (positive is counter-clockwise), a zoom factor in ``[1 - scale, 1 + scale]``,
    a horizontal shear factor in ``[-shear, shear]`` (x += shear·y), an elastic displacement field of uniform
    noise in [-1, 1] per pixel and axis smoothed by a Gaussian of ``elastic_sigma`` pixels and multiplied by
    ``elastic_alpha`` (Simard et al. 2003 used sigma 4, alpha 34 on MNIST), and a stroke change in
    ``[-thickness, thickness]`` steps of grey-scale dilation (positive) or erosion (negative) with a 3x3 cross;
    fractions blend (0.5 is half-way to one step)."""
    shift: float = 0.0
    rotate: float = 0.0
    scale: float = 0.0
    shear: float = 0.0
    elastic_alpha: float = 0.0
    elastic_sigma: float = 4.0
    thickness: float = 0.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"Augment {f.name} must be a number, got {value!r}")
            if not (0 <= value <= _LIMITS[f.name]):
                raise ValueError(f"Augment {f.name} must be between 0 and {_LIMITS[f.name]:g}, got {value!r}")
            object.__setattr__(self, f.name, float(value))
        if self.elastic_sigma < 0.5:
            raise ValueError(f"Augment elastic_sigma must be at least 0.5 pixels, got {self.elastic_sigma!r}")

    @property
    def active(self) -> bool:
        """Whether any transform is switched on."""
        return self.affine or self.elastic_alpha > 0 or self.thickness > 0

    @property
    def affine(self) -> bool:
        return self.shift > 0 or self.rotate > 0 or self.scale > 0 or self.shear > 0

    def to_dict(self) -> dict:
        """Plain JSON-ready numbers (for a model's metadata); :meth:`from_dict` reads them back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Augment:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown Augment parameter(s) {', '.join(sorted(unknown))}")
        return cls(**d)

    @classmethod
    def parse(cls, text: str) -> Augment:
        """A strength preset name (``light``, ``medium``, ``strong``, ``none``) or ``name=value`` pairs
        separated by commas, e.g. ``"shift=2,rotate=15"``, optionally after a preset: ``"medium,thickness=0"``."""
        parts = [p.strip() for p in text.split(",") if p.strip()]
        base = cls()
        if parts and "=" not in parts[0]:
            if parts[0] not in AUGMENT_PRESETS:
                raise ValueError(f"unknown augmentation preset {parts[0]!r}; choose one of "
                                 f"{', '.join(AUGMENT_PRESETS)} or give name=value pairs")
            base, parts = AUGMENT_PRESETS[parts[0]], parts[1:]
        values = {}
        for part in parts:
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in _LIMITS:
                raise ValueError(f"cannot read {part!r}: expected name=value with a name among {', '.join(_LIMITS)}")
            try:
                values[name] = float(value)
            except ValueError:
                raise ValueError(f"Augment {name} must be a number, got {value.strip()!r}") from None
        return replace(base, **values)


AUGMENT_PRESETS = {
    "none": Augment(),
    "light": Augment(shift=1.0, rotate=8.0, scale=0.08, shear=0.1, thickness=0.3),
    "medium": Augment(shift=2.0, rotate=12.0, scale=0.12, shear=0.2, elastic_alpha=20.0, elastic_sigma=4.0,
                      thickness=0.5),
    "strong": Augment(shift=3.0, rotate=20.0, scale=0.2, shear=0.35, elastic_alpha=34.0, elastic_sigma=4.0,
                      thickness=1.0),
}


# ---------------------------------------------------------------------------------------------- the pure kernels

def bilinear(images: ndarray, sy: ndarray, sx: ndarray, fill: float) -> ndarray:
    """``out[b, c, i, j] = images[b, c, sy[b, i, j], sx[b, i, j]]`` read between pixels by bilinear interpolation.

    images: (batch, channels, height, width); sy, sx: (batch, height, width) source rows and columns. Outside
    the image the value is ``fill``. Integer coordinates give the pixels exactly."""
    n, c, h, w = images.shape
    pad = 2  # one row/column of fill beyond the clipped range on each side, so every read is in the array
    padded = np.full((n, h + 2 * pad, w + 2 * pad, c), fill, dtype=images.dtype)
    padded[:, pad:pad + h, pad:pad + w] = images.transpose(0, 2, 3, 1)
    flat = padded.reshape(-1, c)
    sy, sx = np.clip(sy, -1, h), np.clip(sx, -1, w)
    y0, x0 = np.floor(sy), np.floor(sx)
    wy, wx = (sy - y0)[..., None], (sx - x0)[..., None]
    row = w + 2 * pad
    i00 = ((np.arange(n) * (h + 2 * pad) * row)[:, None, None]
           + (y0.astype(np.intp) + pad) * row + x0.astype(np.intp) + pad)
    v00, v01, v10, v11 = flat[i00], flat[i00 + 1], flat[i00 + row], flat[i00 + row + 1]
    top = v00 + wx * (v01 - v00)
    out = top + wy * (v10 + wx * (v11 - v10) - top)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def affine_grid(h: int, w: int, angle, shift_x, shift_y, zoom, shear, dtype=np.float64) -> tuple[ndarray, ndarray]:
    """Source coordinates ``(sy, sx)``, each (batch, h, w), of the forward map about the image centre
    ``p' = R(angle) · zoom · Sh(shear) · p + (shift_x, shift_y)`` (p in columns right, rows down; angle in
    degrees, counter-clockwise as displayed; Sh: x += shear·y). Parameters are (batch,) arrays or numbers."""
    angle, shift_x, shift_y, zoom, shear = (np.atleast_1d(np.asarray(a, np.float64))
                                            for a in (angle, shift_x, shift_y, zoom, shear))
    t = np.deg2rad(angle)
    cos, sin = np.cos(t), np.sin(t)
    # inverse of R·zoom·Sh: Sh⁻¹ · Rᵀ / zoom, with R = [[cos, sin], [-sin, cos]] in (right, down) coordinates
    a, b = (cos - shear * sin) / zoom, (-sin - shear * cos) / zoom
    c, d = sin / zoom, cos / zoom
    cy, cx = (h - 1) / 2, (w - 1) / 2
    v = (np.arange(h, dtype=dtype) - cy)[None, :, None] - shift_y.astype(dtype)[:, None, None]
    u = (np.arange(w, dtype=dtype) - cx)[None, None, :] - shift_x.astype(dtype)[:, None, None]
    a, b, c, d = (k.astype(dtype)[:, None, None] for k in (a, b, c, d))
    return c * u + d * v + dtype(cy), a * u + b * v + dtype(cx)


def gaussian_matrix(size: int, sigma: float, dtype=np.float64) -> ndarray:
    """(size, size) matrix ``G`` with ``G @ f`` the Gaussian smoothing of ``f`` along its first axis: kernel
    exp(-k²/2σ²) normalised to sum 1, cut at 4σ, zeros beyond the edges (scipy's ``gaussian_filter`` with
    ``mode="constant"``)."""
    radius = int(4 * sigma + 0.5)
    k = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (k / sigma) ** 2)
    kernel /= kernel.sum()
    offset = np.arange(size)[None, :] - np.arange(size)[:, None]
    G = np.where(np.abs(offset) <= radius, kernel[np.clip(offset + radius, 0, 2 * radius)], 0.0)
    return G.astype(dtype)


def smooth(field: ndarray, sigma: float) -> ndarray:
    """Gaussian smoothing of (..., h, w) fields over their last two axes: ``G_h @ field @ G_wᵀ``."""
    h, w = field.shape[-2:]
    return gaussian_matrix(h, sigma, field.dtype) @ field @ gaussian_matrix(w, sigma, field.dtype).T


def thicken(images: ndarray, amount: ndarray, fill: float) -> ndarray:
    """Grey-scale dilation (``amount > 0``) or erosion (``amount < 0``) of each image by ``|amount|`` steps of a
    3x3 cross (max or min over a pixel and its 4 neighbours); a fraction blends linearly toward the next step.

    images: (batch, channels, height, width); amount: (batch,). Outside the image is ``fill``."""
    amount = np.asarray(amount, dtype=np.float64).reshape(-1)
    out = images
    grow = (amount > 0)[:, None, None, None]
    for step in range(math.ceil(np.abs(amount).max(initial=0))):
        p = np.pad(out, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=fill)
        sides = (p[..., :-2, 1:-1], p[..., 2:, 1:-1], p[..., 1:-1, :-2], p[..., 1:-1, 2:])
        dilated = np.maximum.reduce((out, *sides))
        eroded = np.minimum.reduce((out, *sides))
        frac = np.clip(np.abs(amount) - step, 0, 1).astype(images.dtype)[:, None, None, None]
        out = out + frac * (np.where(grow, dilated, eroded) - out)
    return out


def warp(X: ndarray, angle=0.0, shift=(0.0, 0.0), zoom=1.0, shear=0.0, displacement: ndarray | None = None,
         fill: float | None = None) -> ndarray:
    """``X`` moved by the affine map of :func:`affine_grid` (``shift`` is (right, down) in pixels; every
    parameter a number or one per image), plus a ``displacement`` (batch, 2, h, w) of (rows, columns) added to
    the source coordinates (an elastic field). Shape and dtype kept."""
    images, restore = as_images(X)
    work = _working(images)
    n, _, h, w = work.shape
    shift = np.broadcast_to(np.asarray(shift, np.float64), (n, 2))
    sy, sx = affine_grid(h, w, np.broadcast_to(angle, n), shift[:, 0], shift[:, 1], np.broadcast_to(zoom, n),
                         np.broadcast_to(shear, n), work.dtype.type)
    if displacement is not None:
        sy, sx = sy + displacement[:, 0], sx + displacement[:, 1]
    out = bilinear(work, sy, sx, _fill(work, fill))
    return restore(_cast(out, X.dtype))


# ---------------------------------------------------------------------------------------------- random augmentation

def augment(X: ndarray, params: Augment, rng: np.random.RandomState, fill: float | None = None) -> ndarray:
    """A randomly transformed copy of each image of ``X`` (see :class:`Augment`), drawn from ``rng``.

    Draws, in this order and only for what is switched on: (batch, 5) uniforms for the affine map, (batch, 2,
    h, w) for the elastic field, (batch,) for the thickness. Thickness is applied first, then one resampling
    does the affine map and the elastic field together. With nothing switched on, returns ``X`` itself and draws
    nothing."""
    if not isinstance(params, Augment):
        raise ValueError(f"params must be an Augment, got {type(params).__name__}")
    if not params.active:
        return X
    images, restore = as_images(X)
    work = _working(images)
    n, _, h, w = work.shape
    fill = _fill(work, fill)
    if params.affine:
        u = rng.uniform(-1.0, 1.0, (n, 5))
        sy, sx = affine_grid(h, w, params.rotate * u[:, 0], params.shift * u[:, 1], params.shift * u[:, 2],
                             1 + params.scale * u[:, 3], params.shear * u[:, 4], work.dtype.type)
    else:
        sy, sx = np.broadcast_to(np.arange(h, dtype=work.dtype)[:, None], (n, h, w)), \
            np.broadcast_to(np.arange(w, dtype=work.dtype), (n, h, w))
    if params.elastic_alpha > 0:
        noise = rng.uniform(-1.0, 1.0, (n, 2, h, w)).astype(work.dtype)
        field = smooth(noise, params.elastic_sigma) * work.dtype.type(params.elastic_alpha)
        sy, sx = sy + field[:, 0], sx + field[:, 1]
    if params.thickness > 0:
        work = thicken(work, params.thickness * rng.uniform(-1.0, 1.0, n), fill)
    if params.affine or params.elastic_alpha > 0:
        work = bilinear(work, sy, sx, fill)
    return restore(_cast(work, X.dtype))


def augment_dataset(X: ndarray, params: Augment, seed: int = 0, batch_size: int = 1000) -> ndarray:
    """An augmented copy of a whole set (e.g. the test set, for "accuracy on plain vs augmented digits"), from a
    fixed ``seed``: the same seed gives the same copy. ``batch_size`` images at a time bound the memory."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    rng = np.random.RandomState(seed)
    if not params.active:
        return np.array(X, copy=True)
    return np.concatenate([augment(X[i:i + batch_size], params, rng) for i in range(0, len(X), batch_size)])


def preview_strip(X: ndarray, params: Augment, k: int = 8, seed: int = 0, originals: bool = True) -> ndarray:
    """``k`` augmented copies of each image of ``X`` (a few digits) as (digits, [1 +] k, height, width) images,
    the original first in each row when ``originals``: ``strip.transpose(0, 2, 1, 3).reshape(d * h, -1)`` tiles
    them into one picture. Same seed, same strip."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    images, _ = as_images(X)
    n, c, h, w = images.shape
    if c != 1:
        raise ValueError(f"preview_strip shows one-channel images, got {c} channels")
    copies = augment(np.repeat(images, k, axis=0), params, np.random.RandomState(seed))
    strip = np.asarray(copies).reshape(n, k, h, w)
    if originals:
        strip = np.concatenate([images.reshape(n, 1, h, w), strip], axis=1)
    return strip


# ---------------------------------------------------------------------------------------------- shapes and dtypes

def as_images(X: ndarray):
    """``X`` as (batch, channels, height, width) and the function that gives a result ``X``'s shape back.
    Accepts (batch, c, h, w), (batch, h, w) and flat (batch, side²)."""
    X = np.asarray(X)
    shape = X.shape
    if X.ndim == 4:
        return X, lambda out: out
    if X.ndim == 3:
        return X[:, None], lambda out: out.reshape(shape)
    side = math.isqrt(shape[1]) if X.ndim == 2 else 0
    if X.ndim == 2 and side > 1 and side * side == shape[1]:
        return X.reshape(shape[0], 1, side, side), lambda out: out.reshape(shape)
    raise ValueError(f"augmentation needs images (batch, channels, height, width), (batch, height, width) or flat "
                     f"(batch, side*side) such as (batch, 784), got shape {shape}")


def _working(images: ndarray) -> ndarray:
    """Floats to compute with: float64 stays float64, everything else works in float32."""
    return images if images.dtype in (np.float32, np.float64) else images.astype(np.float32)


def _fill(work: ndarray, fill: float | None):
    return work.dtype.type(work.min() if fill is None else fill)


def _cast(out: ndarray, dtype) -> ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        info = np.iinfo(dtype) if dtype.kind != "b" else None
        lo, hi = (0, 1) if info is None else (info.min, info.max)
        return np.clip(np.rint(out), lo, hi).astype(dtype)
    return out.astype(dtype, copy=False)


__all__ = ["Augment", "AUGMENT_PRESETS", "augment", "augment_dataset", "preview_strip", "warp", "bilinear",
           "affine_grid", "gaussian_matrix", "smooth", "thicken", "as_images"]
