"""The stepper's data agrees with the library step for step: the terms the browser adds up (from 0, in the order
given, as ``stepper.js`` does and as :func:`apptest.step_view` mirrors) end on the trace's running sums and on the
output the reference loops compute, and the outlines and the cell each step fills are where the trace says."""
import json

import numpy as np
from apptest import step_view
from hypothesis import given, settings
from hypothesis import strategies as st

from app.lessons import steps
from smartflow_core import reference
from smartflow_core.trace import (
    Upstream,
    trace_conv_1d,
    trace_conv_2d,
    trace_grad_2d,
    trace_input_grad_1d,
    trace_multichannel,
    trace_param_grad_1d,
    trace_pool,
)

TEXT = {"input": "in", "kernel": "k", "products": "p", "output": "out", "note": "n {0}", "cols": ("a", "b"),
        "channels": ("c0", "c1", "c2"), "filter": "f{}{}", "partial": "p{}", "channel": "c{}"}
values = st.integers(-9, 9).map(float) | st.sampled_from([0.25, -0.5, 0.07, 0.33])


@settings(max_examples=40, deadline=None)
@given(st.lists(values, min_size=3, max_size=10), st.lists(values, min_size=1, max_size=3),
       st.integers(0, 2), st.integers(1, 3))
def test_1d_steps_follow_the_trace(inp, kernel, pad, stride):
    tr = trace_conv_1d(inp, kernel, pad, stride)
    data = steps.conv_1d(tr, TEXT)
    assert data["n"] == len(tr.steps)
    for s, step in enumerate(tr.steps, start=1):
        view = step_view(data, s)
        assert [r[2] for r in view["rows"]] == list(step.products)
        assert [r[3] for r in view["rows"]] == list(step.running) and view["value"] == tr.output[s - 1]
        assert view["boxes"][0] == [0, 0, step.window[0], 1, len(kernel)]
        assert view["cell"] == [3, tr.anchor(step.index)]


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 7), st.integers(3, 7), st.sampled_from([1, 2, 3]), st.sampled_from([None, 0, 1, 2]),
       st.integers(1, 2), st.integers(0, 99))
def test_2d_steps_follow_the_trace_and_the_loops(h, w, k, pad, stride, seed):
    rng = np.random.default_rng(seed)
    image, kernel = np.round(rng.random((h, w)), 2), rng.integers(-2, 3, (k, k)).astype(float)
    tr = trace_conv_2d(image, kernel, pad, stride)
    data = steps.conv_2d(tr, TEXT)
    expected = reference.conv_2d(image, kernel, tr.pad, stride)
    assert np.array_equal(np.array(data["grids"][2]["z"]).reshape(expected.shape), expected)
    for i in range(tr.n_steps):
        view, step = step_view(data, i + 1), tr.step(i)
        assert [r[3] for r in view["rows"]] == list(step.running)
        assert view["value"] == expected[step.row, step.col]
        assert view["boxes"][0] == [0, step.top, step.left, k, k]
        assert view["cell"] == [2, step.row * tr.cols.size + step.col]


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(3, 6), st.sampled_from([None, 0]), st.integers(0, 99))
def test_multichannel_steps_run_over_the_channels_in_the_loops_order(cin, cout, n, pad, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.integers(0, 4, (1, cin, n, n)).astype(float), rng.integers(-1, 2, (cin, cout, 3, 3)).astype(float)
    tr = trace_multichannel(x, w, pad, 1)
    o = cout - 1
    data = steps.multichannel(tr, o, {**TEXT, "channels": TEXT["channels"][:cin]})
    expected = reference._output(x, w, tr.pad, 1)
    for i in range(tr.rows.size * tr.cols.size):
        r, c = divmod(i, tr.cols.size)
        view, step = step_view(data, i + 1), tr.step(o, r, c)
        assert [row[3] for row in view["rows"]][8::9] == list(step.running)
        assert view["value"] == step.output == expected[0, o, r, c]


@settings(max_examples=20, deadline=None)
@given(st.integers(4, 9), st.sampled_from([2, 3]), st.sampled_from(["max", "avg"]), st.integers(0, 99))
def test_pool_steps_give_the_librarys_values(n, size, mode, seed):
    image = np.round(np.random.default_rng(seed).random((n, n)), 2)
    tr = trace_pool(image, size, None, mode)
    data = steps.pool(tr, TEXT)
    for i in range(tr.n_steps):
        view, step = step_view(data, i + 1), tr.step(i)
        assert view["value"] == step.output
        assert [r[0] for r in view["rows"]] == [v for row in step.window for v in row]
        if mode == "max":
            assert view["rows"][-1][1] == step.output  # the running max ends on the pooled value


def test_a_spec_is_json_and_names_its_trace():
    a = steps.conv_1d(trace_conv_1d((1, 2, 3, 4, 5), (1, 1, 1)), TEXT)
    b = steps.conv_1d(trace_conv_1d((1, 2, 3, 4, 6), (1, 1, 1)), TEXT)
    assert json.loads(json.dumps(a)) == a and a["sig"] != b["sig"]


@settings(max_examples=30, deadline=None)
@given(st.lists(values, min_size=3, max_size=8), st.sampled_from([(1.0,), (1.0, 2.0, 3.0), (0.5, -1.0, 2.0)]),
       st.integers(0, 99))
def test_1d_gradient_steps_are_the_loops_terms(inp, kernel, seed):
    g = np.random.default_rng(seed).integers(-2, 3, len(inp)).astype(float)
    tr = trace_input_grad_1d(inp, kernel, g)
    data = steps.input_grad_1d(tr, {**TEXT, "output_pad": "g", "input_grad": "dx"})
    for s, term in enumerate(tr.terms, start=1):
        view = step_view(data, s)
        assert view["value"] == term.running and view["rows"][-1][2] == term.product
    assert [step_view(data, (o + 1) * len(kernel))["value"] for o in range(len(inp))] == list(tr.input_grad)
    batch = np.array([inp, inp[::-1]])
    tp = trace_param_grad_1d(batch, kernel, np.stack([g, g[::-1]]))
    for p in range(len(kernel)):
        data = steps.param_grad_1d(tp, p, {**TEXT, "input_pad": "x", "output_grad": "g", "param_grad": "dw"})
        terms = tp.terms(p)
        assert [step_view(data, s)["value"] for s in range(1, len(terms) + 1)] == [t.running for t in terms]
        assert step_view(data, len(terms))["value"] == tp.param_grad[p]


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2), st.integers(3, 5), st.sampled_from([1, 2, 3]),
       st.sampled_from([None, 0]), st.integers(1, 2), st.integers(0, 99))
def test_2d_gradient_steps_add_up_to_the_loops(batch, cin, cout, n, k, pad, stride, seed):
    from app.lessons.backward import problem_2d

    x, w = problem_2d(batch, cin, cout, n, k, seed)
    try:
        tr = trace_grad_2d(x, w, pad, stride, Upstream("random", seed))
    except ValueError:
        return  # a kernel larger than the padded input
    g = Upstream("random", seed).grad(reference._output(x, w, tr.pad, stride))
    dx, dw = reference._input_grad(x, g, w, tr.pad, stride), reference._param_grad(x, g, w, tr.pad, stride)
    data = steps.grad_2d_input(tr, batch - 1, cin - 1, {**TEXT, "full": "{}{}{}{}", "flipped": "{}{}",
                                                        "grad_padded": "{}{}", "input_grad": "{}{}"})
    for s in range(1, n * n + 1):
        view, (r, q) = step_view(data, s), divmod(s - 1, n)
        assert view["value"] == tr.input_cell(batch - 1, cin - 1, r, q).value
        assert np.isclose(view["rows"][-1][3], dx[batch - 1, cin - 1, r, q], atol=1e-9)
    data = steps.grad_2d_weight(tr, cin - 1, cout - 1, k - 1, 0, {**TEXT, "x_pad": "{}{}{}{}", "dilated": "{}{}"})
    assert np.isclose(step_view(data, data["n"])["value"], dw[cin - 1, cout - 1, k - 1, 0], atol=1e-9)
