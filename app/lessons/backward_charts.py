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
    blank. ``boxes``: (first row, first cell, rows, cells) outlined; ``dotted``: single (row, cell) outlined."""
    fig = go.Figure()
    for y, (name, values, grey) in enumerate(rows):
        z = np.asarray([values], dtype=np.float64)
        if grey:
            pad = np.full(z.shape, NAN)
            for i in grey:
                pad[0, i] = 0.0 if np.isnan(z[0, i]) else z[0, i]
                z[0, i] = NAN
            fig.add_trace(go.Heatmap(z=pad, y=[y], colorscale=[[0, charts.PAD_GREY], [1, charts.PAD_GREY]],
                                     showscale=False, xgap=2, ygap=2, text=[[charts.fmt(v) for v in pad[0]]],
                                     texttemplate="%{text}", textfont=dict(size=14, color="#555"),
                                     hovertemplate=_("padding") + " %{x}: %{text}<extra></extra>"))
        m = charts.limit(z)
        fig.add_trace(go.Heatmap(z=z, y=[y], zmin=-m, zmax=m, colorscale=charts.SCALE, showscale=False, xgap=2,
                                 ygap=2, text=[[charts.fmt(v) for v in z[0]]], texttemplate="%{text}",
                                 textfont=dict(size=14), hovertemplate=f"{name} %{{x}}: %{{z:.4g}}<extra></extra>"))
    for top, left, h, w in boxes:
        charts.outline(fig, top, left, h, w)
    for r, c in dotted:
        charts.outline(fig, r, c, 1, 1, dash="dot")
    n = len(labels)
    fig.update_xaxes(tickmode="array", tickvals=list(range(n)), ticktext=labels, side="top", showgrid=False,
                     zeroline=False, range=[-0.5, n - 0.5], ticks="")
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(rows))), ticktext=[r[0] for r in rows],
                     autorange="reversed", showgrid=False, zeroline=False, ticks="")
    fig.update_layout(height=height or 60 + 50 * len(rows), margin=dict(l=4, r=4, t=30, b=4), plot_bgcolor="white",
                      dragmode=False)
    return fig


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


def input_grad_figure(tr: tb.InputGrad1DTrace, o: int, p: int) -> go.Figure:
    """The padded output gradient, the flipped kernel over the window ``o .. o + k - 1``, the products done so
    far for input ``o``, and the input gradient under the middle of each window."""
    k, n, pad = len(tr.kernel), len(tr.inp), tr.pad
    width = n + 2 * pad
    flipped, products, result = _blank(width), _blank(width), _blank(width)
    for q in range(k):
        flipped[o + q] = tr.flipped[q]
    for pp in range(p + 1):
        t = tr.term(o, pp)
        products[t.pad_index] = t.product
    for done in range(o):
        result[done + pad] = tr.input_grad[done]
    result[o + pad] = tr.term(o, p).running
    grey = tuple(range(pad)) + tuple(range(pad + n, width))
    rows = [(_("output_pad"), list(tr.output_pad), grey), (_("flipped kernel"), flipped, ()),
            (_("products"), products, ()), (_("input_grad"), result, ())]
    labels = [_("pad")] * pad + [f"g[{i}]" for i in range(n)] + [_("pad")] * pad
    j = tr.term(o, p).pad_index
    return strips(rows, labels, boxes=[(0, o, 3, k), (3, o + pad, 1, 1)], dotted=[(0, j), (1, j)])


def flip_figure(tr: tb.InputGrad1DTrace) -> go.Figure:
    return strips([(_("kernel param"), list(tr.kernel), ()), (_("flipped"), list(tr.flipped), ())],
                  [f"{i}" for i in range(len(tr.kernel))], height=150)


# ---------------------------------------------------------------------------------------------- 1D filter gradient


def param_grad_figure(tr: tb.ParamGrad1DTrace, p: int, step: int) -> go.Figure:
    """For each observation: its padded input, its output gradient shifted right by ``p`` (so ``g[o]`` sits under
    ``input_pad[o + p]``), and the products; the terms after ``step`` are not done yet."""
    terms = tr.terms(p)
    current = terms[step]
    width = len(tr.input_pad[0])
    pad, n = tr.pad, len(tr.inp[0])
    grey = tuple(range(pad)) + tuple(range(pad + n, width))
    rows, boxes = [], []
    for i, xrow in enumerate(tr.input_pad):
        g, prod = _blank(width), _blank(width)
        for o, v in enumerate(tr.output_grad[i]):
            g[o + p] = v
        for t in terms[:step + 1]:
            if t.obs == i:
                prod[t.pad_index] = t.product
        top = len(rows)
        rows += [(_("input_pad {}").format(i), list(xrow), grey), (_("output_grad {} →{}").format(i, p), g, ()),
                 (_("products {}").format(i), prod, ())]
        boxes.append((top, p, 3, n))
    y = 3 * current.obs
    labels = [str(i) for i in range(width)]
    return strips(rows, labels, boxes=boxes, dotted=[(y, current.pad_index), (y + 1, current.pad_index)])


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
