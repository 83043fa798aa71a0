"""Plotly figures for the labs: loss and accuracy curves (one run or several overlaid), filters and feature maps
tiled into one heatmap each, gradient sizes per layer, the confusion matrix, class probabilities.

Many small maps are drawn as ONE heatmap with blank gaps between tiles (docs/ARCHITECTURE.md, Streamlit rule S5: a
grid of subplots takes 100 times longer to build and draw). Diverging values use the lessons' colour scale
(:data:`app.charts.SCALE`: orange below zero, white at zero, purple above), with limits symmetric around zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from app.charts import SCALE, heading, limit
from app.i18n import _

RUN_COLOURS = ("#5e3c99", "#e66101", "#1b9e77", "#666666", "#d95f02")
RAW_POINTS = 3000  # loss points drawn at most per line; the moving average is computed over every batch
GRID = "#ececec"


@dataclass(frozen=True)
class Curve:
    """One run's curves, x in epochs (step / batches per epoch) so runs of any batch size line up."""
    label: str
    losses: tuple  # (step, loss)
    evals: tuple  # EvalInfo (step, accuracy, ...)
    batches_per_epoch: int
    current: bool = False

    @classmethod
    def of(cls, snap, current: bool = False) -> Curve:
        return cls(snap.label, snap.losses, snap.evals, max(snap.batches_per_epoch, 1), current)


def smooth(values, window: int) -> np.ndarray:
    """Exponential moving average with a debiased start (TensorBoard's smoothing), ``window`` ~ batches it spans."""
    v = np.asarray(values, dtype=np.float64)
    out, beta, acc = np.empty_like(v), 1 - 1 / max(window, 1), 0.0
    for i, x in enumerate(v):
        acc = beta * acc + (1 - beta) * x
        out[i] = acc / (1 - beta ** (i + 1))
    return out


def smoothing_window(batches_per_epoch: int) -> int:
    return int(min(max(batches_per_epoch // 10, 5), 50))


LEGEND_ROW = 19  # pixels a legend row takes: a figure grows by this much per entry past the first two


def _curve_layout(fig: go.Figure, title: str, y_title: str, height: int) -> go.Figure:
    """The curves' common frame. The legend sits at the bottom of the figure, under the x-axis title (``yref``
    "container": Plotly then makes room for it), never above the plot, where its rows, wrapping on a narrow
    screen, were drawn over the title; the figure grows a row per entry, so the plot keeps its height."""
    entries = sum(1 for trace in fig.data if trace.showlegend is not False)
    fig.update_layout(height=height + LEGEND_ROW * max(entries - 2, 0), margin=dict(l=8, r=8, t=40, b=8),
                      title=heading(title, 14), plot_bgcolor="white", uirevision="keep",
                      hovermode="x unified", legend=dict(orientation="h", yref="container", y=0, yanchor="bottom",
                                                         x=0, xanchor="left", font=dict(size=11)))
    fig.update_xaxes(title=_("epochs"), gridcolor=GRID, zeroline=False, rangemode="tozero")
    fig.update_yaxes(title=y_title, gridcolor=GRID, zeroline=False)
    return fig


def loss_figure(curves: list[Curve], height: int = 320) -> go.Figure:
    """Loss per batch (light) and its moving average (bold) for the current run; the other runs' averages."""
    fig = go.Figure()
    for n, c in enumerate(curves):
        if not c.losses:
            continue
        colour = RUN_COLOURS[n % len(RUN_COLOURS)] if not c.current else RUN_COLOURS[0]
        steps, loss = np.array(c.losses, dtype=np.float64).T
        x, average = steps / c.batches_per_epoch, smooth(loss, smoothing_window(c.batches_per_epoch))
        every = max(1, math.ceil(len(x) / RAW_POINTS))  # long runs: draw every n-th point (averaged over all)
        if c.current:
            fig.add_scatter(x=x[::every], y=loss[::every], mode="lines", name=_("loss per batch"),
                            line=dict(color="#b9a9d6", width=1),
                            hovertemplate="%{y:.3f}<extra>" + _("batch") + "</extra>")
        fig.add_scatter(x=x[::every], y=average[::every], mode="lines",
                        name=_("moving average") if c.current else c.label,
                        line=dict(color=colour, width=3 if c.current else 2, dash=None if c.current else "dash"),
                        hovertemplate="%{y:.3f}<extra>" + (_("average") if c.current else c.label[:24]) + "</extra>")
    _curve_layout(fig, _("Training loss"), _("cross-entropy loss"), height)
    fig.update_yaxes(rangemode="tozero")
    return fig


def accuracy_figure(curves: list[Curve], height: int = 320, empty: str = "") -> go.Figure:
    """Test accuracy at each evaluation, for every run given (``empty``: what to say before the first)."""
    fig = go.Figure()
    for n, c in enumerate(curves):
        if not c.evals:
            continue
        colour = RUN_COLOURS[n % len(RUN_COLOURS)] if not c.current else RUN_COLOURS[0]
        x = [e.step / c.batches_per_epoch for e in c.evals]
        fig.add_scatter(x=x, y=[e.accuracy for e in c.evals], mode="lines+markers",
                        name=_("this run") if c.current else c.label,
                        line=dict(color=colour, width=3 if c.current else 2, dash=None if c.current else "dash"),
                        hovertemplate="%{y:.1f} %<extra>" + (_("this run") if c.current else c.label[:24]) + "</extra>")
    _curve_layout(fig, _("Test accuracy"), _("% of test digits right"), height)
    accs = [e.accuracy for c in curves for e in c.evals]
    if accs:
        fig.update_yaxes(range=[max(0.0, min(accs) - 5), min(max(accs) + 2, 100.5)])
    else:
        fig.update_yaxes(range=[0, 100])
        fig.update_xaxes(range=[0, 1])
        fig.add_annotation(x=0.5, y=50, text=empty or _("no evaluation yet"), showarrow=False, font=dict(color="#888"))
    return fig


# ---------------------------------------------------------------------------------------------- tiled maps


def tile(maps: np.ndarray, cols: int | None = None, gap: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(n, h, w) -> one (rows*(h+gap)-gap, cols*(w+gap)-gap) picture with NaN gaps, and each cell's map index
    (-1 in the gaps). ``cols`` defaults to a near-square layout."""
    maps = np.asarray(maps, dtype=np.float32)
    n, h, w = maps.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, dtype=np.float32)
    index = np.full(out.shape, -1, dtype=np.int16)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = maps[i]
        index[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = i
    return out, index


def maps_figure(maps: np.ndarray, title: str, what: str = "map", cols: int | None = None,
                height: int | None = None) -> go.Figure:
    """Every map of a layer (or every filter) side by side in one heatmap, on one colour scale."""
    z, index = tile(maps, cols)
    m = limit(maps)
    fig = go.Figure(go.Heatmap(z=z, customdata=index, zmin=-m, zmax=m, colorscale=SCALE, showscale=True,
                               colorbar=dict(thickness=10, len=0.8, outlinewidth=0),
                               hovertemplate=f"{what} %{{customdata}}: %{{z:.3f}}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    rows, cols_px = z.shape
    fig.update_layout(title=heading(title, 13), plot_bgcolor="white", dragmode=False,
                      height=height or int(min(420, max(160, 260 * rows / max(cols_px, 1) + 60))),
                      margin=dict(l=4, r=4, t=36, b=4))
    return fig


def filters_figure(filters: np.ndarray, title: str = "") -> go.Figure:
    """The first convolution's filters ``(in_channels, out_channels, k, k)``; input channel 0 (MNIST has one)."""
    w = np.asarray(filters)[0]
    k = w.shape[-1]
    return maps_figure(w, title or _("First-layer filters: {} of {}×{}").format(len(w), k, k), what=_("filter"))


FILTER_PX = 42  # pixels a filter gets at least in the start | now | change panels, so a 5x5 pattern shows
PANEL_PX = 255  # the plot width of one of three panels side by side on a desktop page (measured: 263 px wide)


def filter_grid_figure(filters: np.ndarray, title: str, m: float | None = None, what: str = "") -> go.Figure:
    """Filters ``(n, k, k)`` tiled in one heatmap on the scale -m..m (default: their own largest value), each
    about :data:`FILTER_PX` px (at most as many columns as fit a :data:`PANEL_PX` panel), with the colour bar
    underneath so that panels side by side keep the same width."""
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged run's weights: inf, drawn as the limit
        filters = np.asarray(filters, dtype=np.float32)
    n, k = len(filters), filters.shape[-1]
    cell = max(FILTER_PX / k, 2.0)  # pixels per weight
    cols = max(1, min(math.ceil(math.sqrt(n)), int((PANEL_PX + cell) // ((k + 1) * cell))))
    z, index = tile(filters, cols)
    m = limit(filters) if m is None else m
    fig = go.Figure(go.Heatmap(
        z=z, customdata=index, zmin=-m, zmax=m, colorscale=SCALE, showscale=True,
        colorbar=dict(orientation="h", thickness=8, len=0.9, y=-0.02, yanchor="top", outlinewidth=0,
                      tickfont=dict(size=10)),
        hovertemplate=(what or _("filter")) + " %{customdata}: %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, ticks="", showgrid=False,
                     zeroline=False)
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False, constrain="domain")
    fig.update_layout(title=heading(title, 13, toolbar=False), plot_bgcolor="white", dragmode=False,  # shown without
                      height=int(min(900, z.shape[0] * cell + 90)), margin=dict(l=4, r=4, t=32, b=44))  # it
    return fig


def vector_figure(values: np.ndarray, title: str, labels=None, height: int = 220) -> go.Figure:
    """A dense layer's outputs as bars (one per neuron, or per digit for the last layer)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    x = list(labels) if labels is not None else list(range(len(v)))
    fig = go.Figure(go.Bar(x=x, y=v, marker_color=np.where(v >= 0, RUN_COLOURS[0], RUN_COLOURS[1]),
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(title=heading(title, 13), height=height, plot_bgcolor="white",
                      margin=dict(l=8, r=8, t=36, b=8), bargap=0.15)
    fig.update_xaxes(type="category" if labels is not None else "linear", showgrid=False)
    fig.update_yaxes(gridcolor=GRID, zerolinecolor="#999")
    return fig


def probability_figure(probs: np.ndarray, true: int | None = None, height: int = 220) -> go.Figure:
    """The ten class probabilities; the true class in green, the model's answer (if wrong) in orange."""
    p = np.asarray(probs, dtype=np.float64)
    guess = int(p.argmax())
    colours = ["#bbbbbb"] * len(p)
    colours[guess] = RUN_COLOURS[1] if true is not None and guess != true else RUN_COLOURS[0]
    if true is not None:
        colours[true] = RUN_COLOURS[2]
    fig = go.Figure(go.Bar(x=[str(d) for d in range(len(p))], y=p, marker_color=colours,
                           text=[f"{v:.0%}" if v >= 0.01 else "" for v in p], textposition="outside",
                           hovertemplate=_("digit") + " %{x}: %{y:.1%}<extra></extra>"))
    fig.update_layout(title=heading(_("Probabilities"), 13), height=height, plot_bgcolor="white",
                      bargap=0.2, margin=dict(l=8, r=8, t=36, b=8))
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", gridcolor=GRID)
    fig.update_xaxes(type="category", title=_("digit"))
    return fig


def gradient_figure(labels: tuple, norms: tuple, batches_per_epoch: int, height: int = 320) -> go.Figure:
    """Each parameter's gradient size per weight (root mean square) over training, on a log scale."""
    fig = go.Figure()
    if norms:
        steps = np.array([s for s, _ in norms], dtype=np.float64) / max(batches_per_epoch, 1)
        values = np.array([v for _, v in norms], dtype=np.float64)
        for j, label in enumerate(labels):
            fig.add_scatter(x=steps, y=np.where(values[:, j] > 0, values[:, j], np.nan), mode="lines", name=label,
                            line=dict(width=2, dash="dot" if label.endswith("bias") else None),
                            hovertemplate="%{y:.2e}<extra>" + label + "</extra>")
    _curve_layout(fig, _("Gradient size per weight, by layer"), _("rms gradient (log scale)"), height)
    fig.update_yaxes(type="log", exponentformat="power")
    return fig


# ---------------------------------------------------------------------------------------------- confusion matrix


def confusion_figure(confusion: np.ndarray, selected: tuple[int, int] | None = None, height: int = 480) -> go.Figure:
    """Counts of (true digit, predicted digit). Right answers on the diagonal in pale purple; mistakes on their own
    orange scale, so a handful of confusions stands out next to a thousand right answers. Every cell is also an
    invisible marker, so a click selects it (``on_select``: the point's ``customdata`` is ``[true, predicted]``)."""
    c = np.asarray(confusion, dtype=np.float64)
    n = len(c)
    eye = np.eye(n, dtype=bool)
    right, wrong = np.where(eye, c, np.nan), np.where(~eye, c, np.nan)
    text = [[str(int(v)) for v in row] for row in c]
    wrong_max = max(np.nanmax(wrong) if np.isfinite(wrong).any() else 1.0, 1.0)
    common = dict(text=text, texttemplate="%{text}", xgap=2, ygap=2, showscale=False, hoverinfo="skip")
    fig = go.Figure([
        go.Heatmap(z=right, colorscale=[[0, "#e4dcf0"], [1, "#a08ccb"]], zmin=0, zmax=max(np.nanmax(right), 1),
                   textfont=dict(size=13, color="#1a1a1a"), **common),
        go.Heatmap(z=wrong, colorscale=[[0, "#fff5eb"], [1, "#d94801"]], zmin=0, zmax=wrong_max,
                   textfont=dict(size=13), **common),
    ])
    true, pred = np.divmod(np.arange(n * n), n)
    # the hover and the click belong to these invisible markers, one per cell (a heatmap cell cannot be selected)
    fig.add_scatter(x=pred, y=true, mode="markers", customdata=np.stack([true, pred], axis=1), showlegend=False,
                    marker=dict(size=34, symbol="square", color="rgba(0,0,0,0)"),
                    text=[f"{int(c[t, p])}" for t, p in zip(true, pred)],
                    hovertemplate=_("true %{y}, predicted %{x}: %{text} digits<br>click to see them")
                    + "<extra></extra>",
                    selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)))
    if selected is not None:
        t, p = selected
        fig.add_shape(type="rect", x0=p - 0.5, x1=p + 0.5, y0=t - 0.5, y1=t + 0.5, line=dict(color="black", width=3))
    axis = dict(tickmode="linear", tick0=0, dtick=1, showgrid=False, zeroline=False, constrain="domain")
    fig.update_xaxes(**axis, title=_("predicted digit"), side="top", range=[-0.5, n - 0.5])
    fig.update_yaxes(**axis, title=_("true digit"), range=[n - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=48, b=8), plot_bgcolor="white", dragmode=False,
                      clickmode="event+select", hovermode="closest")
    return fig


__all__ = ["Curve", "smooth", "smoothing_window", "loss_figure", "accuracy_figure", "tile", "maps_figure",
           "filters_figure", "filter_grid_figure", "vector_figure", "probability_figure", "gradient_figure",
           "confusion_figure"]
