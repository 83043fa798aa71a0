"""Lab: evaluate a model on the whole test set, see where it errs, and look inside it for one digit."""
import streamlit as st

from app import resources, view
from app.i18n import _, message
from app.lab import eval_link, eval_ui

st.title(_("Evaluate and look inside"))
view.prose(_(
    "A model's accuracy is measured on test digits it never trained on. The confusion matrix shows which digits "
    "it mixes up; open a cell to see the digits behind it, then pick one to follow it through every layer."))
for problem in eval_link.read():
    st.warning(_("Ignored a setting from the link: {}").format(problem))
data = resources.mnist()
st.caption(_("Test set: all {:,} test digits of the {}.").format(len(data.y_test), message(data.description)))

result = eval_ui.model()
eval_link.write()
if result is None:
    st.stop()
ev = result.evaluation
c1, c2, c3 = st.columns(3)
c1.metric(_("Test accuracy"), f"{ev.accuracy:.2f} %", help=_("Test digits classified right, out of all of them."))
c2.metric(_("Right"), f"{ev.right:,}", help=_("Digits on the diagonal of the matrix."))
c3.metric(_("Mistakes"), f"{len(ev.mistakes()):,}", help=_("Digits off the diagonal."))

st.subheader(_("Confusion matrix"))
cell = eval_ui.confusion(ev)

st.subheader(_("The digits behind it"))
eval_ui.gallery(ev, data, cell)

st.subheader(_("Inside the network, for one digit"))
eval_ui.digit(result, data)
eval_link.write()
view.tip(_("The address bar holds the model's source, the open cell, the gallery's order, the digit and the maps' "
             "colour range: share it and others open this view (a model file or a training run stays behind)."))
