"""Backward pass, lesson 2: the input gradient of a 1D convolution, the chapter's index formula step by step."""
import streamlit as st

from app import charts, links, state, view, widgets
from app.i18n import _, message
from app.lessons import backward, checkpoints_ui, stepper, traces
from app.lessons import backward_charts as bc

st.title(_("The input gradient in 1D"))
view.prose(_(
    "On the forward pass every input cell fed a few output cells, each through one weight. Its gradient collects, "
    "from each of those outputs, the output's gradient times that weight. The chapter writes this as one loop, "
    "`input_grad[o] += output_pad[o + param_len - p - 1] * param[p]`: while `p` walks forwards through the "
    "kernel, the index into the padded output gradient walks backwards. That is the same as sliding the "
    "**flipped** kernel over the padded output gradient: the input gradient is a convolution too."))
for problem in links.read_url(links.URL_GRAD_1D):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
widgets.back_to_chapter("bi_")

c1, c2 = st.columns(2)
inp_text = view.widget(c1.text_input, _("Input values"), key=state.BI_INPUT,
                       help=_("Up to 16 numbers separated by commas. The input gradient does not depend on them "
                              "unless the upstream gradient comes from a loss."))
ker_text = view.widget(c2.text_input, _("Kernel values"), key=state.BI_KERNEL,
                       help=_("An odd number of weights. The chapter's 1, 1, 1 reads the same flipped, which "
                              "hides the flip; 1, 2, 3 shows it."))
try:
    up = backward.upstream_controls(state.BI_UP, state.BI_SEED, state.BI_GOAL)
    inp, kernel = widgets.parse_values(inp_text, _("input")), widgets.parse_values(ker_text, _("kernel"))
    tr = backward.input_grad_1d(inp, kernel, up)
except ValueError as exc:
    links.write_url(links.URL_GRAD_1D)
    st.error(_("These settings cannot be used: {}.").format(message(exc)))
    st.stop()
k = len(tr.kernel)


st.subheader(_("Step through the chapter's loop"))
st.caption(_("One step is one pass of the loop: the box is the flipped kernel over `output_pad[o .. o + {}]`, "
             "the small boxes the pair this step multiplies; grey cells are the output gradient's padding zeros. "
             "Click a cell of the input gradient to see its last term; with the stepper focused, ←/→ step."
             ).format(k - 1))
stepper.step_through(traces.input_grad_1d_steps(inp, kernel, up, (
    ("output_pad", _("padded output gradient")), ("kernel", _("kernel param")),
    ("input_grad", _("input gradient")),
    ("note", _("Input cell x[{0}], weight param[{1}]: the padded output gradient is read at {0} + {3} − {1} − 1 "
               "= {2}.")),
    ("cols", (_("output_pad[j]"), _("param[p]"), _("product"), _("running sum"))))), state.BI_STEP,
    state.BI_SPEED, key="bi_stepper", what=_("term"))
links.write_url(links.URL_GRAD_1D)

st.subheader(_("The same numbers as a convolution"))
a, b = st.columns([1, 2])
a.plotly_chart(bc.flip_figure(tr), key="bi_fig_flip", config={"displayModeBar": False})
a.caption(_("Flipping reverses the kernel: `flipped[q] = param[k − 1 − q]`."))
rows = [(_("loop: input_grad"), list(tr.input_grad), ()), (_("conv_1d(output_grad, flipped)"),
                                                          list(tr.as_convolution), ())]
b.plotly_chart(bc.strips(rows, [f"x[{i}]" for i in range(len(tr.inp))], height=160), key="bi_fig_conv",
               config={"displayModeBar": False})
b.markdown(_("`conv_1d(output_grad, flipped)` pads the output gradient by {} and slides the flipped kernel over "
             "it, exactly what the loop does term by term: [{}].").format(
                 tr.pad, ", ".join(charts.fmt(v) for v in tr.as_convolution)))
checkpoints_ui.checkpoints("grad-1d", {"inp": inp, "kernel": kernel, "up": up})
