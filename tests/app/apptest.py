"""Helpers of the app tests: open a page through ``app/main.py`` (as the browser does), and read what it shows.

Plotly figures arrive under ``AppTest`` as unknown elements holding the JSON spec; Plotly 7 sends arrays as base64
typed arrays (``{"dtype", "bdata", "shape"}``), which :func:`plotly_array` decodes.
"""
import base64
import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "app" / "main.py"
TIMEOUT = 60.0  # seconds an AppTest run (and a wait for a training run) may take on a loaded machine


def open_page(page: str = "home.py", query: dict | None = None) -> AppTest:
    """Run the entry script with ``query`` in the address, then the page (a script of ``pages/``)."""
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.run()
    if page != "home.py":
        at.switch_page(f"../pages/{page}").run()
    assert not at.exception, at.exception
    return at


def texts(at) -> list[str]:
    return [m.value for m in at.markdown]


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def errors(at) -> list[str]:
    return [e.value for e in at.error]


def infos(at) -> list[str]:
    return [i.value for i in at.info]


def plotly_array(v) -> np.ndarray:
    """A Plotly array (base64 typed array or plain list) as NumPy."""
    if isinstance(v, dict) and "bdata" in v:
        shape = tuple(int(n) for n in str(v.get("shape", "-1")).split(","))
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).reshape(shape)
    return np.asarray(v, dtype=float)


def figure(at, key) -> dict:
    """The Plotly spec of the chart with ``key``."""
    return json.loads(at.get_by_key(key).proto.spec)
