"""The 2D backward lesson's example panel: every input, filter and output gradient of the problem (the cells and
terms are stepped through by :mod:`app.lessons.stepper`).

Records come from :mod:`smartflow_core.trace.backward_2d`; grids from :func:`app.charts.grid`.
"""
from __future__ import annotations

import streamlit as st

from app import charts
from app.i18n import _
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
