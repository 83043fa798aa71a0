"""The Evaluate page's shareable link: which model, the confusion cell opened, the gallery's order, the digit looked
inside and the feature maps' colour range, so a teacher can share "look at these 4 → 9 mistakes"
(``/evaluate?lesson=evaluate&src=pretrained&cell=4-9&order=most&digit=1234&maps=map``).

A link never carries a model: "a model you upload" opens asking for the file, "your latest training run" for a run
of the session that opens it.
"""
from __future__ import annotations

import streamlit as st

from app import links, state
from app.i18n import N_, _
from app.inside_charts import RANGES

SOURCES = ("pretrained", "session", "uploaded")
ORDERS = ("most", "least")          # the gallery: most confident answers first, or least confident first
ALL = (-1, -1)                      # the cell menu's first entry: every mistake
EV_ORDER, EV_RANGE = state.EV_ORDER, state.EV_RANGE


def default_order(cell: tuple[int, int] | None) -> str:
    """Right answers teach most where the network hesitated: least confident first. Mistakes: most confident first,
    the network's surest errors."""
    return "least" if cell is not None and cell != ALL and cell[0] == cell[1] else "most"


DIGIT = links.int_in(0, 9, N_("digit"))


def cell_from_text(text: str) -> tuple[int, int]:
    """``4-9``: true 4, predicted 9; ``all``: every mistake."""
    if text == "all":
        return ALL
    true, sep, predicted = text.partition("-")
    if not sep:
        raise ValueError(_("expected all, or the true and the predicted digit such as 4-9"))
    return DIGIT(true), DIGIT(predicted)


def cell_to_text(cell: object) -> str:
    return "all" if cell == ALL else "{}-{}".format(*cell)


def index_from_text(text: str) -> int | None:
    """A test digit's index, or ``none``."""
    return None if text == "none" else links.int_in(0, 99_999, N_("test digit"))(text)


def index_to_text(index: object) -> str:
    return "none" if index is None else str(index)


F = links.UrlField
URL_EVALUATE = links.UrlSpec("evaluate", (
    F("src", state.EV_MODEL, links.one_of(SOURCES)), F("cell", state.EV_CELL, cell_from_text, cell_to_text),
    F("order", EV_ORDER, links.one_of(ORDERS)), F("digit", state.EV_DIGIT, index_from_text, index_to_text),
    F("maps", EV_RANGE, links.one_of(RANGES))))


def incoming(spec: links.UrlSpec) -> set[str]:
    """The settings the address holds that :func:`app.links.read_url` is about to apply (a link just opened)."""
    if st.query_params.get("lesson", spec.lesson) != spec.lesson:
        return set()
    given = {f.name: st.query_params[f.name] for f in spec.fields if f.name in st.query_params}
    return set(given) if given and given != st.session_state.get(f"url_{spec.lesson}") else set()


def read() -> list[str]:
    """Apply a link just opened; returns its problems (each bad value keeps its default). A link naming a cell but
    no order gets that cell's default order."""
    names = incoming(URL_EVALUATE)
    problems = links.read_url(URL_EVALUATE)
    if "cell" in names and "order" not in names:
        st.session_state[EV_ORDER] = default_order(st.session_state[state.EV_CELL])
    return problems


def write() -> None:
    links.write_url(URL_EVALUATE)


__all__ = ["URL_EVALUATE", "SOURCES", "ORDERS", "ALL", "EV_ORDER", "EV_RANGE", "default_order", "read", "write",
           "incoming", "cell_from_text", "cell_to_text"]
