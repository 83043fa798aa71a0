"""Lesson 4: stride, max and average pooling, and the Flatten that feeds a Dense layer."""
import streamlit as st

from app import charts, links, state, view, widgets
from app.i18n import _, message
from app.lessons import checkpoints_ui, explain, stepper, traces
from smartflow_core.trace import FlattenShapes

st.title(_("Stride, pooling and flatten"))
view.prose(_(
    "Networks shrink their feature maps as they go deeper. **Pooling** replaces each 2×2 window by its maximum "
    "(max pooling) or its mean (average pooling); a **stride** of 2 makes the convolution itself skip every "
    "other position. Both halve the height and width, but they keep different amounts of the input. At the end, "
    "**Flatten** lays the maps out as one vector for a Dense layer."))
for problem in links.read_url(links.URL_POOL):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
widgets.back_to_chapter("pl_")

left, right = st.columns(2)
with left:
    source = view.widget(st.radio, _("Input"), ("mnist", "grid"), key=state.PL_SOURCE, horizontal=True,
                         format_func={"mnist": _("MNIST digit"), "grid": _("small grid")}.get,
                         help=_("A handwritten digit or a grid of numbers you type."))
    picked = None
    if source == "mnist":
        picked = widgets.mnist_digit(None, state.PL_INDEX)
    else:
        try:
            text = view.widget(st.text_area, _("Grid values"), key=state.PL_GRID, height=150,
                               help=_("One row per line, numbers separated by spaces; up to 12×12."))
            picked = widgets.parse_grid(text, _("grid")), _("your grid")
        except ValueError as exc:
            st.error(_("The grid cannot be read: {}.").format(message(exc)))
with right:
    size = view.widget(st.radio, _("Pool size"), (2, 3, 4), key=state.PL_SIZE, horizontal=True,
                       format_func=lambda n: f"{n}×{n}",
                       help=_("The window each output cell summarises; it moves by its own size (stride = size)."))
    mode = view.widget(st.radio, _("Pooling"), ("max", "avg"), key=state.PL_MODE, horizontal=True,
                       format_func={"max": _("max"), "avg": _("average")}.get,
                       help=_("Keep the largest value of each window, or the mean of its values."))
links.write_url(links.URL_POOL)
if picked is None:
    st.stop()
image, caption = picked
try:
    pool = traces.pool(image, size, mode)
except ValueError as exc:
    st.error(_("Cannot pool this input: {}.").format(message(exc)))
    st.stop()


st.subheader(_("Pooling, step by step"))
view.tip(_("Each window becomes one pooled cell (for max pooling the winning cell is outlined too). Click a "
             "pooled cell to jump to it; with the stepper focused, ←/→ step and Space plays."))
stepper.step_through(traces.pool_steps(image, size, mode, (
    ("input", _("Input: {}").format(caption)),
    ("output", _("{} pooled ({}×{})").format(_("max") if mode == "max" else _("average"), pool.rows.size,
                                             pool.cols.size)),
    ("note", _("The {}×{} window at row {{2}}, column {{3}} becomes pooled cell (row {{0}}, column {{1}}).").format(
        size, size)),
    ("cols", (_("value"), _("max so far") if mode == "max" else _("sum so far"))))), state.PL_STEP, state.PL_SPEED,
    key="pl_stepper", what=_("window"))
links.write_url(links.URL_POOL)


@st.fragment
def stride_or_pool() -> None:
    """Its kernel reruns this section alone."""
    st.subheader(_("Stride {} or pooling {}?").format(size, size))
    kp = view.widget(st.selectbox, _("Kernel for the strided convolution"), state.KERNEL_PRESETS[:-2],
                     key=state.PL_PRESET,
                     format_func=lambda k: _(widgets.KERNEL_LABELS[k]),
                     help=_("The 3×3 kernel slid with stride {}.").format(size))
    cmp = traces.stride_vs_pool(image, widgets.preset_kernel(kp, 0), size)
    a, b = st.columns(2)
    small = 80 + int(280 * cmp.conv.rows.size / image.shape[0])  # drawn at their size next to the input's maps below
    a.plotly_chart(charts.grid(cmp.conv.output, height=small, title=_("Convolution, stride {}: {}×{}").format(
        size, cmp.conv.rows.size, cmp.conv.cols.size)), key="pl_conv")
    b.plotly_chart(charts.grid(cmp.pool.output, height=small, title=_("Max pooling {}: {}×{}").format(
        size, cmp.pool.rows.size, cmp.pool.cols.size)), key="pl_max")
    a.plotly_chart(charts.grid(cmp.conv_reach, title=_("How many outputs read each pixel (stride {}, 3×3)").format(
        size), name=_("outputs"), colorbar=True), key="pl_conv_reach")
    b.plotly_chart(charts.grid(cmp.pool_kept(), title=_("What max pooling passes on: each window's winner"),
                               name=_("pixel")), key="pl_pool_reach")
    n, nc, npool = cmp.pixels, cmp.conv_pixels, cmp.pool_pixels
    st.markdown(_(
        "The chapter's argument: with stride {s}, **{nc} of {n}** pixels ({pc:.0%}) take part in some output; with "
        "max pooling {s}×{s}, only **{np} of {n}** ({pp:.0%}) change the output, the winners of their windows. "
        "Both outputs have about 1/{q} as many cells as the input, but the strided convolution loses less "
        "information.").format(s=size, nc=nc, n=n, pc=nc / n, np=npool, pp=npool / n, q=size * size))
    links.write_url(links.URL_POOL)


@st.fragment
def flatten() -> None:
    """Its shape reruns this section alone."""
    st.subheader(_("Flatten: from feature maps to a vector"))
    c1, c2, c3 = st.columns(3)
    fc = widgets.bounded_number(c1, _("Channels"), 1, 4, key=state.PL_FC, help=_("How many feature maps to flatten."))
    fh = widgets.bounded_number(c2, _("Height"), 1, 4, key=state.PL_FH, help=_("Height of each map."))
    fw = widgets.bounded_number(c3, _("Width"), 1, 4, key=state.PL_FW, help=_("Width of each map."))
    maps, vector = traces.flatten_demo(fc, fh, fw)
    shape = FlattenShapes(1, fc, fh, fw)
    st.markdown(_("Each cell shows the position it takes in the vector: cell (c, i, j) goes to c·h·w + i·w + j. "
                  "Shape `[batch, channels, h, w]` = `[1, {}, {}, {}]` → `[batch, channels·h·w]` = `[1, {}]`.").format(
                      fc, fh, fw, shape.features))
    for c, col in enumerate(st.columns(fc)):
        col.plotly_chart(charts.grid(maps[c], title=_("channel {}").format(c), zmax=shape.features), key=f"pl_map{c}")
    st.plotly_chart(charts.row_strips({_("vector"): list(vector)}, labels=explain.flat_labels(fc, fh, fw)),
                    key="pl_vector")
    chapter, pooled = FlattenShapes(1, 32, 28, 28), FlattenShapes(1, 32, 14, 14)
    st.markdown(_(
        "In the chapter's MNIST model, `Conv2DLayer(out_channels=32, param_size=5, flatten=True)` gives "
        "`[batch, 32, 28, 28]`, flattened to **{}** features; a Dense layer with 10 outputs then needs {:,} weights. "
        "Pooling 2×2 first would leave `[batch, 32, 14, 14]` = {} features and {:,} weights: 4 times fewer.").format(
            chapter.features, chapter.dense_weights(10), pooled.features, pooled.dense_weights(10)))
    links.write_url(links.URL_POOL)


stride_or_pool()
flatten()
checkpoints_ui.checkpoints("pooling", {"image": image, "size": size, "mode": mode})
