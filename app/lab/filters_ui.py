"""The training lab's filters view: any convolution layer's filters at the start of the run, now, and the change,
side by side and large enough to see.

The choice of layer and input channel is drawn outside the ticking fragments (:func:`controls`), the three panels
inside (:func:`panels`). The keys are this view's own (``tr_filters_*``); Streamlit forgets them when the learner
leaves the page, and the view then opens on the first layer again.
"""
from __future__ import annotations

import streamlit as st

from app import state, view
from app.charts import limit
from app.i18n import _
from app.lab import builder
from app.lab import charts as train_charts
from app.lab.filters import Change, layer_filters, per_output
from app.lab.run import TrainingRun

LAYER, CHANNEL = state.TR_FILTERS_LAYER, state.TR_FILTERS_CHANNEL  # kept across pages (app/state.py)
MEAN = -1  # the channel menu's "mean over every input channel"


def conv_layers(model: dict) -> list[tuple[int, str, int]]:
    """``(position from 1, name, input channels)`` of every convolution of a model config."""
    found, channels = [], 1
    for n, spec in enumerate(model["layers"], 1):
        if spec["type"] == "Conv2DLayer":
            found.append((n, builder.layer_name(n, spec), channels))
            channels = spec["out_channels"]
    return found


def controls(run: TrainingRun) -> tuple[int, int | None]:
    """Which convolution (its position) and which of its input channels (None: their mean)."""
    layers = conv_layers(run.config.model_config)
    if not layers:
        return 0, None
    ss = st.session_state
    positions = [n for n, _name, _c in layers]
    if ss.get(LAYER) not in positions:
        ss[LAYER] = positions[0]
    names = {n: name for n, name, _c in layers}
    c1, c2 = st.columns(2)
    position = view.widget(c1.selectbox, _("Layer"), positions, key=LAYER, format_func=names.get, help=_(
        "Any convolution of the network. The first reads the image; a deeper one reads the maps of the one "
        "before, so each of its filters has a k×k grid of weights per input channel."))
    inputs = dict((n, c) for n, _name, c in layers)[position]
    if inputs == 1:
        return position, 0
    options = [MEAN, *range(inputs)]
    if ss.get(CHANNEL) not in options:
        ss[CHANNEL] = MEAN
    channel = view.widget(c2.selectbox, _("Input channel"), options, key=CHANNEL, format_func=lambda c: _(
        "the mean of all {}").format(inputs) if c == MEAN else _("channel {}").format(c + 1), help=_(
        "This layer's filters have {} grids each, one per map it reads: show their mean, or one of them.").format(
        inputs))
    return position, None if channel == MEAN else channel


def _which(inputs: int, channel: int | None) -> str:
    if inputs == 1:
        return _("the image has one channel, so this is the whole filter")
    if channel is None:
        return _("the mean of its {} grids, one per input channel").format(inputs)
    return _("its grid for input channel {} of {}").format(channel + 1, inputs)


def panels(run: TrainingRun, position: int, channel: int | None, step: int) -> None:
    """Start, now and change of the chosen layer's filters, with the sizes of the weights in numbers."""
    chosen = [f for f in layer_filters(run) if f.position == position]
    if not chosen or chosen[0].now is None:
        st.caption(_("The filters appear after the first batch."))
        return
    layer = chosen[0]
    start, now = per_output(layer.start, channel), per_output(layer.now, channel)
    change, m = now - start, limit(start, now)
    c = st.columns(3)
    picture = {"displayModeBar": False}  # nothing to zoom or pan: the toolbar would only cover the titles
    c[0].plotly_chart(train_charts.filter_grid_figure(start, _("Start: as the run began"), m),
                      key="tr_filters_start", config=picture)
    c[1].plotly_chart(train_charts.filter_grid_figure(now, _("Now: after step {}").format(step), m), key="tr_filters",
                      config=picture)
    c[2].plotly_chart(train_charts.filter_grid_figure(change, _("Change: now − start"), what=_("change")),
                      key="tr_filters_change", config=picture)
    k, moved = start.shape[-1], Change.of(layer.start, layer.now)
    st.caption(_(
        "{}: each tile is one of its {} filters, {}×{} weights ({}). Purple weights add what they cover, orange "
        "ones subtract it. Start and Now share one colour scale; Change has its own, {:.1f} times finer, so small "
        "moves show. A typical weight of this layer (root mean square) was {:.3f} at the start and is {:.3f} now; "
        "it moved by {:.3f}, {:.0%} of its starting size.").format(
        layer.name, len(start), k, k, _which(layer.in_channels, channel), m / limit(change), moved.start,
        moved.now, moved.change, moved.relative))


__all__ = ["controls", "panels", "conv_layers", "LAYER", "CHANNEL"]
