"""Lab: build a CNN, train it on MNIST live, and look inside it while it learns."""
import streamlit as st

from app import links, resources, state
from app.i18n import _
from app.lab import builder_ui, train_ui
from app.lab import link as lab_url
from app.lab import settings_ui as train_settings

st.title(_("Train a CNN"))
st.markdown(_(
    "Build a convolutional network, train it on handwritten digits and watch it learn: the loss falls, the test "
    "accuracy climbs, the first layer's random filters turn into stroke detectors. Training runs in the "
    "background, so you can pause it, look inside, change pages and come back."))
for problem in links.read_url(lab_url.URL_TRAIN):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
data = resources.mnist()
st.caption(_("Data: the {}.").format(data.description))

st.subheader(_("1. The network"))
ss = st.session_state
choice = builder_ui.network(book=ss[state.TR_BOOK], batch_size=ss[state.TR_BATCH], dtype=ss[state.TR_DTYPE])
if choice is not None:
    st.markdown(_("Each row is one layer: the shape of what it outputs for one image, the weights it learns, and "
                  "the multiplications it needs per image."))
    builder_ui.show_plan(choice.plan)

st.subheader(_("2. Training settings"))
fields = train_settings.settings(data)
links.write_url(lab_url.URL_TRAIN)
st.caption(_("The address bar holds this network and these settings: share the link and every learner opens "
             "the same lab."))
config, why_not = train_settings.make_config(choice, fields)
if why_not:
    st.warning(why_not)

st.subheader(_("3. Train and watch"))
settled = train_ui.buttons(config, choice, why_not)
train_ui.live_panel(data, settled)
