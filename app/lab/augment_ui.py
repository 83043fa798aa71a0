"""Augmentation in the training lab: the control with a strip of augmented copies of a few training digits, and,
once a run has evaluated, its accuracy on the plain and on the distorted test digits side by side.

The strength names a preset of :data:`smartflow_core.augment.AUGMENT_PRESETS`; the run's worker passes it to
``Trainer.fit`` and measures every evaluation on an augmented copy of the test digits too
(:data:`app.lab.training.AUG_TEST`, one fixed seed for every run), so runs with and without it compare on both.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import resources, state, view
from app.charts import heading
from app.i18n import N_, _
from app.lab.charts import GRID, RUN_COLOURS, Curve, _curve_layout
from app.lab.training import AUG_TEST
from smartflow_core.augment import AUGMENT_PRESETS, preview_strip

# one per smartflow_core.augment.AUGMENT_PRESETS
AUGMENT_LABELS = {"none": N_("off"), "light": N_("light"), "medium": N_("medium"), "strong": N_("strong")}
PREVIEW_DIGITS, PREVIEW_COPIES, PREVIEW_SEED, PREVIEW_ZOOM = 3, 8, 1, 2  # the strip: rows, copies, seed, zoom


@st.cache_data(max_entries=8, show_spinner=False)
def preview_picture(X: np.ndarray, strength: str, seed: int = PREVIEW_SEED) -> np.ndarray:
    """A few digits (uint8 (n, 784)), each followed by :data:`PREVIEW_COPIES` augmented copies, tiled into one
    picture (rows of digits, grey gaps), enlarged :data:`PREVIEW_ZOOM` times: uint8 (height, width)."""
    strip = preview_strip(X, AUGMENT_PRESETS[strength], k=PREVIEW_COPIES, seed=seed)  # (n, 1 + k, 28, 28)
    n, k, h, w = strip.shape
    out = np.full((n * (h + 2) - 2, k * (w + 2) - 2), 128, np.uint8)
    for i in range(n):
        for j in range(k):
            out[i * (h + 2):i * (h + 2) + h, j * (w + 2):j * (w + 2) + w] = strip[i, j]
    return out.repeat(PREVIEW_ZOOM, axis=0).repeat(PREVIEW_ZOOM, axis=1)


def control(data: resources.Mnist, locked: bool = False) -> str:
    """The augmentation control and, when it is on, a strip of augmented copies of a few training digits; returns
    the strength. Off by default and with every preset (the chapter's model never augments unless asked)."""
    left, right = st.columns([2, 3])
    strength = view.widget(left.radio, _("Augmentation"), tuple(AUGMENT_PRESETS), key=state.TR_AUGMENT,
                           horizontal=True, disabled=locked, format_func=lambda a: _(AUGMENT_LABELS.get(a, a)),
                           help=_("Train on randomly transformed copies of every batch: shifted, rotated, scaled, "
                                  "sheared, thickened or thinned and elastically distorted, new copies each time. "
                                  "A step costs about the same; the network must learn more, so it needs more epochs "
                                  "for the same accuracy on plain digits, and reads digits drawn or typed unlike "
                                  "MNIST's better. The chart under the accuracy compares runs on both."))
    if view.hidden("aug"):
        return strength
    if strength == "none":
        left.caption(_("Off: the network sees every training digit exactly as MNIST stores it. Convolution "
                       "shifts with its input and pooling forgives a pixel or two, but nothing gives a network "
                       "rotation or stroke-width invariance for free: it has to see them."))
        return strength
    right.image(preview_picture(data.X_train[:PREVIEW_DIGITS], strength), caption=_(
        "{} augmentation: each row is a training digit (left) and {} copies the network could see instead, one "
        "per batch.").format(_(AUGMENT_LABELS[strength]).capitalize(), PREVIEW_COPIES))
    left.caption(str(AUGMENT_PRESETS[strength]))
    return strength


# ---------------------------------------------------------------------------------------------- plain and distorted


def _with_aug(c: Curve) -> list:
    return [e for e in c.evals if getattr(e, "aug_accuracy", None) is not None]


def augmented_figure(curves: list[Curve], height: int = 320) -> go.Figure:
    """Each run's test accuracy on the plain test digits (solid) and on an augmented copy of them (dotted), at
    every evaluation: what augmentation buys (the dotted line) and costs (the solid one)."""
    fig = go.Figure()
    for n, c in enumerate(curves):
        evals = _with_aug(c)
        if not evals:
            continue
        colour = RUN_COLOURS[n % len(RUN_COLOURS)] if not c.current else RUN_COLOURS[0]
        name = _("this run") if c.current else c.label
        x = [e.step / c.batches_per_epoch for e in evals]
        for values, what, dash in (([e.accuracy for e in evals], _("plain"), None),
                                   ([e.aug_accuracy for e in evals], _("distorted"), "dot")):
            fig.add_scatter(x=x, y=values, mode="lines+markers", name=f"{name}: {what}",
                            line=dict(color=colour, width=3 if c.current else 2, dash=dash),
                            hovertemplate="%{y:.1f} %<extra>" + f"{name[:24]}: {what}" + "</extra>")
    _curve_layout(fig, _("Plain and distorted test digits"), _("% of test digits right"), height)
    accs = [v for c in curves for e in _with_aug(c) for v in (e.accuracy, e.aug_accuracy)]
    if accs:
        fig.update_yaxes(range=[max(0.0, min(accs) - 5), min(max(accs) + 2, 100.5)])
    else:
        fig.update_yaxes(range=[0, 100])
        fig.update_xaxes(range=[0, 1])
        fig.add_annotation(x=0.5, y=50, text=_("no evaluation yet"), showarrow=False, font=dict(color="#888"))
    return fig


def augmented_bars(curves: list[Curve], height: int = 320) -> go.Figure:
    """The last evaluation of each run, plain and distorted test digits side by side."""
    runs = [(c, _with_aug(c)[-1]) for c in curves if _with_aug(c)]
    names = [_("this run") if c.current else c.label for c, _e in runs]
    fig = go.Figure()
    for what, values, colour in ((_("plain test digits"), [e.accuracy for _c, e in runs], RUN_COLOURS[0]),
                                 (_("distorted test digits"), [e.aug_accuracy for _c, e in runs], RUN_COLOURS[1])):
        fig.add_bar(x=names, y=values, name=what, marker_color=colour, text=[f"{v:.1f}" for v in values],
                    textposition="outside", hovertemplate="%{y:.1f} %<extra>" + what + "</extra>")
    fig.update_layout(barmode="group", height=height, margin=dict(l=8, r=8, t=40, b=8), plot_bgcolor="white",
                      title=heading(_("At the last evaluation"), 14),
                      legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left"))
    fig.update_yaxes(title=_("% of test digits right"), range=[0, 105], gridcolor=GRID)
    fig.update_xaxes(tickangle=0, automargin=True)
    return fig


def charts(curves: list[Curve]) -> None:
    """The two figures side by side, once some run shown has an accuracy on distorted digits."""
    if not any(_with_aug(c) for c in curves):
        return
    c1, c2 = st.columns(2)
    c1.plotly_chart(augmented_figure(curves), key="tr_augmented_chart")
    c2.plotly_chart(augmented_bars(curves), key="tr_augmented_bars")
    st.caption(_("Distorted: the same test digits, each transformed once by {} augmentation from a fixed seed, "
                 "the same copy for every run. Train once with augmentation off and once with it on, overlay "
                 "the runs, and compare: the gap between a run's solid and dotted lines is what its network "
                 "has not learned to ignore.").format(_(AUGMENT_LABELS[AUG_TEST])))


__all__ = ["control", "charts", "preview_picture", "augmented_figure", "augmented_bars", "AUGMENT_LABELS"]
