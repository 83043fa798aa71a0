"""The backward-pass records agree with the chapter's loops, the fast kernels, the chapter's printed numbers and
central differences, and the checker can fail."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gradcheck import numeric_gradient
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from smartflow_core import reference, trace
from smartflow_core.trace import backward as tb
from smartflow_core.trace import backward_2d as tb2

ROOT = Path(__file__).resolve().parents[2]
X1, ONES = np.array([1., 2, 3, 4, 5]), np.ones(3)
small_ints = st.integers(-3, 3)


def central(f, v, h=1e-4):
    return numeric_gradient(f, np.array(v, dtype=np.float64), h)


# ---------------------------------------------------------------------------------------------- the loss


def test_upstream_kinds():
    out = np.array([3., 6, 9, 12, 9])
    assert tb.Upstream().loss(out) == 39  # the chapter's sum
    assert_array_equal(tb.Upstream().grad(out), np.ones(5))
    g = tb.Upstream("random", 4).grad(out)
    assert set(np.unique(g)) <= {-2, -1, 0, 1, 2}
    assert_array_equal(g, tb.Upstream("random", 4).grad(out + 1))  # fixed: it does not follow the output
    assert tb.Upstream("random", 4).loss(out) == np.sum(g * out)
    mse = tb.Upstream("loss", target=(1, 0, 0, 0, 0))
    assert mse.loss(out) == pytest.approx(4 + 36 + 81 + 144 + 81)
    assert_allclose(mse.grad(out), central(mse.loss, out))
    batch = np.stack([out, out + 1])  # the target is shared by the rows, the loss divides by the batch
    assert_allclose(mse.grad(batch), central(mse.loss, batch))


def test_upstream_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="must be one of"):
        tb.Upstream("sum")


def test_upstream_target_must_fit():
    with pytest.raises(ValueError, match="the target has 2 values, the output has 5"):
        tb.Upstream("loss", target=(1, 2)).loss(X1)


# ---------------------------------------------------------------------------------------------- perturbation


def test_the_chapters_perturbations():
    p = tb.perturb_1d(X1, ONES, "input", 4, 1.0)  # input_1d_2 = [1, 2, 3, 4, 6]
    assert (p.loss_before, p.loss_after, p.gradient, p.slope) == (39, 41, 2, 2)
    assert p.touched == (4, 3) and p.out_change == (0, 0, 0, 1, 1)
    p = tb.perturb_1d(X1, ONES, "kernel", 0, 1.0)  # param_1d_2 = [2, 1, 1]
    assert (p.loss_before, p.loss_after, p.gradient) == (39, 49, 10)
    assert p.out_change == (0, 1, 2, 3, 4)


@settings(max_examples=40, deadline=None)
@given(st.lists(small_ints, min_size=3, max_size=7), st.lists(small_ints, min_size=1, max_size=3),
       st.sampled_from(tb.TARGETS), st.integers(0, 6), st.sampled_from([-2.0, 0.5, 3.0]), st.integers(0, 3))
def test_linear_losses_change_by_exactly_gradient_times_nudge(x, w, target, index, delta, seed):
    w = w if len(w) % 2 else w + [1]
    index = index % (len(x) if target == "input" else len(w))
    for up in (tb.Upstream(), tb.Upstream("random", seed)):
        p = tb.perturb_1d(x, w, target, index, delta, up)
        assert p.change == pytest.approx(p.predicted, abs=1e-9)


def test_with_a_loss_the_change_is_only_first_order_and_central_is_exact():
    up = tb.Upstream("loss", target=(0, 1, 0, 1, 0))
    big, small = (tb.perturb_1d(X1, ONES, "input", 2, d, up) for d in (0.2, 0.1))
    assert big.change != pytest.approx(big.predicted)
    gap_big, gap_small = big.change - big.predicted, small.change - small.predicted
    assert gap_big == pytest.approx(4 * gap_small)  # the gap shrinks with the nudge squared
    assert big.central == pytest.approx(big.gradient)  # a quadratic loss: central differences are exact


@pytest.mark.parametrize("args, match", [
    ((X1, [1, 1], "input", 0, 1.0), "odd kernel"),
    ((X1, ONES, "bias", 0, 1.0), "the input or the kernel"),
    ((X1, ONES, "kernel", 3, 1.0), "no element 3"),
    ((X1, ONES, "input", 0, 0.0), "must not be 0"),
    (([], ONES, "input", 0, 1.0), "non-empty 1D input"),
])
def test_perturbation_rejects_bad_settings(args, match):
    with pytest.raises(ValueError, match=match):
        tb.perturb_1d(*args)


# ---------------------------------------------------------------------------------------------- 1D input gradient


def test_input_grad_chapter_numbers_and_the_t5_terms():
    t = tb.trace_input_grad_1d(X1, ONES)
    assert t.input_grad == (2, 3, 3, 3, 2)  # the chapter prints array([2, 3, 3, 3, 2])
    # dL/dt5 = o4_grad·w3 + o5_grad·w2 + o6_grad·w1, o6 being the padding
    first, second, third = (t.term(4, p) for p in range(3))
    assert (first.pad_index, first.out_index, first.grad) == (6, None, 0)
    assert (second.pad_index, second.out_index, third.out_index) == (5, 4, 3)
    assert t.touched(4) == ((4, 1), (3, 2))


@settings(max_examples=40, deadline=None)
@given(st.lists(small_ints, min_size=3, max_size=8), st.sampled_from([1, 3, 5]), st.integers(0, 99))
def test_input_grad_trace_agrees_with_the_loop_the_flip_and_central_differences(x, k, seed):
    rng = np.random.default_rng(seed)
    w, g = rng.integers(-3, 4, size=k).astype(float), rng.integers(-3, 4, size=len(x)).astype(float)
    t = tb.trace_input_grad_1d(x, w, g)
    for o in range(len(x)):
        assert t.term(o, k - 1).running == t.input_grad[o]  # the running sum ends on the loop's number
    assert_array_equal(t.input_grad, reference._input_grad_1d(np.array(x, float), w, g))
    assert_array_equal(t.as_convolution, t.input_grad)
    assert_allclose(t.input_grad, central(lambda v: np.sum(g * reference.conv_1d(v, w)), x), atol=1e-6)


# ---------------------------------------------------------------------------------------------- 1D filter gradient


def test_filter_grad_chapter_numbers():
    assert tb.trace_param_grad_1d(X1, ONES).param_grad == (10, 15, 14)
    batch = [[0, 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7]]
    t = tb.trace_param_grad_1d(batch, ONES)
    assert t.param_grad == (36, 49, 48)
    assert t.per_obs == ((15, 21, 21), (21, 28, 27))
    terms = t.terms(0)
    assert len(terms) == 14 and terms[0].x == 0 and terms[-1].running == 36
    assert [(s.obs, s.o) for s in terms[6:8]] == [(0, 6), (1, 0)]  # the observation loop is the outer one


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(3, 7), st.sampled_from([1, 3]), st.integers(0, 99))
def test_filter_grad_trace_agrees_with_the_loop_and_central_differences(b, n, k, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.integers(-3, 4, size=(b, n)).astype(float), rng.integers(-3, 4, size=k).astype(float)
    g = rng.integers(-3, 4, size=(b, n)).astype(float)
    t = tb.trace_param_grad_1d(x, w, g)
    assert_array_equal(t.param_grad, reference._param_grad_1d_batch(x, w, g))
    assert tuple(t.terms(p)[-1].running for p in range(k)) == t.param_grad
    assert_allclose(np.sum(t.per_obs, axis=0), t.param_grad)
    assert_allclose(t.param_grad, central(lambda v: np.sum(g * reference.conv_1d_batch(x, v)), w), atol=1e-6)


def test_filter_grad_rejects_a_gradient_of_the_wrong_shape():
    with pytest.raises(ValueError, match="output gradient has shape"):
        tb.trace_param_grad_1d(X1, ONES, np.ones(4))


# ---------------------------------------------------------------------------------------------- 2D


def test_dilate():
    g = np.arange(4.).reshape(1, 1, 2, 2)
    assert_array_equal(tb2.dilate(g, 2)[0, 0], [[0, 0, 1], [0, 0, 0], [2, 0, 3]])
    assert_array_equal(tb2.dilate(g, 1), g)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2), st.integers(3, 6), st.sampled_from([1, 2, 3]),
       st.integers(0, 2), st.integers(1, 3), st.sampled_from(tb.UPSTREAMS), st.integers(0, 99))
def test_2d_trace_agrees_with_the_loops_and_central_differences(b, cin, cout, n, k, pad, stride, kind, seed):
    if n + 2 * pad < k:
        return
    rng = np.random.default_rng(seed)
    x, w = rng.integers(-2, 3, size=(b, cin, n, n)).astype(float), rng.integers(-2, 3, size=(cin, cout, k, k)) * 1.0
    up = tb.Upstream(kind, seed)
    t = tb2.trace_grad_2d(x, w, pad, stride, up)
    g = t.output_grad
    # the full correlation with the flipped kernel, cropped, is the chapter's loop (scatter form for stride/pad)
    assert_allclose(t.grad_padded[:, :, pad:pad + n, pad:pad + n], t.input_grad, atol=1e-12)
    assert_allclose(t.input_grad, reference._input_grad(x, g, w, pad, stride), atol=1e-12)
    assert_allclose(t.param_grad, reference._param_grad(x, g, w, pad, stride), atol=1e-12)
    assert_allclose(t.per_obs_param.sum(axis=0), t.param_grad, atol=1e-12)
    idx = tuple(int(rng.integers(0, s)) for s in x.shape)
    cell = t.input_cell(*idx)
    assert (cell.running[-1] if cell.running else 0.0) == pytest.approx(cell.value, abs=1e-12)
    widx = tuple(int(rng.integers(0, s)) for s in w.shape)
    pcell = t.param_cell(*widx)
    assert pcell.running[-1] == pytest.approx(pcell.value, abs=1e-12)
    for where, index, value in (("input", idx, cell.value), ("kernel", widx, pcell.value)):
        check = tb2.grad_check(x, w, where, index, value, 1e-5, pad, stride, up)
        assert check.rel_error < 1e-7 or abs(check.analytic - check.numeric) < 1e-8


def test_2d_cell_terms_name_the_output_cells_that_read_it():
    x, w = np.ones((1, 1, 4, 4)), np.arange(9.).reshape(1, 1, 3, 3)
    t = tb2.trace_grad_2d(x, w, 1, 1)
    corner = t.input_cell(0, 0, 0, 0)  # read by the 4 windows around the corner, with weights (1..2, 1..2)
    assert sorted((s.oy, s.ox, s.i, s.j) for s in corner.terms) == [
        (0, 0, 1, 1), (0, 1, 1, 0), (1, 0, 0, 1), (1, 1, 0, 0)]
    assert corner.value == 4 + 3 + 1 + 0


def test_gradient_check_can_fail():
    x, w = np.arange(9.).reshape(1, 1, 3, 3), np.arange(9.).reshape(1, 1, 3, 3)
    t = tb2.trace_grad_2d(x, w)
    good = tb2.grad_check(x, w, "kernel", (0, 0, 1, 1), t.param_grad[0, 0, 1, 1])
    assert good.rel_error < 1e-9
    wrong = tb2.grad_check(x, w, "kernel", (0, 0, 1, 1), 1.01 * t.param_grad[0, 0, 1, 1])
    assert wrong.rel_error == pytest.approx(0.01 / 1.01, rel=1e-4)
    coarse = tb2.grad_check(x, w, "kernel", (0, 0, 1, 1), t.param_grad[0, 0, 1, 1], h=0.5,
                            upstream=tb.Upstream("loss"))
    assert trace.rel_error(coarse.analytic, coarse.forward) > 1e-3  # one-sided: off by h·L''/2
    with pytest.raises(ValueError, match="must be positive"):
        tb2.grad_check(x, w, "kernel", (0, 0, 0, 0), 0.0, h=0)


# ---------------------------------------------------------------------------------------------- the book's bug


UNIT = np.arange(9.).reshape(1, 1, 3, 3)


def test_book_comparison_reproduces_the_documented_numbers():
    # docs/ARCHITECTURE.md, the chapter's numbers: batch [x, 2x + 1], gradients [g, ones], x = W = g = 0..8
    c = tb2.compare_book(np.concatenate([UNIT, 2 * UNIT + 1]), UNIT, np.concatenate([UNIT, np.ones_like(UNIT)]))
    assert_array_equal(c.book_param[0, 0], [[28, 64, 77], [107, 235, 207], [171, 340, 280]])
    assert_array_equal(c.true_param[0, 0], [[78, 136, 98], [180, 285, 192], [114, 172, 110]])
    assert_allclose(c.numeric_param, c.true_param, atol=1e-6)
    assert_array_equal(c.book_input[0, 0], [[58, 100, 70], [132, 204, 132], [70, 100, 58]])
    assert_array_equal(c.true_input[0, 0], [[6, 20, 26], [36, 84, 84], [90, 164, 134]])
    assert_allclose(c.numeric_input, c.true_input, atol=1e-6)
    errors = c.errors()
    assert errors["true_param"] < 1e-9 and errors["true_input"] < 1e-9
    assert errors["book_param"] > 0.1 and errors["book_input"] > 0.1  # the check catches both bugs
    assert c.cosine_param == pytest.approx(0.8829, abs=1e-4)
    assert c.mismatched == 16 and len(c.pairing) == 18


def test_book_filter_gradient_is_right_for_one_example():
    rng = np.random.default_rng(1)
    x, w, g = rng.normal(size=(1, 2, 5, 5)), rng.normal(size=(2, 3, 3, 3)), rng.normal(size=(1, 3, 5, 5))
    c = tb2.compare_book(x, w, g)
    assert_allclose(c.book_param, c.true_param, atol=1e-12)
    assert all(r.matched for r in c.pairing)
    assert c.cosine_param == pytest.approx(1.0)


def test_batched_numeric_gradients_are_one_copy_at_a_time_central_differences():
    # the one-convolution batching of the nudged copies against nudging one cell at a time
    from smartflow_core.conv import conv2d_forward
    rng = np.random.default_rng(2)
    x, w, g = rng.normal(size=(2, 2, 4, 4)), rng.normal(size=(2, 3, 3, 3)), rng.normal(size=(2, 3, 4, 4))
    c = tb2.compare_book(x, w, g, h=1e-4)
    loss_x = numeric_gradient(lambda a: np.sum(g * conv2d_forward(a, w)), x.copy(), 1e-4)
    loss_w = numeric_gradient(lambda a: np.sum(g * conv2d_forward(x, a)), w.copy(), 1e-4)
    assert_allclose(c.numeric_input, loss_x, rtol=1e-9, atol=1e-9)
    assert_allclose(c.numeric_param, loss_w, rtol=1e-9, atol=1e-9)
    assert_allclose(c.numeric_param, c.true_param, rtol=1e-6, atol=1e-6)


def test_book_pairing_rows():
    rows = tb2.book_pairing(2, 9)
    assert (rows[1].patch_obs, rows[1].patch_pos, rows[1].grad_obs, rows[1].grad_pos) == (1, 0, 0, 1)
    assert [r.row for r in rows if r.matched] == [0, 17]


def test_book_cosines_on_real_digits():
    from smartflow_core.data import load_mnist

    x, y, _, _ = load_mnist(ROOT / "smartflow_core" / "datasets" / "mnist_subset.npz")
    cos = tb2.book_cosines_by_batch(x[:8], y[:8], (1, 2, 8))
    assert cos[0] == pytest.approx(1.0)
    assert all(abs(c) < 0.5 for c in cos[1:])  # on real digits the mixed gradient is nearly unrelated
    with pytest.raises(ValueError, match="outside 1..8"):
        tb2.book_cosines_by_batch(x[:8], y[:8], (9,))


@pytest.mark.slow
def test_chapter_log_with_true_gradients(tmp_path, mnist_dir):
    """Re-run the chapter's training cell with the true gradients: the numbers the lesson shows."""
    import shutil

    from smartflow_core.data import init_mnist

    sys.path.insert(0, str(ROOT / "tests" / "core"))
    from test_chapter import _losses, run_harness

    (tmp_path / "data").mkdir()
    for f in mnist_dir.glob("*.gz"):
        shutil.copy(f, tmp_path / "data")
    init_mnist(tmp_path / "data")
    got = _losses(run_harness(tmp_path, "--stop-after", "10", "--cells", "15,None")["None"])
    assert got[0] == pytest.approx(tb2.CHAPTER_LOG[0][2], rel=1e-9)
    assert got[10] == pytest.approx(tb2.CHAPTER_LOG[1][2], rel=1e-6)


def test_chapter_log_book_column_is_the_chapters_printed_log():
    chapter = (ROOT.parent / "shared" / "docs" / "seed" / "chapter5_cnn.txt")
    if not chapter.exists():
        pytest.skip("chapter text not found")
    text = chapter.read_text(encoding="utf-8")
    for batch, book, _true in tb2.CHAPTER_LOG:
        assert f"batch#{batch} loss: {book!r}" in text


def test_modules_do_not_import_streamlit():
    code = ("import json, sys; import smartflow_core.trace.backward, smartflow_core.trace.backward_2d; "
            "print(json.dumps('streamlit' in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip()) is False
