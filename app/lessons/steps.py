"""The lessons' step records as the stepper's data: grids to draw and, for every step, its terms, its outlines and
the output cell it fills. The browser (``app/lessons/stepper/stepper.js``) walks them without the server.

A step's terms are sent as numbers: pairs ``(weight, input)`` for a sum (the browser multiplies and adds them
from 0 in the order given, as :mod:`smartflow_core.trace` does, so its running sums are the trace's to the last
bit: IEEE doubles both sides), or the window's values for max and average pooling, with the library's result.
``tests/app/test_steps.py`` checks every spec against the trace it came from. This module imports no Streamlit.
"""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from app.charts import limit


def _z(a) -> list:
    """Row-major floats, NaN as None (a blank cell)."""
    return [None if not math.isfinite(v) else float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def grid(title: str, z, *, pad: int = 0, fill: bool = False, dyn: bool = False, text: bool | None = None,
         lim: float | None = None, size: int | None = None) -> dict:
    """One grid to draw. ``pad`` cells at the border are padding (grey); ``fill``: cells appear as their step is
    reached; ``dyn``: blank but for the values a step puts there; ``text`` prints the numbers (default: when the
    grid is at most 10 cells a side)."""
    z = np.atleast_2d(np.asarray(z, dtype=np.float64))
    rows, cols = z.shape
    pads = [r * cols + c for r in range(rows) for c in range(cols)
            if pad and (r < pad or r >= rows - pad or c < pad or c >= cols - pad)]
    return {"title": title, "rows": rows, "cols": cols, "z": _z(z), "pad": pads, "fill": fill, "dyn": dyn,
            "text": (rows <= 10 and cols <= 10) if text is None else text,
            "lim": float(lim) if lim is not None else limit(z), "size": size}


def spec(grids: list[dict], layout: list[list[int]], steps: dict, *, op: str, lhs: str, note: str = "",
         cols: tuple[str, ...] = ()) -> dict:
    """The stepper's data. ``steps`` holds columns, one entry per step: ``a`` (arguments of the ``lhs`` and
    ``note`` templates), ``box`` (outlines ``[grid, top, left, height, width]``), ``cell`` (``[grid, index]`` of
    the output cell), ``t`` (terms) and optionally ``v`` (the results) and ``put`` (values a step writes into
    ``dyn`` grids). ``sig`` names the trace, so the browser rebuilds only when it changes; ``json`` is the data
    as JSON text, made here once (a 28x28 lesson's is ~100 KB)."""
    n = len(steps["t"])
    for name, column in steps.items():
        if len(column) != n:
            raise ValueError(f"steps[{name!r}] has {len(column)} entries for {n} steps")
    data = {"n": n, "grids": grids, "layout": layout, "steps": steps, "op": op, "lhs": lhs, "note": note,
            "cols": list(cols)}
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    data["sig"] = hashlib.sha1(text.encode()).hexdigest()[:16]
    data["json"] = text[:-1] + f',"sig":"{data["sig"]}"}}'
    return data


def _pairs(weights, inputs) -> list[float]:
    return [float(v) for w, x in zip(weights, inputs) for v in (w, x)]


# ---------------------------------------------------------------------------------------------- the lessons


def conv_1d(tr, t: dict) -> dict:
    """1D convolution: the padded input, the kernel and the products under the window, the output filling in
    (drawn under the middle of each window). ``t``: the grids' titles and the templates."""
    n = len(tr.padded)
    out_row = [math.nan] * n
    for o, v in enumerate(tr.output):
        out_row[tr.anchor(o)] = v
    pad = [i for i in range(n) if tr.is_pad(i)]
    lim = limit(np.asarray(tr.padded), np.asarray(tr.output))
    g_in = grid(t["input"], [tr.padded], lim=lim, text=True)
    g_in["pad"] = pad
    grids = [g_in, grid(t["kernel"], [[math.nan] * n], dyn=True, text=True, lim=limit(np.asarray(tr.kernel))),
             grid(t["products"], [[math.nan] * n], dyn=True, text=True,
                  lim=limit(*[np.asarray(s.products) for s in tr.steps])),
             grid(t["output"], [out_row], fill=True, lim=lim, text=True)]
    for g in grids:
        g["size"] = 40
    steps = {"a": [], "box": [], "cell": [], "t": [], "put": []}
    for s in tr.steps:
        steps["a"].append([s.index, s.window[0], s.window[-1]])
        steps["box"].append([[0, 0, s.window[0], 1, len(s.window)], [1, 0, s.window[0], 1, len(s.window)],
                             [2, 0, s.window[0], 1, len(s.window)], [3, 0, tr.anchor(s.index), 1, 1]])
        steps["cell"].append([3, tr.anchor(s.index)])
        steps["t"].append(_pairs(s.weights, s.inputs))
        steps["put"].append([[1, list(s.window), list(s.weights)], [2, list(s.window), list(s.products)]])
    return spec(grids, [[0], [1], [2], [3]], steps, op="sum", lhs="out[{0}]", note=t["note"], cols=t["cols"])


def conv_2d(tr, t: dict) -> dict:
    """2D convolution: the padded input with the window, the kernel, the feature map filling in row by row."""
    k, s = tr.kernel.shape[0], tr.stride
    text = max(tr.padded.shape) <= 10
    grids = [grid(t["input"], tr.padded, pad=tr.pad, text=text, lim=limit(tr.image)),
             grid(t["kernel"], tr.kernel, text=k <= 7, size=30 if k <= 7 else 14),
             grid(t["output"], tr.output, fill=True, text=text)]
    rows, cols = tr.rows.size, tr.cols.size
    windows = sliding_window_view(tr.padded, (k, k))[::s, ::s][:rows, :cols].reshape(rows * cols, k * k)
    pairs = np.empty((rows * cols, 2 * k * k))
    pairs[:, 0::2], pairs[:, 1::2] = tr.kernel.ravel(), windows  # (weight, input), row by row of the kernel
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    steps = {"a": [[r, c, r * s, c * s] for r, c in cells],
             "box": [[[0, r * s, c * s, k, k], [2, r, c, 1, 1]] for r, c in cells],
             "cell": [[2, r * cols + c] for r, c in cells], "t": pairs.tolist()}
    return spec(grids, [[0, 1, 2]], steps, op="sum", lhs="out[{0}, {1}]", note=t["note"], cols=t["cols"])


def multichannel(tr, out_channel: int, t: dict) -> dict:
    """Multichannel convolution for one output map: every input channel with its window, the filters of this
    output, each channel's own map and the output map filling in (the output is their sum). A step's terms run
    over the channels in the reference's order, so its running sum ends on the output cell."""
    cin, fh = tr.x.shape[1], tr.filters.shape[2]
    lim_x, lim_pc = limit(tr.padded), limit(tr.per_channel[0, out_channel])
    grids = [grid(t["channels"][c], tr.padded[0, c], pad=tr.pad, lim=lim_x) for c in range(cin)]
    grids += [grid(t["filter"].format(c, out_channel), tr.filters[c, out_channel], size=30) for c in range(cin)]
    grids += [grid(t["partial"].format(c), tr.per_channel[0, out_channel, c], fill=True, lim=lim_pc)
              for c in range(cin)]
    grids.append(grid(t["output"].format(out_channel), tr.output[0, out_channel], fill=True))
    out_g, ow = 3 * cin, tr.cols.size
    steps = {"a": [], "box": [], "cell": [], "t": []}
    for row in range(tr.rows.size):
        for col in range(ow):
            top, left, at = row * tr.stride, col * tr.stride, row * ow + col
            terms = []
            for c in range(cin):
                window = tr.padded[0, c, top:top + fh, left:left + fh].ravel().tolist()
                terms += _pairs(tr.filters[c, out_channel].ravel().tolist(), window)
            steps["a"].append([row, col, out_channel])
            steps["box"].append([[c, top, left, fh, fh] for c in range(cin)]
                                + [[g, row, col, 1, 1] for g in range(2 * cin, out_g + 1)])
            steps["cell"].append([[g, at] for g in range(2 * cin, out_g + 1)])
            steps["t"].append(terms)
    layout = [list(range(cin)), list(range(cin, 2 * cin)), list(range(2 * cin, out_g + 1))]
    return spec(grids, layout, steps, op="sum", lhs="out[{2}][{0}, {1}]", note=t["note"], cols=t["cols"])


def pool(tr, t: dict) -> dict:
    """Pooling: the map with the window, the pooled map filling in; a step's terms are the window's values."""
    size = tr.size
    text = max(tr.image.shape) <= 10
    lim = limit(tr.image)
    grids = [grid(t["input"], tr.image, text=text, lim=lim),
             grid(t["output"], tr.output, fill=True, text=text, lim=lim)]
    steps = {"a": [], "box": [], "cell": [], "t": [], "v": []}
    for i in range(tr.n_steps):
        s = tr.step(i)
        steps["a"].append([s.row, s.col, s.top, s.left])
        boxes = [[0, s.top, s.left, size, size], [1, s.row, s.col, 1, 1]]
        if s.winner is not None:
            boxes.append([0, s.top + s.winner[0], s.left + s.winner[1], 1, 1, "dot"])
        steps["box"].append(boxes)
        steps["cell"].append([1, i])
        steps["t"].append([float(v) for row in s.window for v in row])
        steps["v"].append(float(s.output))
    return spec(grids, [[0, 1]], steps, op=tr.mode, lhs="out[{0}, {1}]", note=t["note"], cols=t["cols"])


def input_grad_1d(tr, t: dict) -> dict:
    """The 1D input gradient, one term of the chapter's loop a step (``o`` outer, ``p`` inner): the padded output
    gradient with the flipped kernel's window over it, the kernel, the input gradient filling in. A step's terms
    are those of ``input_grad[o]`` so far, so its running sum is the loop's."""
    k, n = len(tr.kernel), len(tr.inp)
    gpad = [i for i in range(len(tr.output_pad)) if not tr.pad <= i < tr.pad + n]
    g_out = grid(t["output_pad"], [tr.output_pad], text=True, size=40)
    g_out["pad"] = gpad
    grids = [g_out, grid(t["kernel"], [tr.kernel], text=True, size=40),
             grid(t["input_grad"], [tr.input_grad], fill=True, text=True, size=40)]
    steps = {"a": [], "box": [], "cell": [], "t": []}
    for term in tr.terms:
        so_far = tr.terms[term.o * k:term.o * k + term.p + 1]
        steps["a"].append([term.o, term.p, term.pad_index, k])
        steps["box"].append([[0, 0, term.o, 1, k], [0, 0, term.pad_index, 1, 1, "dot"],
                             [1, 0, term.p, 1, 1, "dot"], [2, 0, term.o, 1, 1]])
        steps["cell"].append([2, term.o] if term.p == k - 1 else [-1, -1])
        steps["t"].append([v for s in so_far for v in (s.grad, s.weight)])
    return spec(grids, [[0], [1], [2]], steps, op="sum", lhs="input_grad[{0}]", note=t["note"], cols=t["cols"])


def param_grad_1d(tr, p: int, t: dict) -> dict:
    """The 1D filter gradient of weight ``p``, one term a step (observation, then output cell): the padded input,
    the output gradient shifted right by ``p`` (so ``output_grad[o]`` sits under ``input_pad[o + p]``, the cell
    ``w[p]`` met), and the terms of ``param_grad[p]`` so far."""
    terms, width = tr.terms(p), len(tr.input_pad[0])
    shifted = np.full((len(tr.output_grad), width), np.nan)
    for i, row in enumerate(tr.output_grad):
        shifted[i, p:p + len(row)] = row
    g_in = grid(t["input_pad"], tr.input_pad, text=True, size=40)
    g_in["pad"] = [i * width + j for i in range(len(tr.input_pad)) for j in range(width)
                   if not tr.pad <= j < width - tr.pad]
    grids = [g_in, grid(t["output_grad"], shifted, text=True, size=40),
             grid(t["param_grad"], [tr.param_grad], fill=True, text=True, size=40)]
    steps = {"a": [], "box": [], "cell": [], "t": []}
    for i, term in enumerate(terms):
        steps["a"].append([p, term.obs, term.o, term.pad_index])
        steps["box"].append([[0, term.obs, term.pad_index, 1, 1, "dot"], [1, term.obs, term.pad_index, 1, 1, "dot"],
                             [2, 0, p, 1, 1]])
        steps["cell"].append([2, p] if i == len(terms) - 1 else [-1, -1])
        steps["t"].append([v for s in terms[:i + 1] for v in (s.x, s.grad)])
    return spec(grids, [[0], [1], [2]], steps, op="sum", lhs="param_grad[{0}]", note=t["note"], cols=t["cols"])


def grad_2d_input(tr, n: int, c: int, t: dict) -> dict:
    """dL/dX of observation ``n``, channel ``c``, one input cell a step: the flipped kernel's box over each output
    channel's dilated, padded output gradient, the kernels turned by 180°, the gradient of the padded input and the
    cropped dL/dX filling in. A step's terms are read as the box shows them (row by row, channel by channel); its
    result is the library's."""
    k, pad, cout = tr.k, tr.pad, tr.param.shape[1]
    size_h, size_w = tr.x.shape[2:]
    fh, fw = tr.full.shape[2:]
    lim = limit(tr.full[n])
    grids = [grid(t["full"].format(o, n, o, k - 1), tr.full[n, o], pad=k - 1, lim=lim) for o in range(cout)]
    grids += [grid(t["flipped"].format(c, o), tr.flipped[c, o], size=30) for o in range(cout)]
    g_pad, g_dx = 2 * cout, 2 * cout + 1
    grids += [grid(t["grad_padded"].format(n, c), tr.grad_padded[n, c], fill=True),
              grid(t["input_grad"].format(n, c), tr.input_grad[n, c], fill=True)]
    steps = {"a": [], "box": [], "cell": [], "t": [], "v": []}
    pw = tr.grad_padded.shape[3]
    for r in range(size_h):
        for q in range(size_w):
            top, left = r + pad, q + pad
            cell = tr.input_cell(n, c, r, q)
            ordered = sorted(cell.terms, key=lambda term: (term.c_out, -term.i, -term.j))  # the box's order
            boxes = [[o, top, left, k, k] for o in range(cout) if top + k <= fh and left + k <= fw]
            boxes += [[g_pad, top, left, 1, 1], [g_dx, r, q, 1, 1]]
            steps["a"].append([n, c, r, q, len(cell.terms)])
            steps["box"].append(boxes)
            steps["cell"].append([[g_pad, top * pw + left], [g_dx, r * size_w + q]])
            steps["t"].append([v for term in ordered for v in (term.a, term.b)] or [0.0, 0.0])
            steps["v"].append(cell.value)
    layout = [list(range(cout)) + list(range(cout, 2 * cout)), [g_pad, g_dx]]
    return spec(grids, layout, steps, op="sum", lhs="dL/dx[{0}, {1}, {2}, {3}]", note=t["note"], cols=t["cols"])


def grad_2d_weight(tr, c: int, o: int, i: int, j: int, t: dict) -> dict:
    """dL/dW[c, o, i, j], one output cell of one observation a step: the padded input with the cell weight (i, j)
    met in that window, the (dilated) output gradient with the cell it multiplies; the terms so far."""
    cell = tr.param_cell(c, o, i, j)
    batch, s = tr.x.shape[0], tr.stride
    grids = [grid(t["x_pad"].format(b, c, i, j), tr.x_pad[b, c], pad=tr.pad) for b in range(batch)]
    grids += [grid(t["dilated"].format(b, o), tr.dilated[b, o]) for b in range(batch)]
    steps = {"a": [], "box": [], "cell": [], "t": []}
    for n, term in enumerate(cell.terms):
        so_far = cell.terms[:n + 1]
        steps["a"].append([c, o, i, j, term.obs, term.oy, term.ox])
        steps["box"].append([[term.obs, term.oy * s + i, term.ox * s + j, 1, 1, "dot"],
                             [batch + term.obs, term.oy * s, term.ox * s, 1, 1, "dot"]])
        steps["cell"].append([-1, -1])
        steps["t"].append([v for x in so_far for v in (x.a, x.b)])
    layout = [list(range(batch)), list(range(batch, 2 * batch))]
    return spec(grids, layout, steps, op="sum", lhs="dL/dW[{0}, {1}, {2}, {3}]", note=t["note"], cols=t["cols"])


__all__ = ["grid", "spec", "conv_1d", "conv_2d", "multichannel", "pool", "input_grad_1d", "param_grad_1d",
           "grad_2d_input", "grad_2d_weight"]
