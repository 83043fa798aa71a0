"""Backward pass, lesson 3: the filter gradient of a 1D convolution, and how a batch sums into each weight."""
import streamlit as st

from app import links, state, view, widgets
from app.i18n import _, message
from app.lessons import backward, checkpoints_ui, stepper, traces
from app.lessons import backward_charts as bc

st.title(_("The filter gradient in 1D, and a batch"))
view.prose(_(
    "One weight meets the input at every position the kernel visits. Its gradient adds up, over every output "
    "cell, the input cell the weight met there times that output's gradient: `param_grad[p] += input_pad[o + p] * "
    "output_grad[o]`. Here both indices move the same way, so the output gradient simply slides along the padded "
    "input. With a batch the same weight meets every observation, and all their terms add into one number."))
for problem in links.read_url(links.URL_FILTER_1D):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
widgets.back_to_chapter("bf_")
CHAPTERS_BATCH = "0 1 2 3 4 5 6\n1 2 3 4 5 6 7"


def _batch() -> None:
    st.session_state[state.BF_INPUT], st.session_state[state.BF_STEP] = CHAPTERS_BATCH, 1


c1, c2 = st.columns(2)
rows_text = view.widget(c1.text_area, _("Input: one observation per line"), key=state.BF_INPUT, height=90,
                        help=_("Numbers separated by spaces or commas, every line as long as the others. The "
                               "chapter's batch is 0 1 2 3 4 5 6 and 1 2 3 4 5 6 7; keep one line for a single "
                               "observation."))
view.widget(c1.button, _("Use the chapter's batch of two"), key="bf_batch", on_click=_batch, icon=":material/stacks:",
            disabled=st.session_state[state.BF_INPUT] == CHAPTERS_BATCH,
            help=_("The chapter's second example: two observations, whose terms add into the same weights "
                   "([36, 49, 48])."))
ker_text = view.widget(c2.text_input, _("Kernel values"), key=state.BF_KERNEL,
                       help=_("An odd number of weights; the chapter's is 1, 1, 1."))
try:
    up = backward.upstream_controls(state.BF_UP, state.BF_SEED, state.BF_GOAL)
    rows = widgets.parse_grid(rows_text, _("input"), max_size=16)
    kernel = widgets.parse_values(ker_text, _("kernel"))
    tr = backward.param_grad_1d(tuple(map(tuple, rows.tolist())), kernel, up)
except ValueError as exc:
    links.write_url(links.URL_FILTER_1D)
    st.error(_("These settings cannot be used: {}.").format(message(exc)))
    st.stop()
st.session_state[state.BF_WEIGHT] = min(int(st.session_state[state.BF_WEIGHT]), len(kernel) - 1)
p = view.widget(c2.radio, _("Weight"), range(len(kernel)), key=state.BF_WEIGHT, horizontal=True,
                format_func=lambda i: f"w[{i}]",
                help=_("Whose gradient to build. w[0] is the chapter's “first element of the filter”."))
terms = tr.terms(p)


st.subheader(_("Step through the terms of w[{}]").format(p))
st.caption(_("Each output gradient row is shifted right by {} so that `output_grad[o]` sits under "
             "`input_pad[o + {}]`, the cell w[{}] met; the boxes are this step's pair. With the stepper focused, "
             "←/→ step and Space plays.").format(p, p, p))
stepper.step_through(traces.param_grad_1d_steps(tuple(map(tuple, rows.tolist())), kernel, p, up, (
    ("input_pad", _("padded input, one row per observation")),
    ("output_grad", _("output gradient, shifted by {}").format(p)), ("param_grad", _("filter gradient")),
    ("note", _("Observation {1}, output cell {2}: weight w[{0}] met input_pad[{1}][{3}].")),
    ("cols", (_("input_pad"), _("output_grad"), _("product"), _("running sum"))))), state.BF_STEP,
    state.BF_SPEED, key="bf_stepper", what=_("term"))
links.write_url(links.URL_FILTER_1D)

st.subheader(_("The batch adds up"))
names = [f"w[{i}]" for i in range(len(kernel))]
rows_fig = [(_("obs {}").format(n), list(v), ()) for n, v in enumerate(tr.per_obs)]
rows_fig.append((_("param_grad"), list(tr.param_grad), ()))
a, b = st.columns([len(kernel) + 1, 3])
a.plotly_chart(bc.strips(rows_fig, names), key="bf_fig_batch", config={"displayModeBar": False})
b.markdown(backward.batch_line(tr))
checkpoints_ui.checkpoints("grad-1d-filter", {"rows": tuple(map(tuple, rows.tolist())), "kernel": kernel, "up": up})
