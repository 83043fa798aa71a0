"""Figures of the backward-pass lessons, in the colours of :mod:`app.charts` (PuOr, white at zero, grey padding).

Strips of 1D numbers one row per quantity, every cell printed; a box outlines the window or the cells that take
part, a dotted box the current term.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from app import charts
from app.i18n import _
from smartflow_core.trace import backward as tb

NAN = float("nan")
PURPLE, ORANGE = "#5e3c99", "#e66101"  # the two ends of PuOr: a colour-blind-safe pair for two lines


def strips(rows: list[tuple[str, list[float], tuple[int, ...]]], labels: list[str], *, boxes=(), dotted=(),
           height: int | None = None) -> go.Figure:
    """``rows``: (name, values, grey cells) stacked top to bottom, each with its own colour limits; NaN cells
    blank. ``boxes``: (first row, first cell, rows, cells) outlined; ``dotted``: single (row, cell) outlined.
    Built as plain dicts (:func:`app.charts.figure`), without Plotly's per-property validation."""
    data = []
    for y, (name, values, grey) in enumerate(rows):
        z = np.asarray([values], dtype=np.float64)
        if grey:
            pad = np.full(z.shape, NAN)
            for i in grey:
                pad[0, i] = 0.0 if np.isnan(z[0, i]) else z[0, i]
                z[0, i] = NAN
            data.append({"type": "heatmap", "z": pad, "y": [y], "colorscale": [[0, charts.PAD_GREY],
                                                                             [1, charts.PAD_GREY]],
                         "showscale": False, "xgap": 2, "ygap": 2, "text": [[charts.fmt(v) for v in pad[0]]],
                         "texttemplate": "%{text}", "textfont": {"size": 14, "color": "#555"},
                         "hovertemplate": _("padding") + " %{x}: %{text}<extra></extra>"})
        m = charts.limit(z)
        data.append({"type": "heatmap", "z": z, "y": [y], "zmin": -m, "zmax": m, "colorscale": charts.COLORSCALE,
                     "showscale": False, "xgap": 2, "ygap": 2, "text": [[charts.fmt(v) for v in z[0]]],
                     "texttemplate": "%{text}", "textfont": {"size": 14},
                     "hovertemplate": f"{name} %{{x}}: %{{z:.4g}}<extra></extra>"})
    shapes = [s for edges in boxes for s in charts.box(*edges)]
    shapes += [s for r, c in dotted for s in charts.box(r, c, 1, 1, "dot")]
    n = len(labels)
    layout = {"xaxis": {"tickmode": "array", "tickvals": list(range(n)), "ticktext": labels, "side": "top",
                        "showgrid": False, "zeroline": False, "range": [-0.5, n - 0.5], "ticks": ""},
              "yaxis": {"tickmode": "array", "tickvals": list(range(len(rows))), "ticktext": [r[0] for r in rows],
                        "autorange": "reversed", "showgrid": False, "zeroline": False, "ticks": ""},
              "height": height or 60 + 50 * len(rows), "margin": {"l": 4, "r": 4, "t": 30, "b": 4},
              "plot_bgcolor": "white", "dragmode": False, "shapes": shapes}
    return charts.figure(data, layout)


def _blank(n: int) -> list[float]:
    return [NAN] * n


# ---------------------------------------------------------------------------------------------- perturbation


def perturb_figure(p: tb.Perturbation1D) -> go.Figure:
    """Columns are the padded input; each output sits under the middle of its window."""
    n, k = len(p.inp), len(p.kernel)
    pad = k // 2
    width = n + 2 * pad
    grey = tuple(range(pad)) + tuple(range(pad + n, width))
    rows = [(_("input"), [0.0] * pad + list(p.inp) + [0.0] * pad, grey)]
    if p.target == "input":
        nudged = list(p.inp)
        nudged[p.index] += p.delta
        rows.append((_("nudged input"), [0.0] * pad + nudged + [0.0] * pad, grey))
    for name, values in ((_("out before"), p.out_before), (_("out after"), p.out_after),
                         (_("change"), p.out_change), (_("dL/dout"), p.upstream)):
        row = _blank(width)
        row[pad:pad + n] = values
        rows.append((name, row, ()))
    labels = [_("pad")] * pad + [f"x[{i}]" for i in range(n)] + [_("pad")] * pad
    boxes = [(1, pad + p.index, 1, 1)] if p.target == "input" else []
    dotted = [(len(rows) - 2, pad + o) for o in p.touched]
    return strips(rows, labels, boxes=boxes, dotted=dotted)


def kernel_figure(p: tb.Perturbation1D) -> go.Figure:
    rows = [(_("kernel"), list(p.kernel), ())]
    if p.target == "kernel":
        after = list(p.kernel)
        after[p.index] += p.delta
        rows.append((_("kernel (nudged)"), after, ()))
    boxes = [(1, p.index, 1, 1)] if p.target == "kernel" else []
    return strips(rows, [f"w[{i}]" for i in range(len(p.kernel))], boxes=boxes, height=60 + 50 * len(rows))


# ---------------------------------------------------------------------------------------------- 1D input gradient


def flip_figure(tr: tb.InputGrad1DTrace) -> go.Figure:
    return strips([(_("kernel param"), list(tr.kernel), ()), (_("flipped"), list(tr.flipped), ())],
                  [f"{i}" for i in range(len(tr.kernel))], height=150)


# ---------------------------------------------------------------------------------------------- the book's bug


def cosine_figure(sizes, cosines) -> go.Figure:
    fig = go.Figure(go.Bar(x=[str(s) for s in sizes], y=list(cosines), marker_color=PURPLE,
                           text=[f"{c:.2f}" for c in cosines], textposition="outside",
                           hovertemplate=_("batch of %{x}: cosine %{y:.3f}") + "<extra></extra>"))
    fig.update_yaxes(range=[-1.05, 1.25], title=_("cosine(book, true)"), zeroline=True, zerolinecolor="#888",
                     dtick=0.5)
    fig.update_xaxes(title=_("digits in the batch"), type="category")
    fig.update_layout(height=300, margin=dict(l=4, r=4, t=10, b=4), plot_bgcolor="white", dragmode=False)
    return fig


def log_figure(log) -> go.Figure:
    batches = [b for b, _b, _t in log]
    fig = go.Figure()
    fig.add_scatter(x=batches, y=[b for _x, b, _t in log], name=_("chapter's log (book's gradients)"),
                    mode="lines+markers", line=dict(color=PURPLE))
    fig.add_scatter(x=batches, y=[t for _x, _b, t in log], name=_("same cell, true gradients"),
                    mode="lines+markers", line=dict(color=ORANGE, dash="dash"), marker=dict(symbol="square"))
    fig.update_xaxes(title=_("batch"), dtick=10)
    fig.update_yaxes(title=_("loss"), rangemode="tozero")
    fig.update_layout(height=300, margin=dict(l=4, r=4, t=10, b=4), plot_bgcolor="white", dragmode=False,
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0))
    return fig
