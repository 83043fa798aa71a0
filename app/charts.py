"""Plotly figure builders for the lessons: number grids with the current window outlined.

One colour scale everywhere: ColorBrewer PuOr, diverging and colour-blind safe, centred on zero (orange below,
white at zero, purple above), its limits symmetric so zero is always white. Padding cells are grey and say 0.
Small grids show every value in its cell (``texttemplate``); big ones show values on hover.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale

from app.i18n import _

SCALE = "PuOr"
COLORSCALE = get_colorscale(SCALE)  # the stops, for figures built without validation (which names them)
PAD_GREY = "#d4d4d4"
TEXT_LIMIT = 10  # grids up to this many columns (and rows) print their numbers in the cells
MODEBAR = 34  # px: Plotly's toolbar shows in this band at the top right of a chart; titles sit below it


def heading(text: str, size: int = 14, toolbar: bool = True) -> dict:
    """A chart's title, below the band where Plotly's toolbar appears on hover (or after a tap on a phone), so the
    toolbar never covers it; ``automargin`` makes the top margin fit it. ``toolbar=False``: a chart shown without
    the toolbar (``displayModeBar: False``) keeps its title at the top."""
    return {"text": text, "font": {"size": size}, "x": 0, "xanchor": "left", "xref": "paper", "y": 1,
            "yanchor": "top", "yref": "container", "pad": {"t": MODEBAR if toolbar else 8}, "automargin": True}


def fmt(x: float) -> str:
    """A number as a learner reads it: ``9``, ``-3.96``, ``0.0625``; ``-0`` shows as ``0``."""
    x = float(x)
    if not math.isfinite(x):
        return ""
    if x == int(x) and abs(x) < 1e12:
        return str(int(x))
    return f"{x:.4g}"


def limit(*arrays) -> float:
    """The colour limit that fits every array: the largest absolute value (1 when all are 0 or empty)."""
    vals = [np.nanmax(np.abs(a)) for a in arrays if np.size(a) and np.isfinite(a).any()]
    m = max(vals, default=0.0)
    return float(m) if m > 0 else 1.0


def box(top: float, left: float, height: int, width: int, dash: str | None = None) -> list[dict]:
    """A rectangle around cells ``[top, top+height) x [left, left+width)`` as two layout shapes: white under
    black, visible on any colour of the scale."""
    box = {"type": "rect", "x0": left - 0.5, "x1": left + width - 0.5, "y0": top - 0.5, "y1": top + height - 0.5,
           "xref": "x", "yref": "y"}
    return [{**box, "line": {"color": "white", "width": 6}}, {**box, "line": {"color": "black", "width": 3,
                                                                             **({"dash": dash} if dash else {})}}]


def figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts, without Plotly's per-property validation (0.6 ms instead of 13-18 ms for a
    grid): the builders here write only keys Plotly knows, and the tests read the specs back."""
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def _texts(z: np.ndarray) -> list[list[str]]:
    return [[fmt(v) for v in row] for row in z]


def _auto_text(rows: int, cols: int) -> bool:
    return rows <= TEXT_LIMIT and cols <= TEXT_LIMIT


def _layout(rows: int, cols: int, title: str, height: int | None, ticks: bool, text: bool,
            shapes: list) -> dict:
    height = (height or (min(460, max(200, 38 * rows + 60)) if text else 360)) + (MODEBAR if title else 0)
    axis = {"showgrid": False, "zeroline": False, "showline": False, "ticks": "", "constrain": "domain",
            "showticklabels": ticks, "tickfont": {"size": 10, "color": "#666"}, "tickmode": "linear", "tick0": 0}
    layout = {"yaxis": {**axis, "autorange": "reversed", "scaleanchor": "x",
                        "dtick": 1 if rows <= TEXT_LIMIT else 5},
              "xaxis": {**axis, "side": "top", "dtick": 1 if cols <= TEXT_LIMIT else 5},
              "height": height, "margin": {"l": 4, "r": 4, "t": 56 + MODEBAR if title else 24, "b": 4},
              "plot_bgcolor": "white", "dragmode": False, "shapes": shapes}
    if title:
        layout["title"] = heading(title)
    return layout


def _heatmap(z: np.ndarray, m: float, text: bool, name: str, **kw) -> dict:
    trace = {"type": "heatmap", "z": z, "zmin": -m, "zmax": m, "colorscale": COLORSCALE, "showscale": False,
             "xgap": 1, "ygap": 1, "textfont": {"size": 13 if z.shape[1] <= 8 else 11},
             "hovertemplate": _("row %{y}, col %{x}:") + f" {name} %{{z:.4g}}<extra></extra>", **kw}
    if text:
        trace.update(text=_texts(z), texttemplate="%{text}")
    return trace


def grid(z, *, title: str = "", pad: int = 0, window=None, marks=(), height: int | None = None,
         ticks: bool = True, text: bool | None = None, zmax: float | None = None, name: str = "",
         colorbar: bool = False) -> go.Figure:
    """A 2D array as a heatmap. ``pad`` grey border cells; ``window`` (top, left, h, w) outlined;
    ``marks`` more cells (row, col) outlined with a dotted line; NaN cells are left blank. Numbers are printed
    in the cells of small grids (``text``), shown on hover otherwise; ``colorbar`` adds the scale, named
    ``name``, for a big grid whose numbers are not printed."""
    z = np.asarray(z, dtype=np.float64)
    rows, cols = z.shape
    text = _auto_text(rows, cols) if text is None else text
    inner = np.full(z.shape, np.nan)
    inner[pad:rows - pad, pad:cols - pad] = z[pad:rows - pad, pad:cols - pad]
    data = [_heatmap(inner, zmax or limit(inner), text, name)]
    if colorbar:
        data[0].update(showscale=True, colorbar={"title": {"text": name}, "thickness": 12, "len": 0.8})
    if pad:
        border = np.where(np.isnan(inner) & ~np.isnan(z), 0.0, np.nan)
        border[pad:rows - pad, pad:cols - pad] = np.nan
        grey = {"type": "heatmap", "z": border, "colorscale": [[0, PAD_GREY], [1, PAD_GREY]], "showscale": False,
                "xgap": 1, "ygap": 1, "textfont": {"size": 12, "color": "#555"},
                "hovertemplate": _("padding zero") + "<extra></extra>"}
        if text:
            grey.update(text=_texts(border), texttemplate="%{text}")
        data.append(grey)
    shapes = box(*window) if window is not None else []
    for r, c in marks:
        shapes += box(r, c, 1, 1, "dot")
    return figure(data, _layout(rows, cols, title, height, ticks, text, shapes))


def row_strips(rows: dict[str, list[float]], *, labels: list[str], outlines=(), pad_cells=(),
               height: int | None = None, title: str = "") -> go.Figure:
    """Equal-length 1D strips stacked (input, kernel, products, output), each with its own colour limits so a
    small kernel still shows colour next to big inputs. ``outlines``: (first strip, first cell, strips, cells)
    boxes; ``pad_cells`` grey in the first strip. NaN cells are blank."""
    data, names = [], list(rows)
    for y, name in enumerate(names):
        z = np.asarray([rows[name]], dtype=np.float64)
        if y == 0 and pad_cells:
            z = z.copy()
            grey = np.full(z.shape, np.nan)
            for i in pad_cells:
                grey[0, i], z[0, i] = 0.0, np.nan
            data.append({"type": "heatmap", "z": grey, "y": [y], "colorscale": [[0, PAD_GREY], [1, PAD_GREY]],
                         "showscale": False, "xgap": 2, "ygap": 2, "text": _texts(grey), "texttemplate": "%{text}",
                         "textfont": {"size": 14, "color": "#555"},
                         "hovertemplate": _("padding zero") + "<extra></extra>"})
        m = limit(z)
        data.append({"type": "heatmap", "z": z, "y": [y], "zmin": -m, "zmax": m, "colorscale": COLORSCALE,
                     "showscale": False, "xgap": 2, "ygap": 2, "text": _texts(z), "texttemplate": "%{text}",
                     "textfont": {"size": 14}, "hovertemplate": f"{name} %{{x}}: %{{z:.4g}}<extra></extra>"})
    n = len(labels)
    top = (44 + MODEBAR if title else 30) + (16 if any("<br>" in label for label in labels) else 0)
    layout = {"xaxis": {"tickmode": "array", "tickvals": list(range(n)), "ticktext": labels, "side": "top",
                        "showgrid": False, "zeroline": False, "range": [-0.5, n - 0.5], "ticks": ""},
              "yaxis": {"tickmode": "array", "tickvals": list(range(len(names))), "ticktext": names,
                        "autorange": "reversed", "showgrid": False, "zeroline": False, "ticks": ""},
              "height": (height or 70 + 52 * len(names)) + (MODEBAR if title else 0),
              "margin": {"l": 4, "r": 4, "t": top, "b": 4},
              "plot_bgcolor": "white", "dragmode": False,
              "shapes": [s for edges in outlines for s in box(*edges)]}
    if title:
        layout["title"] = heading(title)
    return figure(data, layout)
