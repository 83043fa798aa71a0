"""Checkpoint questions (smartflow_core.checkpoints): every answer, made from the chapter's loops, against an
independent computation here (np.correlate, the fast kernels, central differences, NumPy reshapes), for random
settings; and the lenient checker."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from smartflow_core import checkpoints as cp
from smartflow_core import conv, pooling
from smartflow_core.trace.backward import Upstream

PROPERTY = settings(max_examples=40, deadline=None)
small = st.integers(-4, 6)
vec = st.lists(small, min_size=1, max_size=9)
odd_kernel = st.lists(small, min_size=1, max_size=5).filter(lambda k: len(k) % 2 == 1)
seeds = st.integers(0, 9_999)
upstreams = st.one_of(st.just(Upstream()), st.builds(Upstream, st.just("random"), st.integers(0, 99)),
                      st.just(Upstream("loss")))


def by_kind(qs, part):
    """The question whose id has ``part`` as its second field."""
    found = [q for q in qs if q.id.split(":")[1] == part]
    return found[0] if found else None


def correlate(x, w, pad, stride):
    """The forward pass as NumPy computes it: a valid cross-correlation of the padded input, every s-th cell."""
    return np.correlate(np.pad(np.asarray(x, float), pad), np.asarray(w, float), "valid")[::stride]


def central(f, v, h=1e-3):
    v = np.array(v, dtype=np.float64)
    grad = np.zeros_like(v)
    for i in np.ndindex(v.shape):
        up, down = v.copy(), v.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (f(up) - f(down)) / (2 * h)
    return grad


def assert_answers(q, value, rtol=1e-9, atol=1e-9):
    if q.kind == "float":
        assert q.answer == pytest.approx(value, rel=rtol, abs=atol), q.text
    else:
        assert q.answer == value, q.text


# ---------------------------------------------------------------------------------------------- forward lessons


@PROPERTY
@given(vec, st.lists(small, min_size=1, max_size=5), st.one_of(st.none(), st.integers(0, 3)), st.integers(1, 3),
       seeds)
def test_conv_1d_answers_match_numpy(x, w, pad, stride, seed):
    p = len(w) // 2 if pad is None else pad
    assume(len(x) + 2 * p >= len(w))
    qs = cp.questions("conv-1d", {"inp": tuple(x), "kernel": tuple(w), "pad": pad, "stride": stride}, seed)
    out = correlate(x, w, p, stride)
    assert 2 <= len(qs) <= 4
    assert_answers(by_kind(qs, "size"), out.size)
    value = by_kind(qs, "value")
    assert_answers(value, out[value.params["i"]])
    cells = by_kind(qs, "cells")
    j, n_pad = cells.params["j"], len(x) + 2 * p
    # a cell is read by out[j] when a 1 there (and 0 elsewhere) reaches out[j] through a kernel of ones
    read = {c for c in range(n_pad)
            if np.correlate(np.eye(n_pad)[c], np.ones(len(w)), "valid")[::stride][j] != 0}
    assert_answers(cells, frozenset(read))
    assert value.step == value.params["i"] + 1 and 1 <= value.step <= out.size


@PROPERTY
@given(st.integers(3, 9), st.integers(3, 9), st.sampled_from([1, 3, 5]), st.one_of(st.none(), st.integers(0, 2)),
       st.integers(1, 3), seeds)
def test_conv_2d_answers_match_the_fast_kernel(h, w, k, pad, stride, seed):
    p = k // 2 if pad is None else pad
    assume(h + 2 * p >= k and w + 2 * p >= k)
    rng = np.random.default_rng(seed)
    image, kernel = rng.integers(0, 4, (h, w)).astype(float), rng.integers(-2, 3, (k, k)).astype(float)
    qs = cp.questions("conv-2d", {"image": image, "kernel": kernel, "pad": pad, "stride": stride}, seed)
    out = conv.conv2d_forward(image[None, None], kernel[None, None], stride, p)[0, 0]
    assert_answers(by_kind(qs, "size"), out.shape)
    value = by_kind(qs, "value")
    r, c = value.params["r"], value.params["c"]
    assert_answers(value, out[r, c])
    assert value.step == r * out.shape[1] + c + 1


@PROPERTY
@given(st.integers(1, 4), st.integers(1, 4), st.integers(3, 10), st.integers(3, 10),
       st.one_of(st.none(), st.integers(0, 2)), st.integers(1, 3), seeds)
def test_multichannel_weights_and_shape(cin, cout, h, w, pad, stride, seed):
    s = {"in_channels": cin, "out_channels": cout, "h": h, "w": w, "k": 3, "pad": pad, "stride": stride}
    qs = cp.questions("multichannel", s, seed)
    assert_answers(by_kind(qs, "weights"), cin * cout * 3 * 3)  # the chapter's Conv2D has no bias
    out = conv.conv2d_forward(np.zeros((1, cin, h, w)), np.zeros((cin, cout, 3, 3)), stride,
                              1 if pad is None else pad)
    assert_answers(by_kind(qs, "shape"), out.shape)


@PROPERTY
@given(st.integers(2, 12), st.integers(2, 12), st.sampled_from([2, 3, 4]), st.sampled_from(["max", "avg"]), seeds)
def test_pooling_answers_match_reshaped_windows(h, w, size, mode, seed):
    assume(h >= size and w >= size)
    image = np.random.default_rng(seed).integers(0, 9, (h, w)).astype(float)
    qs = cp.questions("pooling", {"image": image, "size": size, "mode": mode}, seed)
    rows, cols = h // size, w // size
    assert_answers(by_kind(qs, "size"), pooling.pool2d_forward(image[None, None], size, mode=mode).shape[2:])
    windows = image[:rows * size, :cols * size].reshape(rows, size, cols, size).transpose(0, 2, 1, 3)
    if mode == "max":
        q = by_kind(qs, "winner")
        if q is None:  # only when every window ties
            assert all((win == win.max()).sum() > 1 for win in windows.reshape(-1, size, size))
            return
        r, c = q.params["r"], q.params["c"]
        i, j = divmod(int(np.argmax(windows[r, c])), size)
        assert_answers(q, (r * size + i, c * size + j))
        assert image[q.answer] == pooling.pool2d_forward(image[None, None], size)[0, 0, r, c]
    else:
        q = by_kind(qs, "mean")
        assert_answers(q, windows[q.params["r"], q.params["c"]].mean())
    assert q.step == q.params["r"] * cols + q.params["c"] + 1


# ---------------------------------------------------------------------------------------------- backward lessons


def loss_1d(up, w):
    """L(x) for the chapter's "same" padding, computed with np.correlate."""
    return lambda x: up.loss(correlate(x, w, len(w) // 2, 1))


@PROPERTY
@given(vec, odd_kernel, st.sampled_from(["input", "kernel"]), st.integers(0, 8), st.sampled_from([1.0, 0.5, -2.0]),
       upstreams, seeds)
def test_perturb_gradient_and_prediction(x, w, what, index, delta, up, seed):
    assume(index < (len(x) if what == "input" else len(w)))
    s = {"inp": tuple(x), "kernel": tuple(w), "what": what, "index": index, "delta": delta, "up": up}
    qs = cp.questions("perturb", s, seed)
    if what == "input":
        grad = central(loss_1d(up, w), x)
    else:
        grad = central(lambda k: up.loss(correlate(x, k, len(w) // 2, 1)), w)
    assert_answers(by_kind(qs, "grad"), grad[index], rtol=1e-6, atol=1e-6)
    assert_answers(by_kind(qs, "predicted"), grad[index] * delta, rtol=1e-6, atol=1e-6)
    other = by_kind(qs, "other")
    if other is not None:
        assert_answers(other, central(loss_1d(up, w), x)[other.params["j"]], rtol=1e-6, atol=1e-6)


@PROPERTY
@given(vec, odd_kernel, upstreams, seeds)
def test_grad_1d_input_gradient_and_the_outputs_fed(x, w, up, seed):
    qs = cp.questions("grad-1d", {"inp": tuple(x), "kernel": tuple(w), "up": up}, seed)
    dx = by_kind(qs, "dx")
    assert_answers(dx, central(loss_1d(up, w), x)[dx.params["i"]], rtol=1e-6, atol=1e-6)
    fed = by_kind(qs, "fed")
    j, base = fed.params["j"], correlate(x, np.ones(len(w)), len(w) // 2, 1)
    bumped = np.array(x, float)
    bumped[j] += 1
    changed = np.flatnonzero(correlate(bumped, np.ones(len(w)), len(w) // 2, 1) != base)
    assert_answers(fed, frozenset(int(o) for o in changed))


@PROPERTY
@given(st.integers(1, 3), st.integers(1, 8), odd_kernel, upstreams, seeds)
def test_grad_1d_filter_weight_gradient(batch, n, w, up, seed):
    rows = np.random.default_rng(seed).integers(-3, 4, (batch, n)).astype(float)
    qs = cp.questions("grad-1d-filter", {"rows": tuple(map(tuple, rows.tolist())), "kernel": tuple(w), "up": up},
                      seed)
    assert 2 <= len(qs) <= 4

    def loss(k):
        return up.loss(np.stack([correlate(row, k, len(w) // 2, 1) for row in rows]))

    dw = by_kind(qs, "dw")
    assert_answers(dw, central(loss, w)[dw.params["j"]], rtol=1e-6, atol=1e-6)
    assert_answers(by_kind(qs, "terms"), batch * n)
    obs0 = by_kind(qs, "obs0")
    if batch > 1:
        assert obs0 is not None
        g0 = up.grad(np.stack([correlate(row, w, len(w) // 2, 1) for row in rows]))[0]
        share = central(lambda k: float(np.sum(g0 * correlate(rows[0], k, len(w) // 2, 1))), w)
        assert_answers(obs0, share[obs0.params["j"]], rtol=1e-6, atol=1e-6)


@PROPERTY
@given(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2), st.integers(3, 6), st.sampled_from([1, 3]),
       st.one_of(st.none(), st.integers(0, 2)), st.integers(1, 2), upstreams, seeds)
def test_grad_2d_cells_match_the_fast_kernels(batch, cin, cout, size, k, pad, stride, up, seed):
    p = k // 2 if pad is None else pad
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, (batch, cin, size, size)).astype(float)
    w = rng.integers(-1, 2, (cin, cout, k, k)).astype(float)
    qs = cp.questions("grad-2d", {"x": x, "w": w, "pad": pad, "stride": stride, "up": up}, seed)
    g = up.grad(conv.conv2d_forward(x, w, stride, p))
    dx, dw = conv.conv2d_input_grad(x.shape, w, g, stride, p), conv.conv2d_param_grad(x, g, (k, k), stride, p)
    qx, qw = by_kind(qs, "dx"), by_kind(qs, "dw")
    assert_answers(qx, dx[tuple(qx.params[n] for n in ("b", "c", "r", "col"))])
    assert_answers(qw, dw[tuple(qw.params[n] for n in ("wc", "wo", "wi", "wj"))])


@PROPERTY
@given(st.integers(1, 2), st.integers(3, 6), seeds)
def test_book_bug_true_gradients_and_the_books_right_cells(batch, size, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, (batch, 1, size, size)).astype(float)
    w = rng.integers(-2, 3, (1, 1, 3, 3)).astype(float)
    g = rng.integers(-2, 3, (batch, 1, size, size)).astype(float)
    qs = cp.questions("book-bug", {"x": x, "w": w, "g": g}, seed)
    loss = lambda xx, ww: float(np.sum(g * conv.conv2d_forward(xx, ww, 1, 1)))  # noqa: E731
    dw, dx = central(lambda ww: loss(x, ww), w), central(lambda xx: loss(xx, w), x)  # independent of both codes
    qw, qr, qx = by_kind(qs, "dw"), by_kind(qs, "right"), by_kind(qs, "dx")
    assert_answers(qw, dw[0, 0, qw.params["i"], qw.params["j"]], rtol=1e-6, atol=1e-6)
    assert_answers(qx, dx[0, 0, qx.params["r"], qx.params["c"]], rtol=1e-6, atol=1e-6)
    book = conv.book_param_grad(x, g, (3, 3))
    assert qr.answer == int(np.isclose(book, dw, atol=1e-6).sum())
    if batch == 1:
        assert qr.answer == 9  # one example: the book's rows line up


# ---------------------------------------------------------------------------------------------- the set


def chapter_1d():
    return {"inp": (1, 2, 3, 4, 5), "kernel": (1, 1, 1), "pad": None, "stride": 1}


def test_same_seed_same_questions_other_seeds_vary():
    first = [q.text for q in cp.questions("conv-1d", chapter_1d(), 7)]
    assert first == [q.text for q in cp.questions("conv-1d", chapter_1d(), 7)]
    assert len({tuple(q.text for q in cp.questions("conv-1d", chapter_1d(), s)) for s in range(20)}) > 1


def test_the_chapters_example():
    qs = {q.id.split(":")[1]: q for q in cp.questions("conv-1d", chapter_1d(), 0)}
    assert qs["size"].answer == 5
    assert qs["value"].answer == [3, 6, 9, 12, 9][qs["value"].params["i"]]


def test_out_2_only_when_the_output_has_three_cells():
    for seed in range(30):  # two outputs: out[2] does not exist, another index is asked
        q = by_kind(cp.questions("conv-1d", {"inp": (1, 2), "kernel": (1,), "pad": 0, "stride": 1}, seed), "value")
        assert q.params["i"] in (0, 1)


def test_an_unknown_lesson_is_refused():
    with pytest.raises(ValueError, match="no checkpoints for lesson 'train'"):
        cp.questions("train", {}, 0)


# ---------------------------------------------------------------------------------------------- check()


def q_of(kind, answer, tol=None):
    return cp.Question("t", kind, "?", answer, "hint", "worked", {}, None, tol)


@pytest.mark.parametrize("text", ["9", " 9.0 ", "+9", "9."])
def test_int_accepts_lenient_formats(text):
    assert cp.check(q_of("int", 9), text) == (True, "Right.")


WHOLE = "Type a whole number, e.g. 7."


@pytest.mark.parametrize("text, message", [("8", "Not quite."), ("9.5", WHOLE), ("nine", WHOLE), ("", WHOLE),
                                           ("9 10", WHOLE)])
def test_int_rejects(text, message):
    assert cp.check(q_of("int", 9), text) == (False, message)


def test_float_tolerance_relative_and_rounding():
    q = q_of("float", -0.5)
    assert cp.check(q, "-0.5")[0] and cp.check(q, "−0.5")[0] and cp.check(q, "-0.5000001")[0]
    assert not cp.check(q, "-0.501")[0] and not cp.check(q, "0.5")[0]
    assert cp.check(q_of("float", 1 / 3, tol=0.005), "0.33")[0]  # "to 2 decimals"
    assert not cp.check(q_of("float", 1 / 3, tol=0.005), "0.34")[0]
    assert not cp.check(q_of("float", 1 / 3), "0.33")[0]  # exact questions want the exact value
    assert cp.check(q, "abc") == (False, "Type a number, e.g. -0.5.")
    assert cp.check(q_of("float", 1e6), "1e6")[0]


def test_cells_are_a_set_in_any_format():
    q = q_of("cells", frozenset({1, 2, 3}))
    for text in ("1, 2, 3", "3 2 1", "x[1], x[2], x[3]", "{1,2,3}", "1,2,3,3"):
        assert cp.check(q, text)[0], text
    assert not cp.check(q, "1, 2")[0] and not cp.check(q, "1, 2, 3, 4")[0]
    assert cp.check(q, "")[1] == "Type the cell numbers separated by commas, e.g. 1, 2, 3."


def test_tuples_keep_their_order():
    q = q_of("tuple", (3, 4))
    for text in ("3, 4", "(3, 4)", "3×4", "3 x 4", "[3,4]"):
        assert cp.check(q, text)[0], text
    assert not cp.check(q, "4, 3")[0] and not cp.check(q, "3")[0] and not cp.check(q, "3.5, 4")[0]


def test_every_generated_answer_is_accepted_as_the_worked_answer_prints_it():
    """The answer a learner copies from a worked answer (its last number or numbers) is accepted."""
    for lesson, s in [("conv-1d", chapter_1d()), ("grad-1d", {"inp": (1, 2, 3, 4, 5), "kernel": (1, 2, 3)})]:
        for q in cp.questions(lesson, s, 3):
            text = ", ".join(map(str, sorted(q.answer))) if q.kind == "cells" else str(q.answer)
            assert cp.check(q, text)[0], (q.id, text)
            assert not cp.check(q, "-12345")[0]
