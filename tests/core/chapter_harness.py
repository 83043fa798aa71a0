"""Run the chapter's code cells, unchanged but for the package name, the way a notebook does.

Usage: ``python chapter_harness.py CHAPTER_TXT WORKDIR [--book] [--stop-after N]``. Prints, for each cell, a line
``=== CELL <id>`` then what the notebook would show: the repr of a final expression, and log lines. Runs in its own
process because the chapter's cell 2 reloads the ``logging`` module.

The chapter imports matplotlib and scipy; when they are not installed, stand-ins are put in ``sys.modules`` (the
cells draw nothing, and ``scipy.special.logsumexp`` is given smartflow_core's own).
``--stop-after N`` ends the training cell once ``batch#N`` is logged: later losses depend on the BLAS summation
order and no longer reproduce digit for digit (docs/ARCHITECTURE.md, the chapter's numbers).
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import sys
import types

# (cell id, lines of code after its "In [..]:" header); the chapter's outputs follow the code after a blank line
CELLS = [("1", 18), ("2", 8), ("3", 2), ("4", 6), ("5", 17), ("6", 8), ("7", 1), ("8", 6), ("9", 39), ("10", 3),
         ("11", 7), ("12", 34), ("13", 28), ("14", 27), ("15", 27), ("None", 14)]
BOOK_CELLS = {"None"}  # built inside book_mode() when --book is given


class StopTraining(Exception):
    pass


def chapter_cells(text: str) -> dict[str, str]:
    lines = text.split("\n")
    cells = {}
    for cell_id, n in CELLS:
        start = lines.index(f"In [{cell_id}]:") + 1
        cells[cell_id] = "\n".join(lines[start:start + n]).replace("smartflow.", "smartflow_core.")
    return cells


def _stub_missing_modules() -> None:
    if importlib.util.find_spec("matplotlib") is None:
        mpl = types.ModuleType("matplotlib")
        mpl.pyplot = types.ModuleType("matplotlib.pyplot")
        sys.modules.update({"matplotlib": mpl, "matplotlib.pyplot": mpl.pyplot})
    if importlib.util.find_spec("scipy") is None:
        from smartflow_core.util import logsumexp
        scipy, special = types.ModuleType("scipy"), types.ModuleType("scipy.special")
        special.logsumexp, scipy.special = logsumexp, special
        sys.modules.update({"scipy": scipy, "scipy.special": special})


def run_cell(code: str, env: dict) -> None:
    """Execute ``code``; if it ends in an expression (and no ';'), print its repr as a notebook does."""
    tree = ast.parse(code)
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr) and not code.rstrip().endswith(";"):
        exec(compile(ast.Module(tree.body[:-1], []), "<cell>", "exec"), env)
        value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), env)
        if value is not None:
            print(repr(value))
    else:
        exec(compile(tree, "<cell>", "exec"), env)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("chapter")
    ap.add_argument("workdir")
    ap.add_argument("--book", action="store_true")
    ap.add_argument("--stop-after", type=int, default=None)
    ap.add_argument("--cells", default=None, help="comma-separated cell ids to run after 1 and 2")
    args = ap.parse_args()
    _stub_missing_modules()
    import numpy as np

    np.set_printoptions(legacy="1.25")  # the chapter was printed by NumPy 1: 39.0, not np.float64(39.0)
    cells = chapter_cells(open(args.chapter, encoding="utf-8").read())
    wanted = ["1", "2"] + (args.cells.split(",") if args.cells else [c for c, _ in CELLS[2:]])
    os.chdir(args.workdir)
    env: dict = {"__name__": "__main__"}
    from smartflow_core import book_mode
    for cell_id in wanted:
        print(f"=== CELL {cell_id}", flush=True)
        if cell_id == "None" and args.stop_after is not None:
            _install_stop(args.stop_after)
        try:
            with book_mode(args.book and cell_id in BOOK_CELLS):
                run_cell(cells[cell_id], env)
        except StopTraining:
            pass
        sys.stdout.flush()
    if "_param_grad" in env:
        print("=== LOOPS", flush=True)
        _compare_loops(env)


def _compare_loops(env: dict) -> None:
    """The chapter's own multichannel loops (cells 12-14) against smartflow_core's fast kernels."""
    import numpy as np

    from smartflow_core import conv

    rng = np.random.RandomState(0)
    x, w = rng.normal(size=(2, 3, 6, 6)), rng.normal(size=(3, 4, 3, 3))
    g = rng.normal(size=(2, 4, 6, 6))
    print("output", np.abs(env["_output"](x, w) - conv.conv2d_forward(x, w)).max())
    print("input_grad", np.abs(env["_input_grad"](x, g, w) - conv.conv2d_input_grad(x.shape, w, g)).max())
    print("param_grad", np.abs(env["_param_grad"](x, g, w) - conv.conv2d_param_grad(x, g, (3, 3))).max())


def _install_stop(n: int) -> None:
    import logging

    class Stop(logging.Handler):
        def emit(self, record):
            if re.match(rf"batch#{n} loss", record.getMessage()):
                raise StopTraining

    logging.getLogger().addHandler(Stop())


if __name__ == "__main__":
    main()
