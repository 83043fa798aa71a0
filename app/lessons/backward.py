"""Glue for the backward-pass lessons: the upstream-gradient controls, cached records, and the sums as text.

The records come from :mod:`smartflow_core.trace.backward`; the figures from :mod:`app.lessons.backward_charts`.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from app import view, widgets
from app.charts import fmt
from app.i18n import N_, Later, _
from smartflow_core import reference, trace
from smartflow_core.trace import backward as tb
from smartflow_core.trace import backward_2d as tb2

UPSTREAM_LABELS = {
    "ones": N_("all ones: L = sum of the outputs (the chapter's)"),
    "random": N_("random: L = Σ g·out for a fixed random g"),
    "loss": N_("from a loss: the book's “mean squared error”, Σ (out − target)² / batch"),
}
H_EXPONENTS = tuple(range(1, 11))  # the gradient check's step h = 10**-n
# one epoch of the chapter's model (float64, seed 20190402, the full MNIST), measured 2026-12-01 with
# `python -m smartflow_core.train --preset chapter --data ../shared/mnist --epochs 1` (and `--book`)
BOOK_ACCURACY, TRUE_ACCURACY = 91.3, 92.9


def signed(x: float) -> str:
    """A number ready to multiply: negatives in brackets."""
    return fmt(x) if x >= 0 else f"({fmt(x)})"


# ---------------------------------------------------------------------------------------------- controls


def upstream_controls(kind_key: str, seed_key: str, goal_key: str | None = None,
                      where=st) -> tb.Upstream:
    """Where dL/dout comes from. Raises ValueError for a target that cannot be read."""
    c1, c2 = where.columns([3, 2])
    kind = view.widget(c1.radio, _("Upstream gradient dL/dout"), tb.UPSTREAMS, key=kind_key,
                       format_func=lambda k: _(UPSTREAM_LABELS[k]),
                       help=_("What the layers after the convolution send back. All ones is the chapter's test: "
                              "the loss is just the sum of the outputs. Random gives every output its own weight. "
                              "A loss makes the gradient depend on the output itself: the book's MeanSquaredError "
                              "adds the squared errors and divides by the batch size, not by the number of outputs "
                              "(a sum per example, averaged over the batch), so for outputs [3, 6, 9, 12, 9] and "
                              "a target of zeros it is 351, where a mean of the squares would be 70.2."))
    view.widget(c2.number_input, _("Seed of g"), 0, 9_999, step=1, key=seed_key, disabled=kind != "random",
                help=_("The random g is integers from -2 to 2 drawn with this seed: same seed, same g."))
    target = None
    if goal_key is not None and kind == "loss":
        text = view.widget(c2.text_input, _("Target of the outputs"), key=goal_key,
                           placeholder=_("blank: every output aims at 0"),
                           help=_("The values the outputs should have, separated by commas, one per output "
                                  "(shared by every observation of a batch). Leave blank for all zeros. "
                                  "L = Σ (out − target)² / batch."))
        if text.strip():
            target = widgets.parse_values(text, _("target"), max_len=64)
    return tb.Upstream(kind, int(st.session_state[seed_key]), target)


def h_label(n: int) -> str:
    return f"h = 1e-{n}"


# ---------------------------------------------------------------------------------------------- cached records


@st.cache_data(max_entries=64, show_spinner=False)
def perturb(inp: tuple, kernel: tuple, what: str, index: int, delta: float, up: tb.Upstream) -> tb.Perturbation1D:
    return tb.perturb_1d(inp, kernel, what, index, delta, up)


@st.cache_data(max_entries=64, show_spinner=False)
def input_grad_1d(inp: tuple, kernel: tuple, up: tb.Upstream) -> tb.InputGrad1DTrace:
    x, w = np.asarray(inp), np.asarray(kernel)
    tb.check_1d(x, w)  # a clear message before the output is computed
    return tb.trace_input_grad_1d(x, w, up.grad(reference.conv_1d(x, w)))


@st.cache_data(max_entries=64, show_spinner=False)
def param_grad_1d(rows: tuple, kernel: tuple, up: tb.Upstream) -> tb.ParamGrad1DTrace:
    x, w = np.asarray(rows, dtype=np.float64), np.asarray(kernel, dtype=np.float64)
    tb.check_1d(x[0], w)
    return tb.trace_param_grad_1d(x, w, up.grad(reference.conv_1d_batch(x, w)))


@st.cache_data(max_entries=32, show_spinner=False)
def problem_2d(batch: int, cin: int, cout: int, size: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Small integers from a seeded generator of their own: inputs 0..3, weights -1..1 (easy to add by eye)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(batch, cin, size, size)).astype(np.float64)
    w = rng.integers(-1, 2, size=(cin, cout, k, k)).astype(np.float64)
    return x, w


@st.cache_data(max_entries=32, show_spinner=Later(N_("Computing the gradients...")))
def grad_2d(x: np.ndarray, w: np.ndarray, pad: int | None, stride: int, up: tb.Upstream) -> tb2.Grad2DTrace:
    return tb2.trace_grad_2d(x, w, pad, stride, up)


@st.cache_data(max_entries=64, show_spinner=False)
def grad_check(x: np.ndarray, w: np.ndarray, where: str, index: tuple, analytic: float, h: float,
               pad: int | None, stride: int, up: tb.Upstream) -> tb2.GradCheck:
    return tb2.grad_check(x, w, where, index, analytic, h, pad, stride, up)


UNIT_X = np.arange(9.0).reshape(1, 1, 3, 3)


@st.cache_data(max_entries=16, show_spinner=Later(N_("Comparing the book's gradients with the true ones...")))
def book(example: str, batch: int, size: int, seed: int) -> tb2.BookComparison:
    """``unit``: the chapter's unit example (docs/ARCHITECTURE.md), x = W = g = 0..8 and, for a second example,
    2x + 1 with g = 1; ``random``: small seeded integers."""
    if example == "unit":
        x = np.concatenate([UNIT_X, 2 * UNIT_X + 1])[:batch]
        g = np.concatenate([UNIT_X, np.ones_like(UNIT_X)])[:batch]
        return tb2.compare_book(x, UNIT_X, g)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(batch, 1, size, size)).astype(np.float64)
    w = rng.integers(-2, 3, size=(1, 1, 3, 3)).astype(np.float64)
    g = rng.integers(-2, 3, size=(batch, 1, size, size)).astype(np.float64)
    return tb2.compare_book(x, w, g)


@st.cache_data(show_spinner=Later(N_("Measuring on real digits...")))
def book_cosines(sizes: tuple[int, ...]) -> tuple[float, ...] | None:
    """The cosine between the book's and the true filter gradient of the chapter's model on the first ``n``
    training digits of the bundled subset, for each ``n`` (None without the digits)."""
    from app import resources

    data = resources.digits()
    if data is None:
        return None
    return tb2.book_cosines_by_batch(data.images[:max(sizes)], data.labels[:max(sizes)], sizes)


# ---------------------------------------------------------------------------------------------- text


def terms_line(pairs, total: float, lhs: str) -> str:
    """``dL/dx[4]`` = 1·1 + 1·1 + 0·1 = **2**: every term, zeros included (they are the padding's)."""
    body = " + ".join(f"{signed(a)}·{signed(b)}" for a, b in pairs) or "0"
    return f"`{lhs}` = {body} = **{fmt(total)}**"


def check_rows(checks: list[tuple[str, tb2.GradCheck]]) -> str:
    rows = [_("| cell | formula | central difference | rel. error | forward difference | rel. error |"),
            "|:---|---:|---:|---:|---:|---:|"]
    for name, c in checks:
        rows.append(f"| `{name}` | {c.analytic:.10g} | {c.numeric:.10g} | {c.rel_error:.1e} | {c.forward:.10g} | "
                    f"{trace.rel_error(c.analytic, c.forward):.1e} |")
    return "\n".join(rows)


def pairing_table(rows: tuple[tb2.PairRow, ...]) -> str:
    out = [_("| row | patch: example, position | gradient: example, position | same cell? |"),
           "|---:|:---|:---|:---:|"]
    for r in rows:
        out.append(f"| {r.row} | {r.patch_obs}, {r.patch_pos} | {r.grad_obs}, {r.grad_pos} | "
                   f"{'✓' if r.matched else '✗'} |")
    return "\n".join(out)


def perturb_lines(p: tb.Perturbation1D) -> list[str]:
    """The change of the loss read off the outputs, and the formula's gradient with its terms."""
    touched = [o for o in range(len(p.out_before)) if p.out_change[o] != 0] or list(p.touched)
    name = f"x[{p.index}]" if p.target == "input" else f"w[{p.index}]"
    change = terms_line([(p.out_change[o], p.upstream[o]) for o in touched],
                        sum(p.out_change[o] * p.upstream[o] for o in touched), "Σ Δout[o]·dL/dout[o]")
    pad = len(p.kernel) // 2
    if p.target == "input":
        pairs = [(p.upstream[o], p.kernel[p.index + pad - o]) for o in p.touched]
        what = _("each output it feeds, that output's gradient times the weight between them")
    else:
        pairs = [(p.upstream[o], ([0.0] * pad + list(p.inp) + [0.0] * pad)[o + p.index]) for o in p.touched]
        what = _("each output, that output's gradient times the input the weight met there")
    return [_("The outputs moved by Δout; each output's move counts as much as its gradient: {}").format(change),
            _("The backward formula for `dL/d{}` adds, for {}: {}").format(name, what, terms_line(
                pairs, p.gradient, f"dL/d{name}"))]


def vec(values) -> str:
    return "[" + ", ".join(fmt(x) for x in values) + "]"


def batch_line(tr: tb.ParamGrad1DTrace) -> str:
    """``param_grad = [15, 21, 21] + [21, 28, 27] = [36, 49, 48]``."""
    if len(tr.per_obs) == 1:
        return _("One observation: `param_grad` = **{}**.").format(vec(tr.param_grad))
    return _("Each observation's own filter gradient, added weight by weight: `param_grad` = {} = **{}**.").format(
        " + ".join(vec(v) for v in tr.per_obs), vec(tr.param_grad))


# ---------------------------------------------------------------------------------------------- the book's bug


def book_param_text(cmp: tb2.BookComparison) -> str:
    n, bad = len(cmp.pairing), cmp.mismatched
    if bad == 0:
        return _("With one example, all {} rows of the book's product pair a patch with its own gradient: its filter "
                 "gradient is the true one.").format(n)
    return _("The book's product has {} rows and **{}** of them pair a patch with the gradient of another position "
             "or another example (the table below). The true gradient adds each example's own products, and passes "
             "the check; the book's does not. Still, the cosine of {:.2f} says that on this tiny example it points "
             "roughly the same way.").format(n, bad, cmp.cosine_param)


def log_table(log) -> str:
    rows = [_("| batch | chapter's log (book's gradients) | true gradients |"), "|---:|---:|---:|"]
    rows += [f"| {b} | {book:.4f} | {true:.4f} |" for b, book, true in log]
    return "\n".join(rows)


def cosine_text(sizes, cosines) -> str:
    by = dict(zip(sizes, cosines))
    return _(
        "For a batch of 1 the cosine is {:.2f}. With {} digits it is already {:.2f}, and with the chapter's {} it is "
        "{:.2f}: on real digits the book's filter update points almost at right angles to the true gradient, so a "
        "step along it barely changes the loss. The filters wandered rather than learned. What learned was the "
        "dense layer after them, whose gradient is right: even filters that never learn give it useful features "
        "(5×5 patterns through tanh). Measured here on the full MNIST, one epoch of the chapter's model reads "
        "{book} % of the 10,000 test digits with the book's gradients and {true} % with the true ones "
        "(`python -m smartflow_core.train --preset chapter --epochs 1`, with `--book` for the first).").format(
            by[sizes[0]], sizes[1], by[sizes[1]], sizes[-1], by[sizes[-1]], book=BOOK_ACCURACY, true=TRUE_ACCURACY)
