"""Augmentation in the training lab: the control (off by default and with every preset), its preview strip, the
lab link's ``aug`` field, runs that train on augmented batches, and the accuracy on plain and distorted test digits
side by side."""
import numpy as np
import pytest
from apptest import figure, open_page
from runs import wait_for
from test_lab_url import param

from app import state
from app.lab import augment_ui
from app.lab.config import TrainConfig
from smartflow_core.augment import AUGMENT_PRESETS
from smartflow_core.data import SUBSET_PATH, load_mnist


def images(at) -> list:
    return at.get("image")


def test_augmentation_is_off_by_default_and_shows_no_strip():
    at = open_page("train.py")
    radio = at.radio(key=state.TR_AUGMENT)
    assert radio.value == "none" and list(radio.options) == ["off", "light", "medium", "strong"]
    assert not images(at)
    assert param(at, "aug") == "none"


def test_a_strength_shows_a_strip_of_augmented_training_digits_and_the_preset_switches_it_off():
    at = open_page("train.py")
    at.radio(key=state.TR_AUGMENT).set_value("medium").run()
    assert not at.exception
    strips = images(at)
    assert len(strips) == 1 and "Medium augmentation" in strips[0].captions[0]
    assert param(at, "aug") == "medium"
    at.selectbox(key=state.TR_PRESET).set_value("chapter").run()  # a preset never augments unless asked
    assert at.radio(key=state.TR_AUGMENT).value == "none" and not images(at)


def test_the_preview_is_the_library_strip_tiled():
    X = load_mnist(SUBSET_PATH)[0][:augment_ui.PREVIEW_DIGITS]
    picture = augment_ui.preview_picture.__wrapped__(X, "strong")
    z, k = augment_ui.PREVIEW_ZOOM, augment_ui.PREVIEW_COPIES + 1
    assert picture.shape == (z * (len(X) * 30 - 2), z * (k * 30 - 2)) and picture.dtype == np.uint8
    first = picture[::z, ::z][:28, :28]
    assert np.array_equal(first, X[0].reshape(28, 28))  # each row starts with the digit itself
    assert not np.array_equal(picture[::z, ::z][:28, 30:58], X[0].reshape(28, 28))


@pytest.mark.parametrize("value", ["light", "strong"])
def test_the_lab_link_round_trips_the_augmentation(value):
    at = open_page("train.py", {"lesson": "train", "aug": value, "ep": "2"})
    assert not at.warning
    assert at.session_state[state.TR_AUGMENT] == value and at.radio(key=state.TR_AUGMENT).value == value
    assert param(at, "aug") == value and param(at, "ep") == "2"


def test_a_link_with_the_chapter_preset_and_an_augmentation_keeps_both():
    at = open_page("train.py", {"lesson": "train", "preset": "chapter", "aug": "light"})
    assert at.session_state[state.TR_PRESET] == "chapter" and at.session_state[state.TR_AUGMENT] == "light"


def test_a_bad_augmentation_in_a_link_is_named_and_left_off():
    at = open_page("train.py", {"lesson": "train", "aug": "extreme", "ep": "3"})
    assert any("aug=" in w.value and "'extreme' is not one of" in w.value for w in at.warning)
    assert at.session_state[state.TR_AUGMENT] == "none" and at.session_state[state.TR_EPOCHS] == 3


def test_the_config_takes_a_strength_and_refuses_others():
    from runs import TINY

    assert TrainConfig(model=TINY).augmentation is None
    assert TrainConfig(model=TINY, augment="medium").augmentation == AUGMENT_PRESETS["medium"]
    assert "augment medium" in TrainConfig(model=TINY, augment="medium").summary()
    with pytest.raises(ValueError, match="the augmentation must be one of"):
        TrainConfig(model=TINY, augment="extreme")


def test_runs_record_the_accuracy_on_distorted_digits_and_augmentation_changes_training(make_run):
    plain, augmented = make_run(epochs=1), make_run(epochs=1, augment="strong")
    plain.start()
    augmented.start()
    ends = [wait_for(run, lambda s: s.ended, timeout=60) for run in (plain, augmented)]
    for snap in ends:
        assert snap.status == "done" and snap.evals
        assert all(e.aug_accuracy is not None and 0 <= e.aug_accuracy <= 100 for e in snap.evals)
    assert [v for _, v in ends[0].losses] != [v for _, v in ends[1].losses]  # strong augmentation changed the batches


def test_the_page_plots_plain_and_distorted_accuracy_side_by_side(lab):
    at = lab()
    at.selectbox(key="tr_preset").set_value("chapter").run()
    at.radio(key="tr_dtype").set_value("float32").run()
    at.slider(key="tr_size").set_value(1000).run()
    at.number_input(key="tr_epochs").set_value(1).run()
    at.radio(key=state.TR_AUGMENT).set_value("light").run()
    at.button(key="tr_start").click().run()
    from test_train_pages import wait_until

    wait_until(at, lambda a: any("Done:" in s.value for s in a.success), "the end of the run")
    lines = figure(at, "tr_augmented_chart")["data"]
    assert [d["name"] for d in lines] == ["this run: plain", "this run: distorted"]
    assert lines[1]["line"]["dash"] == "dot"
    bars = figure(at, "tr_augmented_bars")["data"]
    assert [d["name"] for d in bars] == ["plain test digits", "distorted test digits"]
    assert at.session_state[state.TR_AUGMENT] == "light"
