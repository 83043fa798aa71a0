"""Every page under AppTest, and each lesson's controls driven with the numbers checked against smartflow_core."""
import io

import numpy as np
import pytest
from apptest import ROOT, figure, open_page, plotly_array, step_view, stepper, texts
from PIL import Image

from smartflow_core import reference
from smartflow_core.pooling import pool2d_forward
from smartflow_core.trace import trace_conv_1d, trace_conv_2d, trace_multichannel

PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py"))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs(page):
    at = open_page(page)
    assert at.title, f"{page} has no title"
    assert not at.error


def test_home_links_every_lesson():
    at = open_page("home.py")
    labels = [link.proto.label for link in at.get("page_link")]
    for title in ("1D convolution", "2D convolution on images", "Multichannel convolution",
                  "Stride, pooling and flatten"):
        assert title in labels


# ---------------------------------------------------------------------------------------------- 1D


def test_1d_third_step_of_chapter_example_shows_9():
    at = open_page("conv_1d.py")
    data = stepper(at, "c1_stepper")
    assert data["n"] == 5 and data["step"] == 1
    assert step_view(data, 1)["value"] == 3
    view = step_view(data, 3)
    assert view["lhs"] == "out[2]" and view["value"] == 9
    assert [(w, x) for w, x, _, _ in view["rows"]] == [(1, 2), (1, 3), (1, 4)]
    assert [r[3] for r in view["rows"]] == [2, 5, 9]  # the running sum
    assert view["boxes"][0] == [0, 0, 2, 1, 3]  # the window covers padded cells 2..4
    # the library's record of the same step, and the output the stepper fills in
    step = trace_conv_1d((1, 2, 3, 4, 5), (1, 1, 1), None, 1).steps[2]
    assert [r[3] for r in view["rows"]] == list(step.running)
    assert [v for v in data["grids"][3]["z"] if v is not None] == [3, 6, 9, 12, 9]
    at.session_state["c1_step"] = 3  # what the browser reports when the learner pauses at step 3
    at.run()
    assert stepper(at, "c1_stepper")["step"] == 3 and at.query_params["step"] in ("3", ["3"])


def test_1d_stride_two_padding_one_gives_three_outputs():
    at = open_page("conv_1d.py")
    at.radio(key="c1_pad_mode").set_value("custom").run()
    at.number_input(key="c1_pad").set_value(1).run()
    at.number_input(key="c1_stride").set_value(2).run()
    data = stepper(at, "c1_stepper")
    assert data["n"] == 3
    assert "= 3" in at.get("latex")[0].proto.body
    expected = reference.conv_1d(np.array([1., 2, 3, 4, 5]), np.array([1., 1, 1]), 1, 2)
    for step, value in enumerate(expected, start=1):
        view = step_view(data, step)
        assert view["lhs"] == f"out[{step - 1}]" and view["value"] == value


def test_1d_floor_is_explained_when_stride_does_not_divide():
    at = open_page("conv_1d.py", {"x": "1,2,3,4,5,6", "pad": "none", "s": "2"})
    assert r"\lfloor 1.5 \rfloor" in at.get("latex")[0].proto.body
    assert any("does not divide" in c.value for c in at.caption)


@pytest.mark.parametrize("field, value, message", [
    ("c1_input", "1, two, 3", "is not a number"),
    ("c1_input", "", "is empty"),
    ("c1_kernel", "1 1 1 1 1 1 1", "larger than the padded input"),
])
def test_1d_bad_settings_get_a_message(field, value, message):
    at = open_page("conv_1d.py", {"pad": "none"})
    at.text_input(key="c1_input").set_value("1, 2, 3").run()
    at.text_input(key=field).set_value(value).run()
    assert not at.exception
    assert any(message in e.value for e in at.error)


def test_1d_link_opens_the_same_example_and_bad_values_are_ignored():
    at = open_page("conv_1d.py", {"x": "2,0,1,3", "k": "1,-1", "pad": "none", "step": "3", "s": "0"})
    assert at.text_input(key="c1_input").value == "2,0,1,3"
    data = stepper(at, "c1_stepper")
    assert data["step"] == 3 and step_view(data, 3)["value"] == -2  # 1·1 + (-1)·3
    assert any("s='0'" in w.value for w in at.warning)


def test_1d_settings_survive_a_visit_to_another_page():
    at = open_page("conv_1d.py")
    at.text_input(key="c1_input").set_value("4, 4, 4").run()
    at.switch_page("../pages/conv_2d.py").run()
    at.switch_page("../pages/conv_1d.py").run()
    assert at.text_input(key="c1_input").value == "4, 4, 4"
    assert step_view(stepper(at, "c1_stepper"), 1)["value"] == 8


def test_1d_the_step_the_browser_reports_is_kept_and_clamped():
    at = open_page("conv_1d.py")
    at.session_state["c1_step"] = 4
    at.run()
    assert stepper(at, "c1_stepper")["step"] == 4
    at.text_input(key="c1_input").set_value("1, 2").run()  # two outputs now: the step is clamped
    assert stepper(at, "c1_stepper")["step"] == 2 and at.session_state["c1_step"] == 2


# ---------------------------------------------------------------------------------------------- 2D


def test_2d_mnist_step_matches_reference():
    from app.resources import digits

    at = open_page("conv_2d.py", {"i": "3", "step": "1"})
    image = digits().image(3)
    expected = reference.conv_2d(image, np.array([[0., 1, 0], [1, -4, 1], [0, 1, 0]]))
    data = stepper(at, "c2_stepper")
    assert data["n"] == 28 * 28
    tr = trace_conv_2d(image, np.array([[0., 1, 0], [1, -4, 1], [0, 1, 0]]))
    for step in (1, 200, 407):
        r, c = divmod(step - 1, 28)
        view = step_view(data, step)
        assert view["lhs"] == f"out[{r}, {c}]" and view["value"] == expected[r, c] == tr.step(step - 1).output
        assert [row[3] for row in view["rows"]] == list(tr.step(step - 1).running)
        assert view["boxes"] == [[0, r, c, 3, 3], [2, r, c, 1, 1]]
    assert np.allclose(np.array(data["grids"][2]["z"], dtype=float).reshape(28, 28), expected, atol=1e-12)


def _fmt(x):
    from app.charts import fmt
    return fmt(x)


def test_2d_grid_with_preset_padding_and_stride():
    at = open_page("conv_2d.py", {"src": "grid"})
    at.selectbox(key="c2_preset").set_value("vertical").run()
    assert at.text_area(key="c2_kernel").value == "-1 2 -1\n-1 2 -1\n-1 2 -1"
    at.radio(key="c2_pad_mode").set_value("none").run()
    at.number_input(key="c2_stride").set_value(2).run()
    grid = np.loadtxt(io.StringIO(at.text_area(key="c2_grid").value))
    expected = reference.conv_2d(grid, np.array([[-1., 2, -1]] * 3), 0, 2)
    data = stepper(at, "c2_stepper")
    assert data["n"] == expected.size == 6  # 6x7 grid, 3x3 kernel, stride 2 -> 2x3
    view = step_view(data, 5)
    assert view["lhs"] == "out[1, 1]" and view["value"] == expected[1, 1]
    assert view["boxes"][0] == [0, 2, 2, 3, 3]  # stride 2: the window's corner is (2, 2)


def test_2d_link_with_a_preset_shows_its_kernel():
    at = open_page("conv_2d.py", {"src": "grid", "kp": "random", "seed": "7"})
    from app.widgets import kernel_text, preset_kernel
    assert at.text_area(key="c2_kernel").value == kernel_text(preset_kernel("random", 7))
    at.number_input(key="c2_seed").set_value(8).run()
    assert at.text_area(key="c2_kernel").value == kernel_text(preset_kernel("random", 8))
    assert at.query_params["seed"] in ("8", ["8"])


def test_2d_kernel_larger_than_input_and_bad_kernel():
    at = open_page("conv_2d.py", {"src": "grid", "grid": "1 2;3 4", "pad": "none"})
    assert any("larger than the padded input" in e.value for e in at.error)
    at.text_area(key="c2_kernel").set_value("1 2\n3").run()
    assert any("same number of values" in e.value for e in at.error)
    assert at.selectbox(key="c2_preset").value == "custom"


def _png(size=(40, 30), mode="RGB", colour=(200, 30, 30)):
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_2d_upload_image_and_not_an_image():
    at = open_page("conv_2d.py", {"src": "upload"})
    at.file_uploader(key="c2_upload").upload("red.png", _png(), "image/png").run()
    assert not at.exception and not at.error
    assert stepper(at, "c2_stepper")["n"] == 28 * 28
    at.file_uploader(key="c2_upload").upload("notes.txt", b"hello", "text/plain").run()
    assert any("not an image Pillow can read" in e.value for e in at.error)


def test_every_kernel_preset_has_a_label_and_cells():
    from app import state, widgets

    assert tuple(widgets.KERNEL_LABELS) == state.KERNEL_PRESETS
    for name in state.KERNEL_PRESETS[:-1]:
        assert len(widgets.preset_kernel(name, 0)) == 3


def test_image_conversion():
    from app.resources import image_to_gray, image_to_rgb

    gray = image_to_gray(_png(mode="L", colour=128), 16)
    assert gray.shape == (16, 16) and np.allclose(gray, 0.5, atol=0.01)
    rgb = image_to_rgb(_png(colour=(255, 0, 0)), 12)
    assert rgb.shape == (3, 12, 12) and rgb[0].min() == 1 and rgb[1].max() == 0
    with pytest.raises(ValueError, match="not an image"):
        image_to_gray(b"\x00\x01", 16)


# ---------------------------------------------------------------------------------------------- multichannel


def test_multichannel_rgb_partial_sums():
    from app.lessons.traces import mc_filters, sample_rgb

    at = open_page("multichannel.py")
    x, w = sample_rgb(16)[None], mc_filters("colour", 3, 2, 0)
    expected = reference._output(x, w)
    data = stepper(at, "mc_stepper")
    r, c = divmod(39, 16)
    view = step_view(data, 40)
    assert view["lhs"] == f"out[0][{r}, {c}]" and view["value"] == expected[0, 0, r, c]
    assert len(view["rows"]) == 3 * 9  # every input channel's 3x3 window, channel by channel
    step = trace_multichannel(x, w, None, 1).step(0, r, c)
    assert [row[3] for row in view["rows"]][8::9] == list(step.running)  # the total after each channel
    # each channel's own map, then the output map: the sum of the three
    partial = [np.array(data["grids"][6 + ch]["z"], dtype=float).reshape(16, 16) for ch in range(3)]
    assert np.allclose(sum(partial), expected[0, 0], atol=1e-12)
    assert any("**54** weights" in t for t in texts(at))  # 3 x 2 x 3 x 3


def test_multichannel_random_channels_and_filters():
    from app.lessons.traces import mc_filters, random_input

    at = open_page("multichannel.py", {"src": "random", "cin": "4", "cout": "3", "f": "random", "o": "2"})
    x, w = random_input(4, 5, 0)[None], mc_filters("random", 4, 3, 0)
    expected = reference._output(x, w)
    view = step_view(stepper(at, "mc_stepper"), 13)
    assert view["lhs"] == "out[2][2, 2]" and view["value"] == expected[0, 2, 2, 2]
    assert len(view["rows"]) == 4 * 9
    assert any("**108** weights" in t for t in texts(at))


# ---------------------------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_steps_match_library(mode):
    at = open_page("pooling.py", {"src": "grid", "mode": mode})
    grid = np.loadtxt(io.StringIO(at.text_area(key="pl_grid").value))
    expected = pool2d_forward(grid[None, None], 2, mode=mode)[0, 0]
    view = step_view(stepper(at, "pl_stepper"), 5)
    assert view["lhs"] == "out[1, 1]" and view["value"] == expected[1, 1]
    assert [row[0] for row in view["rows"]] == list(grid[2:4, 2:4].ravel())
    if mode == "max":  # the winning cell is outlined too
        winner = np.unravel_index(np.argmax(grid[2:4, 2:4]), (2, 2))
        assert view["boxes"][2] == [0, 2 + int(winner[0]), 2 + int(winner[1]), 1, 1, "dot"]
    assert any("**36 of 36**" in t and "**9 of 36**" in t for t in texts(at))


def test_flatten_shapes():
    at = open_page("pooling.py", {"fc": "3", "fh": "2", "fw": "4"})
    assert any("`[1, 3, 2, 4]` → `[batch, channels·h·w]` = `[1, 24]`" in t for t in texts(at))
    vector = figure(at, "pl_vector")
    assert plotly_array(vector["data"][0]["z"]).ravel().tolist() == list(range(24))
    assert any("25088" in t for t in texts(at))


def test_2d_digit_by_label():
    from app.resources import digits

    at = open_page("conv_2d.py", {"pick": "label", "label": "7", "nth": "2"})
    index = digits().find(7, 2)
    assert digits().labels[index] == 7
    assert f"MNIST digit #{index} (label 7)" in stepper(at, "c2_stepper")["grids"][0]["title"]


def test_pooling_grid_too_small_for_the_window():
    at = open_page("pooling.py", {"src": "grid", "grid": "1 2;3 4", "size": "3"})
    assert any("Cannot pool this input" in e.value for e in at.error)


@pytest.mark.parametrize("query, words", [
    ({"k": "1,1,1,1,1,1,1,1", "pad": "same"}, "1 longer than the input"),  # 5 + 2·4 − 8 + 1 = 6
    ({"pad": "custom", "p": "3"}, "4 longer than the input"),  # 5 + 6 − 3 + 1 = 9
    ({"pad": "none"}, "2 shorter than the input"),
])
def test_1d_size_note_says_longer_when_the_padding_adds_more_than_the_kernel_removes(query, words):
    at = open_page("conv_1d.py", query)
    note = [c.value for c in at.caption if "than the input" in c.value]
    assert note and words in note[0] and "-" not in note[0].split("than")[0]


def test_multichannel_offers_a_real_3x3_kernel_per_channel():
    from app.lessons.traces import mc_filters, sample_rgb

    at = open_page("multichannel.py", {"f": "shapes"})
    w = mc_filters("shapes", 3, 2, 0)
    assert all(np.count_nonzero(w[c, o]) > 1 for c in range(3) for o in range(2))  # not the centre alone
    assert len({w[c, 0].tobytes() for c in range(3)}) == 3  # each channel its own kernel
    x = sample_rgb(16)[None]
    view = step_view(stepper(at, "mc_stepper"), 40)
    r, c = divmod(39, 16)
    assert view["value"] == reference._output(x, w)[0, 0, r, c]


def test_pooling_draws_the_shrunken_maps_smaller_and_the_reach_map_with_its_scale():
    at = open_page("pooling.py")
    big, small = figure(at, "pl_conv_reach"), figure(at, "pl_conv")
    assert small["layout"]["height"] < big["layout"]["height"]  # 14x14 next to 28x28
    assert big["data"][0]["showscale"] and big["data"][0]["colorbar"]["title"]["text"] == "outputs"


@pytest.mark.parametrize("value, used, words", [(0, 1, "a stride of 0 never moves the kernel"),
                                                (-2, 1, "walk backwards"), (100, 8, "at most 8")])
def test_an_impossible_stride_is_explained_and_the_value_in_use_shown(value, used, words):
    at = open_page("conv_1d.py")
    at.number_input(key="c1_stride").set_value(value).run()
    assert at.number_input(key="c1_stride").value == used
    note = [c.value for c in at.caption if "impossible here" in c.value]
    assert note and words in note[0] and f"using {used}" in note[0]
    assert stepper(at, "c1_stepper")["n"] == (5 if used == 1 else 1)
    at.number_input(key="c1_stride").set_value(2).run()  # a possible value: the note goes
    assert not [c.value for c in at.caption if "impossible here" in c.value]


def test_eight_output_channels_are_explained():
    at = open_page("multichannel.py")
    at.number_input(key="mc_cout").set_value(8).run()
    assert at.number_input(key="mc_cout").value == 4
    assert any("8 is impossible here: using 4." in c.value for c in at.caption)
