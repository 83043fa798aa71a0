"""The arithmetic of a step as text: formulas with the learner's numbers, sums written out, small tables."""
from __future__ import annotations

from app.charts import fmt
from app.i18n import _
from smartflow_core.trace import OutputSize


def _num(x: float) -> str:
    return fmt(x) if x >= 0 else f"({fmt(x)})"


def _terms(weights, inputs) -> str:
    """``w·x + w·x ...``, leaving out zero weights (they add nothing) unless every weight is zero."""
    pairs = [(w, x) for w, x in zip(weights, inputs) if w != 0] or list(zip(weights, inputs))[:1]
    return " + ".join(f"{_num(w)}·{_num(x)}" for w, x in pairs)


def sum_line(weights, inputs, total: float, lhs: str) -> str:
    """``out[2] = 1·2 + 1·3 + 1·4 = 9`` (markdown)."""
    return f"`{lhs}` = {_terms(weights, inputs)} = **{fmt(total)}**"


def size_latex(s: OutputSize, n: str = "n") -> str:
    """The output-size formula with the numbers filled in, the floor shown when the stride does not divide."""
    q = f"{s.span}/{s.stride}"
    floor = rf"\left\lfloor {q} \right\rfloor" if s.stride > 1 else str(s.span)
    exact = rf" = \lfloor {s.span / s.stride:.4g} \rfloor" if s.remainder else ""
    return (rf"{n}_{{out}} = \left\lfloor \frac{{{n} + 2p - k}}{{s}} \right\rfloor + 1"
            rf" = \left\lfloor \frac{{{s.n} + 2\cdot{s.pad} - {s.k}}}{{{s.stride}}} \right\rfloor + 1"
            rf" = {floor}{exact} + 1 = {s.size}")


def size_note(s: OutputSize) -> str:
    if s.remainder:
        return _("{} does not divide by {}: the floor drops the remainder {}, so the last {} cell(s) of the "
                 "padded input are never read.").format(s.span, s.stride, s.remainder, s.remainder)
    if s.stride > 1:
        return _("{} divides by {} exactly: the last window ends on the last cell.").format(s.span, s.stride)
    if s.size == s.n:
        return _("The output is as long as the input: the padding makes up for the cells a kernel of {} "
                 "would lose at the edges.").format(s.k)
    if s.size > s.n:
        return _("The output is {} longer than the input: the padding adds {} zeros at each end, more than the "
                 "{} cell(s) a kernel of {} loses, so windows also sit over the padding alone.").format(
            s.size - s.n, s.pad, s.k - 1, s.k)
    return _("The output is {} shorter than the input: without enough padding a kernel of {} cannot be "
             "centred on the edge cells.").format(s.n - s.size, s.k)


def step_table_1d(step, stride: int) -> str:
    """A markdown table: each kernel cell's input, weight, product and the running sum."""
    head = _("| p | padded index {}·{}+p | input | weight | product | running sum |").format(step.index, stride)
    rows = [head, "|---:|---:|---:|---:|---:|---:|"]
    for p, (i, x, w, prod, run) in enumerate(zip(step.window, step.inputs, step.weights, step.products,
                                                step.running)):
        rows.append(f"| {p} | {i} | {fmt(x)} | {fmt(w)} | {fmt(prod)} | {fmt(run)} |")
    return "\n".join(rows)


def grid_sum_line(step, lhs: str) -> str:
    """The products of a 2D step added up (weight·input, row by row; zero weights left out)."""
    weights = [w for row in step.weights for w in row]
    inputs = [x for row in step.patch for x in row]
    return sum_line(weights, inputs, step.output, lhs)


def total_line(parts, total: float, lhs: str) -> str:
    """``out = 0.9 + (-0.06) + (-0.06) = 0.78``."""
    return f"`{lhs}` = " + " + ".join(_num(p) for p in parts) + f" = **{fmt(total)}**"


def pool_line(step) -> str:
    """``max(0, 1, 4, 0) = 4`` or ``(0 + 1 + 4 + 0) / 4 = 1.25``."""
    values = [v for row in step.window for v in row]
    if step.mode == "max":
        return f"`out[{step.row}, {step.col}]` = max({', '.join(fmt(v) for v in values)}) = **{fmt(step.output)}**"
    return (f"`out[{step.row}, {step.col}]` = ({' + '.join(_num(v) for v in values)}) / {len(values)} = "
            f"**{fmt(step.output)}**")


def flat_labels(channels: int, height: int, width: int) -> list[str]:
    """``c,i,j`` for each position of the flattened vector, in the order Flatten lays cells out."""
    return [f"{c},{i},{j}" for c in range(channels) for i in range(height) for j in range(width)]
