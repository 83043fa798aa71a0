"""A teacher's view of a page, carried by its link: ``hide=`` and ``lock=`` (control names, comma-separated, or
``all``), ``present=1`` (the presenter view: larger type and figures, the sidebar collapsed) and ``text=0`` (the
explanatory prose left out).

Every page's controls are named in :mod:`app.controls`, by the name its setting has in the link where it has one
(``x`` the input values, ``k`` the kernel, ``s`` the stride...); ``all`` covers a page's settings, not the
controls that walk through the example (the steppers, the lab's Start, the reset) nor the parts (the questions).

Pages draw their widgets through :func:`widget` (or test :func:`hidden` / :func:`locked`), which looks the key up
in the running page's table. A hidden control keeps its value, from the link or the session; a locked one is
shown disabled with its value. :func:`begin` reads the view when a page starts; :func:`params` is what
:func:`app.links.write_url` keeps in the address, so a copied link carries the view.

The view of a page is remembered for the session (a learner who visits another page and comes back finds the
teacher's view again); an address that names the page and has no ``hide``/``lock`` clears it. ``present`` and
``text`` belong to the session: a presenter keeps them from page to page until "Leave the presenter view".
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import streamlit as st

from app import menu
from app import state as s
from app.controls import CONTROLS, KIND_NOTES, Control
from app.i18n import _

ALL = "all"
NOW, PAGES, SESSION = "view_now", "view_pages", "view_session"  # session-state keys


# ---------------------------------------------------------------------------------------------- the view


@dataclass(frozen=True)
class View:
    """What a link asks of a page. ``hide`` and ``lock`` hold control names (``all`` stands for itself)."""

    hide: frozenset[str] = field(default_factory=frozenset)
    lock: frozenset[str] = field(default_factory=frozenset)
    present: bool = False
    text: bool = True


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def parse(params: dict[str, str], page: str) -> tuple[View, list[str]]:
    """The view a link's parameters ask for on ``page``, and the problems found (each one a sentence; what
    cannot be used is left out)."""
    controls = {c.name: c for c in CONTROLS.get(page, ())}
    problems, sets = [], {}
    for what in ("hide", "lock"):
        names = _names(params.get(what, ""))
        good = set()
        for name in names:
            if name == ALL or (name in controls and (what == "hide" or controls[name].kind != "part")):
                good.add(name)
            elif name in controls:
                problems.append(_("{}={}: the {} can be hidden, not locked").format(
                    what, name, _(controls[name].label).lower()))
            elif controls:
                problems.append(_("{}={}: this page has no control of that name (its controls: {})").format(
                    what, name[:40], ", ".join(controls)))
            else:
                problems.append(_("{}={}: this page has no controls to hide or lock").format(what, name[:40]))
        sets[what] = frozenset(good)
    flags = {}
    for what, default in (("present", False), ("text", True)):
        value = params.get(what)
        if value is None or value in ("0", "1"):
            flags[what] = default if value is None else value == "1"
        else:
            flags[what] = default
            problems.append(_("{}={}: use 1 or 0").format(what, value[:40]))
    return View(sets["hide"], sets["lock"], flags["present"], flags["text"]), problems


def to_params(view: View) -> dict[str, str]:
    """The link's parameters for ``view`` (only what differs from the plain page), the inverse of :func:`parse`."""
    out = {}
    for what in ("hide", "lock"):
        names = getattr(view, what)
        if names:
            out[what] = ALL if ALL in names else ",".join(sorted(names))
    if view.present:
        out["present"] = "1"
    if not view.text:
        out["text"] = "0"
    return out


def begin(page: str) -> list[str]:
    """Read the view of ``page`` (the url path of the page about to run) from the address, or the one this session
    remembers for it, and a teacher's question set (``q=``); returns the problems of those values."""
    qp = st.query_params
    mine = qp.get("lesson", page) == page  # a link names its page; another page's hide= means nothing here
    given = {k: qp[k] for k in ("hide", "lock") if mine and k in qp}
    given.update({k: qp[k] for k in ("present", "text") if k in qp})
    view, problems = parse(given, page)
    pages = st.session_state.setdefault(PAGES, {})
    session = st.session_state.get(SESSION, View())
    if "hide" in given or "lock" in given or qp.get("lesson") == page:
        pages[page] = (view.hide, view.lock)
    if "present" in given or "text" in given:
        session = st.session_state[SESSION] = replace(session, present=view.present, text=view.text)
    q = qp.get("q")
    if q is not None:
        if q.strip().isdigit() and len(q.strip()) <= 9:
            st.session_state[s.CP_FIXED] = int(q)
        else:
            problems.append(_("q={}: a question set is a whole number, such as q=42").format(q[:40]))
    hide, lock = pages.get(page, (frozenset(), frozenset()))
    st.session_state[NOW] = (page, View(hide, lock, session.present, session.text))
    return problems


def now() -> View:
    return st.session_state.get(NOW, (None, View()))[1]


def page() -> str | None:
    return st.session_state.get(NOW, (None, View()))[0]


def params() -> dict[str, str]:
    """What the address keeps of the view, for :func:`app.links.write_url`."""
    return to_params(now())


def leave_presenter() -> None:
    st.session_state[SESSION] = View()
    for k in ("present", "text"):
        st.query_params.pop(k, None)


# ---------------------------------------------------------------------------------------------- controls


def control(key: str) -> Control | None:
    for c in CONTROLS.get(page() or "", ()):
        if c.owns(key):
            return c
    return None


def _applies(names: frozenset[str], c: Control | None) -> bool:
    return c is not None and (c.name in names or (ALL in names and c.kind == "setting"))


def hidden(name_or_key: str) -> bool:
    """Whether the control (by name, or by one of its keys) is hidden on the running page."""
    c = _find(name_or_key)
    return _applies(now().hide, c)


def locked(name_or_key: str) -> bool:
    c = _find(name_or_key)
    return _applies(now().lock, c) and c.kind != "part"


def _find(name_or_key: str) -> Control | None:
    for c in CONTROLS.get(page() or "", ()):
        if c.name == name_or_key:
            return c
    return control(name_or_key)


def widget(draw: Callable, *args, key: str, **kw):
    """``draw(*args, key=key, **kw)`` as the view asks: not drawn when hidden (its value, kept in the session, is
    returned), drawn disabled when locked. One look-up of the key per widget."""
    c, v = control(key), now()
    if _applies(v.hide, c):
        return st.session_state.get(key)
    if _applies(v.lock, c) and c.kind != "part":
        kw["disabled"] = True
    return draw(*args, key=key, **kw)


def locked_keys() -> list[str]:
    """The exact state keys of the running page's locked controls (a reset leaves them as the link set them)."""
    return [k for c in CONTROLS.get(page() or "", ()) if locked(c.name) for k in c.keys if not k.endswith("*")]


# ---------------------------------------------------------------------------------------------- text


def prose(text: str) -> None:
    """A paragraph of explanation: left out when the link says ``text=0``."""
    if now().text:
        st.markdown(text)


def tip(text: str) -> None:
    """A caption that says how to use the page: left out when the link says ``text=0``."""
    if now().text:
        st.caption(text)


# ---------------------------------------------------------------------------------------------- the page around it


def presenting() -> bool:
    """Whether this run shows the presenter view (read before the page is chosen, for the sidebar's first state)."""
    value = st.query_params.get("present")
    return value == "1" if value in ("0", "1") else st.session_state.get(SESSION, View()).present


# The presenter view scales the whole page (type, figures, the stepper) for a projector: CSS zoom keeps the layout
# and the pointer in step, as the browser zooms. The sidebar's own toggle stays where it is.
PRESENTER_CSS = """<style>
[data-testid="stMainBlockContainer"] { zoom: 1.35; padding-top: 1.5rem; max-width: 100%; }
</style>"""


def decorate() -> None:
    """The presenter's style, and the sidebar's part: this page's control names for a teacher, and the way out of
    the presenter view. Call after :func:`begin`."""
    v = now()
    if v.present:
        st.html(PRESENTER_CSS)
    with st.sidebar:
        if v.present:
            st.button(_("Leave the presenter view"), key="view_leave", on_click=leave_presenter,
                      icon=":material/fullscreen_exit:")
        controls = CONTROLS.get(page() or "")
        if controls:
            with st.expander(_("For teachers: this page's link")):
                st.markdown(link_help(controls))
                st.page_link(menu.PAGES / "lesson_link.py", label=_("Make a lesson link for this page"),
                             icon=":material/qr_code_2:", query_params={"for": page()})


def link_help(controls: tuple[Control, ...]) -> str:
    """The page's control names, and how a link uses them (Markdown)."""
    rows = "\n".join(f"- `{c.name}` {_(c.label)}{'' if c.kind == 'setting' else ' ' + _(KIND_NOTES[c.kind])}"
                     for c in controls)
    return _("Add to this page's address `hide=` or `lock=` with control names separated by commas (or `all`), "
             "`present=1` for the presenter view, `text=0` to leave out the explanations, `q=` with a number for "
             "one question set. `all` covers the settings; the controls marked (walk) stay usable unless named. "
             "The page *Make a lesson link* builds such links.") + "\n\n" + rows
