"""The labs' number boxes that take any number and say, right under them, why one is impossible and which value
is used instead, as the lessons' ``app.widgets.bounded_number`` does, for whole numbers and decimals.

A box with Streamlit's own limits kept an out-of-range number in the box, red, while the page went on with the
previous value without a word. These boxes have no limits: a callback puts the nearest possible value in the box
and keeps a note (``<key>_why``: typed, used, reason) that the page shows until the next valid value. Another
callback can follow (the builder writes the value into its architecture).
"""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app import view
from app.i18n import _

WHY = "_why"


def _show(value) -> str:
    return "–" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _clamp(key: str, lo, hi, why: Callable | None, nearest: Callable | None, then: Callable | None,
           args: tuple) -> None:
    value = st.session_state[key]
    if value is None or not lo <= value <= hi:
        used = lo if value is None else nearest(value) if nearest else min(max(value, lo), hi)
        used = type(lo)(used)
        st.session_state[key] = used
        st.session_state[key + WHY] = (value, used, why(value) if why and value is not None else "")
    else:
        st.session_state.pop(key + WHY, None)
    if then is not None:
        then(*args)


def note(key: str) -> str | None:
    """The sentence about the last impossible value typed into ``key``'s box (plain text), or None. It is kept
    only while the box still holds the value used instead (a preset or a link that changes the box makes it
    stale)."""
    got = st.session_state.get(key + WHY)
    if got is None:
        return None
    typed, used, reason = got
    if st.session_state.get(key) != used:
        st.session_state.pop(key + WHY, None)
        return None
    return _("{} is impossible here{}: using {}.").format(_show(typed), f" ({reason})" if reason else "", _show(used))


def forget(prefix: str) -> None:
    """Drop every note of the boxes whose keys start with ``prefix`` (a preset or a link set new values)."""
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefix) and k.endswith(WHY)]:
        del st.session_state[key]


def bounded(where, label: str, lo, hi, *, key: str, why: Callable | None = None, nearest: Callable | None = None,
            on_change: Callable | None = None, args: tuple = (), show: bool = True, **kw):
    """A number box for ``lo..hi`` (ints or floats, as ``lo`` is) that takes anything typed. An impossible value
    becomes ``nearest(value)`` (by default the closer limit) with the note ``why(value)``; ``on_change(*args)``
    runs after. With ``show`` the note is drawn under the box; otherwise the caller shows :func:`note`."""
    view.widget(where.number_input, label, key=key, on_change=_clamp,
                args=(key, lo, hi, why, nearest, on_change, args), **kw)
    if show and (text := note(key)):
        where.caption(f":orange[{text}]")
    return st.session_state[key]


__all__ = ["bounded", "note", "forget", "WHY"]
