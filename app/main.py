"""Entry point: ``python -m streamlit run app/main.py`` from the repository root."""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads: one BLAS thread per process

import copy
import functools
import logging

import streamlit as st
from streamlit.errors import FragmentHandledException
from streamlit.runtime.scriptrunner_utils import exceptions as script_control

from app import i18n, state, view
from app.i18n import _
from app.menu import PAGE_TABLE, PAGES, SECTIONS


def _to_home() -> None:
    st.switch_page(PAGES / PAGE_TABLE[0][1])


@functools.cache
def _pages(sections: tuple[str, ...], titles: tuple[str, ...]) -> dict[str, tuple]:
    """The pages, made once per language: ``st.Page`` resolves its script's path on the disk, a tenth of a lesson
    rerun when it was made on every rerun."""
    pages: dict[str, list] = {section: [] for section in sections}
    for i, ((section, script, _title, icon, url), title) in enumerate(zip(PAGE_TABLE, titles)):
        pages[sections[SECTIONS.index(section)]].append(st.Page(PAGES / script, title=title, icon=icon, url_path=url,
                                                           default=i == 0))
    # the default page answers at "/" only (its url_path is reserved, not served): "/home", as people type it and
    # old links name it, leads there
    pages[sections[0]].append(st.Page(_to_home, title=titles[0], url_path="home", visibility="hidden"))
    return {section: tuple(rows) for section, rows in pages.items() if rows}


def navigation() -> dict[str, list]:
    """The menu in this session's language. Each session gets copies: ``st.navigation`` marks the page it
    returns as the one to run, and sessions run at the same time."""
    cached = _pages(tuple(_(s) for s in SECTIONS), tuple(_(row[2]) for row in PAGE_TABLE))
    return {section: [copy.copy(p) for p in rows] for section, rows in cached.items()}


log = logging.getLogger("app.main")  # not under "smartflow", which enable_logging may stop from propagating


def run_page(page) -> None:
    """Run the page; anything that escapes it is logged with its traceback on the server, and the learner sees a
    short sentence instead (``client.showErrorDetails = "none"`` hides Streamlit's own details as well).
    Streamlit's control flow passes through untouched: ``st.stop``, ``st.rerun`` and ``st.switch_page``
    (``ScriptControlException``, a BaseException) and a fragment's error that Streamlit has already shown
    (``FragmentHandledException``)."""
    try:
        page.run()
    except (script_control.ScriptControlException, FragmentHandledException):
        raise
    except Exception:
        log.exception("page %r failed", getattr(page, "url_path", page))
        st.error(_("Something went wrong on this page, and it stopped here. Try again, change the last setting "
                   "back, or reload the page; if it keeps happening, the server's log says what failed."))


st.set_page_config(page_title="SmartFlow CNN Lab", page_icon="🧠", layout="wide",
                   initial_sidebar_state="collapsed" if view.presenting() else "auto")
state.init()
i18n.choose()  # this session's language, before the menu and the page are drawn
page = st.navigation(navigation(), expanded=True)  # every lesson and lab in view, no "View more"
with st.sidebar:
    i18n.selector()  # English / 简体中文
    st.caption(_("SmartFlow CNN Lab: convolutional networks step by step, computed by the smartflow_core "
                 "library as you watch. Your settings stay when you switch pages, and the address bar "
                 "holds them: copy it to share the example."))
for problem in view.begin(page.url_path):
    st.warning(_("Ignored a setting from the link: {}").format(problem))
view.decorate()
run_page(page)
