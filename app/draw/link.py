"""The Draw page's shareable link: the model, the input, the example on the canvas, the confidence needed, the
preparation steps, the saliency map and the feature maps' colour range
(``/draw?lesson=draw&model=pretrained&src=draw&ex=scribble&t=70&ink=1&crop=1&scale=1&center=1&sal=gradient...``).

A drawing or a photo is never in a link: the canvas opens empty (or with the example the link names) and "photo"
asks for one. A model trained in the author's session cannot travel either: such a link reads with the pretrained
model and says so.
"""
from __future__ import annotations

import streamlit as st

from app import links, state
from app.draw import canvas, scribble
from app.draw.reading import SALIENCY, STEP_NAMES
from app.i18n import N_, _
from app.inside_charts import RANGES
from app.lab.eval_link import incoming
from app.lab.link import flag, show_flag

DR_RANGE, DR_EXAMPLE = state.DR_RANGE, state.DR_EXAMPLE
EXAMPLES = ("none", "scribble")


def threshold_from_text(text: str) -> int:
    """The confidence needed, in percent: 0 to 100 in steps of 5, as the slider has it."""
    value = links.int_in(0, 100, N_("threshold"))(text)
    if value % 5:
        raise ValueError(_("{} is not a multiple of 5").format(value))
    return value


def explain_from_text(text: str) -> int:
    """Whose evidence the saliency map shows: ``answer`` (the network's answer) or a digit 0-9."""
    return -1 if text == "answer" else links.int_in(0, 9, N_("digit"))(text)


def explain_to_text(value: object) -> str:
    return "answer" if value == -1 else str(value)


F = links.UrlField
URL_DRAW = links.UrlSpec("draw", (
    F("model", state.DR_MODEL, links.one_of(("pretrained", "session"))),
    F("src", state.DR_SOURCE, links.one_of(("draw", "photo"))), F("ex", DR_EXAMPLE, links.one_of(EXAMPLES)),
    F("t", state.DR_THRESHOLD, threshold_from_text),
    *(F(name, key, flag, show_flag) for name, key in zip(STEP_NAMES, state.DR_STEPS)),
    F("sal", state.DR_SALIENCY, links.one_of(SALIENCY)),
    F("why", state.DR_EXPLAIN, explain_from_text, explain_to_text), F("maps", DR_RANGE, links.one_of(RANGES))))


def load_scribble() -> None:
    """Put the scribble on the canvas (the "Try a scribble" button, or a link that names it)."""
    canvas.load(state.DR_CANVAS, "scribble", scribble.objects(), scribble.picture())
    st.session_state[state.DR_SOURCE] = "draw"


def read(session_model: bool) -> list[str]:
    """Apply a link just opened; returns its problems (each bad value keeps its default). ``session_model``: whether
    this session has a trained model to read with."""
    names = incoming(URL_DRAW)
    problems = links.read_url(URL_DRAW)
    ss = st.session_state
    if "model" in names and ss[state.DR_MODEL] == "session" and not session_model:
        ss[state.DR_MODEL] = "pretrained"
        problems.append(_("model='session': a model trained in another session cannot travel in a link, so the "
                          "pretrained model reads instead"))
    if "ex" in names and ss[DR_EXAMPLE] == "scribble" and canvas.example(state.DR_CANVAS) != "scribble":
        load_scribble()
    return problems


def write() -> None:
    """The address follows the page; ``ex`` names the example while the canvas shows it unchanged."""
    shown = canvas.example(state.DR_CANVAS) if st.session_state[state.DR_SOURCE] == "draw" else None
    st.session_state[DR_EXAMPLE] = shown or "none"
    links.write_url(URL_DRAW)


__all__ = ["URL_DRAW", "DR_RANGE", "DR_EXAMPLE", "read", "write", "load_scribble", "threshold_from_text"]
