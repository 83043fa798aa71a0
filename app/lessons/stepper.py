"""The stepper component: one ``st.components.v2`` component (inline HTML/CSS/JS from ``app/lessons/stepper/``,
no iframe, no build step, nothing fetched) that walks a lesson's steps in the browser.

The page builds the data once per setting (:mod:`app.lessons.steps`); stepping, playing, the slider, the keyboard
and clicks on cells then cost no message to the server. The browser keeps the address bar's ``step`` current and
reports the step back (the component's ``step`` state) when the learner pauses, so the session's step key follows
and a later setting change or page visit keeps it.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from app import state
from app.i18n import _

HERE = Path(__file__).resolve().parent / "stepper"
_COMPONENT = st.components.v2.component("smartflow_stepper", css=(HERE / "stepper.css").read_text(),
                                        js=(HERE / "stepper.js").read_text())


def _texts(what: str) -> dict:
    return {"group": _("Step through the {}s").format(what), "play": _("Play"), "pause": _("Pause"),
            "prev": _("◀ Previous"), "next": _("Next ▶"), "slider": _("Step"), "speed": _("Speed"),
            "per_step": _("{0} s per step"), "caption": _("Step {0} of {1}."),
            "preview": _("(the cell under the pointer: click to go there)")}


def _synced(key: str, step_key: str, on_sync: Callable[[int], None] | None) -> None:
    step = (st.session_state.get(key) or {}).get("step")
    if isinstance(step, int) and step >= 1:
        st.session_state[step_key] = step
        if on_sync is not None:
            on_sync(step)


def step_through(data: dict, step_key: str, speed_key: str, *, key: str, what: str | None = None,
                 on_sync: Callable[[int], None] | None = None, url: dict | None = None) -> int:
    """Mount the stepper on ``data`` at the session's step; returns that step (1-based). The keyboard works once
    the stepper has the focus: ←/→ step, Home/End, Space plays. ``on_sync(step)`` runs when the browser reports
    a new step (before the page reruns), for pages whose state names the step otherwise (a cell's row and
    column). ``url`` names the link's parameters the browser keeps current: ``{"step": "step"}`` (the default),
    ``{"row": "xr", "col": "xw", "cols": n}`` for a cell, or ``{}`` for none."""
    n = data["n"]
    step = min(max(int(st.session_state[step_key]), 1), n)
    st.session_state[step_key] = step
    payload = {"spec": data["json"], "sig": data["sig"], "step": step,
               "speed": st.session_state[speed_key], "speeds": list(state.SPEEDS),
               "url": {"step": "step"} if url is None else url,
               "text": {**_texts(what or _("output cell")), "cols": list(data["cols"])}}
    _COMPONENT(data=payload, key=key, default={"step": step}, on_step_change=lambda: _synced(key, step_key, on_sync))
    return step


__all__ = ["step_through"]
