"""The drawing canvas, behind one function so the component can be swapped: :func:`digit_canvas`.

It wraps streamlit-drawable-canvas 0.13 (Fabric.js, mouse and touch) and adds what a learner needs around it: a
brush-size slider, **Undo** (the last stroke) and **Clear**. The component's own toolbar (undo, redo, reset) only
shows while a mouse hovers over the canvas, so these are ordinary buttons that also work on a touch screen.

How the component is driven (its source: ``streamlit_drawable_canvas/__init__.py`` and ``frontend/build``):

- Clear mounts a new canvas under a new key (``<key>_<n>``): a new mount starts empty.
- Undo keeps the key and passes the strokes but the last as ``initial_drawing``; the component redraws them and
  sends the new image. A counter inside that dict makes each undo a new value even when the strokes repeat.
- The last strokes and image are kept in the session, so a drawing survives a visit to another page: the canvas is
  mounted again with those strokes, and until its next stroke the kept image stands for it.
- An example (:func:`load`) is mounted the same way, with its strokes and its own picture: that picture stands for
  it until the learner adds or takes back a stroke, so every learner's example is read exactly alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app import view
from app.i18n import _

SIZE = 280                      # canvas pixels: 10x MNIST's 28
INK, PAPER = "#000000", "#FFFFFF"
BRUSH_RANGE = (4, 48)


@dataclass
class _Pad:
    """The adapter's bookkeeping for one canvas, kept in the session under ``<key>_pad``."""
    generation: int = 0                   # bumped by Clear: part of the component's key
    initial: dict | None = None           # what the mounted canvas was given as initial_drawing
    objects: list = field(default_factory=list)   # the strokes last seen (Fabric JSON objects)
    image: np.ndarray | None = None       # the image last seen, (SIZE, SIZE, 4) uint8
    undos: int = 0
    stale: dict | None = None             # after Undo: the component's old report, ignored until a new one comes
    example: str | None = None            # the name of the example loaded, while the canvas shows it unchanged


def _pad(key: str) -> _Pad:
    name = f"{key}_pad"
    if name not in st.session_state:
        st.session_state[name] = _Pad()
    return st.session_state[name]


def _clear(key: str) -> None:
    pad = _pad(key)
    st.session_state[f"{key}_pad"] = _Pad(generation=pad.generation + 1, undos=pad.undos)


def _undo(key: str) -> None:
    pad = _pad(key)
    if len(pad.objects) <= 1:
        _clear(key)
        return
    pad.undos += 1
    pad.example = None
    pad.objects = pad.objects[:-1]
    pad.initial = {"objects": pad.objects, "smartflowUndo": pad.undos}
    component = st.session_state.get(f"{key}_{pad.generation}") or {}
    pad.stale = (component.get("drawing") or {}).get("raw")


def load(key: str, name: str, objects: list[dict], image: np.ndarray) -> None:
    """Show a ready-made drawing on the canvas: its strokes (Fabric.js objects) on a new mount, read as ``image``
    (RGBA, as the canvas sends it) until a stroke is added or taken back."""
    pad = _pad(key)
    st.session_state[f"{key}_pad"] = _Pad(generation=pad.generation + 1, objects=list(objects),
                                          image=np.asarray(image, dtype=np.uint8), undos=pad.undos, example=name)


def example(key: str) -> str | None:
    """The name of the example the canvas shows, or None once it is the learner's own drawing (or empty)."""
    return _pad(key).example


def digit_canvas(key: str, brush_key: str, *, size: int = SIZE) -> np.ndarray | None:
    """A square canvas with a brush-size slider, Undo and Clear. Returns the drawing as RGBA ``(size, size, 4)``
    uint8 (dark ink on white paper), or None while nothing is drawn."""
    if view.hidden("canvas"):
        return None
    pad = _pad(key)
    brush = view.widget(st.slider, _("Brush size"), *BRUSH_RANGE, key=brush_key, step=2,
                        help=_("The pen's width in canvas pixels. The canvas is 10 times MNIST's 28 pixels, so a "
                               "brush of about 20 draws strokes as thick as MNIST's."))
    canvas_key = f"{key}_{pad.generation}"
    if canvas_key not in st.session_state:  # a new mount: the first visit, after Clear, or back from another page
        pad.initial = {"objects": pad.objects} if pad.objects else None
    result = st_canvas(stroke_width=brush, stroke_color=INK, background_color=PAPER, width=size, height=size,
                       drawing_mode="freedraw", initial_drawing=pad.initial, return_image_data=True,
                       key=canvas_key)
    image = _update(pad, result)
    c1, c2 = st.columns(2)
    view.widget(c1.button, _("Undo stroke"), key=f"{key}_undo", on_click=_undo, args=(key,), disabled=not pad.objects,
                icon=":material/undo:", width="stretch", help=_("Take back the last stroke."))
    view.widget(c2.button, _("Clear"), key=f"{key}_clear", on_click=_clear, args=(key,), disabled=not pad.objects,
                icon=":material/delete:", width="stretch", help=_("Start again on an empty canvas."))
    return image


def _update(pad: _Pad, result) -> np.ndarray | None:
    """Keep what the component reports, unless it is the image from before an Undo or a not-yet-drawn mount."""
    image = result.image_data
    if image is None or (pad.stale is not None and result.json_data == pad.stale):
        return pad.image if pad.objects else None
    pad.stale = None
    objects = list((result.json_data or {}).get("objects") or [])
    if pad.example is not None and len(objects) == len(pad.objects):  # the example redrawn: its own picture stands
        return pad.image
    pad.example = None
    pad.objects = objects
    pad.image = np.asarray(image, dtype=np.uint8) if pad.objects else None
    return pad.image
