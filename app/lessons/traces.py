"""The lessons' records and inputs, cached by the lesson's settings (``st.cache_data``), so stepping through a
lesson never recomputes what the page already has.
"""
from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

from app.i18n import N_, Later
from app.lessons import steps
from smartflow_core import trace


@st.cache_data(max_entries=64, show_spinner=False)
def conv_1d(inp: tuple, kernel: tuple, pad: int | None, stride: int) -> trace.Conv1DTrace:
    return trace.trace_conv_1d(inp, kernel, pad, stride)


@st.cache_data(max_entries=32, show_spinner=Later(N_("Convolving...")))
def conv_2d(image: np.ndarray, kernel: np.ndarray, pad: int | None, stride: int) -> trace.Conv2DTrace:
    return trace.trace_conv_2d(image, kernel, pad, stride)


@st.cache_data(max_entries=16, show_spinner=Later(N_("Convolving every channel...")))
def multichannel(x: np.ndarray, filters: np.ndarray, pad: int | None, stride: int) -> trace.MultiTrace:
    return trace.trace_multichannel(x, filters, pad, stride)


@st.cache_data(max_entries=32, show_spinner=False)
def pool(image: np.ndarray, size: int, mode: str) -> trace.PoolTrace:
    return trace.trace_pool(image, size, None, mode)


@st.cache_data(max_entries=32, show_spinner=False)
def stride_vs_pool(image: np.ndarray, kernel: np.ndarray, size: int) -> trace.StrideVsPool:
    return trace.stride_vs_pool(image, kernel, size)


@st.cache_data(show_spinner=False)
def random_input(channels: int, size: int, seed: int) -> np.ndarray:
    """(channels, size, size) integers 0..3 from a seeded generator of its own: easy to add up by eye."""
    return np.random.default_rng(seed).integers(0, 4, size=(channels, size, size)).astype(np.float64)


@st.cache_data(show_spinner=False)
def mc_filters(kind: str, in_channels: int, out_channels: int, seed: int) -> np.ndarray:
    """Filters of the chapter's shape (in_channels, out_channels, 3, 3).

    "colour": filter o favours input channel o (centre weight +1) against the others (-0.5 each), so with
    an RGB picture filter 0 finds red, 1 green, 2 blue. "shapes": a real 3×3 kernel per channel and filter
    (vertical, horizontal and diagonal lines, the edge detector, a blur), so each channel's window matters cell
    by cell. "edges": the chapter's edge detector on every channel. "random": integers -1..1 from a seeded
    generator.
    """
    if kind == "random":
        return np.random.default_rng(seed).integers(-1, 2, size=(in_channels, out_channels, 3, 3)).astype(float)
    w = np.zeros((in_channels, out_channels, 3, 3))
    for o in range(out_channels):
        for c in range(in_channels):
            if kind == "edges":
                w[c, o] = ((0, 1, 0), (1, -4, 1), (0, 1, 0))
            elif kind == "shapes":
                w[c, o] = SHAPES[(c + 2 * o) % len(SHAPES)]
            else:
                w[c, o, 1, 1] = 1.0 if c == o % in_channels else -0.5
    return w


SHAPES = (((-1, 2, -1),) * 3, ((-1, -1, -1), (2, 2, 2), (-1, -1, -1)), ((2, -1, -1), (-1, 2, -1), (-1, -1, 2)),
          ((0, 1, 0), (1, -4, 1), (0, 1, 0)), ((1, 1, 1), (1, 1, 1), (1, 1, 1)))  # the shapes filters' kernels


@st.cache_data(show_spinner=False)
def flatten_demo(channels: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Maps whose every cell holds the position it will take in the vector, and the vector the library's
    ``Flatten`` operation makes of them: (channels, h, w) and (channels * h * w,)."""
    from smartflow_core.operation import Flatten

    maps = np.arange(channels * height * width, dtype=np.float64).reshape(1, channels, height, width)
    return maps[0], Flatten().forward(maps)[0]


def rgb_preview(x: np.ndarray, scale: int = 12) -> np.ndarray:
    """(3, h, w) channels in 0..1 as an (h*scale, w*scale, 3) uint8 picture with crisp, enlarged pixels."""
    img = np.clip(np.round(np.asarray(x).transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
    return img.repeat(scale, axis=0).repeat(scale, axis=1)


@st.cache_data(show_spinner=False)
def sample_rgb(size: int = 16) -> np.ndarray:
    """A small colour picture: a red square, a green disc and a blue triangle, (3, size, size) in 0..1."""
    img = Image.new("RGB", (size * 4, size * 4), "black")
    d, u = ImageDraw.Draw(img), size // 4
    d.rectangle([u, u, 7 * u, 7 * u], fill=(230, 30, 30))
    d.ellipse([9 * u, u, 15 * u, 7 * u], fill=(30, 200, 60))
    d.polygon([(5 * u, 15 * u), (8 * u, 9 * u), (11 * u, 15 * u)], fill=(40, 70, 230))
    small = img.resize((size, size), Image.Resampling.BOX)
    return np.round(np.asarray(small, dtype=np.float64).transpose(2, 0, 1) / 255.0, 2)


# ---------------------------------------------------------------------------------------------- the stepper's data
# cache_resource: the same dict for every rerun and session with these settings (never changed by its users)


@st.cache_resource(max_entries=64, show_spinner=False)
def conv_1d_steps(inp: tuple, kernel: tuple, pad: int | None, stride: int, texts: tuple) -> dict:
    return steps.conv_1d(conv_1d(inp, kernel, pad, stride), dict(texts))


@st.cache_resource(max_entries=32, show_spinner=False)
def conv_2d_steps(image: np.ndarray, kernel: np.ndarray, pad: int | None, stride: int, texts: tuple) -> dict:
    return steps.conv_2d(conv_2d(image, kernel, pad, stride), dict(texts))


@st.cache_resource(max_entries=32, show_spinner=False)
def multichannel_steps(x: np.ndarray, filters: np.ndarray, pad: int | None, stride: int, out_channel: int,
                       texts: tuple) -> dict:
    return steps.multichannel(multichannel(x, filters, pad, stride), out_channel, dict(texts))


@st.cache_resource(max_entries=32, show_spinner=False)
def pool_steps(image: np.ndarray, size: int, mode: str, texts: tuple) -> dict:
    return steps.pool(pool(image, size, mode), dict(texts))


@st.cache_resource(max_entries=32, show_spinner=False)
def input_grad_1d_steps(inp: tuple, kernel: tuple, up, texts: tuple) -> dict:
    from app.lessons import backward

    return steps.input_grad_1d(backward.input_grad_1d(inp, kernel, up), dict(texts))


@st.cache_resource(max_entries=32, show_spinner=False)
def param_grad_1d_steps(rows: tuple, kernel: tuple, p: int, up, texts: tuple) -> dict:
    from app.lessons import backward

    return steps.param_grad_1d(backward.param_grad_1d(rows, kernel, up), p, dict(texts))


@st.cache_resource(max_entries=32, show_spinner=False)
def grad_2d_input_steps(x: np.ndarray, w: np.ndarray, pad: int | None, stride: int, up, n: int, c: int,
                        texts: tuple) -> dict:
    from app.lessons import backward

    return steps.grad_2d_input(backward.grad_2d(x, w, pad, stride, up), n, c, dict(texts))


@st.cache_resource(max_entries=32, show_spinner=False)
def grad_2d_weight_steps(x: np.ndarray, w: np.ndarray, pad: int | None, stride: int, up, c: int, o: int, i: int,
                         j: int, texts: tuple) -> dict:
    from app.lessons import backward

    return steps.grad_2d_weight(backward.grad_2d(x, w, pad, stride, up), c, o, i, j, dict(texts))
