"""What learners tripped over on /evaluate and /draw, each with the test that would have caught it: the pages keep
their view in the address bar (a fresh session opening the link sees the same view; bad values are named and left
at their defaults), the gallery can show the least confident answers first, every feature map gets its own colour
range on both pages, drawn by one function, and a scribble shows that a confident answer is no sign of a digit.
"""
import base64
import io
import json
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
from apptest import ROOT, figure, open_page, plotly_array
from PIL import Image

from app import inside_charts, state
from app.draw import reading as drawing
from app.draw import scribble
from app.draw.charts import probability_bars
from app.lab import eval_link
from app.lab.evaluation import evaluate
from smartflow_core import insight
from smartflow_core.data import SUBSET_PATH, load_mnist
from smartflow_core.digits import prepare
from smartflow_core.persist import PRETRAINED, load_model
from smartflow_core.presets import prepare_images

DR_RANGE = "dr_map_range"  # app.draw.link's key (that module loads the canvas component, which needs a server)
pytestmark = pytest.mark.skipif(not PRETRAINED.exists(), reason="no pretrained model")


@pytest.fixture(scope="module")
def pretrained():
    net, meta = load_model(PRETRAINED)
    return net, meta["standardize"]["mean"], meta["standardize"]["std"]


@pytest.fixture(scope="module")
def evaluation(pretrained):
    """The pretrained model on the test digits the page evaluates (the bundled subset)."""
    X_test, y_test = load_mnist(SUBSET_PATH)[2:]
    return evaluate(pretrained[0], X_test, y_test), X_test, y_test


def query(at) -> dict:
    return {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}


def warnings(at) -> list[str]:
    return [w.value for w in at.warning]


def gallery(at) -> list[int]:
    """The test digits of the gallery in the order shown: the buttons come column by column (8 columns)."""
    keys = [int(b.key.removeprefix("ev_open_")) for b in at.button if b.key.startswith("ev_open_")]
    slots = [n for col in range(8) for n in range(col, len(keys), 8)]  # gallery position of each button in turn
    shown = [0] * len(keys)
    for slot, key in zip(slots, keys):
        shown[slot] = key
    return shown


def confidences(ev, indices) -> np.ndarray:
    return np.array([ev.confidence(i) for i in indices])


# ---------------------------------------------------------------------------------------------- 8: Evaluate's link


def test_the_evaluate_address_follows_each_setting_and_a_fresh_session_opens_the_same_view(evaluation):
    ev = evaluation[0]
    at = open_page("evaluate.py")
    assert query(at) == {"lesson": "evaluate", "src": "pretrained", "cell": "all", "order": "most",
                         "digit": "none", "maps": "map"}
    cell = max(((t, p) for t in range(10) for p in range(10) if t != p), key=lambda c: ev.confusion[c])
    at.selectbox(key=state.EV_CELL).set_value(cell).run()
    assert query(at)["cell"] == "{}-{}".format(*cell) and query(at)["order"] == "most"
    at.radio(key=eval_link.EV_ORDER).set_value("least").run()
    assert query(at)["order"] == "least"
    digit = gallery(at)[0]
    at.button(key=f"ev_open_{digit}").click().run()
    assert query(at)["digit"] == str(digit)
    at.radio(key=eval_link.EV_RANGE).set_value("layer").run()
    link = query(at)
    assert link == {"lesson": "evaluate", "src": "pretrained", "cell": "{}-{}".format(*cell), "order": "least",
                    "digit": str(digit), "maps": "layer"}

    fresh = open_page("evaluate.py", link)                      # a new AppTest: a new session
    assert not warnings(fresh)
    assert fresh.selectbox(key=state.EV_CELL).value == cell
    assert fresh.radio(key=eval_link.EV_ORDER).value == "least"
    assert fresh.radio(key=eval_link.EV_RANGE).value == "layer"
    assert gallery(fresh) == gallery(at)
    assert any(m.value.startswith(f"**Test digit #{digit}**") for m in fresh.markdown)
    assert " · ±" in figure(fresh, "ev_maps_0")["layout"]["title"]["text"]   # one range for the layer, printed
    assert query(fresh) == link


def test_the_new_choices_survive_a_visit_to_other_pages():
    """Streamlit forgets a widget's value on a page that does not draw it unless every page re-asserts it (S4)."""
    at = open_page("evaluate.py", {"lesson": "evaluate", "digit": "18"})
    at.radio(key=eval_link.EV_ORDER).set_value("least").run()
    at.radio(key=eval_link.EV_RANGE).set_value("layer").run()
    at.switch_page("../pages/draw.py").run()
    at.button(key="dr_scribble").click().run()
    at.radio(key=DR_RANGE).set_value("layer").run()
    for page in ("home.py", "conv_1d.py", "evaluate.py"):
        at.switch_page(f"../pages/{page}").run()
    assert at.radio(key=eval_link.EV_ORDER).value == "least" and at.radio(key=eval_link.EV_RANGE).value == "layer"
    at.switch_page("../pages/draw.py").run()
    assert at.radio(key=DR_RANGE).value == "layer" and query(at)["ex"] == "scribble"


def test_a_link_to_a_model_that_cannot_travel_asks_for_it():
    at = open_page("evaluate.py", {"lesson": "evaluate", "src": "uploaded", "cell": "3-3"})
    assert at.radio(key=state.EV_MODEL).value == "uploaded"
    assert any("A link to this page never holds the file" in i.value for i in at.info)
    assert query(at)["src"] == "uploaded" and query(at)["cell"] == "3-3"  # kept for when the file comes
    at = open_page("evaluate.py", {"lesson": "evaluate", "src": "session"})
    assert any("cannot carry a run" in i.value for i in at.info)


@pytest.mark.parametrize("name, value, message", [
    ("cell", "4-x", "'x' is not a whole number"),
    ("cell", "12-3", "digit 12 is outside 0..9"),
    ("cell", "banana", "expected all, or the true and the predicted digit such as 4-9"),
    ("order", "random", "'random' is not one of most, least"),
    ("digit", "-1", "test digit -1 is outside 0..99999"),
    ("maps", "both", "'both' is not one of map, layer"),
    ("src", "mine", "'mine' is not one of pretrained, session, uploaded"),
])
def test_a_bad_value_in_the_evaluate_link_is_named_and_left_at_its_default(name, value, message):
    at = open_page("evaluate.py", {"lesson": "evaluate", name: value})
    assert not at.exception
    assert any(f"{name}={value!r}" in w and message in w for w in warnings(at)), warnings(at)
    assert query(at) == {"lesson": "evaluate", "src": "pretrained", "cell": "all", "order": "most",
                         "digit": "none", "maps": "map"}


def test_a_link_to_an_empty_cell_or_a_missing_digit_says_so(evaluation):
    ev = evaluation[0]
    empty = next((t, p) for t in range(10) for p in range(10) if t != p and ev.confusion[t, p] == 0)
    at = open_page("evaluate.py", {"lesson": "evaluate", "cell": "{}-{}".format(*empty), "digit": "99999"})
    assert not at.exception
    assert any(f"No test digit {empty[0]} is read as {empty[1]} by this model" in w for w in warnings(at))
    assert any("There is no test digit #99999" in w for w in warnings(at))
    assert query(at)["cell"] == "all" and query(at)["digit"] == "none"


# ---------------------------------------------------------------------------------------------- 13: the order


def test_a_right_cell_opens_with_its_least_confident_answers_first(evaluation):
    ev = evaluation[0]
    at = open_page("evaluate.py")
    at.selectbox(key=state.EV_CELL).set_value((3, 3)).run()
    assert at.radio(key=eval_link.EV_ORDER).value == "least"
    where = np.flatnonzero((ev.labels == 3) & (ev.predicted == 3))
    least = where[np.argsort(ev.probs[where, 3], kind="stable")]
    assert gallery(at) == list(least[:24])                       # the network's most hesitant right answers
    assert confidences(ev, gallery(at))[0] == ev.probs[where, 3].min() < 0.95
    assert any("the least confident answers first" in c.value for c in at.caption)
    at.radio(key=eval_link.EV_ORDER).set_value("most").run()
    assert gallery(at) == list(where[np.argsort(-ev.probs[where, 3], kind="stable")][:24])
    assert query(at)["order"] == "most"
    at.selectbox(key=state.EV_CELL).set_value(eval_link.ALL).run()     # mistakes: the surest first again
    assert at.radio(key=eval_link.EV_ORDER).value == "most"
    assert np.all(np.diff(confidences(ev, gallery(at))) <= 0)


def test_a_link_to_a_right_cell_without_an_order_takes_the_least_confident_first():
    at = open_page("evaluate.py", {"lesson": "evaluate", "cell": "5-5"})
    assert at.radio(key=eval_link.EV_ORDER).value == "least" and query(at)["order"] == "least"


# ---------------------------------------------------------------------------------------------- 10: feature maps


def test_a_map_with_a_tiny_range_spans_the_whole_colour_scale():
    maps = np.zeros((2, 7, 7))
    maps[0, 0, 0], maps[0, 6, 6] = 10.0, -4.0                     # a strong map ...
    maps[1, 3, 3], maps[1, 2, 2] = 1e-4, -1e-4                    # ... beside one 100,000 times weaker
    purple, orange = (tuple(c) for c in inside_charts.colours(np.array([1.0, -1.0]), 1.0))
    tiles = inside_charts.layer_picture(maps)
    top, left = tiles.tile_origin(1, (7, 7))
    k = tiles.k
    tile = tiles.picture[top:top + 7 * k, left:left + 7 * k].reshape(-1, 3)
    colours = {tuple(c) for c in tile}
    assert purple in colours and orange in colours                 # its own range: darkest purple and orange
    assert tiles.labels == ("±10", "±0.0001")
    band = tiles.picture[top - tiles.band:top, left:left + 7 * k]
    assert band.min() < 100                                        # its range is printed above it
    # one range for the layer (the old drawing, and the other choice): the weak map is blank
    layer = inside_charts.layer_picture(maps, per_map=False)
    top, left = layer.tile_origin(1, (7, 7))
    blank = layer.picture[top:top + 7 * k, left:left + 7 * k].astype(int)
    assert np.abs(blank - 247).max() <= 1 and layer.labels == ("", "")


def test_a_map_of_zeros_is_white_and_says_0():
    tiles = inside_charts.layer_picture(np.zeros((1, 4, 4)))
    assert tiles.labels == ("0",)
    top, left = tiles.tile_origin(0, (4, 4))
    assert (tiles.picture[top:top + 4 * tiles.k, left:left + 4 * tiles.k] == 247).all()


def _decode(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


def test_both_pages_draw_the_maps_with_one_function(monkeypatch, evaluation, pretrained):
    drawn = []
    real = inside_charts.layer_picture

    def spy(maps, *args, **kwargs):
        drawn.append(np.asarray(maps).shape)
        return real(maps, *args, **kwargs)

    monkeypatch.setattr(inside_charts, "layer_picture", spy)
    open_page("draw.py", {"lesson": "draw", "ex": "scribble"})
    net, mean, std = pretrained
    layers = insight.feature_maps(net, prepare(scribble.picture(), mean=mean, std=std).x)
    shapes = [m.shape for _, m in layers if m.ndim == 3]
    assert drawn == shapes                                        # the Draw page: one picture per layer of maps
    drawn.clear()
    at = open_page("evaluate.py", {"lesson": "evaluate", "digit": "18"})
    X_test = evaluation[1]
    layers = insight.feature_maps(net, prepare_images(X_test[18:19], np.float32))
    assert drawn == [m.shape for _, m in layers if m.ndim == 3]   # the Evaluate page: the same function
    maps = layers[0][1]
    spec = figure(at, "ev_maps_0")
    expected = real(maps, cols=inside_charts.square_cols(len(maps)), text=False)
    assert np.array_equal(_decode(spec["data"][0]["source"]), expected.picture)
    assert spec["data"][2]["text"] == [inside_charts.range_text(m) for m in np.abs(maps).reshape(len(maps), -1)
                                       .max(axis=1)]


def test_the_figure_gives_each_cells_value_on_hover():
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(5, 3, 4)).astype(np.float32)
    spec = json.loads(inside_charts.layer_figure(maps, "a layer").to_json())
    hover = spec["data"][1]
    z, index = plotly_array(hover["z"]), plotly_array(hover["customdata"])
    for i in range(5):
        assert np.array_equal(z[index == i].reshape(3, 4), maps[i])


def test_the_chart_modules_import_no_streamlit():
    code = textwrap.dedent("""
        import importlib, sys
        for name in ("app.inside_charts", "app.draw.scribble", "app.draw.charts"):
            importlib.import_module(name)
        print("streamlit" in sys.modules)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------- 12: the scribble


def test_the_scribble_is_no_digit_yet_the_pretrained_model_is_sure_of_it(pretrained):
    net, mean, std = pretrained
    p = insight.probabilities(net, prepare(scribble.picture(), mean=mean, std=std).x)
    assert int(np.argmax(p)) == 4
    assert p[4] == pytest.approx(0.976, abs=0.005)                # 97.6 %: far above the 70 % needed
    assert len(scribble.objects()) == 3 and scribble.objects()[0]["path"][0][0] == "M"


def test_try_a_scribble_shows_the_confident_answer_and_why():
    at = open_page("draw.py")
    assert any("Confidence is not a “this is a digit” detector" in c.value for c in at.caption)
    at.button(key="dr_scribble").click().run()
    assert {m.label: m.value for m in at.metric}["The network reads"] == "4"
    assert any(i.value.startswith("This scribble is no digit, yet the network gives the digit **4** a "
                                  "probability of 97.6%") and "always add up to 100 %" in i.value for i in at.info)
    assert query(at)["ex"] == "scribble"
    at.button(key="dr_canvas_clear").click().run()
    assert query(at)["ex"] == "none" and not at.metric
    assert not any("This scribble" in i.value for i in at.info)


# ---------------------------------------------------------------------------------------------- 8: Draw's link

DRAW_DEFAULTS = {"lesson": "draw", "model": "pretrained", "src": "draw", "ex": "none", "t": "70", "ink": "1",
                 "crop": "1", "scale": "1", "center": "1", "sal": "gradient", "why": "answer", "maps": "map"}


@pytest.mark.parametrize("widget, key, value, field, shown", [
    ("slider", state.DR_THRESHOLD, 85, "t", "85"),
    ("toggle", "dr_crop", False, "crop", "0"),
    ("toggle", "dr_center", False, "center", "0"),
    ("radio", state.DR_SALIENCY, "occlusion", "sal", "occlusion"),
    ("selectbox", state.DR_EXPLAIN, 3, "why", "3"),
    ("radio", DR_RANGE, "layer", "maps", "layer"),
    ("radio", state.DR_SOURCE, "photo", "src", "photo"),
])
def test_each_draw_setting_goes_through_the_address_to_a_fresh_session(widget, key, value, field, shown):
    at = open_page("draw.py", {"lesson": "draw", "ex": "scribble"})  # a reading, so every control is drawn
    getattr(at, widget)(key=key).set_value(value).run()
    link = query(at)
    assert link == {**DRAW_DEFAULTS, "ex": "none" if field == "src" else "scribble", field: shown}
    fresh = open_page("draw.py", link)
    assert not [w for w in warnings(fresh) if w.startswith("Ignored")]
    assert fresh.session_state[key] == value and query(fresh) == link


def test_a_link_with_the_scribble_and_settings_opens_that_view():
    at = open_page("draw.py", {"lesson": "draw", "ex": "scribble", "t": "100", "sal": "occlusion", "why": "3"})
    assert {m.label: m.value for m in at.metric}["The network reads"] == "not sure"   # 97.6 % < 100 %
    assert figure(at, "dr_saliency_map")["layout"]["title"]["text"] == "Occlusion saliency of the digit 3"
    assert figure(at, "dr_probs")["layout"]["annotations"][0]["text"] == "needed<br>100 %"


def test_a_link_to_a_session_model_reads_with_the_pretrained_one_and_says_so(monkeypatch, pretrained):
    at = open_page("draw.py", {"lesson": "draw", "model": "session", "ex": "scribble"})
    assert any("model='session': a model trained in another session cannot travel in a link" in w
               for w in warnings(at))
    assert query(at)["model"] == "pretrained"
    assert any(c.value.startswith("Reading with the pretrained model") for c in at.caption)
    net = pretrained[0]
    snap = SimpleNamespace(label="#1 test run", status="done", step=10, total_steps=10, accuracy=97.5, ended=True)
    monkeypatch.setattr(drawing, "_session_run", lambda: SimpleNamespace(network_copy=lambda: net,
                                                                         snapshot=lambda: snap))
    at = open_page("draw.py", {"lesson": "draw", "model": "session", "ex": "scribble"})
    assert not warnings(at) and at.radio(key=state.DR_MODEL).value == "session"
    assert query(at)["model"] == "session"


@pytest.mark.parametrize("name, value, message", [
    ("t", "73", "73 is not a multiple of 5"),
    ("t", "150", "threshold 150 is outside 0..100"),
    ("ink", "2", "'2' is not 0 or 1"),
    ("sal", "x", "'x' is not one of gradient, occlusion"),
    ("why", "11", "digit 11 is outside 0..9"),
    ("maps", "both", "'both' is not one of map, layer"),
    ("ex", "spiral", "'spiral' is not one of none, scribble"),
    ("src", "camera", "'camera' is not one of draw, photo"),
])
def test_a_bad_value_in_the_draw_link_is_named_and_left_at_its_default(name, value, message):
    at = open_page("draw.py", {"lesson": "draw", name: value})
    assert not at.exception
    assert any(f"{name}={value!r}" in w and message in w for w in warnings(at)), warnings(at)
    assert query(at) == DRAW_DEFAULTS


def test_a_link_to_a_photo_asks_for_one():
    at = open_page("draw.py", {"lesson": "draw", "src": "photo"})
    assert any("a link to this page holds the settings, never the photo" in i.value for i in at.info)


# ---------------------------------------------------------------------------------------------- 7: the threshold


def test_the_threshold_is_labelled_in_the_margin_beside_the_bars():
    """Beside the plot, where no bar's label can be (the browser test measures the boxes)."""
    spec = json.loads(probability_bars(np.eye(10)[2] * 0.9 + 0.01, 0.7).to_json())
    label = spec["layout"]["annotations"][0]
    assert (label["xref"], label["x"], label["xanchor"], label["y"]) == ("paper", 1, "left", 70)
    assert spec["layout"]["margin"]["r"] >= 50                    # room for it, outside the plot
