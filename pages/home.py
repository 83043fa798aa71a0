"""Home: what the app teaches, the path through it, a card per lesson and lab."""
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from app.i18n import N_, _

HERE = Path(__file__).resolve().parent

# One card per lesson and lab: (section, script in pages/, title, icon, blurb). A card links to its page once the
# script exists (and is in the page table of app/main.py); until then it says "coming soon".
CARDS = (
    (N_("Forward pass"), "conv_1d.py", N_("1D convolution"), ":material/linear_scale:",
     N_("Slide a kernel along a list of numbers: the window, the products, the running sum, and what padding and "
     "stride do to the size of the output.")),
    (N_("Forward pass"), "conv_2d.py", N_("2D convolution on images"), ":material/grid_on:",
     N_("Run the chapter's edge detector and other kernels over an MNIST digit, a grid you type or your own image, "
     "one patch at a time, and see the feature map it builds.")),
    (N_("Forward pass"), "multichannel.py", N_("Multichannel convolution"), ":material/layers:",
     N_("Several input channels and several filters: how every output map adds up one convolution per input "
     "channel, and how many weights that takes.")),
    (N_("Forward pass"), "pooling.py", N_("Stride, pooling and flatten"), ":material/compress:",
     N_("Shrink a feature map by max or average pooling or by a stride of 2, compare how much of the input each "
     "keeps, and flatten the maps into the vector a Dense layer reads.")),
    (N_("Backward pass"), "perturb.py", N_("Nudge and watch"), ":material/tune:",
     N_("The perturbation experiment: nudge one number, watch the loss change, and meet the gradient.")),
    (N_("Backward pass"), "grad_1d.py", N_("1D input gradient"), ":material/undo:",
     N_("The input gradient of a 1D convolution, the chapter's index formula step by step.")),
    (N_("Backward pass"), "grad_1d_filter.py", N_("1D filter gradient"), ":material/functions:",
     N_("The filter gradient of a 1D convolution, and how a batch sums into each weight.")),
    (N_("Backward pass"), "grad_2d.py", N_("2D and multichannel gradients"), ":material/grid_view:",
     N_("Gradients in 2D and across channels, with stride and padding, checked numerically.")),
    (N_("Backward pass"), "book_bug.py", N_("The book's bug"), ":material/bug_report:",
     N_("The book's fast convolution gradients, their two bugs, and why training still worked.")),
    (N_("Labs"), "train.py", N_("Train a CNN"), ":material/play_arrow:",
     N_("Build a CNN, train it on MNIST live, and look inside it while it learns.")),
    (N_("Labs"), "evaluate.py", N_("Evaluate and look inside"), ":material/visibility:",
     N_("Evaluate a model on the whole test set, see where it errs, and look inside it for one digit.")),
    (N_("Labs"), "draw.py", N_("Draw a digit"), ":material/draw:",
     N_("Draw a digit or upload a photo of one, prepare it as MNIST's digits were, and see what the network answers.")),
    (N_("Teach"), "lesson_link.py", N_("Make a lesson link"), ":material/qr_code_2:",
     N_("For teachers: send a class one lesson set up your way, with controls hidden or locked, the presenter view "
        "for a projector, one question set for everyone, and a QR code of the link.")),
)

st.title(_("SmartFlow CNN Lab"))
st.markdown(_(
    "This app teaches how a convolutional network turns an image into numbers it can classify, following the "
    "chapter on CNNs step by step. Every number you see is computed by the `smartflow_core` library, the same "
    "loops the chapter writes, so what you watch is exactly what the code does."))

st.subheader(_("The path"))
st.markdown(_(
    "Start with the forward pass: a 1D convolution on five numbers, then 2D convolution on real digits, then "
    "many channels at once, then the ways a network shrinks and flattens its feature maps. The backward pass "
    "shows how the gradient flows back through a convolution; the labs train a CNN on MNIST, look inside it "
    "and let it read a digit you draw."))


# A card is one link: the page link's ::after is stretched over its card (the "stretched link" pattern), so a
# click or tap anywhere on the card opens the page; the link is still the one thing the keyboard stops at.
st.html("""<style>
[class*="st-key-card-"] { position: relative; }
[class*="st-key-card-"] .stElementContainer { position: static; }
[class*="st-key-card-"] a::after { content: ""; position: absolute; inset: 0; z-index: 1; }
[class*="st-key-card-"]:hover { border-color: var(--primary-color, #5e3c99); }
</style>""")


def card(script: str | None, title: str, icon: str, blurb: str) -> None:
    with st.container(border=True, key=f"card-{Path(script or title).stem}"):
        try:
            if script is None or not (HERE / script).exists():
                raise StreamlitAPIException(script)
            st.page_link(HERE / script, label=_(title), icon=icon, width="stretch")  # the card's width
        except StreamlitAPIException:  # not written yet, or not in the navigation yet
            st.markdown(f"{icon} **{_(title)}** · " + _("coming soon"))
        st.caption(_(blurb))


for section in ("Forward pass", "Backward pass", "Labs", "Teach"):
    st.subheader(_(section))
    cards = [c for c in CARDS if c[0] == section]
    for row in range(0, len(cards), 2):  # a row of two at a time: the page's order (Tab, a phone's one column)
        for col, (_section, script, title, icon, blurb) in zip(st.columns(2), cards[row:row + 2]):  # is reading order
            with col:
                card(script, title, icon, blurb)

st.subheader(_("How to use a lesson"))
st.markdown(_(
    "- Each lesson opens with what it teaches, then lets you change the numbers.\n"
    "- **Previous / Next**, the **Step** slider or **Play** move the kernel, and so do the arrow keys once "
    "you have clicked the stepper (Home/End jump, Space plays); click any output cell to see how it was "
    "computed, or hover over it for a preview. The page shows the window, the products and the sum for that "
    "step, instantly: stepping happens in your browser.\n"
    "- Colours: purple is positive, orange negative, white zero; grey cells are padding. The black frame is the "
    "current window.\n"
    "- Hover over a control's **?** for what it does. The address bar keeps your settings: copy it to share "
    "the exact example with a class."))
