"""This browser session's training runs: the current one and a few before it, stopped when the session ends.

:func:`session_slot` is a session-scoped ``st.cache_resource`` whose ``on_release`` stops the current run when the
tab closes or reloads (docs/ARCHITECTURE.md, Streamlit rules S2 and S3: a thread held only in ``st.session_state``
would keep training, and ``on_release`` runs on the server's event loop, so it only sets events and never joins).
Each browser session gets its own slot, so learners in one classroom never see each other's runs.

Streamlit is imported only inside :func:`session_slot`, so :class:`SessionSlot` is tested without it.
"""
from __future__ import annotations

import threading

from app.lab.run import TrainingRun
from app.lab.snapshot import Snapshot, Status


class SessionSlot:
    """This session's current run and the last ``keep`` runs before it (to overlay their curves)."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
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


def _release_slot(slot: SessionSlot) -> None:
    slot.stop()


def _new_slot() -> SessionSlot:
    return SessionSlot()


_slot_factory = None


def session_slot() -> SessionSlot:
    """This browser session's :class:`SessionSlot`, released (its run stopped) when the session ends."""
    global _slot_factory
    if _slot_factory is None:
        import streamlit as st  # only here: the slot is tested without Streamlit

        _slot_factory = st.cache_resource(scope="session", on_release=_release_slot, show_spinner=False)(_new_slot)
    return _slot_factory()


__all__ = ["SessionSlot", "session_slot"]
