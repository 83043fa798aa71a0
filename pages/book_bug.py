"""Backward pass, lesson 5: the book's fast convolution gradients, their two bugs, and why training still worked."""
import streamlit as st

from app import charts, links, state, view, widgets
from app.i18n import _
from app.lessons import backward, checkpoints_ui
from app.lessons import backward_charts as bc
from smartflow_core.trace import CHAPTER_LOG

COSINE_SIZES = (1, 2, 4, 8, 16, 60)

st.title(_("The book's bug, and why training still worked"))
view.prose(_(
    "The chapter's loops are right, but the fast batch-matmul convolution the book trained with had two bugs. Its "
    "**filter gradient** multiplied rows belonging to different examples, which is right only for a batch of one; "
    "its **input gradient** used the kernel without turning it by 180°. Below, on a batch of two, each is set "
    "beside the true gradient and central differences; then why the chapter's network learned anyway."))
for problem in links.read_url(links.URL_BOOK):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
widgets.back_to_chapter("bb_")

c1, c2, c3, c4 = st.columns([3, 2, 1, 1])
example = view.widget(c1.radio, _("Example"), ("unit", "random"), key=state.BB_EXAMPLE, horizontal=True,
                      format_func={"unit": _("x = W = g = 0..8"), "random": _("random integers")}.get,
                      help=_("x, the kernel W and the output gradient g all 0..8 as 3×3 grids, the second example "
                             "2x + 1 with g = 1; or small random integers."))
batch = view.widget(c2.radio, _("Batch"), (1, 2), key=state.BB_BATCH, horizontal=True,
                    help=_("With one example the book's rows line up and its filter gradient is right."))
size = view.widget(c3.number_input, _("Size"), 3, 6, step=1, key=state.BB_SIZE, disabled=example != "random",
                   help=_("Height and width of the random input."))
seed = view.widget(c4.number_input, _("Seed"), 0, 9_999, step=1, key=state.BB_SEED, disabled=example != "random",
                   help=_("Seed of the random integers."))
links.write_url(links.URL_BOOK)
cmp = backward.book(example, batch, size, seed)
err = cmp.errors()

st.subheader(_("The filter gradient"))
cols = st.columns(3)
for col, (name, grid, key) in zip(cols, ((_("book's filter gradient"), cmp.book_param, "book"),
                                         (_("true filter gradient"), cmp.true_param, "true"),
                                         (_("central differences"), cmp.numeric_param, "numeric"))):
    col.plotly_chart(charts.grid(grid[0, 0], title=name, height=280, zmax=charts.limit(cmp.book_param, cmp.true_param)),
                     key=f"bb_fig_param_{key}",
                     config={"displayModeBar": False})
m = st.columns(3)
m[0].metric(_("filter: book's error"), f"{err['book_param']:.1e}", help=_(
    "Relative error against the central differences, over the whole array: ‖book − numeric‖ / ‖numeric‖."))
m[1].metric(_("filter: true error"), f"{err['true_param']:.1e}", help=_(
    "The same for the true gradient: rounding error only."))
m[2].metric(_("filter: cosine(book, true)"), f"{cmp.cosine_param:.3f}",
            help=_("1: the same direction; 0: unrelated; −1: opposite."))
st.markdown(backward.book_param_text(cmp))
with st.expander(_("Which rows the book multiplied together")):
    st.markdown(backward.pairing_table(cmp.pairing))

st.subheader(_("The input gradient"))
cols = st.columns(3)
for col, (name, grid, key) in zip(cols, ((_("book's: kernel not flipped"), cmp.book_input, "book"),
                                         (_("true: kernel flipped"), cmp.true_input, "true"),
                                         (_("central differences"), cmp.numeric_input, "numeric"))):
    col.plotly_chart(charts.grid(grid[0, 0], title=name + _(" (example 0)"), height=280,
                                 zmax=charts.limit(cmp.book_input[0], cmp.true_input[0])), key=f"bb_fig_in_{key}",
                     config={"displayModeBar": False})
m = st.columns(3)
m[0].metric(_("input: book's error"), f"{err['book_input']:.1e}", help=_(
    "Relative error against the central differences, over the whole batch."))
m[1].metric(_("input: true error"), f"{err['true_input']:.1e}", help=_(
    "The same for the true gradient: rounding error only."))
m[2].metric(_("input: cosine(book, true)"), f"{cmp.cosine_input:.3f}", help=_(
    "1: the same direction; 0: unrelated; −1: opposite. Over the whole batch."))
st.markdown(_("The book correlated the padded output gradient with W itself; the gradient needs W turned by "
              "180°, as the 1D lesson's flipped kernel. The two agree only for kernels that look the same turned "
              "around, such as [1, 1, 1] or the chapter's edge detector."))

st.subheader(_("Why training still worked"))
st.markdown(_(
    "**1. The printed loss comes from it.** The library, run with the book's gradients, reproduces the chapter's "
    "log exactly; the same cell with the true gradients starts at a different loss, and both fall."))
a, b = st.columns([3, 2])
a.plotly_chart(bc.log_figure(CHAPTER_LOG), key="bb_fig_log", config={"displayModeBar": False})
b.markdown(backward.log_table(CHAPTER_LOG))
st.markdown(_(
    "**2. The input-gradient bug never ran.** The chapter's network has one convolution, and it is the first "
    "layer: the gradient with respect to the images is never read, so training skips it."))
st.markdown(_(
    "**3. The filter gradient is right for one example and mixed up for more.** The more examples a batch "
    "holds, the more rows are mis-paired. On the chapter's model and real digits (the first digits of the "
    "bundled MNIST subset, weights as the chapter initialises them):"))
cos = backward.book_cosines(COSINE_SIZES)
if cos is None:
    st.warning(_("The MNIST digits are not installed, so this measurement is not shown."))
else:
    a, b = st.columns([3, 2])
    a.plotly_chart(bc.cosine_figure(COSINE_SIZES, cos), key="bb_fig_cos", config={"displayModeBar": False})
    b.markdown(backward.cosine_text(COSINE_SIZES, cos))
checkpoints_ui.checkpoints("book-bug", {"x": cmp.x, "w": cmp.param, "g": cmp.output_grad})
