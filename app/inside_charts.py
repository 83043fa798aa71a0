"""The view inside a network for one digit, drawn one way for every page: a layer's maps tiled into one picture.

Each map gets its own symmetric colour range by default, printed above it ("±0.83"): a deep layer's maps are often
a hundred times weaker than the strongest one, and on one range for the whole layer they would all look blank. The
other choice, one range for the whole layer, shows which maps respond most. Colours follow :mod:`app.charts`:
PuOr centred on zero (orange below, white at zero, purple above).

:func:`layer_picture` makes the picture; the Draw page shows it as is (a picture, not a chart: four layers of
charts would cost a tenth of a second to build and send at every stroke). :func:`layer_figure` puts the same
picture in a Plotly figure, its ranges printed as text and every value on hover (the Evaluate page and the
training lab). No Streamlit here.
"""
from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.charts import COLORSCALE, figure, heading

RANGES = ("map", "layer")           # each map its own colour range, or one range for the whole layer
TILE = 56                           # a map's side in pixels, about: 28 x 2, 14 x 4, 7 x 8
GAP = 4
GAP_RGB = (175, 175, 175)           # between tiles
BAND_RGB = (255, 255, 255)          # behind the printed ranges
TEXT_RGB = (51, 51, 51)
FONT = 12                           # the printed ranges, in pixels
_AT = np.array([position for position, _ in COLORSCALE])                        # the scale's stops, low to high
_RGB = np.array([[float(v) for v in colour[4:-1].split(",")] for _, colour in COLORSCALE])  # "rgb(r,g,b)"


@dataclass(frozen=True, eq=False)
class Tiles:
    """A layer's maps as one RGB picture: ``cols`` tiles to a row, each map enlarged ``k`` times, a band of ``band``
    pixels above each row of tiles for the printed ranges. ``limits[i]`` is map ``i``'s colour range: ``+limit``
    is drawn darkest purple, ``-limit`` darkest orange (0 for a map that is zero everywhere)."""
    picture: np.ndarray             # (height, width, 3) uint8
    limits: np.ndarray              # (channels,)
    labels: tuple[str, ...]         # what is printed above each tile ("" when nothing is)
    cols: int
    k: int
    band: int
    gap: int

    def tile_origin(self, i: int, shape: tuple[int, int]) -> tuple[int, int]:
        """The picture pixel (row, column) of the top left corner of map ``i`` of ``shape`` (h, w)."""
        h, w = shape
        r, c = divmod(i, self.cols)
        return r * (self.band + h * self.k + self.gap) + self.band, c * (w * self.k + self.gap)


def range_text(limit: float) -> str:
    """A colour range as printed above its map: ``±0.83``, ``±12.4``, ``±0.0031``; ``0`` for a map of zeros."""
    m = float(limit)
    if m == 0 or not math.isfinite(m):
        return "0"
    if m >= 1e6:
        return f"±{m:.2g}"
    if m >= 1000:
        return f"±{m:,.0f}"
    return f"±{m:.3g}" if m >= 1 else f"±{m:.2g}"


def limits(maps: np.ndarray, per_map: bool = True) -> np.ndarray:
    """Each map's colour range: its own largest absolute value, or the whole layer's for every map (values that are
    not finite, as a diverged run's, left out: they are drawn at the scale's ends)."""
    maps = np.asarray(maps, dtype=np.float64)
    biggest = np.where(np.isfinite(maps), np.abs(maps), 0.0).reshape(len(maps), -1).max(axis=1, initial=0.0)
    return biggest if per_map else np.full(len(maps), biggest.max(initial=0.0))


def colours(values: np.ndarray, limit: np.ndarray | float) -> np.ndarray:
    """Values in [-limit, limit] -> RGB uint8 on the lessons' PuOr scale; a zero limit and NaN draw white, infinities
    the scale's ends."""
    m = np.asarray(limit, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        unit = np.divide(values, m, out=np.zeros_like(values), where=m > 0)
    where = np.clip((np.nan_to_num(unit, nan=0.0, posinf=1.0, neginf=-1.0) + 1) / 2, 0, 1)
    return np.stack([np.interp(where, _AT, _RGB[:, k]) for k in range(3)], axis=-1).round().astype(np.uint8)


def square_cols(n: int) -> int:
    """Tiles to a row for a near-square layout that fills its last row when it can: 16 maps 4 x 4, 32 maps 8 x 4."""
    root = math.sqrt(n)
    return next((d for d in range(math.ceil(root), int(2 * root) + 1) if n % d == 0), math.ceil(root))


def layer_picture(maps: np.ndarray, per_map: bool = True, *, cols: int | None = None, tile: int = TILE,
                  gap: int = GAP, printed: bool | None = None, text: bool = True) -> Tiles:
    """One layer's maps (channels, h, w) as one picture, ``cols`` tiles to a row (16 by default), each map enlarged
    by a whole factor to about ``tile`` pixels so its cells stay crisp. ``per_map``: each map on its own range,
    printed above it (``printed``, by default only then); otherwise one range for the layer. ``text=False`` leaves
    the printing to the caller (a figure prints it as text, sharp at any size), the band above the tiles blank."""
    maps = np.asarray(maps, dtype=np.float64)
    c, h, w = maps.shape
    k = max(1, tile // max(h, w))
    cols = min(c, cols or 16)
    rows = math.ceil(c / cols)
    lim = limits(maps, per_map)
    printed = per_map if printed is None else printed
    labels = tuple(range_text(m) for m in lim) if printed else ("",) * c
    band = FONT + 5 if printed else 0
    out = np.empty((rows * (band + h * k + gap) - gap, cols * (w * k + gap) - gap, 3), dtype=np.uint8)
    out[:] = GAP_RGB
    tiles = Tiles(out, lim, labels, cols, k, band, gap)
    coloured = colours(maps, lim[:, None, None]).repeat(k, axis=1).repeat(k, axis=2)
    for i in range(rows * cols):
        top, left = tiles.tile_origin(i, (h, w))
        if i >= c:  # the last row's empty places
            out[top - band:top + h * k, left - (gap if i % cols else 0):] = BAND_RGB
            continue
        out[top:top + h * k, left:left + w * k] = coloured[i]
        if band:
            out[top - band:top, left:left + w * k] = BAND_RGB
    if band and text:
        img = Image.fromarray(out)
        pen = ImageDraw.Draw(img)
        font = ImageFont.load_default(size=FONT)  # 0.1 ms; a font of its own, never shared between sessions
        for i, label in enumerate(labels):
            top, left = tiles.tile_origin(i, (h, w))
            pen.text((left + w * k / 2, top - 2), label, fill=TEXT_RGB, font=font, anchor="md")
        out[:] = np.asarray(img)
    out.setflags(write=False)
    return tiles


def png_uri(picture: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(picture, dtype=np.uint8)).save(buf, "PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def layer_figure(maps: np.ndarray, title: str, per_map: bool = True, *, cols: int | None = None,
                 height: int | None = None):
    """The picture of :func:`layer_picture` (near-square: ``cols`` defaults to the square root of the channels) in
    a Plotly figure titled ``title`` (and the layer's range, when it has one), with an invisible heatmap over it
    that gives each cell's value on hover."""
    maps = np.asarray(maps, dtype=np.float32)
    c, h, w = maps.shape
    tiles = layer_picture(maps, per_map, cols=cols or square_cols(c), text=False)
    rows = math.ceil(c / tiles.cols)
    # the hover layer: each map cell at the centre of its pixels in the picture (pixel p spans p..p+1: the image's
    # x0 and y0 are the centre of its first pixel)
    z = np.full((rows * h, tiles.cols * w), np.nan, dtype=np.float32)
    index = np.full(z.shape, -1, dtype=np.int16)
    for i in range(c):
        r, col = divmod(i, tiles.cols)
        z[r * h:(r + 1) * h, col * w:(col + 1) * w] = maps[i]
        index[r * h:(r + 1) * h, col * w:(col + 1) * w] = i
    k = tiles.k
    x = np.array([col * (w * k + tiles.gap) + j * k + k / 2 for col in range(tiles.cols) for j in range(w)])
    y = np.array([r * (tiles.band + h * k + tiles.gap) + tiles.band + i * k + k / 2 for r in range(rows)
                  for i in range(h)])
    height_px, width_px = tiles.picture.shape[:2]
    data = [{"type": "image", "source": png_uri(tiles.picture), "x0": 0.5, "y0": 0.5, "dx": 1,
             "dy": 1,
             "hoverinfo": "skip"},
            {"type": "heatmap", "z": z, "x": x, "y": y, "customdata": index, "opacity": 0, "showscale": False,
             "colorscale": [[0, "white"], [1, "white"]],
             "hovertemplate": "map %{customdata}: %{z:.3g}<extra></extra>"}]
    if tiles.band:  # each map's range, centred in the band above it
        origins = [tiles.tile_origin(i, (h, w)) for i in range(c)]
        data.append({"type": "scatter", "mode": "text", "x": np.array([left + w * k / 2 for _, left in origins]),
                     "y": np.array([top - tiles.band / 2 for top, _ in origins]), "text": list(tiles.labels),
                     "textfont": {"size": 10, "color": "#333"}, "hoverinfo": "skip", "showlegend": False})
    axis = {"showgrid": False, "zeroline": False, "showticklabels": False, "ticks": "", "constrain": "domain"}
    if not per_map:
        title += f" · {range_text(tiles.limits.max(initial=0))}"
    layout = {"title": heading(title, 13, toolbar=False),  # shown without the toolbar
              "plot_bgcolor": "white", "dragmode": False,
              "xaxis": {**axis, "range": [0, width_px]},
              "yaxis": {**axis, "range": [height_px, 0], "scaleanchor": "x"},
              "height": height or int(min(440, max(170, 300 * height_px / max(width_px, 1) + 60))),
              "margin": {"l": 4, "r": 4, "t": 36, "b": 4}}
    return figure(data, layout)


__all__ = ["RANGES", "Tiles", "range_text", "limits", "colours", "square_cols", "layer_picture", "layer_figure"]
