"""This browser session's training runs: the current one and a few before it, stopped when the session ends.

:func:`session_slot` is a session-scoped ``st.cache_resource`` whose ``on_release`` stops the current run when the
tab closes or reloads (docs/ARCHITECTURE.md, Streamlit rules S2 and S3: a run held only in ``st.session_state``
would keep training, and ``on_release`` runs on the server's event loop, so it only sets events and never joins;
the run's relay thread then ends its worker process).
Each browser session gets its own slot, so learners in one classroom never see each other's runs.

A reload starts a new session, so it stops the run. So that the learner is told rather than finding an empty page,
``on_release`` remembers an active run it stops under a key of the browser (a hash of the token in Streamlit's
XSRF cookie, which a reload keeps), and the next slot of that browser without a run of its own reports it once
(:meth:`SessionSlot.lost_run`). Without the cookie (XSRF protection off, under ``AppTest``) nothing is remembered.

Streamlit is imported only inside :func:`session_slot`, so :class:`SessionSlot` is tested without it.
"""
from __future__ import annotations

import hashlib
import threading
import time

from app.lab.run import TrainingRun
from app.lab.snapshot import Snapshot, Status

LOST_FOR = 600.0  # seconds a run stopped by a closed or reloaded tab is remembered for its browser
XSRF_COOKIE = "_streamlit_xsrf"
_LOST: dict[str, tuple[str, int, int, float]] = {}  # browser key -> (label, step, total steps, when)
_LOST_LOCK = threading.Lock()


class SessionSlot:
    """This session's current run and the last ``keep`` runs before it (to overlay their curves)."""

    def __init__(self, keep: int = 4, browser: str | None = None) -> None:
        self.keep, self.browser = keep, browser
        self._lost: tuple[str, int, int] | None = None
        self._lock = threading.Lock()
        self._run: TrainingRun | None = None
        self._past: list[TrainingRun] = []
        self._count = 0

    @property
    def run(self) -> TrainingRun | None:
        return self._run

    @property
    def past(self) -> list[TrainingRun]:
        with self._lock:
            return list(self._past)

    def start(self, run: TrainingRun) -> TrainingRun:
        """Stop the current run (without waiting), keep it for comparison, number and start ``run``."""
        with self._lock:
            old, self._run = self._run, run
            self._count += 1
            run.label = f"#{self._count} {run.label}"
            if old is not None and old.snapshot().status != Status.IDLE:
                self._past = (self._past + [old])[-self.keep:]
        if old is not None:
            old.stop()
        return run.start()

    def compare(self) -> list[Snapshot]:
        """Snapshots of the kept runs, oldest first, then the current one."""
        runs = self.past + ([self._run] if self._run is not None else [])
        return [r.snapshot() for r in runs]

    def clear_past(self) -> None:
        with self._lock:
            self._past = []

    def stop(self) -> None:
        """Stop the current run without waiting (the session ended: Streamlit rules S2 and S3)."""
        run = self._run
        if run is not None:
            run.stop()

    def release(self) -> None:
        """The session ended: remember an active run for this browser, then stop it (only sets events)."""
        run = self._run
        if run is not None and self.browser:
            snap = run.snapshot()
            if snap.active:
                now = time.monotonic()
                with _LOST_LOCK:
                    for key in [k for k, v in _LOST.items() if now - v[3] > LOST_FOR]:
                        del _LOST[key]
                    _LOST[self.browser] = (snap.label, snap.step, snap.total_steps, now)
        self.stop()

    def lost_run(self) -> tuple[str, int, int] | None:
        """``(label, step, total steps)`` of this browser's run that a closed or reloaded tab stopped, when this
        slot has no run of its own yet (then kept until it has); None otherwise."""
        if self._run is not None or not self.browser:
            return None
        if self._lost is None:
            with _LOST_LOCK:
                found = _LOST.pop(self.browser, None)
            if found is not None and time.monotonic() - found[3] <= LOST_FOR:
                self._lost = found[:3]
        return self._lost


def browser_key(cookie: str | None) -> str | None:
    """A key of the browser from Streamlit's XSRF cookie (``2|mask|masked token|time``, or the bare hex token):
    a hash of the unmasked token, which stays the same across reloads. None when there is no readable cookie."""
    if not isinstance(cookie, str) or not cookie:  # under AppTest the cookies are a stand-in object
        return None
    try:
        parts = cookie.strip("\"'").split("|")
        if parts[0] == "2" and len(parts) == 4:
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
            token = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked))
        else:
            token = bytes.fromhex(parts[0])
    except (ValueError, ZeroDivisionError):
        return None
    return hashlib.sha256(token).hexdigest() if token else None


def _release_slot(slot: SessionSlot) -> None:
    slot.release()


def _new_slot() -> SessionSlot:
    import streamlit as st

    try:
        cookie = st.context.cookies.get(XSRF_COOKIE)
    except Exception:  # no script run context (a bare import): no browser to remember a run for
        cookie = None
    return SessionSlot(browser=browser_key(cookie))


_slot_factory = None


def session_slot() -> SessionSlot:
    """This browser session's :class:`SessionSlot`, released (its run stopped) when the session ends."""
    global _slot_factory
    if _slot_factory is None:
        import streamlit as st  # only here: the slot is tested without Streamlit

        _slot_factory = st.cache_resource(scope="session", on_release=_release_slot, show_spinner=False)(_new_slot)
    return _slot_factory()


__all__ = ["SessionSlot", "session_slot", "browser_key", "LOST_FOR"]
