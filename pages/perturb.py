"""Backward pass, lesson 1: the perturbation experiment. Nudge one number, watch the loss, meet the gradient."""
import streamlit as st

from app import charts, links, state, view, widgets
from app.i18n import _, message
from app.lessons import backward, checkpoints_ui
from app.lessons import backward_charts as bc

st.title(_("Nudge and watch: what a gradient is"))
view.prose(_(
    "A gradient answers one question: if this number grows a little, how much does the loss grow? The chapter "
    "tests its formulas by simply trying it. With the loss equal to the sum of the outputs, "
    "`conv_1d_sum([1, 2, 3, 4, 5], [1, 1, 1])` is 39; make the fifth input 6 and it becomes 41, so that input's "
    "gradient is 2. Make the first weight 2 instead and the sum becomes 49: a gradient of 10. Nudge any element "
    "by any amount and compare the change with the gradient the backward formulas give."))
for problem in links.read_url(links.URL_PERTURB):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
widgets.back_to_chapter("bp_")

c1, c2 = st.columns(2)
inp_text = view.widget(c1.text_input, _("Input values"), key=state.BP_INPUT,
                       help=_("Up to 16 numbers separated by commas, e.g. 1, 2, 3, 4, 5."))
ker_text = view.widget(c2.text_input, _("Kernel values"), key=state.BP_KERNEL,
                       help=_("An odd number of weights, e.g. 1, 1, 1; the input is padded with kernel // 2 "
                              "zeros at each end, as in the chapter."))
try:
    inp, kernel = widgets.parse_values(inp_text, _("input")), widgets.parse_values(ker_text, _("kernel"))
except ValueError as exc:
    links.write_url(links.URL_PERTURB)
    st.error(_("These values cannot be read: {}.").format(message(exc)))
    st.stop()

CHAPTERS_ELEMENT = {"input": 4, "kernel": 0}  # the chapter nudges x[4] (39 -> 41) and w[0] (39 -> 49)


def _chapters_element() -> None:
    st.session_state[state.BP_INDEX] = CHAPTERS_ELEMENT[st.session_state[state.BP_WHAT]]


a, b, c = st.columns([2, 2, 2])
what = view.widget(a.radio, _("Nudge"), ("input", "kernel"), key=state.BP_WHAT, horizontal=True,
                   on_change=_chapters_element, format_func={"input": _("an input"), "kernel": _("a weight")}.get,
                   help=_("Change one input cell x[i] or one kernel weight w[p]."))
size = len(inp) if what == "input" else len(kernel)
st.session_state[state.BP_INDEX] = min(int(st.session_state[state.BP_INDEX]), size - 1)
index = view.widget(b.selectbox, _("Which element"), range(size), key=state.BP_INDEX,
                    format_func=lambda i: f"x[{i}]" if what == "input" else f"w[{i}]",
                    help=_("x[4] is the chapter's “fifth element”; w[0] its “first weight”."))
delta = view.widget(c.number_input, _("Nudge by"), -100.0, 100.0, step=0.5, key=state.BP_DELTA, format="%g",
                    help=_("How much to add to that element. The chapter adds 1; try 0.1 and 0.01 with a loss."))
try:
    up = backward.upstream_controls(state.BP_UP, state.BP_SEED, state.BP_GOAL)
    links.write_url(links.URL_PERTURB)
    if delta == 0:
        raise ValueError(_("a nudge of 0 changes nothing: choose another amount"))
    p = backward.perturb(inp, kernel, what, index, float(delta), up)
except ValueError as exc:
    links.write_url(links.URL_PERTURB)
    st.error(_("Cannot run the experiment: {}.").format(message(exc)))
    st.stop()

name = f"x[{index}]" if what == "input" else f"w[{index}]"
st.subheader(_("The experiment: {} + {}").format(name, charts.fmt(delta)))
left, right = st.columns([len(inp) + len(kernel) - 1, len(kernel) + 1])  # cells of about the same size
left.plotly_chart(bc.perturb_figure(p), key="bp_fig_strips", config={"displayModeBar": False})
right.plotly_chart(bc.kernel_figure(p), key="bp_fig_kernel", config={"displayModeBar": False})
st.caption(_("Dotted: the output cells {} feeds. The change row is “out after − out before”; each output sits "
             "under the middle of its window. dL/dout is what the chosen loss sends back to each output.").format(name))
m1, m2, m3, m4 = st.columns(4)
m1.metric(_("L before"), charts.fmt(p.loss_before), help=_("The loss of the original numbers."))
m2.metric(_("L after"), charts.fmt(p.loss_after), help=_("The loss with the nudged element."))
m3.metric(_("change ÷ nudge"), charts.fmt(p.slope), help=_("(L after − L before) / nudge: the measured slope."))
m4.metric(_("gradient dL/d{}").format(name), charts.fmt(p.gradient),
          help=_("What the chapter's backward formulas compute, with the upstream gradient below."))
for line in backward.perturb_lines(p):
    st.markdown(line)

st.subheader(_("Why they agree"))
if up.kind == "loss":
    st.markdown(_(
        "With a loss, dL/dout depends on the output, so the slope holds only for small nudges: the measured "
        "change is **{}**, the gradient predicts **{}**, a gap that shrinks with the nudge squared (halve the "
        "nudge and it falls four times). The **central difference** (L(+h) − L(−h)) / 2h = **{}** cancels that "
        "term: this is how the 2D lesson checks gradients numerically.").format(
            charts.fmt(p.change), charts.fmt(p.predicted), charts.fmt(p.central)))
else:
    st.markdown(_(
        "A convolution is linear in its input and in its kernel, and this loss is linear in the outputs, so the "
        "loss changes by exactly gradient × nudge = {} × {} = **{}**, for a nudge of any size. The gradient is "
        "the change per unit nudge.").format(
            charts.fmt(p.gradient), charts.fmt(delta), charts.fmt(p.predicted)))
checkpoints_ui.checkpoints("perturb", {"inp": inp, "kernel": kernel, "what": what, "index": index,
                                       "delta": float(delta), "up": up})
