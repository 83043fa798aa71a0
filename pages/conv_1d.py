"""Lesson 1: 1D convolution, padding and stride, one output cell at a time."""
import streamlit as st

from app import charts, links, state, widgets
from app.i18n import _
from app.lessons import explain, traces

st.title(_("1D convolution"))
st.markdown(_(
    "A convolution slides a small **kernel** along the input. At each position it multiplies the kernel with "
    "the input cells under it and adds the products: that sum is one **output** cell. Step through the "
    "chapter's example, `conv_1d([1, 2, 3, 4, 5], [1, 1, 1])`, then change the numbers, the padding and the "
    "stride and watch the output size follow the formula."))
for problem in links.read_url(links.URL_1D):
    st.warning(_("Ignored a setting from the link: {}").format(problem))

c1, c2 = st.columns(2)
inp_text = c1.text_input(_("Input values"), key=state.C1_INPUT,
                         help=_("Up to 16 numbers separated by commas, e.g. 1, 2, 3, 4, 5."))
ker_text = c2.text_input(_("Kernel values"), key=state.C1_KERNEL,
                         help=_("The weights the window multiplies with, e.g. 1, 1, 1. Odd lengths centre "
                                "nicely; at most 16."))
pad, stride = widgets.padding_stride(state.C1_PAD_MODE, state.C1_PAD, state.C1_STRIDE)

try:
    inp = widgets.parse_values(inp_text, _("input"))
    kernel = widgets.parse_values(ker_text, _("kernel"))
    tr = traces.conv_1d(inp, kernel, pad, stride)
except ValueError as exc:
    links.write_url(links.URL_1D)
    st.error(_("These settings cannot be convolved: {}.").format(exc))
    st.stop()

st.subheader(_("How many outputs?"))
st.latex(explain.size_latex(tr.size))
st.caption(_("n = {} input cells, p = {} zeros on each side, k = {} kernel cells, s = stride {}. ").format(
    tr.size.n, tr.pad, tr.size.k, tr.stride) + explain.size_note(tr.size))
if pad is None:
    st.info(_("“same” padding adds kernel // 2 = {} // 2 = {} zero(s) at each end, as the chapter's `_pad_1d` "
              "does: the grey cells below.").format(tr.size.k, tr.pad))

labels = [_("pad") if tr.is_pad(i) else f"x[{i - tr.pad}]" for i in range(len(tr.padded))]
labels = [f"{label}<br>{_('never read')}" if i in tr.unread else label for i, label in enumerate(labels)]
pad_cells = [i for i in range(len(tr.padded)) if tr.is_pad(i)]


def show_step(i: int) -> None:
    step = tr.steps[i]
    blank = [float("nan")] * len(tr.padded)
    kernel_row, product_row, output_row = list(blank), list(blank), list(blank)
    for p, j in enumerate(step.window):
        kernel_row[j], product_row[j] = step.weights[p], step.products[p]
    for o in range(i + 1):
        output_row[tr.anchor(o)] = tr.output[o]
    st.markdown(_("**Step {} of {}**: the kernel covers padded cells {} to {} and fills `out[{}]`.").format(
        i + 1, len(tr.steps), step.window[0], step.window[-1], step.index))
    rows = {_("input"): list(tr.padded), _("kernel"): kernel_row, _("products"): product_row,
            _("output"): output_row}
    boxes = [(0, step.window[0], 3, len(step.window)), (3, tr.anchor(i), 1, 1)]
    st.plotly_chart(charts.row_strips(rows, labels=labels, outlines=boxes, pad_cells=pad_cells), key="c1_strips",
                    config={"displayModeBar": False})
    left, right = st.columns([3, 1])
    left.markdown(explain.step_table_1d(step, tr.stride))
    left.markdown(explain.sum_line(step.weights, step.inputs, step.output, f"out[{step.index}]"))
    right.metric(_("out[{}]").format(step.index), charts.fmt(step.output),
                 help=_("The output cell this step fills: the last running sum, drawn under the middle of its "
                        "window."))
    right.caption(_("Whole output: [{}]").format(", ".join(charts.fmt(v) for v in tr.output)))


st.subheader(_("Step through"))
widgets.stepper(len(tr.steps), state.C1_STEP, state.C1_PLAY, state.C1_SPEED, show_step,
                on_step=lambda: links.write_url(links.URL_1D))
