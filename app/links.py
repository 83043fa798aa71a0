"""The address that shares a lesson: each lesson's settings as query parameters, read when a link is opened and
written back as the learner changes them, so a copied address opens the same example.

A :class:`UrlSpec` names its lesson (``lesson=conv-1d``), so one lesson never reads another's settings; each
:class:`UrlField` binds one query parameter to one state key (:mod:`app.state`) with a parser that refuses bad
values with a sentence. The training lab's link has its own codec (:mod:`app.lab.link`) built from these parsers.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from app import i18n, view
from app.i18n import _
from app.state import (
    B2_BATCH,
    B2_CIN,
    B2_COUT,
    B2_H,
    B2_K,
    B2_PAD,
    B2_PAD_MODE,
    B2_SEED,
    B2_SIZE,
    B2_STRIDE,
    B2_UP,
    B2_USEED,
    B2_WC,
    B2_WI,
    B2_WJ,
    B2_WO,
    B2_XB,
    B2_XC,
    B2_XR,
    B2_XW,
    BB_BATCH,
    BB_EXAMPLE,
    BB_SEED,
    BB_SIZE,
    BF_GOAL,
    BF_INPUT,
    BF_KERNEL,
    BF_SEED,
    BF_STEP,
    BF_UP,
    BF_WEIGHT,
    BI_GOAL,
    BI_INPUT,
    BI_KERNEL,
    BI_SEED,
    BI_STEP,
    BI_UP,
    BP_DELTA,
    BP_GOAL,
    BP_INDEX,
    BP_INPUT,
    BP_KERNEL,
    BP_SEED,
    BP_UP,
    BP_WHAT,
    C1_INPUT,
    C1_KERNEL,
    C1_PAD,
    C1_PAD_MODE,
    C1_STEP,
    C1_STRIDE,
    C2_GRID,
    C2_INDEX,
    C2_KERNEL,
    C2_LABEL,
    C2_NTH,
    C2_PAD,
    C2_PAD_MODE,
    C2_PICK,
    C2_PRESET,
    C2_SEED,
    C2_SOURCE,
    C2_STEP,
    C2_STRIDE,
    CP_FIXED,
    KERNEL_PRESETS,
    MC_CIN,
    MC_COUT,
    MC_FILTERS,
    MC_OUT,
    MC_PAD,
    MC_PAD_MODE,
    MC_SEED,
    MC_SIZE,
    MC_SOURCE,
    MC_STEP,
    MC_STRIDE,
    PAD_MODES,
    PL_FC,
    PL_FH,
    PL_FW,
    PL_GRID,
    PL_INDEX,
    PL_MODE,
    PL_PRESET,
    PL_SIZE,
    PL_SOURCE,
    PL_STEP,
    UPSTREAM_KINDS,
)


@dataclass(frozen=True)
class UrlField:
    """One query parameter bound to one state key. ``parse`` raises ValueError on a bad value."""

    name: str
    key: str
    parse: Callable[[str], object] = str
    show: Callable[[object], str] = str


def number_in(kind: type, lo, hi, name: str = "") -> Callable[[str], object]:
    """A parser of ``kind`` (int or float) values in ``lo..hi``; its error names the value (and ``name``)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise ValueError((_("{!r} is not a whole number") if kind is int else _("{!r} is not a number")).format(
                text)) from None
        if not lo <= value <= hi:
            raise ValueError(_("{} {} is outside {}..{}").format(_(name), value, lo, hi) if name else
                             _("{} is outside {}..{}").format(value, lo, hi))
        return value
    return parse


def int_in(lo: int, hi: int, name: str = "") -> Callable[[str], int]:
    return number_in(int, lo, hi, name)


def float_in(lo: float, hi: float, name: str = "") -> Callable[[str], float]:
    return number_in(float, lo, hi, name)


def one_of(options) -> Callable[[str], object]:
    def parse(text: str):
        for option in options:
            if str(option) == text:
                return option
        raise ValueError(_("{!r} is not one of {}").format(text, ", ".join(map(str, options))))
    return parse


def text_upto(n: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if len(text) > n:
            raise ValueError(_("longer than {} characters").format(n))
        return text.replace(";", "\n")
    return parse


def lines(text: object) -> str:
    """Multi-line text in a URL: rows separated by ``;``."""
    return str(text).replace("\n", ";")


@dataclass(frozen=True)
class UrlSpec:
    """A lesson's shareable settings. The URL names its lesson (``lesson=conv-1d``), so one lesson never reads
    another's settings."""

    lesson: str
    fields: tuple[UrlField, ...]


def read_url(spec: UrlSpec) -> list[str]:
    """Apply the URL's settings when they are new (a shared link was opened); returns the problems found."""
    if st.query_params.get("lesson", spec.lesson) != spec.lesson:
        return []
    incoming = {f.name: st.query_params[f.name] for f in spec.fields if f.name in st.query_params}
    if not incoming or incoming == st.session_state.get(f"url_{spec.lesson}"):
        return []

    def problem(name: str, value: str, exc: ValueError) -> str:
        """``name='value': why``, the value (and any echo of it in the reason) cut to 40 characters."""
        reason = str(exc)
        if len(value) > 40:
            for echo in (repr(value), value):
                reason = reason.replace(echo, f"{value[:40]!r}…")
            value_text = f"{value[:40]!r}… ({len(value):,} characters)"
        else:
            value_text = repr(value)
        return f"{name}={value_text}: {reason if len(reason) <= 200 else reason[:200] + '…'}"

    problems = []
    for f in spec.fields:
        if f.name in incoming:
            try:
                st.session_state[f.key] = f.parse(incoming[f.name])
            except ValueError as exc:
                problems.append(problem(f.name, incoming[f.name], exc))
    return problems


def settings(spec: UrlSpec) -> dict[str, str]:
    """The lesson's current settings as the link writes them (``name -> text``)."""
    return {f.name: f.show(st.session_state[f.key]) for f in spec.fields}


def write_url(spec: UrlSpec) -> None:
    """Put the lesson's current settings in the address bar, so the link opens the same example."""
    values = settings(spec)
    st.session_state[f"url_{spec.lesson}"] = dict(values)
    values = {"lesson": spec.lesson, **values, **kept()}
    if values != st.query_params.to_dict():
        st.query_params.from_dict(values)


def kept() -> dict[str, str]:
    """What the address keeps beside the lesson's settings: the teacher's view (:mod:`app.view`), question set and
    the language (:func:`app.i18n.params`)."""
    fixed = st.session_state.get(CP_FIXED)
    return {**view.params(), **({} if fixed is None else {"q": str(fixed)}), **i18n.params()}


def pad_fields(mode_key: str, pad_key: str, stride_key: str) -> tuple[UrlField, ...]:
    return (UrlField("pad", mode_key, one_of(PAD_MODES)), UrlField("p", pad_key, int_in(0, 8)),
            UrlField("s", stride_key, int_in(1, 8)))


URL_1D = UrlSpec("conv-1d", (
    UrlField("x", C1_INPUT, text_upto(200)), UrlField("k", C1_KERNEL, text_upto(200)),
    *pad_fields(C1_PAD_MODE, C1_PAD, C1_STRIDE), UrlField("step", C1_STEP, int_in(1, 99))))
URL_2D = UrlSpec("conv-2d", (
    UrlField("src", C2_SOURCE, one_of(("mnist", "grid", "upload"))),
    UrlField("pick", C2_PICK, one_of(("index", "label"))), UrlField("i", C2_INDEX, int_in(0, 99_999)),
    UrlField("label", C2_LABEL, int_in(0, 9)), UrlField("nth", C2_NTH, int_in(0, 9_999)),
    UrlField("grid", C2_GRID, text_upto(600), lines), UrlField("kp", C2_PRESET, one_of(KERNEL_PRESETS)),
    UrlField("k", C2_KERNEL, text_upto(300), lines), UrlField("seed", C2_SEED, int_in(0, 9_999)),
    *pad_fields(C2_PAD_MODE, C2_PAD, C2_STRIDE), UrlField("step", C2_STEP, int_in(1, 99_999))))
URL_MC = UrlSpec("multichannel", (
    UrlField("src", MC_SOURCE, one_of(("rgb", "random", "upload"))),
    UrlField("cin", MC_CIN, int_in(1, 4)), UrlField("n", MC_SIZE, int_in(3, 10)),
    UrlField("seed", MC_SEED, int_in(0, 9_999)), UrlField("cout", MC_COUT, int_in(1, 4)),
    UrlField("f", MC_FILTERS, one_of(("colour", "shapes", "edges", "random"))), UrlField("o", MC_OUT, int_in(0, 3)),
    *pad_fields(MC_PAD_MODE, MC_PAD, MC_STRIDE), UrlField("step", MC_STEP, int_in(1, 99_999))))
URL_POOL = UrlSpec("pooling", (
    UrlField("src", PL_SOURCE, one_of(("mnist", "grid"))), UrlField("i", PL_INDEX, int_in(0, 99_999)),
    UrlField("grid", PL_GRID, text_upto(600), lines), UrlField("size", PL_SIZE, int_in(2, 4)),
    UrlField("mode", PL_MODE, one_of(("max", "avg"))), UrlField("kp", PL_PRESET, one_of(KERNEL_PRESETS[:-2])),
    UrlField("step", PL_STEP, int_in(1, 99_999)), UrlField("fc", PL_FC, int_in(1, 4)),
    UrlField("fh", PL_FH, int_in(1, 4)), UrlField("fw", PL_FW, int_in(1, 4))))


def upstream_fields(kind_key: str, seed_key: str, goal_key: str | None = None) -> tuple[UrlField, ...]:
    goal = (UrlField("t", goal_key, text_upto(200)),) if goal_key else ()
    return (UrlField("up", kind_key, one_of(UPSTREAM_KINDS)), UrlField("g", seed_key, int_in(0, 9_999)), *goal)


URL_PERTURB = UrlSpec("perturb", (
    UrlField("x", BP_INPUT, text_upto(200)), UrlField("k", BP_KERNEL, text_upto(200)),
    UrlField("what", BP_WHAT, one_of(("input", "kernel"))), UrlField("i", BP_INDEX, int_in(0, 15)),
    UrlField("d", BP_DELTA, float_in(-1000, 1000)), *upstream_fields(BP_UP, BP_SEED, BP_GOAL)))
URL_GRAD_1D = UrlSpec("grad-1d", (
    UrlField("x", BI_INPUT, text_upto(200)), UrlField("k", BI_KERNEL, text_upto(200)),
    *upstream_fields(BI_UP, BI_SEED, BI_GOAL), UrlField("step", BI_STEP, int_in(1, 999))))
URL_FILTER_1D = UrlSpec("filter-grad-1d", (
    UrlField("x", BF_INPUT, text_upto(400), lines), UrlField("k", BF_KERNEL, text_upto(200)),
    UrlField("w", BF_WEIGHT, int_in(0, 15)), *upstream_fields(BF_UP, BF_SEED, BF_GOAL),
    UrlField("step", BF_STEP, int_in(1, 999))))
URL_GRAD_2D = UrlSpec("grad-2d", (
    UrlField("b", B2_BATCH, int_in(1, 2)), UrlField("cin", B2_CIN, int_in(1, 2)),
    UrlField("cout", B2_COUT, int_in(1, 2)), UrlField("n", B2_SIZE, int_in(3, 6)), UrlField("ks", B2_K, int_in(1, 5)),
    UrlField("seed", B2_SEED, int_in(0, 9_999)),
    *pad_fields(B2_PAD_MODE, B2_PAD, B2_STRIDE), *upstream_fields(B2_UP, B2_USEED),
    UrlField("xb", B2_XB, int_in(0, 1)), UrlField("xc", B2_XC, int_in(0, 1)), UrlField("xr", B2_XR, int_in(0, 6)),
    UrlField("xw", B2_XW, int_in(0, 6)), UrlField("wc", B2_WC, int_in(0, 1)), UrlField("wo", B2_WO, int_in(0, 1)),
    UrlField("wi", B2_WI, int_in(0, 4)), UrlField("wj", B2_WJ, int_in(0, 4)), UrlField("h", B2_H, int_in(1, 10))))
URL_BOOK = UrlSpec("book-bug", (
    UrlField("ex", BB_EXAMPLE, one_of(("unit", "random"))), UrlField("b", BB_BATCH, int_in(1, 2)),
    UrlField("n", BB_SIZE, int_in(3, 6)), UrlField("seed", BB_SEED, int_in(0, 9_999))))
