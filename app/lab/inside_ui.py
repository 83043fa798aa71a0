"""One digit through a network: its picture, the class probabilities, and every layer's output.

Used by the training lab (on the run's latest weights) and the Evaluate page (on the model evaluated); the Draw
page draws its maps with the same pictures (:mod:`app.inside_charts`) and the same colour-range choice
(:func:`range_control`). The network passed in must be the caller's own copy: a forward pass stores activations in
its layers.
"""
from __future__ import annotations

import streamlit as st

from app import inside_charts, resources, view
from app.i18n import N_, _
from app.lab import charts as train_charts
from smartflow_core import insight
from smartflow_core.nn import NeuralNetwork
from smartflow_core.presets import prepare_images

RANGE_NAMES = {"map": N_("each map its own"), "layer": N_("one per layer")}


def range_control(key: str) -> bool:
    """The feature maps' colour range: True for each map on its own range (the default), False for one per layer."""
    choice = view.widget(st.radio, _("Colour range of the maps"), inside_charts.RANGES, key=key, horizontal=True,
                         format_func=lambda r: _(RANGE_NAMES[r]), help=_(
                             "Each map its own: every map spans the whole colour scale, its range printed above it, "
                             "so a weak map still shows its pattern. One per layer: one scale for the layer's maps, "
                             "so you see which maps respond most (weak ones look blank)."))
    return choice != "layer"


def range_caption(tiles: inside_charts.Tiles, per_map: bool) -> str:
    """What a layer's colours mean, under its picture."""
    if per_map:
        return _("Each map on its own colour range, printed above it: white 0, darkest purple +range, darkest "
                 "orange −range.")
    m = inside_charts.range_text(tiles.limits.max(initial=0)).lstrip("±")
    return _("One colour range for the whole layer: white 0, darkest purple +{}, darkest orange −{}.").format(m, m)


def digit(net: NeuralNetwork, data: resources.Mnist, index: int, prefix: str, picture=None,
          per_map: bool = True) -> None:
    """The probabilities (in ``picture``, a column, when given) and the feature maps of every layer, two per row,
    each map on its own colour range (``per_map``) or one range per layer."""
    x = prepare_images(data.X_test[index:index + 1], next(iter(net.params())).dtype)
    true = int(data.y_test[index])
    where = picture if picture is not None else st
    where.plotly_chart(train_charts.probability_figure(insight.probabilities(net, x), true, height=210),
                       key=f"{prefix}_probs", config={"displayModeBar": False})  # narrow: its toolbar took two rows
    where.caption(_("Green: the true digit; orange: a wrong answer."))
    layers = insight.feature_maps(net, x)
    for n, (title, maps) in enumerate(layers):
        if n % 2 == 0:  # a row of two at a time: on a phone the rows stack in the layers' order
            cols = st.columns(2)
        col = cols[n % 2]
        if maps.ndim == 3:
            col.plotly_chart(inside_charts.layer_figure(maps, title, per_map), key=f"{prefix}_maps_{n}",
                             config={"displayModeBar": False})  # a picture: nothing to zoom, its title kept clear
        else:
            last = n == len(layers) - 1
            col.plotly_chart(train_charts.vector_figure(
                maps, title + (_(": a score per digit") if last else ""),
                [str(d) for d in range(len(maps))] if last else None), key=f"{prefix}_maps_{n}")
    st.caption((_("Each map is on its own colour range, printed above it") if per_map else _(
        "Each layer's maps share one colour range")) + _(
        ": purple positive, orange negative, white zero; hover over a cell for its value. Convolutions find "
        "strokes; pooling keeps the strongest response of each 2×2 window; the last layer's scores become the "
        "probabilities above."))


__all__ = ["digit", "range_control", "range_caption"]
