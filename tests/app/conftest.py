"""What the app tests share: opening a page under ``AppTest`` the way the app's entry script does, reading what it
shows (texts, metrics, messages, Plotly figures), a fixture that ends every training run a test started (its
worker process and relay thread), and the runner tests' ``mnist`` and ``make_run`` (from :mod:`runs`).

The helpers are plain functions in :mod:`apptest`; this file holds the fixtures.
"""
import threading
import time

import pytest
import streamlit as st
from apptest import TIMEOUT, open_page
from runs import make_run, mnist  # noqa: F401 (fixtures of the runner tests)

from app.lab.run import THREAD_NAME, workers


@pytest.fixture
def lab():
    """``lab(page)`` opens a lab page; afterwards every session slot is released and no run's worker
    process or relay thread is left."""
    made = []

    def make(page: str = "train.py"):
        made.append(open_page(page))
        return made[-1]

    yield make
    st.cache_resource.clear()  # releases every session slot: on_release stops its run
    deadline = time.monotonic() + TIMEOUT
    while any(t.name == THREAD_NAME and t.is_alive() for t in threading.enumerate()) or workers():
        assert time.monotonic() < deadline, "a training run's relay thread or worker process outlived its session"
        time.sleep(0.05)
