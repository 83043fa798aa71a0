"""The 2D backward lesson's panels: each draws the grids of one idea and the sum of the selected cell.

Records come from :mod:`smartflow_core.trace.backward_2d`; grids from :func:`app.charts.grid`.
"""
from __future__ import annotations

import streamlit as st

from app import charts
from app.i18n import _
from app.lessons import backward
from smartflow_core.trace import backward_2d as tb2

SMALL = 230  # height of a small grid


def _chart(col, fig, key: str) -> None:
    col.plotly_chart(fig, key=key, config={"displayModeBar": False})


def show_example(tr: tb2.Grad2DTrace) -> None:
    """Every input channel, filter and output-gradient map of the example."""
    b, cin, cout = tr.x.shape[0], tr.x.shape[1], tr.param.shape[1]
    cols = st.columns(max(b * cin, cin * cout, b * cout))
    for n in range(b):
        for c in range(cin):
            _chart(cols[n * cin + c], charts.grid(tr.x[n, c], title=_("x[{}, {}]").format(n, c), height=SMALL),
                   f"b2_fig_x{n}{c}")
    cols = st.columns(max(b * cin, cin * cout, b * cout))
    for c in range(cin):
        for o in range(cout):
            _chart(cols[c * cout + o], charts.grid(tr.param[c, o], title=_("W[{}, {}]").format(c, o), height=SMALL),
                   f"b2_fig_w{c}{o}")
    cols = st.columns(max(b * cin, cin * cout, b * cout))
    for n in range(b):
        for o in range(cout):
            _chart(cols[n * cout + o], charts.grid(tr.output_grad[n, o], title=_("dL/dout[{}, {}]").format(n, o),
                                                   height=SMALL), f"b2_fig_g{n}{o}")


def show_input_cell(tr: tb2.Grad2DTrace, n: int, c: int, r: int, q: int) -> None:
    """dL/dX[n, c, r, q]: the flipped kernel over the dilated, fully padded output gradient of each output
    channel, then the crop."""
    k, cout = tr.k, tr.param.shape[1]
    top, left = r + tr.pad, q + tr.pad
    inside = top + k <= tr.full.shape[2] and left + k <= tr.full.shape[3]
    cell = tr.input_cell(n, c, r, q)
    parts = []
    for o in range(cout):
        a, b = st.columns([3, 2], vertical_alignment="center")
        fig = charts.grid(tr.full[n, o], pad=k - 1, window=(top, left, k, k) if inside else None, height=380,
                          title=_("output channel {}: dL/dout[{}, {}], dilated, padded by k − 1 = {}").format(
                              o, n, o, k - 1))
        _chart(a, fig, f"b2_fig_full{o}")
        _chart(b, charts.grid(tr.flipped[c, o], title=_("W[{}, {}] turned by 180°").format(c, o), height=SMALL),
               f"b2_fig_flip{o}")
        terms = [t for t in cell.terms if t.c_out == o]
        parts.append(sum(t.product for t in terms))
        b.markdown(backward.terms_line([(t.a, t.b) for t in terms], parts[-1], _("channel {}").format(o)))
    if not inside:
        st.info(_("No window starts far enough to reach this cell: the stride skipped it, so its gradient is 0."))
    a, b = st.columns(2)
    h, w = tr.x.shape[2:]
    _chart(a, charts.grid(tr.grad_padded[n, c], window=(tr.pad, tr.pad, h, w), height=300,
                          title=_("dL/d(padded x[{}, {}]): keep the box").format(n, c)), "b2_fig_gpad")
    _chart(b, charts.grid(tr.input_grad[n, c], window=(r, q, 1, 1), height=300,
                          title=_("dL/dx[{}, {}] (cropped)").format(n, c)), "b2_fig_dx")
    st.markdown(f"`dL/dx[{n}, {c}, {r}, {q}]` = " + " + ".join(backward.signed(v) for v in parts) +
                f" = **{charts.fmt(cell.value)}**")
    st.caption(_("Each channel's line pairs the output gradients under the box with the turned kernel: the output "
                 "cells whose windows covered x[{}, {}, {}, {}], times the weight that met the cell there ({} terms "
                 "in all; the zeros of the padding and the dilation add nothing).").format(n, c, r, q,
                                                                                         len(cell.terms)))


def show_weight(tr: tb2.Grad2DTrace, c: int, o: int, i: int, j: int) -> None:
    """dL/dW[c, o, i, j]: for each observation, the padded input under the (dilated) output gradient shifted by
    (i, j)."""
    fh, fw = tr.dilated.shape[2:]
    s = tr.stride
    oh, ow = tr.output_grad.shape[2:]
    marks = [(i + y * s, j + x * s) for y in range(oh) for x in range(ow)] if s > 1 else []
    parts = []
    for n in range(tr.x.shape[0]):
        a, b = st.columns(2)
        _chart(a, charts.grid(tr.x_pad[n, c], pad=tr.pad, window=None if marks else (i, j, fh, fw), marks=marks,
                              height=300,
                              title=_("padded x[{}, {}]: the cells weight ({}, {}) met").format(n, c, i, j)),
               f"b2_fig_xpad{n}")
        name = _("dL/dout[{}, {}], dilated").format(n, o) if s > 1 else _("dL/dout[{}, {}]").format(n, o)
        _chart(b, charts.grid(tr.dilated[n, o], height=300, title=name), f"b2_fig_dil{n}")
        parts.append(float(tr.per_obs_param[n, c, o, i, j]))
        cell = [t for t in tr.param_cell(c, o, i, j).terms if t.obs == n]
        st.markdown(backward.terms_line([(t.a, t.b) for t in cell], parts[-1], _("observation {}").format(n)))
    total = tr.param_grad[c, o, i, j]
    st.markdown(f"`dL/dW[{c}, {o}, {i}, {j}]` = " + " + ".join(backward.signed(v) for v in parts) +
                f" = **{charts.fmt(total)}**")
