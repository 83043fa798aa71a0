"""Read Plotly figures back out of AppTest (they arrive as UnknownElements holding the JSON spec)."""
import base64
import json

import numpy as np


def plotly_array(v):
    """Plotly 7 sends arrays as base64 typed arrays (``{"dtype", "bdata", "shape"}``)."""
    if isinstance(v, dict) and "bdata" in v:
        shape = tuple(int(n) for n in str(v.get("shape", "-1")).split(","))
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).reshape(shape)
    return np.asarray(v, dtype=float)


def figure(at, key) -> dict:
    """The Plotly spec of the chart with ``key``."""
    return json.loads(at.get_by_key(key).proto.spec)
