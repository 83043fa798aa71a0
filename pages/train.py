"""Lab: build a CNN, train it on MNIST live, and look inside it while it learns."""
import streamlit as st

from app import resources, state, view
from app.i18n import _
from app.lab import builder_ui, train_ui
from app.lab import link as lab_url
from app.lab import settings_ui as train_settings

st.title(_("Train a CNN"))
view.prose(_(
    "Build a convolutional network, train it on handwritten digits and watch it learn: the loss falls, the test "
    "accuracy climbs, and each layer's filters move away from their random start (shown side by side: at the "
    "start, now, and the change). Training runs in the background, so you can pause it, look inside, change pages "
    "and come back."))
last, snap = train_ui.now()  # read once: every part of the page tells the run's state of this moment
live = snap is not None and snap.active  # a run under way fixes the network and the settings until it ends
for problem in lab_url.read(locked=live):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
data = resources.mnist()
counts = {"n_train": f"{len(data.y_train):,}", "n_test": f"{len(data.y_test):,}"}
if not data.full:
    st.caption(_("Data: a sample of MNIST that comes with the app, {n_train} training and {n_test} test images. "
                 "With the full MNIST (60,000 and 10,000) on the server, the lab trains on that instead: the README "
                 "says how.").format(**counts))
else:
    st.caption(_("Data: the full MNIST, {n_train} training and {n_test} test images.").format(**counts))

st.subheader(_("1. The network"))
if live:
    train_ui.lock_note(snap)
ss = st.session_state
running = last.config if live else None
choice = builder_ui.network(book=ss[state.TR_BOOK], batch_size=ss[state.TR_BATCH], dtype=ss[state.TR_DTYPE],
                            running=running)
if choice is not None:
    st.markdown(_("Each row is one layer: the shape of what it outputs for one image, the weights it learns, and "
                  "the multiplications it needs per image."))
    builder_ui.show_plan(choice.plan)
if last is not None and not live:
    builder_ui.trained_elsewhere(choice, last.config, last.label)

st.subheader(_("2. Training settings"))
if live:
    st.caption(_("These are the settings of the run under way: Stop it, or wait for its end, to change them."))
fields = train_settings.settings(data, locked=live)
if choice is not None and choice.plan.ok:
    train_settings.time_note(choice.plan, fields, last)
lab_url.write()
view.tip(_("The address bar holds this network and these settings: share the link and every learner opens "
             "the same lab."))
config, why_not = train_settings.make_config(choice, fields)
if why_not:
    st.warning(why_not)

st.subheader(_("3. Train and watch"))
train_ui.buttons(config, choice, why_not, snap)
train_ui.live_panel(data, snap)
