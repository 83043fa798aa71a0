"""“Check yourself” at the end of a lesson: questions made by :mod:`smartflow_core.checkpoints` from the
lesson's current numbers, the learner's answers checked in the page, a hint, then the worked answer on request.

State (all keys start with ``cp_``): ``cp_seed`` the session's question seed; ``cp_right`` a dict lesson ->
{settings signature: set of question ids answered right}; per question ``cp_ans_*`` (its text box),
``cp_res_*`` (the last check: right or the message) and ``cp_show_*`` (the worked answer opened). Every
per-question key holds the settings' signature, so new numbers give a fresh question and old answers do not count.
A teacher's ``q=<seed>`` in the address (read by :func:`app.view.begin`) fixes the question set for everyone who
opens the link.
"""
from __future__ import annotations

import hashlib
import logging
import random

import numpy as np
import streamlit as st

from app import view
from app.i18n import N_, _, message
from app.state import CP_FIXED
from smartflow_core import checkpoints as cp

SEED, RIGHT, FIXED = "cp_seed", "cp_right", CP_FIXED
log = logging.getLogger(__name__)


@st.cache_data(max_entries=128, show_spinner=False)
def _questions(lesson: str, settings: dict, number: int) -> list[cp.Question]:
    """Cached: the answers run the chapter's loops (a 40×40 image with a 7×7 kernel takes about 0.2 s)."""
    return cp.questions(lesson, settings, number)


def signature(settings: dict) -> str:
    """A short digest of the settings: arrays by shape and bytes, everything else by repr."""
    h = hashlib.sha1()
    for name in sorted(settings):
        value = settings[name]
        if isinstance(value, np.ndarray):
            value = (value.shape, np.ascontiguousarray(value, dtype=np.float64).tobytes())
        h.update(f"{name}={value!r};".encode())
    return h.hexdigest()[:10]


def seed() -> int:
    """The teacher's ``q=`` when the address had one, else this session's own seed (stable across reruns)."""
    if FIXED in st.session_state:
        return int(st.session_state[FIXED])
    if SEED not in st.session_state:
        st.session_state[SEED] = random.SystemRandom().randrange(10_000)
    return int(st.session_state[SEED])


def _fill(template: str, q: cp.Question) -> str:
    return message(template).format(**q.params)  # message: a hint may join two sentences of the catalogue


def _check(q: cp.Question, key: str, lesson: str, sig: str) -> None:
    ok, message = cp.check(q, st.session_state.get(f"cp_ans_{key}", ""))
    st.session_state[f"cp_res_{key}"] = True if ok else message
    right = st.session_state.setdefault(RIGHT, {}).setdefault(lesson, {}).setdefault(sig, set())
    (right.add if ok else right.discard)(q.id)


def _show(key: str) -> None:
    st.session_state[f"cp_show_{key}"] = True


def _question(q: cp.Question, n: int, lesson: str, sig: str) -> None:
    key = f"{lesson}_{sig}_{n}"
    st.markdown(f"**{n + 1}.** " + _fill(q.template, q))
    with st.form(f"cp_form_{key}", border=False, enter_to_submit=True):
        a, b = st.columns([4, 1], vertical_alignment="bottom")
        a.text_input(_("Your answer"), key=f"cp_ans_{key}", label_visibility="collapsed",
                     placeholder=_(PLACEHOLDERS[q.kind]))
        b.form_submit_button(_("Check"), on_click=_check, args=(q, key, lesson, sig), use_container_width=True)
    result = st.session_state.get(f"cp_res_{key}")
    if result is True:
        st.success(_("Right."), icon=":material/check_circle:")
    elif result is not None:
        if result == "Not quite.":
            st.warning(_("Not quite. Hint: ") + _fill(q.hint, q), icon=":material/lightbulb:")
        else:
            st.warning(_(result), icon=":material/edit:")
        if st.session_state.get(f"cp_show_{key}"):
            st.info(_("Worked answer: ") + _fill(q.worked, q))
        else:
            st.button(_("Show the answer"), key=f"cp_showbtn_{key}", on_click=_show, args=(key,))


PLACEHOLDERS = {"int": N_("a whole number, e.g. 7"), "float": N_("a number, e.g. -0.5"),
                "cells": N_("cell numbers, e.g. 1, 2, 3"), "tuple": N_("whole numbers in order, e.g. 3, 4")}


def checkpoints(lesson: str, settings: dict) -> None:
    """Draw the lesson's “Check yourself” section for these settings (unless the teacher's link hides it); never
    raises to the learner."""
    if view.hidden("checkpoints"):
        return
    try:
        number = seed()
        sig, qs = f"{signature(settings)}{number}", _questions(lesson, settings, number)
    except Exception:  # settings the questions cannot use: the page says what is wrong; a learner sees no trace
        log.exception("no checkpoints for %s", lesson)
        return
    right = st.session_state.get(RIGHT, {}).get(lesson, {}).get(sig, set()) & {q.id for q in qs}
    with st.expander(_("Check yourself: {} of {} right in this lesson").format(len(right), len(qs)),
                     expanded=bool(right) or any(f"cp_res_{lesson}_{sig}_" in k for k in st.session_state)):
        st.caption(_("The questions are made from the numbers above. Change a setting and they are worked out "
                     "again for the new numbers: answers given for the old numbers no longer count."))
        for n, q in enumerate(qs):
            _question(q, n, lesson, sig)
        st.caption(_("Question set {}: add q={} to the address to give everyone the same questions.").format(
            number, number))
