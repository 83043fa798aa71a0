"""Lab: draw a digit or upload a photo of one, prepare it as MNIST's digits were, and see what the network answers."""
import streamlit as st

from app import state, view
from app.draw import canvas, charts, views_ui
from app.draw import link as draw_link
from app.draw import reading as drawing
from app.i18n import _
from smartflow_core.digits import DigitImageError, Steps

st.title(_("Draw a digit"))
view.prose(_(
    "A network trained on MNIST has only ever seen digits prepared one way: white ink on black, shrunk to fit a "
    "20×20 box and centred by their centre of mass in a 28×28 field. Draw a digit (or upload a photo of one) and "
    "watch it go through those same steps; then see what the network answers, which pixels decided it, and what "
    "every layer computed on the way. Switch a step off to see how much the answer depends on it."))

pretrained, trained = drawing.pretrained(), drawing.session_model()
for problem in draw_link.read(session_model=trained is not None):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
if trained is not None:
    view.widget(st.radio, _("Model in use"), ("pretrained", "session"), key=state.DR_MODEL, horizontal=True,
                format_func={"pretrained": _("pretrained"), "session": _("trained in this session")}.get,
                help=_("The model shipped with the app, or the latest weights of the run you started on the "
                       "training page (read again at every change, so you can watch it learn)."))
model = trained if trained is not None and st.session_state[state.DR_MODEL] == "session" else pretrained
if model is None:
    st.error(_("The pretrained model is missing (smartflow_core/models/pretrained.npz): train one with "
               "`python -m smartflow_core.train`, or start a run on the training page."))
    st.stop()
st.caption(_("Reading with {}.").format(model.name) + ("" if trained else " " + _(
    "A model you train on the training page can be chosen here too.")))
if model is pretrained:
    views_ui.model_record()

left, right = st.columns([5, 6], gap="large")
with left:
    source = view.widget(st.radio, _("Input"), ("draw", "photo"), key=state.DR_SOURCE, horizontal=True,
                         format_func={"draw": _("draw"), "photo": _("photo")}.get,
                         help=_("Draw with the mouse or a finger, or upload a photo of a digit written on paper."))
    if source == "draw":
        picture = canvas.digit_canvas(state.DR_CANVAS, state.DR_BRUSH)
    else:
        photo = drawing.photo_upload(state.DR_UPLOAD, state.DR_PHOTO)
        picture = None if photo is None else photo[1]
draw_link.write()
with right:
    threshold = view.widget(st.slider, _("Confidence needed"), 0, 100, step=5, key=state.DR_THRESHOLD, format="%d %%",
                            help=_("Below this probability the answer is “not sure”. A network gives a probability "
                                   "to every digit even for a scribble; the threshold decides when to trust it."))
    answer = st.container()
    views_ui.confidence_note()

if picture is None:
    answer.info(_("Draw a digit on the canvas, as large as you like and anywhere on it: the answer appears here "
                  "when you lift the pen.") if source == "draw" else _(
        "Upload a photo of a handwritten digit. (It stays in your session: a link to this page holds the settings, "
        "never the photo.)"))
    st.stop()
try:
    reading = drawing.read(model, picture, Steps(*(st.session_state[key] for key in state.DR_STEPS)))
except DigitImageError as exc:
    answer.info(_("Nothing to read: {}.").format(exc))
    st.stop()

with answer:
    views_ui.answer(reading, threshold, scribble=source == "draw" and canvas.example(state.DR_CANVAS) == "scribble")

st.subheader(_("MNIST's preparation, step by step"))
st.markdown(_(
    "Each picture is the previous one after one step. Switch a step off and the network reads the naive "
    "version instead. Measured on 1,000 MNIST test digits redrawn on a 280×280 canvas (enlarged 4 to 8 times, "
    "thickened, placed anywhere, half of them dark on light), the pretrained model reads {all} % right with every "
    "step; without finding the ink {ink} % (the dark-on-light half fails), without cropping {crop} %, without "
    "scaling {scale} %, centred by box instead of by mass {center} %.").format(**drawing.MEASURED))
thumbnails = reading.prepared.thumbnails()
for col, (field, step, title, on, off) in zip(st.columns(5), drawing.THUMBNAILS):
    with col:
        if step is None:
            st.markdown(f"**{_(title)}**")
        else:
            view.widget(st.toggle, _(title), key=state.DR_STEPS[drawing.STEP_NAMES.index(step)],
                        help=_("On: {}. Off: {}.").format(_(on), _(off)))
        st.image(charts.thumbnail(thumbnails[field]), caption=drawing.describe(reading, step, on, off),
                 width=charts.THUMB)
        if step is not None:
            st.caption(drawing.flipped_text(reading, step))

st.subheader(_("Which pixels decided it"))
c1, c2 = st.columns([2, 3], gap="large")
with c1:
    kind = view.widget(st.radio, _("Saliency map"), drawing.SALIENCY, key=state.DR_SALIENCY, horizontal=True,
                       format_func={"gradient": _("gradient"), "occlusion": _("occlusion")}.get,
                       help=_("Gradient: how much a small change of each pixel would move the digit's score (one "
                              "backward pass). Occlusion: how much the digit's probability drops when a 4×4 patch "
                              "is covered (169 patches, about half a second)."))
    explain = view.widget(st.selectbox, _("Explain the digit"), range(-1, 10), key=state.DR_EXPLAIN,
                          format_func=lambda d: _("its answer ({})").format(reading.answer) if d < 0 else str(d),
                          help=_("Whose evidence to show: the answer, or another digit (why not a 3?)."))
    st.markdown(_(
        "Purple pixels speak **for** the digit: the network's score would rise with them (gradient) or its "
        "probability falls when they are covered (occlusion). Orange pixels speak against it. Pixels far from "
        "the ink rarely matter: the network learned where MNIST puts its strokes."))
digit = reading.answer if explain < 0 else explain
sal, sal_ms = drawing.saliency(model, reading, digit, kind)
c2.plotly_chart(charts.saliency_overlay(reading.prepared.image, sal, _("{} saliency of the digit {}").format(
    _(kind).capitalize(), digit)), key="dr_saliency_map")

st.subheader(_("Inside the network: every layer's output"))
st.markdown(_(
    "Each tile is one filter's feature map for your digit, purple where the filter responds. The first layer "
    "finds strokes and edges at full size; pooling halves the maps; deeper maps are smaller and respond to "
    "larger parts of the digit. The last layer's outputs are the ten scores that softmax turns into the "
    "probabilities above."))
views_ui.layers(reading)
st.caption(_("Computed in {:.0f} ms: the preparation, five predictions and the feature maps; the saliency map "
             "in {:.0f} ms (results are remembered for a picture already seen).").format(reading.ms, sal_ms))
view.tip(_("The address bar holds the model, the input, the scribble while it is on the canvas, the confidence "
             "needed, the steps, the saliency map and the colour range: share it and others open this view (your "
             "own drawing or photo stays behind)."))
