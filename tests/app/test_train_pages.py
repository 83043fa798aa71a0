"""The training and evaluation labs under AppTest: the builder and its refusals, a short run started, paused,
resumed and stopped, divergence, the evaluation of the pretrained model, uploads good and bad.  Fragments do not
tick under AppTest (docs/ARCHITECTURE.md, Streamlit rule S7): a test waits on the run itself, then calls
``at.run()``. Every test's runs are stopped by the ``lab`` fixture's teardown (``st.cache_resource.clear()``
releases the session slots), which then waits until no training thread is left. Every AppTest runs under the same
session id ("test session id"), so two of them would share one session slot: isolation between sessions is tested in
a real browser (tests/e2e/test_training.py).
"""
import io
import time

import numpy as np
import pytest
from apptest import TIMEOUT, errors, figure, infos, metrics
from runs import only_slot_taken
from streamlit.testing.v1 import AppTest

from app.lab import builder
from smartflow_core.persist import PRETRAINED, build_model, load_model, model_bytes


def table(at) -> list[dict]:
    return at.dataframe[0].value.to_dict("records")


def progress_text(at) -> str:
    bars = at.get("progress")
    return bars[0].proto.text if bars else ""


def has(at, key) -> bool:
    try:
        at.get_by_key(key)
    except KeyError:
        return False
    return True


def small(at, preset: str = "chapter", epochs: int = 1) -> AppTest:
    """The chapter's model on 1,000 images in float32: a few seconds per epoch."""
    at.selectbox(key="tr_preset").set_value(preset).run()
    at.radio(key="tr_dtype").set_value("float32").run()
    at.slider(key="tr_size").set_value(1000).run()
    at.number_input(key="tr_epochs").set_value(epochs).run()
    return at


def wait_until(at, predicate, what: str) -> AppTest:
    """Rerun the page until ``predicate(at)``; fragments do not tick by themselves under AppTest."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        at.run()
        assert not at.exception, at.exception
        if predicate(at):
            return at
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}: {progress_text(at)!r} {infos(at)} {errors(at)}")
        time.sleep(0.25)


def button(at, key):
    return at.button(key=key)


# ---------------------------------------------------------------------------------------------- the builder


def library_rows(config: dict) -> list[tuple[str, int]]:
    """(output shape as the table writes it, parameters) per layer, from ``NeuralNetwork.shapes``."""
    return [(builder.shape_text(shape), params) for _, shape, params in build_model(config).shapes((1, 28, 28))]


PRETRAINED_ROWS = library_rows(load_model(PRETRAINED)[1])


def test_default_network_table_matches_the_library(lab):
    at = lab()
    rows = table(at)
    expected = library_rows(builder.from_preset("default").model_config())
    assert [(r["output shape"], r["parameters"]) for r in rows[1:-1]] == expected
    assert [r["layer"] for r in rows[:3]] == ["Input", "1 Conv 16@5×5", "2 Max pool 2×2"]
    assert rows[-1]["parameters"] == sum(p for _, p in expected)
    assert not errors(at) and not button(at, "tr_start").disabled


def test_chapter_preset_brings_its_settings(lab):
    at = lab()
    at.selectbox(key="tr_preset").set_value("chapter").run()
    rows = table(at)
    assert rows[1]["layer"] == "1 Conv 32@5×5" and rows[1]["output shape"] == "25088"
    assert "keep 80%" in rows[1]["details"] and "glorot" in rows[1]["details"]
    assert at.number_input(key="tr_lr").value == pytest.approx(0.1)
    assert at.number_input(key="tr_batch").value == 60 and at.radio(key="tr_dtype").value == "float64"


@pytest.mark.parametrize("field, value, message", [
    ("stride", 0, "a stride of 0 never moves the kernel"),
    ("kernel", 28, None),  # fits thanks to "same" padding: no refusal
])
def test_stride_zero_is_refused_and_a_big_padded_kernel_is_not(lab, field, value, message):
    at = lab()
    at.number_input(key=f"tr_block_conv1_{field}").set_value(value).run()
    assert not at.exception
    if message is None:
        assert not errors(at)
        return
    assert any(message in e for e in errors(at))
    assert button(at, "tr_start").disabled
    assert at.selectbox(key="tr_preset").value == "custom"


def test_kernel_larger_than_its_input_is_refused(lab):
    at = lab()
    at.selectbox(key="tr_block_conv1_padding").set_value(0).run()
    at.number_input(key="tr_block_conv1_kernel").set_value(15).run()
    message = [e for e in errors(at) if "does not fit" in e]
    assert message and "15×15 kernel does not fit its 14×14 input" in message[0]
    assert [r["layer"] for r in table(at)][-1] == "2 Max pool 2×2"  # the table stops before the failing layer
    assert button(at, "tr_start").disabled


def test_pooling_a_one_pixel_map_is_refused(lab):
    at = lab()
    for _ in range(3):
        button(at, "tr_block_conv0_add").click().run()
    assert len(at.get("dataframe")) == 1
    assert any("smaller than the 2×2 window" in e for e in errors(at))
    button(at, "tr_block_conv4_remove").click().run()
    assert not errors(at) and table(at)[-2]["layer"].endswith("Dense 10")


def test_book_mode_refuses_a_stride_it_cannot_compute(lab):
    at = lab()
    at.number_input(key="tr_block_conv0_stride").set_value(2).run()
    assert not errors(at)
    at.toggle(key="tr_book").set_value(True).run()
    assert any("book mode reproduces the chapter's convolution" in e for e in errors(at))


def test_add_and_remove_dense_layers(lab):
    at = lab()
    before = table(at)
    n = len(builder.from_preset("default").denses)  # hidden dense layers of the preset
    button(at, "tr_block_dense0_add").click().run()
    at.number_input(key=f"tr_block_dense{n}_neurons").set_value(32).run()
    at.number_input(key=f"tr_block_dense{n}_dropout").set_value(0.5).run()
    rows = table(at)
    added = rows[-3]  # before the output layer and the total
    assert added["layer"].endswith("Dense 32") and "keep 50%" in added["details"]
    assert rows[-2]["parameters"] == (32 + 1) * 10
    button(at, f"tr_block_dense{n}_remove").click().run()
    assert table(at) == before


def test_builder_survives_a_visit_to_another_page(lab):
    at = lab()
    at.number_input(key="tr_block_conv0_channels").set_value(8).run()
    at.switch_page("../pages/home.py").run()
    at.switch_page("../pages/train.py").run()
    assert at.number_input(key="tr_block_conv0_channels").value == 8
    assert table(at)[1]["layer"] == "1 Conv 8@5×5"


def test_impossible_training_settings_get_a_message(lab):
    at = lab()
    at.number_input(key="tr_final_lr").set_value(0.5).run()  # exponential decay that would rise above lr 0.02
    assert any("The final learning rate (0.5) is above the learning rate (0.02)" in w.value for w in at.warning)
    assert button(at, "tr_start").disabled


# ---------------------------------------------------------------------------------------------- a run


def test_start_pause_resume_stop(lab):
    at = small(lab(), epochs=20)
    button(at, "tr_start").click().run()
    assert not at.exception
    wait_until(at, lambda a: "Epoch 1 of 20 · batch" in progress_text(a) and metrics(a)["Loss (average)"] != "–",
               "the first batches")
    assert button(at, "tr_start").disabled and not button(at, "tr_pause").disabled
    assert button(at, "tr_resume").disabled
    assert has(at, "tr_loss_chart") and has(at, "tr_filters")

    button(at, "tr_pause").click().run()
    wait_until(at, lambda a: any("Paused" in i for i in infos(a)), "the pause")
    held = progress_text(at)
    at.run()  # the page holds what it shows (that the worker takes no step while paused: test_training_runner)
    assert progress_text(at) == held and any("Paused" in i for i in infos(at))
    assert not button(at, "tr_resume").disabled and button(at, "tr_pause").disabled

    button(at, "tr_resume").click().run()
    wait_until(at, lambda a: progress_text(a) != held, "training to continue")
    button(at, "tr_stop").click().run()
    wait_until(at, lambda a: any("Stopped at step" in i for i in infos(a)), "the stop")
    assert not button(at, "tr_start").disabled and button(at, "tr_stop").disabled
    assert has(at, "tr_download")


def test_views_inside_while_training(lab):
    at = small(lab(), epochs=20)
    button(at, "tr_start").click().run()
    wait_until(at, lambda a: has(a, "tr_filters"), "the filters")
    filters = figure(at, "tr_filters")
    assert filters["data"][0]["type"] == "heatmap"
    at.segmented_control(key="tr_view").set_value("maps").run()
    at.number_input(key="tr_digit").set_value(3).run()
    assert not at.exception
    assert figure(at, "tr_maps_0")["layout"]["title"]["text"].startswith("Conv2DLayer 1: 32 maps 28x28")
    assert figure(at, "tr_probs")["data"][0]["type"] == "bar"
    at.segmented_control(key="tr_view").set_value("gradients").run()
    wait_until(at, lambda a: len(figure(a, "tr_gradients")["data"]) == 3, "the gradient lines")
    names = [d["name"] for d in figure(at, "tr_gradients")["data"]]
    assert names == ["1 Conv2DLayer filters", "2 DenseLayer weights", "2 DenseLayer bias"]


def test_a_run_ends_and_a_second_one_overlays_it(lab):
    at = small(lab(), epochs=1)
    button(at, "tr_start").click().run()
    wait_until(at, lambda a: any("Done:" in s.value for s in a.success), "the end of run 1")
    assert progress_text(at).startswith("17 steps in")
    assert metrics(at)["Test accuracy"].endswith("%")
    at.number_input(key="tr_lr").set_value(0.05).run()
    button(at, "tr_start").click().run()
    wait_until(at, lambda a: any("Done:" in s.value for s in a.success), "the end of run 2")
    first = at.multiselect(key="tr_compare").options[0]
    assert first.startswith("#1 chapter's net, lr 0.1")
    at.multiselect(key="tr_compare").select(first).run()
    names = [d.get("name") for d in figure(at, "tr_loss_chart")["data"]]
    assert names == [first, "loss per batch", "moving average"]


def test_a_diverging_run_stops_with_a_hint(lab):
    at = small(lab())
    at.selectbox(key="tr_block_conv0_activation").set_value("ReLU").run()  # float32: float64 stays stuck instead
    at.number_input(key="tr_lr").set_value(10.0).run()
    button(at, "tr_start").click().run()
    wait_until(at, lambda a: bool(errors(a)), "the divergence")
    message = errors(at)[0]
    assert "Training diverged" in message and "lower the learning rate (try 1)" in message


def test_a_run_that_does_not_learn_gets_a_hint(lab):
    at = small(lab(), epochs=20)
    at.selectbox(key="tr_block_conv0_activation").set_value("ReLU").run()
    at.radio(key="tr_dtype").set_value("float64").run()  # does not overflow: stays stuck instead
    at.number_input(key="tr_lr").set_value(10.0).run()
    button(at, "tr_start").click().run()
    wait_until(at, lambda a: any("what guessing at random scores" in w.value for w in a.warning), "the hint")
    assert any("try a learning rate 10 times lower" in w.value for w in at.warning)


def test_a_run_waits_in_the_server_queue_and_shows_its_place(lab):
    with only_slot_taken() as other:
        at = small(lab(), epochs=20)
        button(at, "tr_start").click().run()
        wait_until(at, lambda a: any("you are number 1 in the queue" in i for i in infos(a)), "the queue")
        assert not button(at, "tr_stop").disabled  # a queued run can be stopped, or waits for its turn
        other.stop()
        wait_until(at, lambda a: "Epoch 1 of 20 · batch" in progress_text(a), "its turn")


def test_continue_training_the_pretrained_model(lab):
    at = small(lab(), epochs=1)
    at.radio(key="tr_source").set_value("pretrained").run()
    assert [(r["output shape"], r["parameters"]) for r in table(at)[1:-1]] == PRETRAINED_ROWS
    button(at, "tr_start").click().run()
    wait_until(at, lambda a: metrics(a).get("Test accuracy", "–") != "–",
               "the first evaluation")
    assert float(metrics(at)["Test accuracy"].split()[0]) > 90  # it starts trained


# ---------------------------------------------------------------------------------------------- evaluation


def test_evaluate_the_pretrained_model(lab):
    at = lab("evaluate.py")
    accuracy = float(metrics(at)["Test accuracy"].split()[0])
    assert 95 < accuracy <= 100
    spec = figure(at, "ev_confusion")
    assert [d["type"] for d in spec["data"]] == ["heatmap", "heatmap", "scatter"]
    counts = [int(t) for row in spec["data"][0]["text"] for t in row]
    assert sum(counts) == 2000  # every test digit of the bundled subset
    mistakes = int(metrics(at)["Mistakes"].replace(",", ""))
    assert len([b for b in at.button if b.key.startswith("ev_open_")]) == min(24, mistakes)


def test_a_confusion_cell_opens_its_digits_and_one_digit_its_maps(lab):
    at = lab("evaluate.py")
    cell = at.selectbox(key="ev_cell").options[1]  # the most frequent confusion
    at.selectbox(key="ev_cell").set_value(cell).run()
    true, pred = at.session_state["ev_cell"]
    opened = [b for b in at.button if b.key.startswith("ev_open_")]
    assert opened and all(b.label.startswith(f"{true} → {pred}") for b in opened)
    opened[0].click().run()
    assert not at.exception
    assert figure(at, "ev_probs")["data"][0]["type"] == "bar"
    channels = load_model(PRETRAINED)[0].layers[0].out_channels
    assert figure(at, "ev_maps_0")["layout"]["title"]["text"].startswith(f"Conv2DLayer 1: {channels} maps")


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("name, data, message", [
    ("junk.npz", b"this is not a zip file", "not a readable .npz model file"),
    ("plain.npz", _npz(x=np.zeros(3)), "no 'metadata' entry, so not a SmartFlow model"),
    ("empty.npz", b"", "the file is empty"),
])
def test_a_bad_upload_gets_a_clear_message(lab, name, data, message):
    at = lab("evaluate.py")
    at.radio(key="ev_model").set_value("uploaded").run()
    at.file_uploader(key="ev_upload").upload(name, data, "application/octet-stream").run()
    assert not at.exception
    assert any(message in e and name in e for e in errors(at)), errors(at)


def test_a_model_for_other_images_is_refused():
    net = build_model({"layers": [{"type": "DenseLayer", "neurons": 10}], "loss": {"type": "SoftmaxCrossEntropy"},
                       "seed": 1, "input_shape": [64]})
    net.forward(np.zeros((1, 64)))
    from app.resources import read_model
    from smartflow_core.persist import ModelFileError
    with pytest.raises(ModelFileError, match=r"reads images of shape \[64\], not MNIST's \[1, 28, 28\]"):
        read_model(model_bytes(net, (64,)), "other.npz")


def test_an_uploaded_model_is_evaluated_and_can_be_trained_further(lab):
    at = lab("evaluate.py")
    at.radio(key="ev_model").set_value("uploaded").run()
    at.file_uploader(key="ev_upload").upload("mine.npz", PRETRAINED.read_bytes(), "application/octet-stream").run()
    assert not errors(at) and float(metrics(at)["Test accuracy"].split()[0]) > 95
    at.switch_page("../pages/train.py").run()
    at.radio(key="tr_source").set_value("uploaded").run()
    assert not errors(at) and [(r["output shape"], r["parameters"]) for r in table(at)[1:-1]] == PRETRAINED_ROWS
    assert not button(at, "tr_start").disabled


def test_evaluate_this_sessions_run(lab):
    at = small(lab(), epochs=1)
    button(at, "tr_start").click().run()
    wait_until(at, lambda a: any("Done:" in s.value for s in a.success), "the end of the run")
    at.switch_page("../pages/evaluate.py").run()
    at.radio(key="ev_model").set_value("session").run()
    assert not at.exception and not errors(at)
    assert 0 < float(metrics(at)["Test accuracy"].split()[0]) <= 100
    assert any("Run #1: step 17 of 17 (done)" in c.value for c in at.caption)
