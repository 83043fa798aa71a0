"""The arithmetic of a lesson as text: the output-size formula with the learner's numbers, and flatten's labels."""
from __future__ import annotations

from app.i18n import _
from smartflow_core.trace import OutputSize


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


def flat_labels(channels: int, height: int, width: int) -> list[str]:
    """``c,i,j`` for each position of the flattened vector, in the order Flatten lays cells out."""
    return [f"{c},{i},{j}" for c in range(channels) for i in range(height) for j in range(width)]
