"""Backward pass, lesson 4: 2D and multichannel gradients, stride and padding, and a numerical check."""
import streamlit as st

from app import links, state, view, widgets
from app.i18n import _, message
from app.lessons import backward, backward_2d, checkpoints_ui, stepper, traces

st.title(_("2D and multichannel gradients"))
view.prose(_(
    "In 2D the 1D rules hold along both axes. **dL/dX** is a *full* correlation: pad the output gradient by k − 1 "
    "and slide the kernel turned by 180° over it, adding over the output channels. **dL/dW** is the padded input "
    "correlated with the output gradient, added over the batch. A stride spreads the output gradient out "
    "(dilation) and padding is cut off again at the end (a crop). Central differences check any cell."))
for problem in links.read_url(links.URL_GRAD_2D):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
widgets.back_to_chapter("b2_")

if any(st.session_state[key] > 1 for key in (state.B2_BATCH, state.B2_CIN, state.B2_COUT, state.B2_STRIDE)):
    st.session_state[state.B2_MORE] = True  # a link that asks for them shows them
more = view.widget(st.toggle, _("Show batch, channels and stride"), key=state.B2_MORE, help=_(
    "The lesson starts with one image, one channel and stride 1, where the rules are easiest to see. Switch "
    "this on to add a second observation, a second channel in or out, and a stride."))
c = st.columns(6 if more else 3)
if more:
    batch = widgets.bounded_number(c[3], _("Batch"), 1, 2, key=state.B2_BATCH, help=_("Observations in the batch."))
    cin = widgets.bounded_number(c[4], _("In channels"), 1, 2, key=state.B2_CIN, help=_("Channels of each input."))
    cout = widgets.bounded_number(c[5], _("Out channels"), 1, 2, key=state.B2_COUT,
                                  help=_("Filters, so output maps; dL/dX adds one share per output channel."))
else:
    for key in (state.B2_BATCH, state.B2_CIN, state.B2_COUT, state.B2_STRIDE):
        st.session_state[key] = 1
    batch = cin = cout = 1
size = widgets.bounded_number(c[0], _("Input size"), 3, 6, key=state.B2_SIZE, help=_("Height and width of the input."))
k = widgets.bounded_number(c[1], _("Kernel size"), 1, 5, key=state.B2_K, help=_("Height and width of each kernel."))
seed = view.widget(c[2].number_input, _("Seed"), 0, 9_999, step=1, key=state.B2_SEED,
                   help=_("Inputs are integers 0..3 and weights -1..1, drawn with this seed."))
if more:
    pad, stride = widgets.padding_stride(state.B2_PAD_MODE, state.B2_PAD, state.B2_STRIDE)
else:
    pad, _stride = widgets.padding_stride(state.B2_PAD_MODE, state.B2_PAD, state.B2_STRIDE, stride=False)
    stride = 1
up = backward.upstream_controls(state.B2_UP, state.B2_USEED)
if up.kind == "loss":
    st.caption(_("The loss here is the book's “mean squared error” against a target of zeros: the squared errors "
                 "added up and divided by the batch size (not by the number of outputs), so dL/dout = 2·out / "
                 "batch."))
x, w = backward.problem_2d(batch, cin, cout, size, k, seed)
try:
    tr = backward.grad_2d(x, w, pad, stride, up)
except ValueError as exc:
    links.write_url(links.URL_GRAD_2D)
    st.error(_("These settings cannot be convolved: {}.").format(message(exc)))
    st.stop()
with st.expander(_("The example: every input, filter and output gradient")):
    backward_2d.show_example(tr)

st.subheader(_("dL/dX: a full correlation with the flipped kernel"))
for key, hi in ((state.B2_XB, batch), (state.B2_XC, cin), (state.B2_XR, size), (state.B2_XW, size),
                (state.B2_WC, cin), (state.B2_WO, cout), (state.B2_WI, k), (state.B2_WJ, k)):
    st.session_state[key] = min(int(st.session_state[key]), hi - 1)
c = st.columns(4)
xb = view.widget(c[0].selectbox, _("Observation"), range(batch), key=state.B2_XB, help=_("Which input of the batch."),
                 disabled=batch < 2)
xc = view.widget(c[1].selectbox, _("Channel"), range(cin), key=state.B2_XC, help=_("Which input channel."),
                 disabled=cin < 2)
st.markdown(_("Stride {s}: {dil}. Padding {p}: the full correlation gives the gradient of every cell of the "
              "padded input, and the {p} border cell(s) on each side, the padding zeros, are cut off.").format(
    s=stride, p=tr.pad, dil=_("the output gradient is spread out with {} zero(s) between neighbours, back to where "
                              "each window started").format(stride - 1) if stride > 1 else
    _("no dilation needed")))
st.caption(_("One step is one input cell: the box is the kernel turned by 180° over the output gradient, dilated "
             "and padded by k − 1; the terms are the output cells whose windows covered the cell, times the weight "
             "that met it there (the zeros of the padding and the dilation add nothing). Click a cell of dL/dx "
             "to jump to it."))


def _cell_synced(step: int) -> None:
    st.session_state[state.B2_XR], st.session_state[state.B2_XW] = divmod(step - 1, st.session_state[state.B2_SIZE])


st.session_state[state.B2_XSTEP] = st.session_state[state.B2_XR] * size + st.session_state[state.B2_XW] + 1
step = stepper.step_through(traces.grad_2d_input_steps(x, w, pad, stride, up, xb, xc, (
    ("full", _("output channel {}: dL/dout[{}, {}], dilated, padded by k − 1 = {}")),
    ("flipped", _("W[{}, {}] turned by 180°")), ("grad_padded", _("dL/d(padded x[{}, {}])")),
    ("input_grad", _("dL/dx[{}, {}] (cropped)")),
    ("note", _("Input cell (row {2}, column {3}) of observation {0}, channel {1}: {4} term(s).")),
    ("cols", (_("dL/dout"), _("weight"), _("product"), _("running sum"))))), state.B2_XSTEP, state.B2_SPEED,
    key="b2_xstepper", what=_("input cell"), on_sync=_cell_synced, url={"row": "xr", "col": "xw", "cols": size})
xr, xw = divmod(step - 1, size)

st.subheader(_("dL/dW: the padded input correlated with the output gradient"))
c = st.columns(4)
wc = view.widget(c[0].selectbox, _("In channel"), range(cin), key=state.B2_WC, help=_("The weight's input channel."),
                 disabled=cin < 2)
wo = view.widget(c[1].selectbox, _("Out channel"), range(cout), key=state.B2_WO, help=_("The weight's output channel."),
                 disabled=cout < 2)
wi = view.widget(c[2].selectbox, _("Kernel row"), range(k), key=state.B2_WI, help=_("The weight's row in the kernel."))
wj = view.widget(c[3].selectbox, _("Kernel column"), range(k), key=state.B2_WJ,
                 help=_("The weight's column in the kernel."))
st.markdown(_("Weight ({}, {}) met, in every window, the input cell at that offset from the window's corner. One "
              "step is one window: that cell times its output cell's gradient, added to the sum; the batch's "
              "observations follow each other.").format(wi, wj))
stepper.step_through(traces.grad_2d_weight_steps(x, w, pad, stride, up, wc, wo, wi, wj, (
    ("x_pad", _("padded x[{}, {}]: the cell weight ({}, {}) met")), ("dilated", _("dL/dout[{}, {}]")),
    ("note", _("Observation {4}, output cell ({5}, {6}).")),
    ("cols", (_("padded x"), _("dL/dout"), _("product"), _("running sum"))))), state.B2_WSTEP, state.B2_SPEED,
    key="b2_wstepper", what=_("term"), url={})

st.subheader(_("Check with central differences"))
h = view.widget(st.select_slider, _("Step h"), backward.H_EXPONENTS, key=state.B2_H, format_func=backward.h_label,
                help=_("Nudge the element by +h and −h, recompute the loss, divide the difference by 2h. Too "
                       "big a step bends with the loss; too small drowns in rounding errors."))
links.write_url(links.URL_GRAD_2D)
checks = [
    (f"dL/dx[{xb}, {xc}, {xr}, {xw}]", backward.grad_check(x, w, "input", (xb, xc, xr, xw),
                                                          float(tr.input_grad[xb, xc, xr, xw]), 10.0 ** -h, pad,
                                                          stride, up)),
    (f"dL/dW[{wc}, {wo}, {wi}, {wj}]", backward.grad_check(x, w, "kernel", (wc, wo, wi, wj),
                                                          float(tr.param_grad[wc, wo, wi, wj]), 10.0 ** -h, pad,
                                                          stride, up))]
st.markdown(backward.check_rows(checks))
st.caption(_("rel. error = |formula − numeric| / the larger of the two. Below about 1e-7 the formula is "
             "right. The one-sided forward difference (L(v + h) − L(v)) / h is off by about h·L''/2 when the loss "
             "curves: choose “from a loss” and a big h to see it."))
checkpoints_ui.checkpoints("grad-2d", {"x": x, "w": w, "pad": pad, "stride": stride, "up": up})
