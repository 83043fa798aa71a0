"""Lesson 1: 1D convolution, padding and stride, one output cell at a time."""
import streamlit as st

from app import charts, links, state, view, widgets
from app.i18n import _, message
from app.lessons import checkpoints_ui, explain, stepper, traces

st.title(_("1D convolution"))
view.prose(_(
    "A convolution slides a small **kernel** along the input. At each position it multiplies the kernel with "
    "the input cells under it and adds the products: that sum is one **output** cell. Step through the "
    "chapter's example, `conv_1d([1, 2, 3, 4, 5], [1, 1, 1])`, then change the numbers, the padding and the "
    "stride and watch the output size follow the formula."))
for problem in links.read_url(links.URL_1D):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
widgets.back_to_chapter("c1_")

c1, c2 = st.columns(2)
inp_text = view.widget(c1.text_input, _("Input values"), key=state.C1_INPUT,
                       help=_("Up to 16 numbers separated by commas, e.g. 1, 2, 3, 4, 5."))
ker_text = view.widget(c2.text_input, _("Kernel values"), key=state.C1_KERNEL,
                       help=_("The weights the window multiplies with, e.g. 1, 1, 1. Odd lengths centre "
                              "nicely; at most 16."))
pad, stride = widgets.padding_stride(state.C1_PAD_MODE, state.C1_PAD, state.C1_STRIDE)

try:
    inp = widgets.parse_values(inp_text, _("input"))
    kernel = widgets.parse_values(ker_text, _("kernel"))
    tr = traces.conv_1d(inp, kernel, pad, stride)
except ValueError as exc:
    links.write_url(links.URL_1D)
    st.error(_("These settings cannot be convolved: {}.").format(message(exc)))
    st.stop()

st.subheader(_("How many outputs?"))
st.latex(explain.size_latex(tr.size))
st.caption(_("n = {} input cells, p = {} zeros on each side, k = {} kernel cells, s = stride {}. ").format(
    tr.size.n, tr.pad, tr.size.k, tr.stride) + explain.size_note(tr.size))
if pad is None:
    st.info(_("“same” padding adds kernel // 2 = {} // 2 = {} zero(s) at each end, as the chapter's `_pad_1d` "
              "does: the grey cells below.").format(tr.size.k, tr.pad))

st.subheader(_("Step through"))
view.tip(_("Press Next, Play, or click an output cell; with the stepper focused, ←/→ step and Space plays. "
             "Grey cells are padding; the output fills in under the middle of each window."))
stepper.step_through(traces.conv_1d_steps(inp, kernel, pad, stride, (
    ("input", _("padded input")), ("kernel", _("kernel")), ("products", _("products")), ("output", _("output")),
    ("note", _("The kernel covers padded cells {1} to {2} and fills out[{0}].")),
    ("cols", (_("weight"), _("input"), _("product"), _("running sum"))))), state.C1_STEP, state.C1_SPEED,
    key="c1_stepper")
links.write_url(links.URL_1D)
st.caption(_("Whole output: [{}]").format(", ".join(charts.fmt(v) for v in tr.output)))
checkpoints_ui.checkpoints("conv-1d", {"inp": inp, "kernel": kernel, "pad": pad, "stride": stride})
