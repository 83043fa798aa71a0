"""The backward-pass lessons under AppTest: each lesson's numbers against smartflow_core's loops and against
central differences computed here, independently of the page."""
import re

import numpy as np
import pytest
from apptest import figure, metrics, open_page, plotly_array, step_view, stepper, texts

from smartflow_core import conv, reference
from tests.core.gradcheck import numeric_gradient


def heatmap(at, key):
    """The values of a grid figure (its first trace; padding cells, drawn by a second trace, are NaN here)."""
    return plotly_array(figure(at, key)["data"][0]["z"])


def strip(at, key, name):
    """One named row of a strips figure (padding cells NaN)."""
    for trace in figure(at, key)["data"]:
        if trace["hovertemplate"].startswith(name + " %{x}"):
            return plotly_array(trace["z"])[0]
    raise KeyError(name)


def strip_rows(at, key):
    """Every row of a strips figure that has no padding, stacked."""
    return np.array([plotly_array(t["z"])[0] for t in figure(at, key)["data"]])


def bold(line: str) -> float:
    """The **total** at the end of a sum line."""
    return float(re.findall(r"\*\*(-?[\d.e+-]+)\*\*", line)[-1])


def central(f, v, h: float = 1e-4) -> np.ndarray:
    """Central differences of the scalar ``f`` at every element of ``v`` (float64, ``v`` left untouched)."""
    return numeric_gradient(f, np.array(v, dtype=np.float64), h)


X1 = np.array([1., 2, 3, 4, 5])


# ---------------------------------------------------------------------------------------------- perturbation


def test_perturb_the_chapters_fifth_input_39_to_41():
    at = open_page("perturb.py")
    assert metrics(at) == {"L before": "39", "L after": "41", "change ÷ nudge": "2", "gradient dL/dx[4]": "2"}
    assert reference.conv_1d_sum(X1, np.ones(3)) == 39
    assert central(lambda x: reference.conv_1d_sum(x, np.ones(3)), X1)[4] == pytest.approx(2)
    change = strip(at, "bp_fig_strips", "change")
    assert np.array_equal(change[1:-1], [0, 0, 0, 1, 1])  # x[4] feeds out[3] and out[4]
    assert np.array_equal(strip(at, "bp_fig_strips", "nudged input")[1:-1], [1, 2, 3, 4, 6])
    assert any("gradient × nudge = 2 × 1 = **2**" in t for t in texts(at))


def test_perturb_the_chapters_first_weight_39_to_49():
    at = open_page("perturb.py", {"what": "kernel", "i": "0"})
    assert metrics(at)["L after"] == "49" and metrics(at)["gradient dL/dw[0]"] == "10"
    assert central(lambda w: reference.conv_1d_sum(X1, w), np.ones(3))[0] == pytest.approx(10)
    nudged = strip(at, "bp_fig_kernel", "kernel (nudged)")
    assert np.array_equal(nudged, [2, 1, 1])


@pytest.mark.parametrize("what, index", [("input", 0), ("input", 3), ("kernel", 2)])
def test_perturb_with_a_loss_matches_central_differences(what, index):
    target = np.array([1., 0, 2, 0, 1])
    at = open_page("perturb.py", {"what": what, "i": str(index), "d": "0.01", "up": "loss", "t": "1, 0, 2, 0, 1"})

    def loss(x, w):
        return float(np.sum((reference.conv_1d(x, w) - target) ** 2))  # MeanSquaredError of a batch of 1

    w = np.array([1., 1, 1])
    numeric = (central(lambda x: loss(x, w), X1) if what == "input" else central(lambda v: loss(X1, v), w))[index]
    name = f"dL/dx[{index}]" if what == "input" else f"dL/dw[{index}]"
    assert float(metrics(at)[f"gradient {name}"]) == pytest.approx(numeric, rel=1e-6)
    assert any("central difference" in t for t in texts(at))
    assert float(metrics(at)["change ÷ nudge"]) != pytest.approx(numeric, rel=1e-9)  # only close: the loss curves


def test_perturb_random_upstream_matches_central_differences():
    from smartflow_core.trace import Upstream

    at = open_page("perturb.py", {"up": "random", "g": "7", "what": "kernel", "i": "1"})
    g = strip(at, "bp_fig_strips", "dL/dout")[1:-1]  # the upstream gradient the page shows
    loss = Upstream("random", 7).loss
    assert np.array_equal(g, Upstream("random", 7).grad(np.zeros(5)))
    numeric = central(lambda w: loss(reference.conv_1d(X1, w)), np.ones(3))[1]
    assert float(metrics(at)["gradient dL/dw[1]"]) == pytest.approx(numeric, rel=1e-9)
    assert float(metrics(at)["gradient dL/dw[1]"]) == pytest.approx(np.sum(g * reference._pad_1d(X1, 1)[1:6]))


@pytest.mark.parametrize("query, message", [
    ({"d": "0"}, "a nudge of 0"),
    ({"k": "1, 1"}, "odd kernel"),
    ({"x": "1, x"}, "is not a number"),
    ({"up": "loss", "t": "1, 2"}, "the target has 2 values"),
])
def test_perturb_bad_settings_get_a_message(query, message):
    at = open_page("perturb.py", query)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_perturb_element_is_clamped_and_settings_go_in_the_url():
    at = open_page("perturb.py", {"what": "kernel", "i": "4"})
    assert at.selectbox(key="bp_index").value == 2  # a link asking for w[4]: there is none, the last weight
    at.selectbox(key="bp_index").set_value(1).run()
    assert at.query_params["what"] in ("kernel", ["kernel"]) and at.query_params["i"] in ("1", ["1"])


# ---------------------------------------------------------------------------------------------- 1D input gradient


def test_input_grad_opens_on_the_chapters_t5_and_steps_through_the_formula():
    at = open_page("grad_1d.py", {"step": "13"})
    w = np.array([1., 2, 3])
    expected = reference._input_grad_1d(X1, w)
    assert np.allclose(expected, central(lambda x: reference.conv_1d_sum(x, w), X1))
    data = stepper(at, "bi_stepper")
    assert data["n"] == 15 and data["step"] == 13  # a link at the chapter's t5: o=4, p=0 reads output_pad[6]
    view = step_view(data, 13)
    assert view["lhs"] == "input_grad[4]" and view["value"] == 0 and "read at 4 + 3 − 0 − 1 = 6" in view["note"]
    view = step_view(data, 15)  # p=2 reads output_pad[4 + 3 - 2 - 1] = output_pad[4]
    assert view["value"] == expected[4] and [r[:2] for r in view["rows"]] == [(0, 1), (1, 2), (1, 3)]
    assert view["boxes"][1] == [0, 0, 4, 1, 1, "dot"] and view["boxes"][2] == [1, 0, 2, 1, 1, "dot"]
    assert np.array_equal(data["grids"][2]["z"], expected)  # the input gradient, filled in as the loop ends
    conv_rows = strip_rows(at, "bi_fig_conv")
    assert np.allclose(conv_rows, [expected, expected])  # the loop and conv_1d(g, flipped)


def test_input_grad_chapter_kernel_gives_2_3_3_3_2():
    at = open_page("grad_1d.py", {"k": "1,1,1", "step": "15"})
    assert np.array_equal(strip_rows(at, "bi_fig_conv")[0], [2, 3, 3, 3, 2])  # the chapter's array([2, 3, 3, 3, 2])


def test_input_grad_with_a_loss_matches_central_differences():
    w = np.array([1., -2, 0.5])
    at = open_page("grad_1d.py", {"k": "1, -2, 0.5", "up": "loss", "t": "0, 1, 0, 1, 0"})
    target = np.array([0., 1, 0, 1, 0])
    numeric = central(lambda x: float(np.sum((reference.conv_1d(x, w) - target) ** 2)), X1)
    assert np.allclose(strip_rows(at, "bi_fig_conv"), [numeric, numeric], rtol=1e-6)
    data = stepper(at, "bi_stepper")
    assert data["n"] == 15
    assert np.allclose([step_view(data, 3 * o + 3)["value"] for o in range(5)], numeric, rtol=1e-6)


def test_input_grad_even_kernel_is_refused():
    at = open_page("grad_1d.py", {"k": "1, 2"})
    assert any("odd kernel" in e.value for e in at.error)


# ---------------------------------------------------------------------------------------------- 1D filter gradient


BATCH = np.array([[0., 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7]])


def test_filter_grad_the_chapters_batch_sums_to_36_49_48():
    at = open_page("grad_1d_filter.py", {"w": "1", "x": "0 1 2 3 4 5 6;1 2 3 4 5 6 7"})
    expected = reference._param_grad_1d_batch(BATCH, np.ones(3))
    assert np.array_equal(expected, [36, 49, 48])
    assert np.allclose(expected, central(lambda w: reference.conv_1d_batch_sum(BATCH, w), np.ones(3)))
    data = stepper(at, "bf_stepper")
    assert data["n"] == 14  # 2 observations x 7 outputs
    view = step_view(data, 14)
    assert view["lhs"] == "param_grad[1]" and view["value"] == 49
    assert sum(r[2] for r in view["rows"][:7]) == 21 and sum(r[2] for r in view["rows"][7:]) == 28  # obs 0, 1
    assert view["boxes"][0] == [0, 1, 7, 1, 1, "dot"]  # observation 1, output 6 meets input_pad[1][6 + 1]
    batch = strip_rows(at, "bf_fig_batch")
    assert np.array_equal(batch, [[15, 21, 21], [21, 28, 27], [36, 49, 48]])
    assert any("[15, 21, 21] + [21, 28, 27] = **[36, 49, 48]**" in t for t in texts(at))


def test_filter_grad_single_observation_the_chapters_10_15_14():
    at = open_page("grad_1d_filter.py", {"x": "1 2 3 4 5"})
    assert np.array_equal(strip_rows(at, "bf_fig_batch")[-1], [10, 15, 14])  # the chapter's array([10, 15, 14])


def test_filter_grad_random_upstream_matches_central_differences():
    from smartflow_core.trace import Upstream

    at = open_page("grad_1d_filter.py", {"up": "random", "g": "3", "k": "1, -1, 2", "w": "2",
                                         "x": "0 1 2 3 4 5 6;1 2 3 4 5 6 7"})
    w = np.array([1., -1, 2])
    loss = Upstream("random", 3).loss
    numeric = central(lambda v: loss(reference.conv_1d_batch(BATCH, v)), w)
    assert np.allclose(strip_rows(at, "bf_fig_batch")[-1], numeric, rtol=1e-9)
    assert step_view(stepper(at, "bf_stepper"), 14)["value"] == pytest.approx(numeric[2])


def test_filter_grad_rows_of_different_lengths_get_a_message():
    at = open_page("grad_1d_filter.py", {"x": "1 2 3;4 5"})
    assert any("same number of values" in e.value for e in at.error)


# ---------------------------------------------------------------------------------------------- 2D


def _problem(at):
    from app.lessons.backward import problem_2d

    s = at.session_state
    return problem_2d(s["b2_batch"], s["b2_cin"], s["b2_cout"], s["b2_size"], s["b2_k"], s["b2_seed"])


@pytest.mark.parametrize("query, pad, stride", [
    ({}, 1, 1),
    ({"pad": "custom", "p": "1", "s": "2", "n": "5"}, 1, 2),
    ({"pad": "none", "s": "2", "n": "6", "cin": "2", "up": "loss", "xc": "1", "wc": "1", "wo": "1"}, 0, 2),
    ({"pad": "custom", "p": "2", "ks": "2", "b": "1", "xr": "0", "xw": "3", "wi": "1", "wj": "0"}, 2, 1),
])
def test_2d_cells_match_the_loops_and_central_differences(query, pad, stride):
    from smartflow_core.trace import Upstream

    at = open_page("grad_2d.py", query)
    x, w = _problem(at)
    s = at.session_state
    up = Upstream(s["b2_up"], s["b2_useed"])
    g = up.grad(conv.conv2d_forward(x, w, stride, pad))
    dx, dw = reference._input_grad(x, g, w, pad, stride), reference._param_grad(x, g, w, pad, stride)

    def loss_x(v):
        return up.loss(conv.conv2d_forward(v, w, stride, pad))

    def loss_w(v):
        return up.loss(conv.conv2d_forward(x, v, stride, pad))

    assert np.allclose(dx, central(loss_x, x), atol=1e-6) and np.allclose(dw, central(loss_w, w), atol=1e-6)
    n, c, r, q = (s[k] for k in ("b2_xb", "b2_xc", "b2_xr", "b2_xw"))
    ci, co, i, j = (s[k] for k in ("b2_wc", "b2_wo", "b2_wi", "b2_wj"))
    cells = stepper(at, "b2_xstepper")
    size = x.shape[2]
    assert cells["n"] == size * size and cells["step"] == r * size + q + 1  # the link's cell is the step
    assert np.allclose(np.array(cells["grids"][-1]["z"]).reshape(size, size), dx[n, c])
    for step in range(1, size * size + 1):  # every cell's terms add up to the loops' gradient
        view = step_view(cells, step)
        rr, qq = divmod(step - 1, size)
        assert view["lhs"] == f"dL/dx[{n}, {c}, {rr}, {qq}]" and view["value"] == pytest.approx(dx[n, c, rr, qq])
        assert view["rows"][-1][3] == pytest.approx(dx[n, c, rr, qq])
    terms = stepper(at, "b2_wstepper")
    last = step_view(terms, terms["n"])
    assert last["lhs"] == f"dL/dW[{ci}, {co}, {i}, {j}]" and last["value"] == pytest.approx(dw[ci, co, i, j])
    table = [t for t in texts(at) if t.startswith("| cell |")][0]
    rows = [r for r in table.splitlines()[2:]]
    for row, expected in zip(rows, (dx[n, c, r, q], dw[ci, co, i, j])):
        cells = [v.strip() for v in row.split("|")[1:-1]]
        assert float(cells[1]) == pytest.approx(expected) and float(cells[2]) == pytest.approx(expected, abs=1e-6)
        assert float(cells[3]) < 1e-7  # relative error of the central difference


def test_2d_full_correlation_shows_the_dilated_padded_gradient():
    at = open_page("grad_2d.py", {"pad": "custom", "p": "1", "s": "2", "n": "5", "b": "1", "cout": "1"})
    x, w = _problem(at)
    g = stepper(at, "b2_xstepper")["grids"][0]
    full = np.array([np.nan if v is None else v for v in g["z"]], dtype=float).reshape(g["rows"], g["cols"])
    assert full.shape == (3 * 2 - 1 + 4, 3 * 2 - 1 + 4)  # 3x3 output dilated to 5x5, padded by k - 1 = 2
    inner = full[2:-2, 2:-2]
    assert np.all(inner[1::2, :] == 0) and np.all(inner[:, 1::2] == 0)  # the zeros the stride puts between
    assert any("spread out with 1 zero(s)" in t for t in texts(at))


def test_2d_small_step_shows_rounding_and_big_step_shows_the_curve():
    at = open_page("grad_2d.py", {"up": "loss", "h": "1"})
    table = [t for t in texts(at) if t.startswith("| cell |")][0]
    forward_errors = [float(r.split("|")[6]) for r in table.splitlines()[2:]]
    assert max(forward_errors) > 1e-3  # h = 0.1 on a quadratic loss: the forward difference is visibly off
    at.select_slider(key="b2_h").set_value(10).run()
    table = [t for t in texts(at) if t.startswith("| cell |")][0]
    central_errors = [float(r.split("|")[4]) for r in table.splitlines()[2:]]
    assert max(central_errors) > 1e-9  # h = 1e-10: rounding shows


# ---------------------------------------------------------------------------------------------- the book's bug


def test_book_unit_example_numbers():
    at = open_page("book_bug.py")
    # docs/ARCHITECTURE.md, the chapter's numbers: x = W = g = 0..8, the second example 2x + 1 with g = 1
    assert np.array_equal(heatmap(at, "bb_fig_param_book"), [[28, 64, 77], [107, 235, 207], [171, 340, 280]])
    assert np.array_equal(heatmap(at, "bb_fig_param_true"), [[78, 136, 98], [180, 285, 192], [114, 172, 110]])
    assert np.array_equal(heatmap(at, "bb_fig_in_book"), [[58, 100, 70], [132, 204, 132], [70, 100, 58]])
    assert np.array_equal(heatmap(at, "bb_fig_in_true"), [[6, 20, 26], [36, 84, 84], [90, 164, 134]])
    x = np.arange(9.).reshape(1, 1, 3, 3)
    xb, g = np.concatenate([x, 2 * x + 1]), np.concatenate([x, np.ones_like(x)])

    def loss_w(v):
        return float(np.sum(g * conv.conv2d_forward(xb, v)))

    numeric = central(loss_w, x)[0, 0]
    assert np.allclose(heatmap(at, "bb_fig_param_numeric"), numeric, atol=1e-5)
    assert np.allclose(numeric, [[78, 136, 98], [180, 285, 192], [114, 172, 110]], atol=1e-5)
    m = metrics(at)
    assert float(m["filter: book's error"]) > 0.1 and float(m["filter: true error"]) < 1e-8
    assert float(m["input: book's error"]) > 0.1 and float(m["input: true error"]) < 1e-8
    assert m["filter: cosine(book, true)"] == "0.883"
    table = [t for t in texts(at) if t.startswith("| row |")][0]
    assert table.count("✗") == 16 and table.count("✓") == 2


def test_book_batch_of_one_is_right():
    at = open_page("book_bug.py", {"b": "1"})
    assert np.array_equal(heatmap(at, "bb_fig_param_book"), heatmap(at, "bb_fig_param_true"))
    assert metrics(at)["filter: cosine(book, true)"] == "1.000"
    assert any("all 9 rows" in t for t in texts(at))


def test_book_random_example_and_why_training_worked():
    at = open_page("book_bug.py", {"ex": "random", "n": "4", "seed": "5"})
    assert float(metrics(at)["filter: true error"]) < 1e-8
    assert any("33.2165" in t and "24.5008" in t for t in texts(at))  # the chapter's log, and the true one
    cos = figure(at, "bb_fig_cos")["data"][0]
    assert plotly_array(cos["y"])[0] == pytest.approx(1.0)  # a batch of one: the book's gradient is right
    assert abs(plotly_array(cos["y"])[-1]) < 0.5  # the chapter's batch of 60: nearly unrelated


def test_2d_opens_on_one_image_one_channel_stride_1_and_a_link_reveals_the_rest():
    at = open_page("grad_2d.py")
    s = at.session_state
    assert not at.toggle(key="b2_more").value
    assert (s["b2_batch"], s["b2_cin"], s["b2_cout"], s["b2_stride"]) == (1, 1, 1, 1)
    assert not [n for n in at.number_input if n.key in ("b2_batch", "b2_cin", "b2_cout", "b2_stride")]
    at = open_page("grad_2d.py", {"b": "2", "cout": "2", "s": "2"})  # a teacher's link with a batch and a stride
    assert at.toggle(key="b2_more").value and at.number_input(key="b2_stride").value == 2
    assert stepper(at, "b2_wstepper")["n"] == 2 * 2 * 2  # two observations of a 2x2 output (4x4, stride 2)


def test_the_books_mean_squared_error_is_named_as_what_it_is():
    at = open_page("grad_1d.py", {"up": "loss"})
    radio = at.radio(key="bi_up")
    assert any("Σ (out − target)² / batch" in o for o in radio.options)
    assert "351" in radio.help and "70.2" in radio.help  # outputs [3, 6, 9, 12, 9]: a sum of squares, not a mean
    assert float(np.sum(np.array([3, 6, 9, 12, 9]) ** 2)) == 351.0


def test_choosing_a_weight_lands_on_the_chapters_first_weight():
    at = open_page("perturb.py")
    at.radio(key="bp_what").set_value("kernel").run()
    assert at.selectbox(key="bp_index").value == 0  # the chapter's w[0]: 39 -> 49
    assert metrics(at)
    at.radio(key="bp_what").set_value("input").run()
    assert at.selectbox(key="bp_index").value == 4  # the chapter's x[4]: 39 -> 41


def test_every_lesson_goes_back_to_the_chapters_example():
    at = open_page("grad_1d.py", {"k": "3, 2, 1", "step": "2"})
    assert at.text_input(key="bi_kernel").value == "3, 2, 1"
    at.button(key="bi_back").click().run()
    assert at.text_input(key="bi_kernel").value == "1, 2, 3" and stepper(at, "bi_stepper")["step"] == 1
    assert at.query_params["k"] in ("1, 2, 3", ["1, 2, 3"])


def test_the_filter_gradient_opens_on_the_chapters_single_example_then_its_batch():
    at = open_page("grad_1d_filter.py")
    assert step_view(stepper(at, "bf_stepper"), 5)["value"] == 10  # the chapter's [10, 15, 14], weight 0
    at.button(key="bf_batch").click().run()
    assert at.text_area(key="bf_input").value == "0 1 2 3 4 5 6\n1 2 3 4 5 6 7"
    assert stepper(at, "bf_stepper")["n"] == 14 and step_view(stepper(at, "bf_stepper"), 14)["value"] == 36


def test_the_books_bug_page_quotes_what_the_project_measured():
    at = open_page("book_bug.py")
    said = " ".join(texts(at))
    assert "about 90 %" not in said and "91.3 %" in said and "92.9 %" in said and "--preset chapter" in said
