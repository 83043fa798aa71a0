"""What the app tests share: opening a page under ``AppTest`` the way the app's entry script does, reading what it
shows (texts, metrics, messages, Plotly figures), and a fixture that ends every training thread a test started.

The helpers are plain functions in :mod:`apptest`; this file holds the fixtures.
"""
import threading
import time

import pytest
import streamlit as st
from apptest import TIMEOUT, open_page

from app.lab.run import THREAD_NAME


@pytest.fixture
def lab():
    """``lab(page)`` opens a lab page; afterwards every session slot is released and no training thread is left."""
    made = []

    def make(page: str = "train.py"):
        made.append(open_page(page))
        return made[-1]

    yield make
    st.cache_resource.clear()  # releases every session slot: on_release stops its run
    deadline = time.monotonic() + TIMEOUT
    while any(t.name == THREAD_NAME and t.is_alive() for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a training thread outlived its session"
        time.sleep(0.05)
