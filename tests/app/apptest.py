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


def stepper(at, key: str) -> dict:
    """The data the lesson's stepper component (mounted with ``key``) was given."""
    for el in at.get("bidi_component"):
        if el.proto.id.endswith(f"-{key}"):
            payload = json.loads(el.proto.json)
            return {**json.loads(payload.pop("spec")), **payload}  # the trace travels as JSON text
    raise KeyError(f"no stepper with key {key!r}")


def step_view(data: dict, step: int) -> dict:
    """What the stepper shows at ``step`` (1-based), worked out as ``stepper.js`` does: the left-hand side, the
    terms with their products and running sums (added from 0 in the order given), the result, the outlines."""
    i, steps = step - 1, data["steps"]
    t = steps["t"][i]
    if data["op"] == "sum":
        rows, total = [], 0.0
        for w, x in zip(t[::2], t[1::2]):
            total += w * x
            rows.append((w, x, w * x, total))
        value = rows[-1][3]
    else:
        rows, acc = [], float("-inf") if data["op"] == "max" else 0.0
        for x in t:
            acc = max(acc, x) if data["op"] == "max" else acc + x
            rows.append((x, acc))
        value = acc if data["op"] == "max" else acc / len(t)
    if "v" in steps:
        value = steps["v"][i]
    args = steps["a"][i]
    fill = lambda s: s.replace("{", "{0[").replace("}", "]}").format(args)  # noqa: E731  "{1}" -> args[1]
    return {"lhs": fill(data["lhs"]), "rows": rows, "value": value, "boxes": steps["box"][i],
            "cell": steps["cell"][i], "note": fill(data["note"])}
