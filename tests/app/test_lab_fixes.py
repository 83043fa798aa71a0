"""What learners tripped over in the training lab, each with the test that would have caught it:

- a live run locks the builder and the settings (queued, training, paused), and the table shows the network being
  trained; after the run, edits are said to apply to the next run;
- ``/train?preset=<name>`` loads that preset's network and settings, for every preset of the library;
- an impossible number typed into a box is replaced by the nearest possible one, with a sentence saying why;
- the decay that one epoch never applies, the size an even kernel gets from "same" padding, the expected time;
- every convolution's filters at the start of the run, now and the change, sent once by the worker.

Under AppTest fragments do not tick (docs/ARCHITECTURE.md, Streamlit rule S7): a test waits on the run itself and
reruns the page. The ``lab`` fixture stops every run a test starts.
"""
import dataclasses
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from apptest import TIMEOUT, errors, figure, infos, open_page, plotly_array
from runs import ROOT, TINY, only_slot_taken, wait_for

from app import state
from app.lab import builder, builder_ui, filters_ui, notes, weights
from app.lab.config import TrainConfig
from app.lab.filters import layer_filters, per_output
from app.lab.link import arch_to_text
from app.lab.run import THREAD_NAME, TrainingRun, workers
from app.lab.run_queue import RunQueue
from app.lab.snapshot import Status
from smartflow_core.persist import PRETRAINED, build_model, load_model
from smartflow_core.presets import PRESETS
from smartflow_core.trainer import Trainer

# ---------------------------------------------------------------------------------------------- helpers


def table(at) -> list[dict]:
    return at.dataframe[0].value.to_dict("records")


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def progress_text(at) -> str:
    bars = at.get("progress")
    return bars[0].proto.text if bars else ""


def wait_until(at, predicate, what: str):
    deadline = time.monotonic() + TIMEOUT
    while True:
        at.run()
        assert not at.exception, at.exception
        if predicate(at):
            return at
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}: {progress_text(at)!r} {infos(at)} {errors(at)}")
        time.sleep(0.25)


def small(at, preset: str = "chapter", epochs: int = 50):
    """A preset on 1,000 images in float32, for far longer than a test lasts (the test stops it)."""
    at.selectbox(key="tr_preset").set_value(preset).run()
    at.radio(key="tr_dtype").set_value("float32").run()
    at.slider(key="tr_size").set_value(1000).run()
    at.number_input(key="tr_epochs").set_value(epochs).run()
    return at


def started(at):
    """Start the run and wait for its first steps."""
    at.button(key="tr_start").click().run()
    return wait_until(at, lambda a: re.search(r"· batch [1-9]", progress_text(a)), "the first batches")


def library_rows(config: dict) -> list[tuple[str, int]]:
    return [(builder.shape_text(shape), params) for _, shape, params in build_model(config).shapes((1, 28, 28))]


def key(kind: str, i: int, field: str) -> str:
    return f"{state.TR_BLOCK}_{kind}{i}_{field}"


BUILDER_BOXES = [key("conv", 0, f) for f in ("channels", "kernel", "stride", "padding", "activation", "pool",
                                             "dropout", "init")]
SETTING_BOXES = ["tr_epochs", "tr_batch", "tr_seed", "tr_lr", "tr_decay", "tr_evals", "tr_eval_size"]


def disabled(at, k: str) -> bool:
    return at.get_by_key(k).proto.disabled


# ---------------------------------------------------------------------------------------------- 4. the lock


class settling_while_drawn:
    """For one page run, the first snapshot read is of the instant before the run settled in its pause (still
    training, the pause asked for), as when the worker finishes its batch while the page is being drawn."""

    def __init__(self, monkeypatch):
        self.monkeypatch, self.stale = monkeypatch, 1

    def __enter__(self):
        real = TrainingRun.snapshot

        def snapshot(run):
            snap = real(run)
            if self.stale and snap.status == Status.PAUSED:
                self.stale -= 1
                return dataclasses.replace(snap, status=Status.RUNNING)
            return snap

        self.monkeypatch.setattr(TrainingRun, "snapshot", snapshot)
        return self

    def __exit__(self, *exc):
        self.monkeypatch.undo()
        assert self.stale == 0, "the page read no snapshot"


def test_a_live_run_locks_the_network_and_its_settings_until_it_ends(lab, monkeypatch):
    at = started(small(lab()))
    assert "The network is training: Stop or wait for the end to change it." in infos(at)
    for k in BUILDER_BOXES + SETTING_BOXES + ["tr_source", "tr_preset", key("conv", 0, "add"),
                                              key("dense", 0, "add"), key("conv", 0, "remove")]:
        assert disabled(at, k), f"{k} can be changed while the run trains"
    running = [(r["output shape"], r["parameters"]) for r in table(at)[1:-1]]
    assert running == library_rows(builder.from_preset("chapter").model_config())  # the table: the running network
    at.query_params["lr"] = "0.5"  # a link read mid-run would change the settings under the run: it waits
    at.run()
    assert at.number_input(key="tr_lr").value == pytest.approx(0.1)

    at.button(key="tr_pause").click().run()
    wait_until(at, lambda a: any("Paused" in i for i in infos(a)), "the pause")
    assert "The network is paused mid-run: Stop to change it, or Resume to train on." in infos(at)
    assert disabled(at, key("conv", 0, "channels")) and disabled(at, "tr_epochs")
    with settling_while_drawn(monkeypatch):  # the run settles in its pause between the page's top and its panel
        at.run()
    assert not at.exception, at.exception
    assert "The network is paused mid-run: Stop to change it, or Resume to train on." in infos(at)
    assert not any("Stop or wait" in i for i in infos(at)), infos(at)  # one state, not "training" and "Paused"
    assert not at.button(key="tr_resume").disabled

    at.button(key="tr_stop").click().run()
    wait_until(at, lambda a: any("Stopped at step" in i for i in infos(a)), "the stop")
    assert not any("Stop or wait" in i or "Stop to change" in i for i in infos(at))
    assert not disabled(at, key("conv", 0, "channels")) and not disabled(at, "tr_epochs")
    at.number_input(key=key("conv", 0, "channels")).set_value(8).run()
    assert table(at)[1]["layer"] == "1 Conv 8@5×5"  # the next run's network
    assert any("Start trains the network above. Run #1 trained another one" in c for c in captions(at))
    assert any(e.label == "The network run #1 trained" for e in at.expander)


def test_a_queued_run_locks_the_network_too(lab):
    with only_slot_taken():
        at = small(lab())
        at.button(key="tr_start").click().run()
        wait_until(at, lambda a: any("in the queue" in i for i in infos(a)), "the queue")
        assert "This network waits for a free training slot: Stop to change it." in infos(at)
        assert disabled(at, key("conv", 0, "kernel")) and disabled(at, "tr_batch")


# ---------------------------------------------------------------------------------------------- 5. preset links


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_link_opens_the_presets_network_and_settings(name):
    p = PRESETS[name]
    at = open_page("train.py", {"preset": name})
    assert not at.warning
    assert at.session_state[state.TR_PRESET] == name
    assert at.session_state[state.TR_ARCH] == builder.from_preset(name)
    assert [(r["output shape"], r["parameters"]) for r in table(at)[1:-1]] == library_rows(p.config())
    assert at.number_input(key=state.TR_EPOCHS).value == p.epochs
    assert at.number_input(key=state.TR_BATCH).value == p.batch_size
    assert at.number_input(key=state.TR_LR).value == pytest.approx(p.lr)
    assert at.number_input(key=state.TR_SEED).value == p.seed
    assert at.radio(key=state.TR_DTYPE).value == p.dtype
    assert at.selectbox(key=state.TR_DECAY).value == (p.decay_type or "none")
    assert at.radio(key=state.TR_OPTIMIZER).value == ("SGDMomentum" if p.momentum else "SGD")
    assert at.query_params["net"] in (arch_to_text(builder.from_preset(name)),
                                      [arch_to_text(builder.from_preset(name))])  # written back as it opened
    assert name in builder_ui.PRESET_LABELS and name in builder_ui.PRESET_NAMES  # the page offers and names it
    assert builder_ui.run_name(name, builder.from_preset(name)) == builder_ui.PRESET_NAMES[name]


def test_a_preset_link_takes_its_other_values_and_a_foreign_network_makes_it_custom():
    at = open_page("train.py", {"preset": "chapter", "lr": "0.05", "ep": "3"})
    assert at.session_state[state.TR_ARCH] == builder.from_preset("chapter")
    assert at.number_input(key=state.TR_LR).value == pytest.approx(0.05)
    assert at.number_input(key=state.TR_EPOCHS).value == 3 and at.number_input(key=state.TR_BATCH).value == 60
    net = "conv:8,3,1,same,Tanh,avg,1,glorot;out:he"
    at = open_page("train.py", {"preset": "chapter", "net": net})
    assert at.session_state[state.TR_PRESET] == "custom" and table(at)[1]["layer"] == "1 Conv 8@3×3"
    assert builder_ui.run_name("chapter", builder.from_preset("default")) == "custom net"


# ---------------------------------------------------------------------------------------------- 3. number boxes


@pytest.mark.parametrize("box, typed, used, reason, fine", [
    (key("conv", 0, "channels"), 0, 1, "a convolution needs at least one filter", 8),
    (key("conv", 0, "channels"), 99, 64, "at most 64 filters here", 8),
    (key("conv", 0, "kernel"), 0, 1, "a kernel has at least 1×1 weights", 3),
    (key("conv", 0, "stride"), -1, 1, "a negative stride would walk backwards", 2),
    (key("conv", 0, "dropout"), 0.0, 0.05, "0 would pass nothing on", 0.5),
    (key("dense", 0, "neurons"), 0, 1, "a layer needs at least one neuron", 32),
    ("tr_epochs", 0, 1, "0 epochs would not train at all", 3),
    ("tr_batch", 0, 1, "a batch holds at least one image", 32),
    ("tr_seed", 0, 1, "seed 0 means “no seed”", 7),
    ("tr_lr", 0.0, 0.0001, "a rate of 0 never moves the weights", 0.05),
    ("tr_lr", -0.5, 0.0001, "a negative rate would climb the loss", 0.05),
    ("tr_momentum", 1.0, 0.99, "with 1 or more the steps never fade", 0.5),
    ("tr_final_lr", 0.0, 0.00001, "the decay must end above 0", 0.001),
    ("tr_evals", 0, 1, "at least one per epoch", 2),
    ("tr_eval_size", 5, 100, "at least 100 here", 500),
])
def test_an_impossible_number_is_replaced_and_said(lab, box, typed, used, reason, fine):
    at = lab()
    at.number_input(key=box).set_value(typed).run()
    assert not at.exception
    assert at.number_input(key=box).value == pytest.approx(used)  # the box shows the value in use
    said = [c for c in captions(at) if "is impossible here" in c]
    assert len(said) == 1 and reason in said[0] and f"using {used:g}" in said[0], said
    if box.startswith(state.TR_BLOCK):
        field = box.rsplit("_", 1)[1]
        arch = at.session_state[state.TR_ARCH]
        assert getattr((arch.convs if "_conv" in box else arch.denses)[0], field) == pytest.approx(used)
    else:
        assert at.session_state[box] == pytest.approx(used)  # the run is built with it
    at.number_input(key=box).set_value(fine).run()  # a possible value: the note goes
    assert not [c for c in captions(at) if "is impossible here" in c]


def test_a_preset_forgets_the_notes_about_typed_values(lab):
    at = lab()
    at.number_input(key="tr_epochs").set_value(0).run()
    assert any("is impossible here" in c for c in captions(at))
    at.selectbox(key="tr_preset").set_value("chapter").run()
    assert not any("is impossible here" in c for c in captions(at))


# ---------------------------------------------------------------------------------------------- 17. notes


def test_one_epoch_says_the_decay_never_acts(lab):
    at = lab()  # the default preset decays exponentially from 0.02 to 0.0005
    at.number_input(key="tr_epochs").set_value(1).run()
    assert any("With 1 epoch the rate never decays" in c and "uses 0.02 and the final rate 0.0005 has no effect" in c
               for c in captions(at))
    at.number_input(key="tr_epochs").set_value(3).run()
    assert any("epoch by epoch: 0.02 → 0.00316 → 0.0005" in c for c in captions(at))


@pytest.mark.parametrize("decay", ["linear", "exponential"])
def test_the_rates_said_are_the_ones_fit_uses(mnist, decay):
    X, y = mnist[0][:40].reshape(-1, 1, 28, 28).astype(np.float32) / 255, np.eye(10, dtype=np.float32)[mnist[1][:40]]
    cfg = TrainConfig(model=TINY, lr=0.1, final_lr=0.01, decay_type=decay, epochs=4, batch_size=20)
    trainer = Trainer(build_model(cfg.model_config), cfg.make_optimizer())
    seen = {}
    trainer.fit(X, y, X, y, epochs=4, eval_every=4, batch_size=20, early_stopping=False,
                on_batch=lambda info: seen.setdefault(info.epoch, trainer.optim.lr))
    assert notes.rates(0.1, 0.01, decay, 4) == pytest.approx([seen[e] for e in range(1, 5)])


@pytest.mark.parametrize("kernel, stride, size", [(4, 1, "29"), (2, 1, "29"), (4, 2, "15")])
def test_an_even_kernel_with_same_padding_says_its_size(lab, kernel, stride, size):
    at = lab()
    at.number_input(key=key("conv", 0, "kernel")).set_value(kernel).run()
    at.number_input(key=key("conv", 0, "stride")).set_value(stride).run()
    shape = table(at)[1]["output shape"]
    assert shape == f"16 × {size} × {size}"  # what the library computes
    said = [c for c in captions(at) if f"{size}×{size}" in c and ("even kernel" in c or "odd kernels" in c)]
    assert len(said) == 1, captions(at)
    at.number_input(key=key("conv", 0, "kernel")).set_value(kernel + 1).run()
    assert not [c for c in captions(at) if "even kernel" in c or "odd kernels" in c]


def test_the_expected_time_follows_the_multiply_adds(lab):
    at = lab()
    plan = builder.check(builder.from_preset("default"))
    assert plan.macs == notes.DEFAULT_MACS
    seconds = notes.duration(plan.macs * (10_000 + 4 * 1000 / 3) / notes.RATE)
    assert any(c.startswith(f"Expected time: about {seconds} per epoch") for c in captions(at)), captions(at)
    for _ in range(2):  # three blocks of 64 filters without pooling: about 2 x 10^8 multiply-adds an image
        at.button(key=key("conv", 0, "add")).click().run()
    for i in range(3):
        at.number_input(key=key("conv", i, "channels")).set_value(64).run()
        at.selectbox(key=key("conv", i, "pool")).set_value("none" if i < 2 else "max").run()
    macs = table(at)[-1]["multiply-adds"]
    assert macs > 10 ** 8
    slow = [w.value for w in at.warning if "This run will be slow" in w.value]
    assert slow and notes.power_text(macs) in slow[0] and "Fewer filters" in slow[0]


# ---------------------------------------------------------------------------------------------- 11. filters


@pytest.fixture
def filter_run(mnist):
    made = []

    class Counting(TrainingRun):  # counts the worker's messages by kind
        def _receive(self, header, arrays):
            self.kinds = getattr(self, "kinds", []) + [header.get("kind")]
            return super()._receive(header, arrays)

    def make(initial=None, **kw):
        base = dict(model=TINY, train_size=300, epochs=500, batch_size=30, lr=0.05, seed=4, eval_test_size=100)
        run = Counting(TrainConfig(**{**base, **kw}), *mnist, queue=RunQueue(4), publish_every=0.05,
                       initial=initial)
        made.append(run)
        return run.start()

    yield make
    for run in made:
        run.stop()
    assert all(run.join(TIMEOUT) for run in made)
    assert not [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()] and not workers()


def initial_weights(config: TrainConfig, mnist) -> list[np.ndarray]:
    """The network's weights as fit creates them, in this process: copied right after the first forward and
    backward pass, before the optimizer's first step."""
    from app.lab import inputs
    X, y, Xt, yt = inputs.prepare(config, mnist, config.train_size, config.eval_test_size, threading.Event())
    net = build_model({**config.model_config, "seed": config.seed})
    caught = []
    first = net.train_batch

    def train_batch(*args, **kw):
        loss = first(*args, **kw)
        caught.extend(np.array(w, copy=True) for _i, _n, w in weights.conv_weights(net))
        net.train_batch = first
        return loss

    net.train_batch = train_batch
    Trainer(net, config.make_optimizer()).fit(X, y, Xt, yt, epochs=1, eval_every=1, batch_size=config.batch_size,
                                              seed=config.seed, early_stopping=False, max_batches=1)
    return caught


def test_the_worker_sends_the_start_filters_once_and_they_are_the_initial_weights(filter_run, mnist):
    run = filter_run()
    wait_for(run, lambda s: s.step >= 30)
    layers = layer_filters(run)
    assert [(f.position, f.name) for f in layers] == [(1, "1 Conv 4@3×3")]
    expected = initial_weights(run.config, mnist)
    np.testing.assert_array_equal(layers[0].start, expected[0])
    now = run.network_copy().layers[0].params[0]
    assert not np.array_equal(layers[0].start, layers[0].now)  # training moved them
    run.pause()
    wait_for(run, lambda s: s.status == "paused")
    np.testing.assert_array_equal(layer_filters(run)[0].now, run.network_copy().layers[0].params[0])
    assert now.shape == layers[0].now.shape
    assert run.kinds.count("start") == 1 and run.kinds.count("weights") > 1  # once; the weights keep coming


def test_a_continued_run_starts_from_its_models_filters(filter_run, mnist):
    net = load_model(PRETRAINED)[0]
    run = filter_run(initial=net, dtype="float32")
    wait_for(run, lambda s: s.step >= 1)
    convs = weights.conv_weights(net)
    assert [f.position for f in layer_filters(run)] == [n for _i, n, _w in convs]
    for got, (_i, _n, w) in zip(layer_filters(run), convs):
        np.testing.assert_array_equal(got.start, w)


def test_per_output_takes_the_mean_or_one_input_channel():
    w = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(per_output(w, None), (w[0] + w[1]) / 2)
    np.testing.assert_array_equal(per_output(w, 1), w[1])


def tiles(at, k: str) -> np.ndarray:
    return plotly_array(figure(at, k)["data"][0]["z"])


def test_the_filters_view_shows_start_now_and_change_for_every_layer(lab):
    at = started(small(lab(), preset="default"))
    at.segmented_control(key="tr_view").set_value("filters").run()
    assert at.selectbox(key=filters_ui.LAYER).options == ["1 Conv 16@5×5", "3 Conv 32@5×5"]
    start, now, change = (tiles(at, k) for k in ("tr_filters_start", "tr_filters", "tr_filters_change"))
    assert start.shape == now.shape == change.shape == (23, 23)  # 16 filters of 5x5, 4 a row, one cell apart
    np.testing.assert_allclose(change, now - start, atol=1e-6)
    assert np.nanmax(np.abs(change)) > 0
    spec = figure(at, "tr_filters")
    cell = (spec["layout"]["height"] - 90) / start.shape[0]
    assert cell * 5 >= 40  # each 5x5 filter gets at least 40 px
    assert any("each tile is one of its 16 filters, 5×5 weights" in c for c in captions(at))

    at.selectbox(key=filters_ui.LAYER).set_value(3).run()
    assert at.selectbox(key=filters_ui.CHANNEL).value == filters_ui.MEAN
    assert tiles(at, "tr_filters").shape == (41, 29)  # 32 filters: 5 a row, 7 rows
    assert any("the mean of its 16 grids, one per input channel" in c for c in captions(at))
    at.selectbox(key=filters_ui.CHANNEL).set_value(2).run()
    assert any("its grid for input channel 3 of 16" in c for c in captions(at))


def test_the_feature_maps_cover_every_layer(lab):
    at = small(lab(), preset="default")
    at.button(key=key("conv", 0, "add")).click().run()  # three convolution blocks, a hidden dense layer, the output
    at.selectbox(key=key("conv", 2, "pool")).set_value("none").run()
    n = len(at.session_state[state.TR_ARCH].layers())
    started(at)
    at.segmented_control(key="tr_view").set_value("maps").run()
    shown = [figure(at, f"tr_maps_{i}")["layout"]["title"]["text"] for i in range(n)]
    assert [t.split(":")[0] for t in shown] == [f"{kind} {i}" for i, kind in enumerate(
        ["Conv2DLayer", "Pool2DLayer", "Conv2DLayer", "Pool2DLayer", "Conv2DLayer", "DenseLayer", "DenseLayer"], 1)]


def test_the_new_logic_modules_import_no_streamlit():
    """As tests/app/test_layout.py checks the lab's other logic: in a fresh interpreter."""
    code = ("import sys, app.lab.notes, app.lab.filters; "
            "print('streamlit' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
