"""Glue for the "Draw a digit" lab: the model in use, an uploaded photo, and one call that reads a digit.

:func:`read` runs MNIST's preparation (``smartflow_core.digits``) and the network (``smartflow_core.insight``) on a
drawing or photo and returns a :class:`Reading`: every intermediate image, the ten probabilities, every layer's
feature maps, and what the answer would be with each preparation step switched the other way. The figures are
built in :mod:`app.draw.charts`.

A forward pass stores activations in the network's layers, so one network must not serve two sessions at once:
each session reads with its own copy of the pretrained model (0.18 MB), and a model trained in this session
comes as a fresh copy of the run's latest weights.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import streamlit as st

from app import resources, widgets
from app.i18n import N_, Later, _
from smartflow_core import insight
from smartflow_core.digits import (
    DigitImageError,
    Prepared,
    Steps,
    UnreadableImageError,
    load_image,
    prepare,
    prepare_again,
    to_gray,
)
from smartflow_core.nn import NeuralNetwork
from smartflow_core.persist import ModelFileError
from smartflow_core.presets import MNIST_MEAN, MNIST_STD
from smartflow_core.util import softmax

STEP_NAMES = ("ink", "crop", "scale", "center")
SALIENCY = ("gradient", "occlusion")


@dataclass(frozen=True, eq=False)
class Model:
    """A network ready to read digits, standardising its input with ``mean`` and ``std`` as it was trained."""
    net: NeuralNetwork
    name: str
    mean: float = MNIST_MEAN
    std: float = MNIST_STD
    tag: str | None = None   # names the weights for caching; None while they change (a run still training)


@st.cache_resource(scope="session", show_spinner=False)
def _pretrained_copy() -> NeuralNetwork:
    """This session's own copy of the pretrained network (the cached one is never run)."""
    return resources.pretrained_copy()


def pretrained() -> Model | None:
    """The model shipped in ``smartflow_core/models``, or None when the file is missing or unreadable."""
    try:
        meta = resources.pretrained()[1]
    except ModelFileError:
        return None
    name = _("the pretrained model ({:.1f} % right on MNIST's {:,} test digits)").format(
        meta.get("test_accuracy", float("nan")), meta.get("test_images", 10_000))
    norm = meta.get("standardize", {})
    return Model(_pretrained_copy(), name, norm.get("mean", MNIST_MEAN), norm.get("std", MNIST_STD), "pretrained")


def _session_run():
    """The training lab's current run in this session, or None."""
    from app.lab.slot import session_slot  # the lab's slot, only when the draw page asks for a session model

    return session_slot().run


def session_model() -> Model | None:
    """The latest weights of the run trained in this session (the training lab standardises with MNIST's mean
    and standard deviation, as the pretrained model does), or None when there is none yet."""
    run = _session_run()
    net = run.network_copy() if run is not None else None
    if net is None:
        return None
    snap = run.snapshot()
    accuracy = _(", {:.1f} % at its last test").format(snap.accuracy) if snap.accuracy is not None else ""
    name = _("this session's run {} ({}, step {} of {}{})").format(snap.label, snap.status, snap.step,
                                                                     snap.total_steps, accuracy)
    return Model(net, name, tag=f"{snap.label}@{snap.step}" if snap.ended else None)


# ---------------------------------------------------------------------------------------------- a photo


@st.cache_data(max_entries=16, show_spinner=False)
def _photo_gray(data: bytes) -> np.ndarray | str:
    """A photo's bytes -> its grey picture (at most ``MAX_SIDE`` pixels a side, float32), or the sentence that
    refuses it: both are remembered, so a rerun never decodes the same file twice (a refused one neither)."""
    try:
        return to_gray(load_image(data)).astype(np.float32)
    except DigitImageError as exc:
        return str(exc)


def _photo(data: bytes, name: str) -> np.ndarray:
    got = _photo_gray(data)
    if isinstance(got, str):
        raise UnreadableImageError(got)
    return got


def photo_upload(upload_key: str, store_key: str) -> tuple[str, np.ndarray] | None:
    """An uploaded photo as ``(name, grey picture)``: decoded once, when it arrives, and kept downscaled (not as
    its bytes), so it survives a page change."""
    return widgets.upload(_("Upload a photo of a handwritten digit"), upload_key, store_key, _photo,
                          help=_("A picture of one digit, dark on light paper or light on dark (PNG, JPEG, "
                                 "WebP...). It goes through the same steps as a drawing, and is kept only while "
                                 "your session lasts."))


# ---------------------------------------------------------------------------------------------- a reading


@dataclass(frozen=True, eq=False)
class Reading:
    """What the network makes of one picture prepared with ``prepared.steps``."""
    prepared: Prepared
    probs: np.ndarray                       # (classes,) summing to 1
    maps: list[tuple[str, np.ndarray]]      # every layer's output, see insight.feature_maps
    flipped: dict[str, tuple[int, float] | None]   # step -> (answer, probability) with that step the other way
    ms: float                               # time taken to compute all of this

    @property
    def answer(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def confidence(self) -> float:
        return float(np.max(self.probs))

    @property
    def runner_up(self) -> tuple[int, float]:
        """The second most probable digit and its probability."""
        second = int(np.argsort(self.probs)[-2])
        return second, float(self.probs[second])

    @property
    def margin(self) -> float:
        """How far the answer's probability is above the runner-up's (0..1): small when it hesitates."""
        return self.confidence - self.runner_up[1]


def _gray(source) -> np.ndarray:
    """The picture in grey, once: photos are decoded a single time for the five preparations (a photo arrives
    already grey, from :func:`photo_upload`)."""
    if isinstance(source, np.ndarray) and source.ndim == 2 and source.dtype.kind == "f":
        return source.astype(np.float64)
    return to_gray(load_image(source) if isinstance(source, (bytes, bytearray)) else source)


def _read(net: NeuralNetwork, source, steps: Steps, mean: float, std: float) -> Reading:
    start = time.perf_counter()
    gray = _gray(source)
    prepared = prepare(gray, steps, mean=mean, std=std)
    maps = insight.feature_maps(net, prepared.x)
    probs = softmax(maps[-1][1].astype(np.float64))  # the last layer's outputs are the logits: no second pass
    others = {}
    for name in STEP_NAMES:  # each step the other way, from the stages before it
        try:
            others[name] = prepare_again(prepared, replace(steps, **{name: not getattr(steps, name)}), mean, std).x
        except DigitImageError:
            pass
    flipped = dict.fromkeys(STEP_NAMES)
    if others:  # the four alternatives in one batch
        p = softmax(net.predict(np.concatenate(list(others.values()))).astype(np.float64), axis=1)
        flipped.update((name, (int(np.argmax(row)), float(np.max(row)))) for name, row in zip(others, p))
    return Reading(prepared, probs, maps, flipped, 1000 * (time.perf_counter() - start))


@st.cache_data(max_entries=32, show_spinner=False)
def _read_cached(tag: str, source, steps: tuple, mean: float, std: float, _net: NeuralNetwork) -> Reading:
    return _read(_net, source, Steps(*steps), mean, std)


def read(model: Model, source, steps: Steps) -> Reading:
    """Prepare ``source`` (an RGBA canvas array, a photo's grey picture or its bytes) and read it with ``model``.

    Raises ``DigitImageError`` (its message is for the learner) when there is no digit to read."""
    if model.tag is None:
        return _read(model.net, source, steps, model.mean, model.std)
    return _read_cached(model.tag, source, tuple(getattr(steps, n) for n in STEP_NAMES), model.mean, model.std,
                        model.net)


def _saliency(net: NeuralNetwork, x: np.ndarray, cls: int, kind: str) -> np.ndarray:
    if kind == "occlusion":
        return insight.occlusion_saliency(net, x, cls, patch=4, stride=2)
    return insight.gradient_saliency(net, x, cls)


@st.cache_data(max_entries=32, show_spinner=Later(N_("Covering the digit patch by patch...")))
def _saliency_cached(tag: str, x: np.ndarray, cls: int, kind: str, _net: NeuralNetwork) -> np.ndarray:
    return _saliency(_net, x, cls, kind)


def saliency(model: Model, reading: Reading, cls: int, kind: str) -> tuple[np.ndarray, float]:
    """The saliency map (28, 28) of class ``cls`` for the reading's input, and the milliseconds it took.

    "gradient": |d score / d pixel|, one backward pass. "occlusion": the drop in the class's probability when a
    4x4 patch is covered, 169 patches in one batch (about half a second; remembered per input)."""
    if kind not in SALIENCY:
        raise ValueError(f"saliency must be one of {SALIENCY}, got {kind!r}")
    start = time.perf_counter()
    x = reading.prepared.x
    if model.tag is None:
        result = _saliency(model.net, x, cls, kind)
    else:
        result = _saliency_cached(model.tag, x, cls, kind, model.net)
    return result, 1000 * (time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------- the model's record

# The sets of bench/bench_reading.py (smartflow_core.reading_sets), in the order the Draw page lists them.
READING_SETS = {
    "mnist": N_("MNIST's test digits, as they are"),
    "canvas: placed": N_("redrawn on the canvas, anywhere, 4-8 times as large"),
    "canvas: small": N_("redrawn small (1.5-3 times)"),
    "canvas: large": N_("redrawn filling the canvas"),
    "canvas: thick": N_("redrawn with strokes 2-3 times as thick"),
    "canvas: thin": N_("redrawn with thin strokes"),
    "canvas: rotated": N_("redrawn rotated by 15-30°"),
    "canvas: inverted": N_("redrawn light on dark"),
    "canvas: mixed": N_("redrawn with all of these mixed"),
    "typed: all fonts": N_("typed in 38 fonts, 4 sizes, with and without a heavier stroke"),
}


def pretrained_record() -> tuple[str, list[tuple[str, float, float | None]], str | None] | None:
    """What the pretrained model was trained on, in a sentence, and how it reads the generated sets: rows of
    (set, its accuracy, the previous model's accuracy or None), and the command that trained the previous model
    (None when the record does not say). None when the model or its record is missing."""
    try:
        meta = resources.pretrained()[1]
    except ModelFileError:
        return None
    aug = meta.get("augment")
    trained = _("Trained by `{}` on MNIST's {:,} training digits for {} epochs{}; {:.2f} % right on its {:,} test "
                "digits.").format(meta.get("command", "?"), meta.get("train_images", 0), meta.get("epochs", "?"),
                                  _(", each batch randomly shifted, rotated, scaled, sheared, thickened or thinned "
                                    "and elastically distorted") if aug else _(", without augmentation"),
                                  meta.get("test_accuracy", float("nan")), meta.get("test_images", 0))
    record = meta.get("reading_sets") or {}
    sets, before = record.get("sets", {}), record.get("previous_model") or {}
    rows = [(_(label), sets[name]["accuracy"], before.get(name)) for name, label in READING_SETS.items()
            if name in sets]
    return trained, rows, record.get("previous_command")


# ---------------------------------------------------------------------------------------------- words


# The thumbnails in pipeline order: (Prepared field, the step that makes it or None, title, what it shows with
# the step on, what it shows with the step off).
THUMBNAILS = (
    ("gray", None, N_("Your picture"), N_("in grey, as it came"), ""),
    ("ink", "ink", N_("Find the ink"), N_("ink white, paper black, whatever the colours: MNIST's convention"),
     N_("brightness taken as ink: right only for light ink on dark paper")),
    ("cropped", "crop", N_("Crop to the ink"), N_("only the ink's bounding box"),
     N_("the whole picture, margins and all")),
    ("scaled", "scale", N_("Scale to 20 px"), N_("longer side 20 pixels, shape kept"),
     N_("stretched to 28×28, shape lost")),
    ("image", "center", N_("Centre by mass"), N_("28×28, centre of mass in the middle: what the network reads"),
     N_("28×28, the ink's box in the middle: what the network reads")),
)


def describe(reading: Reading, step: str | None, on: str, off: str) -> str:
    """The caption of a thumbnail: what it shows, as its step is set."""
    return _(on) if step is None or getattr(reading.prepared.steps, step) else _(off)


# Measured with tests/core/test_digits.py's canvas_from_mnist (seed 20190402) on MNIST's first 1,000 test digits,
# read by the pretrained model (trained with augmentation that thins and thickens strokes by up to a pixel): 99.2 %
# of the originals right. The model before it (half a pixel) read all 99.3, ink 54.6, crop 52.5, scale 84.8, center
# 99.1; the one before that, trained on plain MNIST, all 98.9, ink 53.8, crop 44.2, scale 60.4, center 93.2.
MEASURED = {"all": 99.2, "ink": 53.6, "crop": 60.0, "scale": 86.1, "center": 99.2}


def flipped_text(reading: Reading, step: str) -> str:
    """What the answer would be with ``step`` the other way, in words."""
    on = getattr(reading.prepared.steps, step)
    other = reading.flipped[step]
    if other is None:
        return _("Switched on, nothing would be left to read.") if not on else _(
            "Switched off, nothing would be left to read.")
    digit, p = other
    text = _("Switched off, it reads **{}** ({:.0%}).") if on else _("Switched on, it reads **{}** ({:.0%}).")
    return text.format(digit, p)
