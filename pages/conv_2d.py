"""Lesson 2: 2D convolution on real images, one k×k patch at a time."""
from functools import partial

import streamlit as st

from app import charts, links, resources, state, view, widgets
from app.i18n import _, message
from app.lessons import checkpoints_ui, explain, stepper, traces

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
view.prose(_(
    "In two dimensions the kernel is a small square of weights. It visits every position of the image; at each "
    "one it multiplies the k×k **patch** under it by the weights and adds the products into one cell of the "
    "**feature map**. The map is bright wherever the patch looks like the kernel: the chapter's "
    "[[0,1,0],[1,-4,1],[0,1,0]] finds edges."))
for problem in links.read_url(links.URL_2D):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
widgets.back_to_chapter("c2_")

left, right = st.columns(2)
with left:
    source = view.widget(st.radio, _("Input"), ("mnist", "grid", "upload"), key=state.C2_SOURCE, horizontal=True,
                         format_func={"mnist": _("MNIST digit"), "grid": _("small grid"),
                                      "upload": _("your image")}.get,
                         help=_("A handwritten digit, a grid of numbers you type, or a picture you upload."))
    picked, caption = None, ""
    if source == "mnist":
        picked = widgets.mnist_digit(state.C2_PICK, state.C2_INDEX, state.C2_LABEL, state.C2_NTH)
    elif source == "grid":
        text = view.widget(st.text_area, _("Grid values"), key=state.C2_GRID, height=150,
                           help=_("One row per line, numbers separated by spaces; up to 12×12."))
        try:
            picked = widgets.parse_grid(text, _("grid")), _("your grid")
        except ValueError as exc:
            st.error(_("The grid cannot be read: {}.").format(message(exc)))
    else:
        size = view.widget(st.select_slider, _("Resize to"), (12, 16, 28, 40), key=state.C2_SIZE,
                           format_func=lambda n: f"{n}×{n}",
                           help=_("Your image is made grayscale and scaled to this many pixels a side."))
        image = widgets.uploaded_image(state.C2_UPLOAD, state.C2_UPLOADED, partial(resources.image_to_gray, size=size))
        picked = None if image is None else (image, _("your image, grayscale"))
with right:
    try:
        kernel = widgets.kernel_controls(state.C2_PRESET, state.C2_KERNEL, state.C2_SEED)
    except ValueError as exc:
        kernel = None
        st.error(_("The kernel cannot be read: {}.").format(message(exc)))
pad, stride = widgets.padding_stride(state.C2_PAD_MODE, state.C2_PAD, state.C2_STRIDE)
links.write_url(links.URL_2D)
if picked is None or kernel is None:
    st.stop()
image, caption = picked
try:
    tr = traces.conv_2d(image, kernel, pad, stride)
except ValueError as exc:
    st.error(_("These settings cannot be convolved: {}.").format(message(exc)))
    st.stop()

with st.expander(_("How big is the feature map? {}×{} input → {}×{} output").format(
        *image.shape, tr.rows.size, tr.cols.size)):
    st.latex(explain.size_latex(tr.rows, "h"))
    st.latex(explain.size_latex(tr.cols, "w"))
    st.caption(explain.size_note(tr.rows))


kernel_name = _(widgets.KERNEL_LABELS[st.session_state[state.C2_PRESET]]).lower()
st.subheader(_("Step through"))
view.tip(_("Press Next or Play, or click any cell of the feature map to see how it was computed (hover to "
             "preview); with the stepper focused, ←/→ step, Home/End jump, Space plays."))
stepper.step_through(traces.conv_2d_steps(image, kernel, pad, stride, (
    ("input", _("Input: {} (grey: padding)").format(caption)), ("kernel", _("kernel")),
    ("output", _("Feature map: {}").format(kernel_name)),
    ("note", _("Output cell (row {0}, column {1}); the window's top-left corner is padded cell ({2}, {3}).")),
    ("cols", (_("weight"), _("input"), _("product"), _("running sum"))))), state.C2_STEP, state.C2_SPEED,
    key="c2_stepper")
links.write_url(links.URL_2D)

st.subheader(_("What the detector found"))
top, bottom = tr.strongest()
(tr_r, tr_c), (bt_r, bt_c) = tr.cell(top), tr.cell(bottom)
view.prose(FOUND[st.session_state[state.C2_PRESET]])
st.markdown(_("Strongest response **{}** at (row {}, column {}); most negative **{}** at (row {}, column {})."
              ).format(charts.fmt(tr.output[tr_r, tr_c]), tr_r, tr_c, charts.fmt(tr.output[bt_r, bt_c]), bt_r, bt_c))
view.widget(st.button, _("Show the strongest response"), key="c2_jump", on_click=st.session_state.__setitem__,
            args=(state.C2_STEP, top + 1), help=_("Move the window to the cell with the largest value."))
checkpoints_ui.checkpoints("conv-2d", {"image": image, "kernel": kernel, "pad": pad, "stride": stride})
