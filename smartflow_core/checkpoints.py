"""Checkpoint questions for the lessons, made from the lesson's current numbers, and a lenient answer checker.

``questions(lesson, settings, seed)`` returns 2-4 :class:`Question` s, the same ones for the same settings and
seed. Every answer is computed here from the chapter's loops in :mod:`smartflow_core.reference` (never typed in),
so it follows the learner's settings; ``check(question, text)`` reads a learner's answer leniently.

Texts are English templates with ``{name}`` fields (``Question.params``), so the app can translate the template
before filling it in. Pure Python and NumPy: no Streamlit, no global random generator.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from smartflow_core import reference
from smartflow_core.conv import book_input_grad, book_param_grad
from smartflow_core.layer import Conv2DLayer
from smartflow_core.marks import N_
from smartflow_core.trace.backward import ONES, Upstream

KINDS = ("int", "float", "cells", "tuple")  # cells: a set of indices; tuple: whole numbers in order
LESSONS = ("conv-1d", "conv-2d", "multichannel", "pooling", "perturb", "grad-1d", "grad-1d-filter", "grad-2d",
           "book-bug")


@dataclass(frozen=True)
class Question:
    """One checkpoint. ``template``, ``hint`` and ``worked`` are filled with ``params``; ``step`` is the stepper
    step the hint points at (None: no stepper step shows it); ``tol`` an absolute tolerance for a float asked
    "to 2 decimals" (None: relative 1e-6 plus absolute 1e-9)."""

    id: str
    kind: str
    template: str
    answer: object
    hint: str
    worked: str
    params: dict = field(default_factory=dict, hash=False, compare=False)
    step: int | None = None
    tol: float | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def text(self) -> str:
        return self.template.format(**self.params)


def fmt(x) -> str:
    """``9``, ``-3.96``, ``0.0625``: as the lessons print numbers."""
    x = float(x)
    return str(int(x)) if x == int(x) and abs(x) < 1e12 else f"{x:.6g}"


def _pick(rng: np.random.Generator, n: int, prefer: int = 2) -> int:
    """An index below ``n``: ``prefer`` when it exists (the issue's out[2]), else a random valid one."""
    return prefer if prefer < n and rng.random() < 0.5 else int(rng.integers(n))


def _grad_of(up: Upstream | None, out: np.ndarray) -> np.ndarray:
    return (up or ONES).grad(out)


# ---------------------------------------------------------------------------------------------- forward lessons


def _size_q(lesson: str, n: int, k: int, pad: int, stride: int, step_text: str) -> Question:
    size = reference.output_size(n, k, pad, stride)
    p = dict(n=n, k=k, p=pad, s=stride, ans=size, num=n + 2 * pad - k)
    return Question(f"{lesson}:size:{n},{k},{pad},{stride}", "int",
                    N_("With n = {n} input cells, padding p = {p}, kernel k = {k} and stride s = {s}, how many output "
                    "cells are there?"), size, N_("Use the formula under “How many outputs?”: ⌊(n + 2p − k) / s⌋ + 1. ")
                    + step_text, N_("⌊({n} + 2·{p} − {k}) / {s}⌋ + 1 = ⌊{num} / {s}⌋ + 1 = {ans}."), p)


def conv_1d(settings: dict, rng: np.random.Generator) -> list[Question]:
    x, w = np.asarray(settings["inp"], float), np.asarray(settings["kernel"], float)
    stride, k = int(settings["stride"]), w.size
    pad = k // 2 if settings["pad"] is None else int(settings["pad"])
    out = reference.conv_1d(x, w, pad, stride)
    qs = [_size_q("conv-1d", x.size, k, pad, stride, N_("The stepper's last step is the last output cell."))]
    i = _pick(rng, out.size)
    xp = np.pad(x, pad)
    window = xp[i * stride:i * stride + k]
    terms = " + ".join(f"{fmt(a)}·{fmt(b)}" for a, b in zip(w, window))
    qs.append(Question(f"conv-1d:value:{i}", "float", N_("What is out[{i}]?"), float(out[i]),
                       N_("Step {step} of the stepper shows out[{i}]'s window and its running sum."),
                       N_("out[{i}] = {terms} = {ans}."), dict(i=i, step=i + 1, terms=terms, ans=fmt(out[i])), i + 1))
    j = _pick(rng, out.size, prefer=3)
    cells = frozenset(j * stride + p for p in range(k))
    qs.append(Question(f"conv-1d:cells:{j}", "cells", N_("Which cells of the padded input (numbered from 0, padding "
                       "included) does out[{j}] read?"), cells,
                       N_("Step {step} of the stepper outlines out[{j}]'s window on the padded input."),
                       N_("The window starts at {j}·s = {start} and covers k = {k} cells: {cells}."),
                       dict(j=j, step=j + 1, start=j * stride, k=k, cells=", ".join(map(str, sorted(cells)))), j + 1))
    return qs


def conv_2d(settings: dict, rng: np.random.Generator) -> list[Question]:
    image, w = np.asarray(settings["image"], float), np.asarray(settings["kernel"], float)
    stride, k = int(settings["stride"]), w.shape[0]
    pad = k // 2 if settings["pad"] is None else int(settings["pad"])
    out = reference.conv_2d(image, w, pad, stride)
    oh, ow = out.shape
    p = dict(h=image.shape[0], w=image.shape[1], k=k, p=pad, s=stride, oh=oh, ow=ow)
    qs = [Question(f"conv-2d:size:{image.shape},{k},{pad},{stride}", "tuple",
                   N_("The input is {h}×{w}, the kernel {k}×{k}, padding {p}, stride {s}. How many rows and columns "
                   "does the feature map have? (rows, columns)"), (oh, ow),
                   N_("Open “How big is the feature map?”: the same formula on each axis, ⌊(n + 2p − k) / s⌋ + 1."),
                   N_("rows ⌊({h} + 2·{p} − {k}) / {s}⌋ + 1 = {oh}, columns ⌊({w} + 2·{p} − {k}) / {s}⌋ + 1 = {ow}."),
                   p)]
    nonzero = np.flatnonzero(out)  # a digit's background gives zeros: ask about a cell with something in it
    flat = int(rng.choice(nonzero)) if nonzero.size else int(rng.integers(out.size))
    r, c = divmod(flat, ow)
    qs.append(Question(f"conv-2d:value:{r},{c}", "float", N_("What is the feature map's cell (row {r}, column {c})?"),
                       float(out[r, c]), N_("Step {step} of the stepper shows the window of cell ({r}, {c}) and its "
                       "sum (or click that cell of the feature map)."), N_("The {k}×{k} window whose top-left corner "
                       "is padded cell ({top}, {left}), times the kernel, added up: {ans}."),
                       dict(r=r, c=c, k=k, step=flat + 1, top=r * stride, left=c * stride, ans=fmt(out[r, c])),
                       flat + 1))
    return qs


def multichannel(settings: dict, rng: np.random.Generator) -> list[Question]:
    cin, cout, h, w = (int(settings[key]) for key in ("in_channels", "out_channels", "h", "w"))
    k, stride = int(settings["k"]), int(settings["stride"])
    pad = k // 2 if settings["pad"] is None else int(settings["pad"])
    layer = Conv2DLayer(out_channels=cout, param_size=k, stride=stride, padding=pad)
    layer.forward(np.zeros((1, cin, h, w)))  # the layer makes its parameters on its first input
    weights = sum(param.size for param in layer.params)
    oh, ow = reference.output_size(h, k, pad, stride), reference.output_size(w, k, pad, stride)
    p = dict(cin=cin, cout=cout, k=k, ans=weights, h=h, w=w, p=pad, s=stride, oh=oh, ow=ow)
    return [Question(f"multichannel:weights:{cin},{cout},{k}", "int",
                     N_("This layer takes {cin} input channel(s) to {cout} output map(s) with {k}×{k} kernels. How "
                     "many weights does it have?"), weights, N_("Look at the filters' shape [in_channels, "
                     "out_channels, fh, fw] in the list above the stepper: one kernel per input channel and output "
                     "map, and the chapter's Conv2D has no bias."),
                     N_("{cin} × {cout} × {k} × {k} = {ans} (no bias)."), p),
            Question(f"multichannel:shape:{cin},{cout},{h},{w},{k},{pad},{stride}", "tuple",
                     N_("What is the output's shape [batch, out_channels, h_out, w_out] for one {h}×{w} image with "
                     "padding {p} and stride {s}?"), (1, cout, oh, ow), N_("The output line above the stepper has it: "
                     "one map per filter, each ⌊(n + 2p − k) / s⌋ + 1 cells a side."),
                     N_("[1, {cout}, ⌊({h} + 2·{p} − {k}) / {s}⌋ + 1, ⌊({w} + 2·{p} − {k}) / {s}⌋ + 1] = "
                     "[1, {cout}, {oh}, {ow}]."), p)]


def pooling(settings: dict, rng: np.random.Generator) -> list[Question]:
    image, size, mode = np.asarray(settings["image"], float), int(settings["size"]), settings["mode"]
    rows, cols = (reference.output_size(n, size, 0, size) for n in image.shape)
    qs = [Question(f"pooling:size:{image.shape},{size}", "tuple", N_("The input is {h}×{w}. How many rows and columns "
                   "does {size}×{size} pooling (stride {size}) leave? (rows, columns)"), (rows, cols),
                   N_("Pooling is the output-size formula with no padding and stride = size: ⌊(n − size) / size⌋ + 1; "
                   "the stepper's pooled map has that size."), N_("⌊({h} − {size}) / {size}⌋ + 1 = {rows} rows, "
                   "⌊({w} − {size}) / {size}⌋ + 1 = {cols} columns."),
                   dict(h=image.shape[0], w=image.shape[1], size=size, rows=rows, cols=cols))]
    windows = [(r, c) for r in range(rows) for c in range(cols)]
    if mode == "max":  # a window with one clear winner (a digit's background ties everywhere)
        windows = [rc for rc in windows if _unique_max(_window(image, size, *rc))]
    else:
        windows = [rc for rc in windows if _window(image, size, *rc).any()] or windows
    if windows:
        r, c = windows[int(rng.integers(len(windows)))]
        win, step = _window(image, size, r, c), r * cols + c + 1
        p = dict(r=r, c=c, size=size, step=step, top=r * size, left=c * size, bottom=r * size + size - 1,
                 right=c * size + size - 1)
        if mode == "max":
            best = max(((i, j) for i in range(size) for j in range(size)), key=lambda ij: win[ij])
            cell = (r * size + best[0], c * size + best[1])
            p.update(row=cell[0], col=cell[1], ans=fmt(win[best]))
            qs.append(Question(f"pooling:winner:{r},{c}", "tuple", N_("Pooled cell (row {r}, column {c}) reads a "
                               "{size}×{size} window of the input. Which input cell wins it? (row, column)"), cell,
                               N_("Step {step} of the stepper outlines that window and dots its winner."),
                               N_("The window covers rows {top}-{bottom} and columns {left}-{right}; its largest "
                               "value, {ans}, is at (row {row}, column {col})."), p, step))
        else:
            mean = float(win.sum() / (size * size))
            p.update(ans=fmt(mean), total=fmt(win.sum()), cells=size * size)
            qs.append(Question(f"pooling:mean:{r},{c}", "float", N_("What is pooled cell (row {r}, column {c}), the "
                               "mean of its {size}×{size} window? (to 2 decimals)"), mean,
                               N_("Step {step} of the stepper shows that window's sum."),
                               N_("The window adds up to {total}; divided by {cells} cells: {ans}."), p, step, 0.005))
    return qs


def _window(image: np.ndarray, size: int, r: int, c: int) -> np.ndarray:
    return image[r * size:(r + 1) * size, c * size:(c + 1) * size]


def _unique_max(win: np.ndarray) -> bool:
    return int(np.sum(win == win.max())) == 1


# ---------------------------------------------------------------------------------------------- backward lessons


def perturb(settings: dict, rng: np.random.Generator) -> list[Question]:
    x, w = np.asarray(settings["inp"], float), np.asarray(settings["kernel"], float)
    what, i, delta, up = settings["what"], int(settings["index"]), float(settings["delta"]), settings.get("up")
    g = _grad_of(up, reference.conv_1d(x, w))
    grads = reference._input_grad_1d(x, w, g) if what == "input" else reference._param_grad_1d(x, w, g)
    name = f"x[{i}]" if what == "input" else f"w[{i}]"
    p = dict(name=name, d=fmt(delta), g=fmt(grads[i]), ans=fmt(grads[i] * delta))
    qs = [Question(f"perturb:grad:{what},{i}", "float", N_("What is the gradient dL/d{name}?"), float(grads[i]),
                   N_("The metric “gradient dL/d{name}” shows it; the dotted output cells are the ones {name} feeds."),
                   N_("dL/d{name} = {g}: every output {name} feeds sends back its dL/dout times the other factor."), p),
          Question(f"perturb:predicted:{what},{i},{fmt(delta)}", "float", N_("You nudge {name} by {d}. By how much "
                   "does the gradient predict the loss will change? (to 2 decimals)"), float(grads[i] * delta),
                   N_("Multiply the gradient dL/d{name} by the nudge, as “Why they agree” does."),
                   N_("gradient × nudge = {g} × {d} = {ans}."), p, None, 0.005)]
    j = int(rng.integers(x.size))
    if j != i or what != "input":
        dx = reference._input_grad_1d(x, w, g)
        qs.append(Question(f"perturb:other:{j}", "float", N_("And dL/dx[{j}], another input cell?"), float(dx[j]),
                           N_("Choose “an input”, x[{j}], and read the gradient metric."), N_("dL/dx[{j}] = {ans}."),
                           dict(j=j, ans=fmt(dx[j]))))
    return qs


def grad_1d(settings: dict, rng: np.random.Generator) -> list[Question]:
    x, w, up = np.asarray(settings["inp"], float), np.asarray(settings["kernel"], float), settings.get("up")
    g = _grad_of(up, reference.conv_1d(x, w))
    dx, k = reference._input_grad_1d(x, w, g), w.size
    i = _pick(rng, x.size, prefer=0)
    qs = [Question(f"grad-1d:dx:{i}", "float", N_("What is dL/dx[{i}] here?"), float(dx[i]),
                   N_("Step {step} of the stepper is x[{i}]'s last term: its running sum is the answer."),
                   N_("input_grad[{i}] = Σ_p output_pad[{i} + {k} − p − 1] · param[p] = {ans}."),
                   dict(i=i, k=k, step=i * k + k, ans=fmt(dx[i])), i * k + k)]
    j = int(rng.integers(x.size))
    # the outputs a lone 1 at x[j] reaches through a kernel of ones: the cells whose window holds x[j]
    fed = frozenset(int(o) for o in np.flatnonzero(reference.conv_1d(np.eye(x.size)[j], np.ones(k))))
    qs.append(Question(f"grad-1d:fed:{j}", "cells", N_("Which output cells did x[{j}] feed on the forward pass (their "
                       "gradients come back to it)?"), fed, N_("Steps {first} to {last} of the stepper are x[{j}]'s "
                       "terms: the non-zero cells of the padded output gradient they read are those outputs."),
                       N_("With padding k // 2 = {h}, out[o] reads x[o − {h}] to x[o + {h}], so x[{j}] fed "
                          "out[{cells}]."),
                       dict(j=j, h=k // 2, first=j * k + 1, last=j * k + k, cells=", ".join(map(str, sorted(fed)))),
                       j * k + 1))
    return qs


def grad_1d_filter(settings: dict, rng: np.random.Generator) -> list[Question]:
    rows, w, up = np.atleast_2d(np.asarray(settings["rows"], float)), np.asarray(settings["kernel"], float), \
        settings.get("up")
    g = _grad_of(up, reference.conv_1d_batch(rows, w))
    dw = reference._param_grad_1d_batch(rows, w, g)
    j = _pick(rng, w.size, prefer=0)
    qs = [Question(f"grad-1d-filter:dw:{j}", "float", N_("What is dL/dw[{j}] (the whole batch)?"), float(dw[j]),
                   N_("Choose weight w[{j}] and go to the stepper's last step: its running sum is the answer."),
                   N_("param_grad[{j}] = Σ over observations and outputs of input_pad[i][o + {j}] · output_grad[i][o] "
                   "= {ans}."), dict(j=j, ans=fmt(dw[j])))]
    batch, n = rows.shape
    qs.append(Question(f"grad-1d-filter:terms:{batch},{n}", "int", N_("How many terms add up into dL/dw[{j}]?"),
                       batch * n, N_("Choose weight w[{j}]: the stepper has one step per term."),
                       N_("One per observation and output cell: {batch} × {n} = {ans}."),
                       dict(j=j, batch=batch, n=n, ans=batch * n)))
    if batch > 1:
        one = reference._param_grad_1d(rows[0], w, g[0])
        qs.append(Question(f"grad-1d-filter:obs0:{j}", "float", N_("How much of dL/dw[{j}] comes from observation 0?"),
                           float(one[j]), N_("“The batch adds up” shows each observation's share in its own row."),
                           N_("Observation 0 alone gives {ans}."), dict(j=j, ans=fmt(one[j]))))
    return qs


def grad_2d(settings: dict, rng: np.random.Generator) -> list[Question]:
    x, w, up = np.asarray(settings["x"], float), np.asarray(settings["w"], float), settings.get("up")
    stride, k = int(settings["stride"]), w.shape[2]
    pad = k // 2 if settings["pad"] is None else int(settings["pad"])
    g = _grad_of(up, reference._output(x, w, pad, stride))
    dx, dw = reference._input_grad(x, g, w, pad, stride), reference._param_grad(x, g, w, pad, stride)
    b, c = int(rng.integers(x.shape[0])), int(rng.integers(x.shape[1]))
    size = x.shape[3]
    r, col = (int(v) for v in rng.integers(x.shape[2:]))
    step = r * size + col + 1
    wc, wo, wi, wj = (int(rng.integers(n)) for n in w.shape)
    return [Question(f"grad-2d:dx:{b},{c},{r},{col}", "float", N_("What is dL/dx[{b}, {c}, {r}, {col}]?"),
                     float(dx[b, c, r, col]), N_("With observation {b} and channel {c} chosen, step {step} of the "
                     "dL/dX stepper is that cell: its running sum is the answer."),
                     N_("The output cells whose windows covered ({r}, {col}), times the weight that met it there, "
                     "added up: {ans}."), dict(b=b, c=c, r=r, col=col, step=step, ans=fmt(dx[b, c, r, col])),
                     step),
            Question(f"grad-2d:dw:{wc},{wo},{wi},{wj}", "float", N_("What is dL/dW[{wc}, {wo}, {wi}, {wj}]?"),
                     float(dw[wc, wo, wi, wj]),
                     N_("Choose that weight above the dL/dW stepper and go to its last step."),
                     N_("Every window's input cell at offset ({wi}, {wj}) times its output gradient, over the batch: "
                     "{ans}."), dict(wc=wc, wo=wo, wi=wi, wj=wj, ans=fmt(dw[wc, wo, wi, wj])))]


def book_bug(settings: dict, rng: np.random.Generator) -> list[Question]:
    """The book's lesson: x (batch, 1, n, n), the 3×3 kernel w (1, 1, 3, 3) and the output gradient g. The true
    gradients come from the chapter's loops, the book's from its fast batch-matmul code (bugs kept)."""
    x, w, g = (np.asarray(settings[key], float) for key in ("x", "w", "g"))
    k = w.shape[2]
    true_w, book_w = reference._param_grad(x, g, w, k // 2, 1), book_param_grad(x, g, (k, k))
    true_x = reference._input_grad(x, g, w, k // 2, 1)
    differs = np.flatnonzero(~np.isclose(true_w, book_w).ravel())
    flat = int(rng.choice(differs)) if differs.size else int(rng.integers(true_w.size))
    i, j = divmod(flat, k)
    right = int(np.isclose(true_w, book_w).sum())
    r, c = (int(v) for v in rng.integers(x.shape[2:]))
    batch = x.shape[0]
    return [Question(f"book-bug:dw:{i},{j}", "float", N_("The book's filter gradient has {book} for weight (row {i}, "
                     "column {j}). What is the true dL/dW there?"), float(true_w[0, 0, i, j]),
                     N_("The middle chart, “true filter gradient”, shows it at row {i}, column {j}; it is every "
                     "example's padded input at that offset times that example's own g, added over the batch."),
                     N_("Σ over the batch and the positions of x_pad[b, y + {i}, x + {j}] · g[b, y, x] = {ans} (the "
                     "book's {book} multiplied rows of different examples).") if differs.size else
                     N_("Σ over the batch and the positions of x_pad[b, y + {i}, x + {j}] · g[b, y, x] = {ans}, the "
                     "book's value too: with one example its rows line up."),
                     dict(i=i, j=j, book=fmt(book_w[0, 0, i, j]), ans=fmt(true_w[0, 0, i, j]))),
            Question(f"book-bug:right:{batch}", "int", N_("With a batch of {b}, how many of the {n} filter-gradient "
                     "cells does the book get right?"), right,
                     N_("Compare the book's and the true filter gradient cell by cell (the first two charts); with "
                     "one example the book's rows line up."),
                     N_("{ans} of {n}: the book's error against central differences is 0 only when all are."),
                     dict(b=batch, n=true_w.size, ans=right)),
            Question(f"book-bug:dx:{r},{c}", "float", N_("What is the true dL/dx of example 0 at (row {r}, column "
                     "{c})?"), float(true_x[0, 0, r, c]),
                     N_("The chart “true: kernel flipped” shows example 0: the output gradient around that cell, "
                     "correlated with the kernel turned by 180°."),
                     N_("Σ of g[0, {r} − i + {h}, {c} − j + {h}] · W[i, j] over the kernel = {ans} (the book's "
                     "unflipped kernel gives {book})."),
                     dict(r=r, c=c, h=k // 2, ans=fmt(true_x[0, 0, r, c]),
                          book=fmt(book_input_grad(x.shape, w, g)[0, 0, r, c])))]


GENERATORS = {"conv-1d": conv_1d, "conv-2d": conv_2d, "multichannel": multichannel, "pooling": pooling,
              "perturb": perturb, "grad-1d": grad_1d, "grad-1d-filter": grad_1d_filter, "grad-2d": grad_2d,
              "book-bug": book_bug}


def questions(lesson: str, settings: dict, seed: int) -> list[Question]:
    """2-4 questions on ``lesson`` with these settings; the same seed and settings give the same questions."""
    if lesson not in GENERATORS:
        raise ValueError(f"no checkpoints for lesson {lesson!r}; there are {LESSONS}")
    return GENERATORS[lesson](settings, np.random.default_rng(int(seed)))[:4]


# ---------------------------------------------------------------------------------------------- checking

NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
MESSAGES = {"int": N_("Type a whole number, e.g. 7."), "float": N_("Type a number, e.g. -0.5."),
            "cells": N_("Type the cell numbers separated by commas, e.g. 1, 2, 3."),
            "tuple": N_("Type the whole numbers in order, separated by commas, e.g. 3, 4.")}


def _numbers(text: str) -> list[float]:
    return [float(v) for v in NUMBER.findall(text.replace("−", "-"))]


def _whole(values: list[float]) -> list[int] | None:
    return [int(v) for v in values] if all(math.isfinite(v) and v == int(v) for v in values) else None


def parse(question: Question, text: str):
    """The learner's answer as the question's kind, or None when it cannot be read as one."""
    text = (text or "").strip()
    values = _numbers(text)
    if question.kind in ("int", "float"):
        if len(values) != 1 or not NUMBER.fullmatch(text.replace("−", "-").replace(" ", "")):
            return None
        return values[0] if question.kind == "float" else (_whole(values) or [None])[0]
    ints = _whole(values) if values else None
    if ints is None:
        return None
    return frozenset(ints) if question.kind == "cells" else tuple(ints)


def check(question: Question, text: str) -> tuple[bool, str]:
    """(right, message). A float is right within ``tol``, or relative 1e-6 plus absolute 1e-9."""
    value = parse(question, text)
    if value is None:
        return False, MESSAGES[question.kind]
    if question.kind == "float":
        ans = float(question.answer)
        tol = question.tol if question.tol is not None else 1e-6 * abs(ans) + 1e-9
        ok = abs(value - ans) <= tol
    else:
        ok = value == question.answer
    return ok, N_("Right.") if ok else N_("Not quite.")
