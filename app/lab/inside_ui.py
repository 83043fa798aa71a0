"""One test digit through a network: its picture, the class probabilities, and every layer's output.

Used by the training lab (on the run's latest weights) and the Evaluate page (on the model evaluated). The network
passed in must be the caller's own copy: a forward pass stores activations in its layers.
"""
from __future__ import annotations

import streamlit as st

from app import resources
from app.i18n import _
from app.lab import charts as train_charts
from smartflow_core import insight
from smartflow_core.nn import NeuralNetwork
from smartflow_core.presets import prepare_images


def digit(net: NeuralNetwork, data: resources.Mnist, index: int, prefix: str, picture=None) -> None:
    """The probabilities (in ``picture``, a column, when given) and the feature maps of every layer, two per row."""
    x = prepare_images(data.X_test[index:index + 1], next(iter(net.params())).dtype)
    true = int(data.y_test[index])
    where = picture if picture is not None else st
    where.plotly_chart(train_charts.probability_figure(insight.probabilities(net, x), true, height=210),
                       key=f"{prefix}_probs")
    where.caption(_("Green: the true digit; orange: a wrong answer."))
    layers = insight.feature_maps(net, x)
    cols = st.columns(2)
    for n, (title, maps) in enumerate(layers):
        col = cols[n % 2]
        if maps.ndim == 3:
            col.plotly_chart(train_charts.maps_figure(maps, title), key=f"{prefix}_maps_{n}")
        else:
            last = n == len(layers) - 1
            col.plotly_chart(train_charts.vector_figure(
                maps, title + (_(": a score per digit") if last else ""),
                [str(d) for d in range(len(maps))] if last else None), key=f"{prefix}_maps_{n}")
    st.caption(_("Each heatmap shows one layer's output maps side by side, on one colour scale: purple positive, "
                 "orange negative, white zero. Convolutions find strokes; pooling keeps the strongest response "
                 "of each 2×2 window; the last layer's scores become the probabilities above."))


__all__ = ["digit"]
