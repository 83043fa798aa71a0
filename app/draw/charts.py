"""Figures for the "Draw a digit" lab: probability bars, step thumbnails, a layer's outputs, a saliency overlay
(the feature maps are drawn by :mod:`app.inside_charts`, as on the Evaluate page).

Colours follow :mod:`app.charts`: PuOr centred on zero (purple above, white at zero, orange below). Pictures of the
digit are shown as MNIST stores them: ink white on black, except the first thumbnail, the picture as it came.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageOps

from app.charts import SCALE, heading, limit
from app.i18n import _

PURPLE, ORANGE, GREY = "#5e3c99", "#e66101", "#bdbdbd"
BACKDROP, FRAME = (240, 242, 246), (160, 160, 160)
TILE = 56                             # feature-map tile side in pixels: 28 x 2, 14 x 4, 7 x 8
VECTOR_ROW = 16
CELL = 44                             # largest side of an output's cell, in pixels
THUMB = 142                           # thumbnail side in pixels, frame included: 28 x 5 + 2
RIGHT = 56                            # the probability bars' right margin, where the threshold is labelled


def probability_bars(probs: np.ndarray, threshold: float, *, height: int = 260) -> go.Figure:
    """The ten probabilities as bars, the top one purple when it reaches ``threshold`` (0..1), orange when not. The
    dashed threshold line is labelled in the right margin, beside the bars: no bar's label can sit there."""
    probs = np.asarray(probs, dtype=np.float64)
    top = int(np.argmax(probs))
    sure = probs[top] >= threshold
    colours = [(PURPLE if sure else ORANGE) if i == top else GREY for i in range(len(probs))]
    text = [f"{100 * p:.0f} %" if p >= 0.005 else "" for p in probs]
    fig = go.Figure(go.Bar(x=list(range(len(probs))), y=100 * probs, marker_color=colours, text=text,
                           textposition="outside", cliponaxis=False,
                           hovertemplate=_("digit") + " %{x}: %{y:.2f} %<extra></extra>"))
    fig.add_hline(y=100 * threshold, line=dict(color="#555", width=1.5, dash="dash"))
    fig.add_annotation(text=_("needed<br>{:.0f} %").format(100 * threshold), xref="paper", x=1, xanchor="left",
                       xshift=4, yref="y", y=100 * threshold, yanchor="middle", showarrow=False, align="left",
                       font=dict(size=11, color="#555"))
    fig.update_xaxes(tickmode="linear", dtick=1, title=None, showgrid=False, fixedrange=True)
    fig.update_yaxes(range=[0, 112], title=_("probability (%)"), tickvals=[0, 25, 50, 75, 100], fixedrange=True)
    fig.update_layout(height=height, margin=dict(l=4, r=RIGHT, t=16, b=4), plot_bgcolor="white", bargap=0.25,
                      showlegend=False, dragmode=False)
    return fig


def thumbnail(image: np.ndarray, box: int = THUMB - 2) -> np.ndarray:
    """An image in 0..1 (h, w) as an RGB (box + 2, box + 2, 3) uint8 picture: fitted into the box with its aspect
    ratio kept, small images enlarged by a whole factor so pixels stay crisp, framed on a light backdrop."""
    a = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    h, w = a.shape
    scale = box / max(h, w)
    if scale >= 1:
        k = int(scale)
        size, method = (w * k, h * k), Image.NEAREST
    else:
        size, method = (max(1, round(w * scale)), max(1, round(h * scale))), Image.BOX
    img = Image.fromarray(np.round(255 * a).astype(np.uint8)).resize(size, method).convert("RGB")
    img = ImageOps.expand(img, border=1, fill=FRAME)
    out = Image.new("RGB", (box + 2, box + 2), BACKDROP)
    out.paste(img, ((box + 2 - img.width) // 2, (box + 2 - img.height) // 2))
    return np.asarray(out)


def _image_axes(fig: go.Figure) -> None:
    axis = dict(showgrid=False, zeroline=False, showticklabels=False, ticks="", constrain="domain")
    fig.update_yaxes(**axis, autorange="reversed", scaleanchor="x")
    fig.update_xaxes(**axis)


def output_strip(label: str, values: np.ndarray, *, width: int = 820) -> go.Figure:
    """A layer's outputs (n,) as a strip of numbered cells, 16 to a row, the values printed when they fit."""
    values = np.asarray(values, dtype=np.float32).ravel()
    n = values.size
    cols = min(n, VECTOR_ROW)
    rows = math.ceil(n / cols)
    z = np.full(rows * cols, np.nan, dtype=np.float32)
    z[:n] = values
    z = z.reshape(rows, cols)
    index = np.arange(rows * cols).reshape(rows, cols)
    text = [[f"{v:.2g}" if not np.isnan(v) else "" for v in row] for row in z] if n <= VECTOR_ROW else None
    m = limit(values)
    fig = go.Figure(go.Heatmap(z=z, customdata=index, zmin=-m, zmax=m, colorscale=SCALE, showscale=False, xgap=2,
                               ygap=2, text=text, texttemplate="%{text}" if text else None, textfont=dict(size=12),
                               hovertemplate="output %{customdata}: %{z:.3g}<extra></extra>"))
    fig.update_xaxes(tickmode="linear", dtick=1, showgrid=False, zeroline=False, side="top",
                     showticklabels=rows == 1, ticks="", constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed", ticks="",
                     scaleanchor="x", constrain="domain")
    cell = min(width / cols, CELL)
    fig.update_layout(title=heading(label, 13), height=int(cell * rows) + 64,
                      margin=dict(l=2, r=2, t=52, b=2), plot_bgcolor="white", dragmode=False)
    return fig


def saliency_overlay(image28: np.ndarray, saliency: np.ndarray, title: str, *, height: int = 340) -> go.Figure:
    """The network's input in grey with the saliency map over it: purple where the pixels raise the class's
    score (or covering them lowers its probability), orange where they count against it, clear where they do
    not matter."""
    sal = np.asarray(saliency, dtype=np.float32)
    m = limit(sal)
    clear, purple, orange = "rgba(247,247,247,0)", "rgba(94,60,153,0.9)", "rgba(230,97,1,0.9)"
    one_sided = float(sal.min()) >= 0  # a gradient's size: nothing speaks against
    scale = [[0, clear], [1, purple]] if one_sided else [[0, orange], [0.5, clear], [1, purple]]
    fig = go.Figure(go.Heatmap(z=np.asarray(image28, np.float32), zmin=0, zmax=1, showscale=False,
                               colorscale=[[0, "white"], [1, "#7a7a7a"]], hoverinfo="skip"))
    fig.add_trace(go.Heatmap(
        z=sal, zmin=0 if one_sided else -m, zmax=m, colorscale=scale,
        colorbar=dict(thickness=10, len=0.8, tickfont=dict(size=10)),
        hovertemplate=_("row %{y}, col %{x}:") + " %{z:.3g}<extra></extra>"))
    _image_axes(fig)
    fig.update_layout(title=heading(title, 13), height=height, margin=dict(l=2, r=2, t=34, b=2),
                      plot_bgcolor="white", dragmode=False)
    return fig
