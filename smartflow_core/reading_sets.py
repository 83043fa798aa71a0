"""Test sets of digits as the Draw page gets them, generated: MNIST's test digits redrawn on a 280x280 canvas, and
digits typed in the fonts Debian ships. Each picture then goes through the page's own preparation
(:func:`smartflow_core.digits.prepare`), so a model is measured on what it would read there.

- **Canvas sets** (:data:`CANVAS_SETS`): an MNIST test digit enlarged, thickened or thinned, rotated, placed
  anywhere on the canvas, dark ink on white paper as the canvas sends it (or light on dark: ``inverted``). One
  property is pushed per set, so a table shows which one a model fails on; ``mixed`` draws all of them at random.
- **Typed digits** (:func:`typed_digits`): 0-9 rendered with Pillow in every TrueType font of ``fonts-dejavu-core``
  and ``fonts-liberation`` found (regular, bold, italic, condensed, mono, serif), at several sizes and stroke
  weights, anywhere on the canvas.

Everything is drawn from a seeded generator: the same seed gives the same pictures. No Streamlit here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy import ndarray
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from smartflow_core.digits import DigitImageError, prepare
from smartflow_core.presets import MNIST_MEAN, MNIST_STD

CANVAS = 280  # the Draw page's canvas side, in pixels
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
SEED = 20190402


@dataclass(frozen=True)
class Redraw:
    """How an MNIST digit is redrawn on the canvas: its side in pixels (from ``side``), a stroke filter (``pen``:
    positive thickens with a max filter of that size, negative thins with a min filter), a rotation in degrees
    (``rotate``: a random sign), the share drawn light on dark (``inverted``)."""
    side: tuple[int, int] = (112, 224)
    pen: tuple[int, ...] = (1,)
    rotate: tuple[float, float] = (0.0, 0.0)
    inverted: float = 0.0


CANVAS_SETS = {
    "placed": Redraw(),                                    # 4-8 times MNIST's size, anywhere: what people draw
    "small": Redraw(side=(42, 84)),                        # 1.5-3 times: a small digit in a corner
    "large": Redraw(side=(230, 280)),                      # filling the canvas
    "thick": Redraw(pen=(11, 13, 15, 17)),                 # a fat marker: strokes 2-3 times MNIST's width
    "thin": Redraw(pen=(-7, -9, -11)),                     # a fine pen
    "rotated": Redraw(rotate=(15.0, 30.0)),                # tilted 15-30 degrees either way
    "inverted": Redraw(inverted=1.0),                      # light ink on dark paper
    "mixed": Redraw(side=(42, 280), pen=(-9, -5, 1, 1, 5, 9, 13), rotate=(0.0, 30.0), inverted=0.5),
}


def redraw(digit: ndarray, how: Redraw, rng: np.random.Generator) -> ndarray:
    """One 28x28 MNIST digit (uint8, white on black) redrawn as a canvas picture (280, 280) uint8, grey."""
    side = int(rng.integers(how.side[0], how.side[1] + 1))
    img = Image.fromarray(np.asarray(digit, np.uint8).reshape(28, 28)).resize((side, side), Image.BILINEAR)
    pen = int(rng.choice(how.pen))
    size = max(3, round(abs(pen) * side / 168)) | 1  # the filter scaled with the digit (given for a side of 168), odd
    if pen > 1:
        img = img.filter(ImageFilter.MaxFilter(size))
    elif pen < -1:
        img = img.filter(ImageFilter.MinFilter(size))
    if how.rotate[1] > 0:
        angle = float(rng.uniform(*how.rotate)) * float(rng.choice([-1, 1]))
        img = img.rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=0)
        if max(img.size) > CANVAS:
            img = img.resize((min(img.width, CANVAS), min(img.height, CANVAS)), Image.BILINEAR)
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    canvas.paste(img, (int(rng.integers(0, CANVAS - img.width + 1)), int(rng.integers(0, CANVAS - img.height + 1))))
    ink_light = np.asarray(canvas)
    return ink_light if rng.random() < how.inverted else 255 - ink_light


def canvas_set(X: ndarray, how: Redraw, seed: int = SEED) -> ndarray:
    """Every digit of ``X`` (n, 784) or (n, 28, 28) redrawn: (n, 280, 280) uint8."""
    rng = np.random.default_rng(seed)
    return np.stack([redraw(d, how, rng) for d in X])


# ---------------------------------------------------------------------------------------------- typed digits

TYPE_SIZES = (36, 72, 140, 220)   # font sizes in pixels on the 280-pixel canvas
TYPE_STROKES = (0, 1)             # extra weight: 0, or a stroke of size / 24 pixels around each glyph
QUICK_FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "LiberationSans-Regular.ttf", "LiberationSerif-Regular.ttf")


def fonts(names: tuple[str, ...] | None = None) -> list[Path]:
    """The TrueType fonts of :data:`FONT_DIRS` (only ``names`` when given), sorted; empty when none is
    installed (``apt-get install fonts-dejavu-core fonts-liberation``)."""
    found = sorted(p for d in FONT_DIRS if d.is_dir() for p in d.glob("*.ttf"))
    return [p for p in found if names is None or p.name in names]


def typed(char: str, font: Path, size: int, stroke: int, rng: np.random.Generator, inverted: bool = False) -> ndarray:
    """One character typed at ``size`` pixels, anywhere on the canvas: (280, 280) uint8, dark on white unless
    ``inverted``."""
    face = ImageFont.truetype(str(font), size)
    width = stroke * max(1, size // 24)
    left, top, right, bottom = face.getbbox(char, stroke_width=width)
    w, h = right - left, bottom - top
    x = int(rng.integers(0, max(CANVAS - w, 0) + 1)) - left
    y = int(rng.integers(0, max(CANVAS - h, 0) + 1)) - top
    img = Image.new("L", (CANVAS, CANVAS), 255)
    ImageDraw.Draw(img).text((x, y), char, font=face, fill=0, stroke_width=width, stroke_fill=0)
    a = np.asarray(img)
    return 255 - a if inverted else a


def typed_digits(font_list: list[Path] | None = None, sizes=TYPE_SIZES, strokes=TYPE_STROKES, seed: int = SEED,
                 inverted_share: float = 0.0) -> tuple[ndarray, ndarray, list[str]]:
    """Every digit in every font, size and stroke: pictures (n, 280, 280) uint8, labels (n,), and each picture's
    font file name."""
    rng = np.random.default_rng(seed)
    pictures, labels, names = [], [], []
    for font in fonts() if font_list is None else font_list:
        for size in sizes:
            for stroke in strokes:
                for d in range(10):
                    pictures.append(typed(str(d), font, size, stroke, rng, rng.random() < inverted_share))
                    labels.append(d)
                    names.append(font.name)
    if not pictures:
        return np.zeros((0, CANVAS, CANVAS), np.uint8), np.zeros(0, np.int64), []
    return np.stack(pictures), np.array(labels), names


def scribbles(n: int, seed: int = SEED, strokes: int = 3, points: int = 6, width: int = 20) -> ndarray:
    """``n`` tangles that are no digit, as the Draw page's "Try a scribble" draws its one: ``strokes`` straight-line
    strokes through random points, a 20-pixel pen, dark on white. (n, 280, 280) uint8."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, CANVAS, CANVAS), np.uint8)
    r = width / 2
    for i in range(n):
        img = Image.new("L", (CANVAS, CANVAS), 255)
        pen = ImageDraw.Draw(img)
        for _ in range(strokes):
            pts = [tuple(p) for p in rng.uniform(40, CANVAS - 40, size=(points, 2)).round()]
            pen.line(pts, fill=0, width=width, joint="curve")
            for x, y in pts:
                pen.ellipse((x - r, y - r, x + r, y + r), fill=0)
        out[i] = np.asarray(img)
    return out


# ---------------------------------------------------------------------------------------------- reading them


def prepared(pictures: ndarray, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> tuple[ndarray, ndarray]:
    """Every picture through the Draw page's preparation (all steps on): inputs (n, 1, 28, 28), and which pictures
    had ink to read (a picture without is counted wrong)."""
    xs, ok = [], np.ones(len(pictures), bool)
    for i, picture in enumerate(pictures):
        try:
            xs.append(prepare(picture, mean=mean, std=std).x)
        except DigitImageError:
            ok[i] = False
            xs.append(np.zeros((1, 1, 28, 28), np.float32))
    return np.concatenate(xs) if xs else np.zeros((0, 1, 28, 28), np.float32), ok


@dataclass(frozen=True)
class Score:
    """How a model reads a set: accuracy (%), the share of real digits below a confidence threshold (% "not sure":
    false alarms, since every picture is a digit), and the mean probability it gives its wrong answers."""
    n: int
    accuracy: float
    not_sure: float
    wrong_confidence: float | None

    def to_dict(self) -> dict:
        return {"n": self.n, "accuracy": round(self.accuracy, 2), "not_sure": round(self.not_sure, 2),
                "wrong_confidence": None if self.wrong_confidence is None else round(self.wrong_confidence, 3)}


def score(net, inputs: ndarray, ok: ndarray, labels: ndarray, threshold: float = 0.7) -> Score:
    """``net``'s reading of prepared ``inputs`` against ``labels``; "not sure" below ``threshold``."""
    from smartflow_core.util import softmax

    probs = softmax(net.predict(inputs, batch_size=500).astype(np.float64), axis=1)
    answer, top = probs.argmax(axis=1), probs.max(axis=1)
    right = (answer == labels) & ok
    wrong = ~right & ok
    return Score(int(len(labels)), 100 * float(right.mean()), 100 * float((top < threshold).mean()),
                 float(top[wrong].mean()) if wrong.any() else None)


__all__ = ["CANVAS", "CANVAS_SETS", "Redraw", "redraw", "canvas_set", "fonts", "typed", "typed_digits", "scribbles",
           "QUICK_FONTS", "TYPE_SIZES", "TYPE_STROKES", "prepared", "Score", "score", "SEED"]
