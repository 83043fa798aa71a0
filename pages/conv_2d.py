"""Lesson 2: 2D convolution on real images, one k×k patch at a time."""
from functools import partial

import streamlit as st

from app import charts, links, resources, state, widgets
from app.i18n import _
from app.lessons import explain, traces

FOUND = {
    "edge": _("The chapter's edge detector compares each pixel with its four neighbours: 0 where the image is "
              "flat (all ink or all background), orange inside a stroke next to its edge, purple just outside. "
              "The feature map is an outline of the shape."),
    "horizontal": _("This kernel rewards a bright row between darker rows: horizontal strokes light up purple, "
                    "vertical ones barely register."),
    "vertical": _("This kernel rewards a bright column between darker columns: vertical strokes light up purple, "
                  "horizontal ones barely register."),
    "blur": _("The blur averages each pixel with its neighbours (the weights add up to 1): a softer copy."),
    "sharpen": _("Sharpen is the identity plus the negated edge detector: it exaggerates every change."),
    "identity": _("The identity kernel copies the centre pixel: the map equals the input, a check that the "
                  "window slides where you think it does."),
    "random": _("A random kernel detects some arbitrary pattern. This is where a CNN starts: training then "
                "adjusts the weights until the patterns help to classify."),
    "custom": _("Your own kernel: purple marks where the patch looks like the kernel, orange where it looks "
                "like its negative."),
}

st.title(_("2D convolution on images"))
st.markdown(_(
    "In two dimensions the kernel is a small square of weights. It visits every position of the image; at each "
    "one it multiplies the k×k **patch** under it by the weights and adds the products into one cell of the "
    "**feature map**. The map is bright wherever the patch looks like the kernel: the chapter's "
    "[[0,1,0],[1,-4,1],[0,1,0]] finds edges."))
for problem in links.read_url(links.URL_2D):
    st.warning(_("Ignored a setting from the link: {}").format(problem))

left, right = st.columns(2)
with left:
    source = st.radio(_("Input"), ("mnist", "grid", "upload"), key=state.C2_SOURCE, horizontal=True,
                      format_func={"mnist": _("MNIST digit"), "grid": _("small grid"),
                                   "upload": _("your image")}.get,
                      help=_("A handwritten digit, a grid of numbers you type, or a picture you upload."))
    picked, caption = None, ""
    if source == "mnist":
        picked = widgets.mnist_digit(state.C2_PICK, state.C2_INDEX, state.C2_LABEL, state.C2_NTH)
    elif source == "grid":
        text = st.text_area(_("Grid values"), key=state.C2_GRID, height=150,
                            help=_("One row per line, numbers separated by spaces; up to 12×12."))
        try:
            picked = widgets.parse_grid(text, _("grid")), _("your grid")
        except ValueError as exc:
            st.error(_("The grid cannot be read: {}.").format(exc))
    else:
        size = st.select_slider(_("Resize to"), (12, 16, 28, 40), key=state.C2_SIZE,
                                format_func=lambda n: f"{n}×{n}",
                                help=_("Your image is made grayscale and scaled to this many pixels a side."))
        image = widgets.uploaded_image(state.C2_UPLOAD, state.C2_UPLOADED, partial(resources.image_to_gray, size=size))
        picked = None if image is None else (image, _("your image, grayscale"))
with right:
    try:
        kernel = widgets.kernel_controls(state.C2_PRESET, state.C2_KERNEL, state.C2_SEED)
    except ValueError as exc:
        kernel = None
        st.error(_("The kernel cannot be read: {}.").format(exc))
pad, stride = widgets.padding_stride(state.C2_PAD_MODE, state.C2_PAD, state.C2_STRIDE)
links.write_url(links.URL_2D)
if picked is None or kernel is None:
    st.stop()
image, caption = picked
try:
    tr = traces.conv_2d(image, kernel, pad, stride)
except ValueError as exc:
    st.error(_("These settings cannot be convolved: {}.").format(exc))
    st.stop()

with st.expander(_("How big is the feature map? {}×{} input → {}×{} output").format(
        *image.shape, tr.rows.size, tr.cols.size)):
    st.latex(explain.size_latex(tr.rows, "h"))
    st.latex(explain.size_latex(tr.cols, "w"))
    st.caption(explain.size_note(tr.rows))


def show_step(i: int) -> None:
    s = tr.step(i)
    k = tr.kernel.shape[0]
    st.markdown(_("**Step {} of {}**: output cell (row {}, column {}); the window's top-left corner is padded "
                  "cell ({}, {}).").format(i + 1, tr.n_steps, s.row, s.col, s.top, s.left))
    c1, c2 = st.columns(2)
    text = max(tr.padded.shape) <= 16  # half the page is wide enough to print 16 numbers a row
    c1.plotly_chart(charts.grid(tr.padded, pad=tr.pad, window=(s.top, s.left, k, k), text=text,
                                title=_("Input: {} (grey: padding)").format(caption)), key="c2_input")
    kernel_name = _(widgets.KERNEL_LABELS[st.session_state[state.C2_PRESET]]).lower()
    c2.plotly_chart(charts.grid(tr.output, window=(s.row, s.col, 1, 1), text=text, title=_("Feature map: {}").format(
        kernel_name)), key="c2_map")
    titles = (_("patch under the window"), _("kernel"), _("products"))
    d1, d2 = st.columns([3, 2], vertical_alignment="center")
    patch_scale = (charts.limit(tr.image), None, None)  # the patch coloured as it is in the input image
    d1.plotly_chart(charts.triple(s.patch, s.weights, s.products, titles, limits=patch_scale), key="c2_detail",
                    config={"displayModeBar": False})
    d2.metric(_("out[{}, {}]").format(s.row, s.col), charts.fmt(s.output),
              help=_("The sum of the products: this cell of the feature map."))
    d2.markdown(explain.grid_sum_line(s, f"out[{s.row}, {s.col}]"))


st.subheader(_("Step through"))
widgets.stepper(tr.n_steps, state.C2_STEP, state.C2_PLAY, state.C2_SPEED, show_step,
                on_step=lambda: links.write_url(links.URL_2D))

st.subheader(_("What the detector found"))
top, bottom = tr.strongest()
(tr_r, tr_c), (bt_r, bt_c) = tr.cell(top), tr.cell(bottom)
st.markdown(FOUND[st.session_state[state.C2_PRESET]])
st.markdown(_("Strongest response **{}** at (row {}, column {}); most negative **{}** at (row {}, column {})."
              ).format(charts.fmt(tr.output[tr_r, tr_c]), tr_r, tr_c, charts.fmt(tr.output[bt_r, bt_c]), bt_r, bt_c))
st.button(_("Show the strongest response"), key="c2_jump", on_click=st.session_state.__setitem__,
          args=(state.C2_STEP, top + 1), help=_("Move the window to the cell with the largest value."))
