"""Teach: make a lesson link. Pick a page, set it up by using it, choose what learners may change, copy the link
(or show its QR code on the projector). Everything is in the link; nothing is stored on the server."""
import io
from urllib.parse import urlencode, urlsplit

import segno
import streamlit as st

from app import controls as controls_table
from app import i18n, links, menu, state, view
from app.draw.link import URL_DRAW
from app.i18n import N_, _
from app.lab.eval_link import URL_EVALUATE
from app.lab.link import URL_TRAIN

SPECS = {spec.lesson: spec for spec in (
    links.URL_1D, links.URL_2D, links.URL_MC, links.URL_POOL, links.URL_PERTURB, links.URL_GRAD_1D,
    links.URL_FILTER_1D, links.URL_GRAD_2D, links.URL_BOOK, URL_TRAIN, URL_EVALUATE, URL_DRAW)}
PAGE, HIDE, LOCK, PRESENT, TEXT = state.LL_PAGE, state.LL_HIDE, state.LL_LOCK, state.LL_PRESENT, state.LL_TEXT
QUESTIONS, SEED = state.LL_QUESTIONS, state.LL_SEED
QUESTION_MODES = {"own": N_("each learner gets their own questions"), "same": N_("everyone gets the same questions"),
                  "none": N_("no questions (hidden)")}


def lesson_link(page: str, base: str) -> str:
    """The address of ``page`` with this session's values of it and the view chosen here."""
    spec = SPECS[page]
    values = {"lesson": spec.lesson, **links.settings(spec)}
    hide, lock = set(st.session_state[HIDE]), set(st.session_state[LOCK])
    questions = st.session_state[QUESTIONS]
    if questions == "none" and view.ALL not in hide:
        hide.add("checkpoints")
    values.update(view.to_params(view.View(frozenset(hide), frozenset(lock), st.session_state[PRESENT],
                                           not st.session_state[TEXT])))
    if questions == "same":
        values["q"] = str(st.session_state[SEED])
    values.update(i18n.params())  # the teacher's language: a class that reads Chinese gets Chinese
    return f"{base}/{page}?{urlencode(values, safe=',;:')}"


def base_url() -> str:
    """The app's address as the browser sees it (behind the proxy too), without this page's path."""
    url = urlsplit(st.context.url or "http://localhost:8501/lesson-link")
    path = url.path.rstrip("/").removesuffix("/lesson-link")
    return f"{url.scheme}://{url.netloc}{path}"


def qr_png(text: str) -> bytes:
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=10, border=2)
    return buf.getvalue()


st.title(_("Make a lesson link"))
view.prose(_(
    "Send a class one lesson, set up as you want it. Pick the page, then set its numbers by using the page itself, "
    "as a learner would: the link takes this session's values. Choose what learners may not change (locked: shown "
    "with its value) or should not see (hidden), and whether the page opens in the presenter view. Everyone who "
    "opens the link sees the same example; nothing is stored on the server, and no account is needed."))

pages = list(SPECS)
wanted = st.query_params.get("for")
if wanted in SPECS and st.session_state.get("ll_for") != wanted:  # "make a link for this page", once per visit
    st.session_state[PAGE] = st.session_state["ll_for"] = wanted
page = st.selectbox(_("Lesson"), pages, key=PAGE, format_func=lambda p: _(menu.title(p)),
                    help=_("The page the link opens."))
script = next(row[1] for row in menu.PAGE_TABLE if row[4] == page)
st.page_link(menu.PAGES / script, label=_("Set its values on its page"), icon=":material/tune:",
             help=_("Open “{}”, change its numbers as a learner would, and come back: the link takes them.").format(
                 _(menu.title(page))))

controls = {c.name: c for c in controls_table.CONTROLS[page]}
for key in (HIDE, LOCK):  # names of another page's controls mean nothing here
    st.session_state[key] = [n for n in st.session_state[key] if n in controls or n == view.ALL]


def label(name: str) -> str:
    if name == view.ALL:
        return _("all the settings")
    c = controls[name]
    return f"{name}: {_(c.label)}" + ("" if c.kind == "setting" else " " + _(controls_table.KIND_NOTES[c.kind]))


c1, c2 = st.columns(2)
c1.multiselect(_("Hide"), [view.ALL, *controls], key=HIDE, format_func=label, placeholder=_("nothing hidden"),
               help=_("Hidden controls are not shown; the lesson uses the value in the link. “all the settings” "
                      "leaves the steppers and the controls marked (walk) in place."))
c2.multiselect(_("Lock"), [view.ALL, *(n for n, c in controls.items() if c.kind != "part")], key=LOCK,
               format_func=label, placeholder=_("nothing locked"),
               help=_("Locked controls are shown with their value and cannot be changed. Locking freezes the "
                      "example, not the walk through it: Next, Previous and Play stay usable."))
c1, c2 = st.columns(2)
c1.toggle(_("Presenter view"), key=PRESENT,
          help=_("Larger type and figures for a projector, the menu folded away."))
c2.toggle(_("Leave out the explanations"), key=TEXT,
          help=_("The lesson's paragraphs of explanation and its how-to captions are left out: you explain."))
if any(c.kind == "part" and n == "checkpoints" for n, c in controls.items()):
    c1, c2 = st.columns([3, 1])
    c1.radio(_("Check yourself"), tuple(QUESTION_MODES), key=QUESTIONS, horizontal=True,
             format_func=lambda m: _(QUESTION_MODES[m]),
             help=_("The questions at the end of the lesson, made from its numbers. With one question set, every "
                    "learner who opens the link answers the same questions."))
    c2.number_input(_("Question set"), 1, 999_999_999, step=1, key=SEED, disabled=st.session_state[QUESTIONS] != "same")

link = lesson_link(page, base_url())
qr = qr_png(link)
st.subheader(_("The link"))
left, right = st.columns([3, 2])
left.code(link, language=None, wrap_lines=True)
with left:
    c1, c2 = st.columns(2)
    c1.link_button(_("Open it"), link, icon=":material/open_in_new:", width="stretch")
    c2.download_button(_("Download the QR code (PNG)"), qr, file_name=f"smartflow-{page}.png",
                       mime="image/png", on_click="ignore", icon=":material/download:", width="stretch")
right.image(qr, caption=_("The same link as a QR code, for a projector ({} characters).").format(len(link)),
            width=360)
with left:
    view.tip(_("The link holds the lesson's values as they are now in this session: change them on the lesson's page "
               "and come back, and the link follows. Every page lists its control names under “For teachers: this "
               "page's link” in the sidebar."))
