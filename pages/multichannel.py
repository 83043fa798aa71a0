"""Lesson 3: multichannel convolution, C_in input channels and C_out filters."""
from functools import partial

import streamlit as st

from app import charts, links, resources, state, view, widgets
from app.i18n import _, message
from app.lessons import checkpoints_ui, stepper, traces

RGB = (_("red"), _("green"), _("blue"))

st.title(_("Multichannel convolution"))
view.prose(_(
    "A colour image has 3 channels (red, green, blue) and a convolutional layer's output has one channel per "
    "filter. Each output map gets its own kernel **for every input channel**: it convolves each channel with "
    "its kernel and **adds the channel results** into one map. So C_in input channels and C_out output maps "
    "need C_in × C_out kernels, the chapter's filter array of shape [in_channels, out_channels, fh, fw]."))
for problem in links.read_url(links.URL_MC):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
widgets.back_to_chapter("mc_")

left, right = st.columns(2)
with left:
    source = view.widget(st.radio, _("Input"), ("rgb", "random", "upload"), key=state.MC_SOURCE, horizontal=True,
                         format_func={"rgb": _("RGB picture"), "random": _("random numbers"),
                                      "upload": _("your image (RGB)")}.get,
                         help=_("A small colour picture, a few channels of small integers, or your own picture."))
    if source == "random":
        a, b = st.columns(2)
        cin = widgets.bounded_number(a, _("Input channels"), 1, 4, key=state.MC_CIN,
                                     help=_("C_in: how many channels the input has."))
        size = widgets.bounded_number(b, _("Size"), 3, 10, key=state.MC_SIZE,
                                      help=_("Height and width of each input channel."))
        x = traces.random_input(cin, size, st.session_state[state.MC_SEED])
    elif source == "rgb":
        x = traces.sample_rgb(16)
    else:
        x = widgets.uploaded_image(state.MC_UPLOAD, state.MC_UPLOADED, partial(resources.image_to_rgb, size=16))
with right:
    a, b, c = st.columns([2, 3, 1])
    cout = widgets.bounded_number(a, _("Output channels"), 1, 4, key=state.MC_COUT,
                                  help=_("C_out: how many filters, so how many feature maps the layer makes."))
    kind = view.widget(b.selectbox, _("Filters"), ("colour", "shapes", "edges", "random"), key=state.MC_FILTERS,
                       format_func={"colour": _("one colour each"), "shapes": _("a 3×3 shape per channel"),
                                    "edges": _("edge detector on every channel"), "random": _("random (seeded)")}.get,
                       help=_("“one colour each”: filter o weighs channel o by +1 and the others by -0.5 "
                              "(centre cell only), so map 0 finds red, map 1 green, map 2 blue. “a 3×3 shape per "
                              "channel”: each channel has its own line or edge kernel, so every cell of the "
                              "window counts."))
    seed = view.widget(c.number_input, _("Seed"), 0, 9_999, step=1, key=state.MC_SEED,
                       help=_("Seed of the random numbers and random filters: same seed, same numbers."))
pad, stride = widgets.padding_stride(state.MC_PAD_MODE, state.MC_PAD, state.MC_STRIDE)
links.write_url(links.URL_MC)
if x is None:
    st.stop()
filters = traces.mc_filters(kind, x.shape[0], cout, seed)
try:
    tr = traces.multichannel(x[None], filters, pad, stride)
except ValueError as exc:
    st.error(_("These settings cannot be convolved: {}.").format(message(exc)))
    st.stop()
cin, (oh, ow) = x.shape[0], (tr.rows.size, tr.cols.size)
names = tuple(f" ({colour})" for colour in RGB) if source != "random" else ("",) * cin

shapes, preview = st.columns([3, 1])
shapes.markdown(_(
    "- input `[batch, in_channels, h, w]` = `[1, {}, {}, {}]`\n"
    "- filters `[in_channels, out_channels, fh, fw]` = `[{}, {}, 3, 3]`\n"
    "- output `[batch, out_channels, h_out, w_out]` = `[1, {}, {}, {}]`\n"
    "- parameters: {} × {} × 3 × 3 = **{}** weights (the chapter's Conv2D has no bias)").format(
        cin, *x.shape[1:], cin, cout, cout, oh, ow, cin, cout, tr.param_count))
if source != "random":
    preview.image(traces.rgb_preview(x), caption=_("the picture: its red, green and blue channels below"),
                  width=144)
st.session_state[state.MC_OUT] = min(st.session_state[state.MC_OUT], cout - 1)
o = view.widget(st.selectbox, _("Output map to build"), range(cout), key=state.MC_OUT,
                format_func=lambda i: _("map {}").format(i), help=_("Which filter's feature map to step through."))


st.subheader(_("Step through"))
st.caption(_("The same 3×3 window is read in every input channel, and each channel has its own kernel; each "
             "channel's products make its own map, and the output map is their sum. Click any cell of the maps "
             "to jump there; with the stepper focused, ←/→ step and Space plays."))
stepper.step_through(traces.multichannel_steps(x[None], filters, pad, stride, o, (
    ("channels", tuple(_("input channel {}").format(ch) + names[ch] for ch in range(cin))),
    ("filter", _("kernel [{}, {}]")),
    ("partial", _("channel {} alone")), ("output", _("output map {} (the sum)")),
    ("note", _("Cell (row {0}, column {1}) of output map {2}.")),
    ("cols", (_("weight"), _("input"), _("product"), _("running sum"))))), state.MC_STEP, state.MC_SPEED,
    key="mc_stepper")
links.write_url(links.URL_MC)

st.subheader(_("All {} output maps").format(cout))
for m, col in enumerate(st.columns(max(cout, 3))[:cout]):
    col.plotly_chart(charts.grid(tr.output[0, m], title=_("map {}").format(m), height=300), key=f"mc_all{m}")
checkpoints_ui.checkpoints("multichannel", {"in_channels": cin, "out_channels": cout, "h": x.shape[1], "w": x.shape[2],
                                             "k": filters.shape[2], "pad": pad, "stride": stride})
