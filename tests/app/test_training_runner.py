"""app.lab.run, app.lab.run_queue and app.lab.slot without Streamlit: the run in its worker process,
pause/resume/stop, errors, divergence, the queue, the session slot, copies.

Every test builds its runs through the ``make_run`` fixture (tests/app/runs.py), which stops and joins them
afterwards and then checks that no relay thread and no worker process is left alive. Waits poll the snapshot with a
deadline, never a bare sleep. The worker's own faults (killed, frozen, orphaned) are in test_training_worker.py.
"""
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from runs import LONG, ROOT, TIMEOUT, TINY, config, wait_for

import app.lab.run_queue as run_queue_module
from app.lab.config import TrainConfig
from app.lab.run import TrainingRun
from app.lab.run_queue import RunQueue, run_queue
from app.lab.slot import SessionSlot, browser_key
from app.lab.weights import grad_rms
from smartflow_core.nn import NeuralNetwork
from smartflow_core.persist import build_model, load_model
from smartflow_core.presets import one_hot, prepare_images

# ---------------------------------------------------------------------------------------------- a whole run


def test_start_progresses_to_done_with_history(make_run):
    queue = RunQueue(2)
    run = make_run(queue=queue).start()
    snap = wait_for(run, lambda s: s.ended)
    assert snap.status == "done" and snap.message is None and snap.error is None
    assert snap.step == snap.total_steps == 20 and snap.progress == 1.0  # 2 epochs of 300 / 30
    assert [s for s, _ in snap.losses] == list(range(1, 21))
    assert [e.epoch for e in snap.evals] == [1, 2] and 0 <= snap.accuracy <= 100
    assert snap.seconds > 0 and snap.images_per_second > 0 and snap.eta_seconds is None
    assert snap.filters.shape == (1, 4, 3, 3)
    assert run.history.epochs_completed == 2 and run.history.batch_losses == list(snap.losses)
    assert queue.counts() == (0, 0)  # the slot is given back
    # the finished weights come back as a model file persist can read
    net, meta = load_model(run.model_bytes())
    assert meta["train_images"] == 300 and meta["eval_images"] == 100 and len(meta["history"]["evals"]) == 2
    assert meta["train_config"]["model"]["layers"][0]["out_channels"] == 4
    assert net.predict(prepare_images(np.zeros((3, 784), np.uint8))).shape == (3, 10)


def test_eval_steps_adds_evaluations_inside_epochs(make_run):
    run = make_run(eval_steps=4).start()
    snap = wait_for(run, lambda s: s.ended)
    # every 4 steps, plus each epoch's end (step 10 and 20; 20 is not doubled)
    assert [e.step for e in snap.evals] == [4, 8, 10, 12, 16, 20]


# ---------------------------------------------------------------------------------------------- pause, resume, stop


def test_pause_holds_the_step_and_resume_continues(make_run):
    queue = RunQueue(2)
    run = make_run(queue=queue, **LONG).start()
    wait_for(run, lambda s: s.step >= 3)
    run.pause()
    paused = wait_for(run, lambda s: s.status == "paused")
    assert paused.pause_requested
    # a second run as the clock: while it trains ten steps, the paused one takes none and counts no time
    other = make_run(queue=queue, **LONG).start()
    wait_for(other, lambda s: s.step >= 10)
    later = run.snapshot()
    assert later.status == "paused" and later.step == paused.step
    assert later.seconds == pytest.approx(paused.seconds, abs=1e-6)  # paused time is not counted
    run.resume()
    wait_for(run, lambda s: s.status == "running" and s.step > paused.step)


def test_stop_from_running(make_run):
    run = make_run(**LONG).start()
    wait_for(run, lambda s: s.step >= 2)
    run.stop()
    assert run.join(TIMEOUT)
    snap = run.snapshot()
    assert snap.status == "stopped" and snap.stop_requested and snap.step < snap.total_steps


def test_stop_from_paused(make_run):
    run = make_run(**LONG).start()
    wait_for(run, lambda s: s.step >= 1)
    run.pause()
    wait_for(run, lambda s: s.status == "paused")
    run.stop()  # must wake the waiting worker
    assert run.join(TIMEOUT) and run.snapshot().status == "stopped"


def test_stop_from_queued_leaves_the_queue(make_run):
    queue = RunQueue(1)
    first, second = make_run(queue=queue, **LONG).start(), make_run(queue=queue, **LONG).start()
    assert second.snapshot().status == "queued"
    wait_for(first, lambda s: s.step >= 1)
    second.stop()
    assert second.join(TIMEOUT) and second.snapshot().status == "stopped"
    assert second.snapshot().step == 0 and queue.position(second) == 0
    assert first.snapshot().active  # the running one is untouched
    assert queue.counts() == (1, 0)


def test_stop_before_start_and_no_second_start(make_run):
    run = make_run()
    assert run.snapshot().status == "idle"
    run.stop()
    assert run.snapshot().status == "stopped" and run.join(0)
    with pytest.raises(RuntimeError, match="already stopped"):
        run.start()


# ---------------------------------------------------------------------------------------------- failures


@pytest.mark.parametrize("case, match", [
    ("dense_without_flatten", "DenseLayer expects"),  # fails at the first forward pass, inside fit
    ("bad_images", "expected MNIST images"),          # fails while preparing the data
    ("bad_layer_argument", "out_channels"),           # fails while building the network
])
def test_error_in_the_thread_becomes_status_error(make_run, mnist, case, match):
    queue, data, model = RunQueue(1), None, TINY
    if case == "dense_without_flatten":
        model = {**TINY, "layers": [TINY["layers"][0], {"type": "DenseLayer", "neurons": 10}]}
    elif case == "bad_images":
        data = (np.zeros((50, 10), np.uint8), mnist[1][:50], mnist[2], mnist[3])
    else:
        model = {**TINY, "layers": [{**TINY["layers"][0], "out_channels": 0}] + TINY["layers"][1:]}
    run = make_run(queue=queue, data=data, model=model).start()
    snap = wait_for(run, lambda s: s.ended)
    assert snap.status == "error" and match in snap.error and snap.message == snap.error
    assert queue.counts() == (0, 0)  # the slot is free for the next run
    assert run.join(TIMEOUT)


def test_divergence_stops_with_a_hint(make_run):
    queue = RunQueue(1)
    run = make_run(queue=queue, lr=1e6, epochs=5).start()
    snap = wait_for(run, lambda s: s.ended)
    assert snap.status == "diverged"
    assert snap.message == f"The loss became NaN at step {snap.step + 1}: lower the learning rate (try 100000)."
    assert snap.error is None and queue.counts() == (0, 0)


# ---------------------------------------------------------------------------------------------- the queue


def test_queue_cap_holds_runs_back_in_order(make_run):
    queue = RunQueue(1)
    first = make_run(queue=queue, **LONG).start()
    second = make_run(queue=queue, **LONG).start()
    third = make_run(queue=queue, **LONG).start()
    wait_for(first, lambda s: s.step >= 1)
    assert (second.snapshot().status, second.snapshot().queue_position) == ("queued", 1)
    assert third.snapshot().queue_position == 2
    second.stop()  # a stopped queued run leaves the line at once
    assert third.snapshot().queue_position == 1
    steps = first.snapshot().step
    wait_for(first, lambda s: s.step >= steps + 5)  # the first trains on...
    assert (third.snapshot().status, third.snapshot().step) == ("queued", 0)  # ...while the third still waits
    first.stop()
    snap = wait_for(third, lambda s: s.step >= 1)
    assert snap.status in ("running", "paused") and snap.queue_position == 0


def test_pause_requested_while_queued_takes_effect_when_it_starts(make_run):
    queue = RunQueue(1)
    first, second = make_run(queue=queue, **LONG).start(), make_run(queue=queue, **LONG).start()
    second.pause()
    first.stop()
    snap = wait_for(second, lambda s: s.status == "paused")
    assert snap.step == 0


def test_run_queue_reads_its_cap_from_the_environment(monkeypatch):
    monkeypatch.setattr(run_queue_module, "_QUEUE", None)
    monkeypatch.setenv("SMARTFLOW_MAX_RUNS", "3")
    assert run_queue().max_runs == 3 and run_queue() is run_queue()
    monkeypatch.setattr(run_queue_module, "_QUEUE", None)
    monkeypatch.setenv("SMARTFLOW_MAX_RUNS", "many")
    with pytest.raises(ValueError, match="SMARTFLOW_MAX_RUNS must be a whole number >= 1, got 'many'"):
        run_queue()


# ---------------------------------------------------------------------------------------------- copies


def test_snapshot_copies_are_independent_of_the_live_network(make_run):
    run = make_run(**LONG).start()
    wait_for(run, lambda s: s.step >= 2)
    run.pause()
    before = wait_for(run, lambda s: s.status == "paused")
    kept_filters, kept_losses = before.filters.copy(), len(before.losses)
    assert not before.filters.flags.writeable
    # published when it paused: exact. The network copy holds the same weights, in arrays of its own
    copy = next(run.network_copy().params())
    np.testing.assert_array_equal(copy, before.filters)
    assert not np.shares_memory(copy, before.filters)
    run.resume()
    after = wait_for(run, lambda s: s.step >= before.step + 5 and not np.array_equal(s.filters, kept_filters))
    np.testing.assert_array_equal(before.filters, kept_filters)  # the old snapshot did not move
    assert len(before.losses) == kept_losses and len(after.losses) > kept_losses


def test_weights_published_at_a_pause_are_the_exact_ones(make_run):
    """Paused, then stopped without another step: the worker's last publication (from the live network, at the
    end) equals the one made when it paused."""
    run = make_run(**LONG).start()
    wait_for(run, lambda s: s.step >= 2)
    run.pause()
    paused = wait_for(run, lambda s: s.status == "paused")
    run.stop()
    assert run.join(TIMEOUT)
    final = run.snapshot()
    assert final.step == paused.step and final.filters is not paused.filters
    np.testing.assert_array_equal(final.filters, paused.filters)


def test_network_copy_works_while_running(make_run, mnist):
    run = make_run(**LONG).start()
    wait_for(run, lambda s: s.step >= 1 and s.status == "running")
    X = prepare_images(mnist[2][:5])
    for _ in range(3):
        net = run.network_copy()
        assert isinstance(net, NeuralNetwork) and run.snapshot().status == "running"
        other = list(run.network_copy().params())
        assert not any(np.shares_memory(a, b) for a in net.params() for b in other)
        out = net.predict(X)
        assert out.shape == (5, 10) and np.all(np.isfinite(out))
        for p in net.params():
            p[...] = 0  # the copy is ours to change
        time.sleep(0.02)
    assert not all(np.all(p == 0) for p in run.network_copy().params())


def test_continue_training_from_an_initial_network(make_run, mnist):
    first = make_run(epochs=3).start()
    wait_for(first, lambda s: s.ended)
    trained = first.network_copy()
    kept = [p.copy() for p in trained.params()]
    fresh_first_loss = first.snapshot().losses[0][1]
    run = TrainingRun(config(epochs=1, optimizer="SGD", lr=1e-9), *mnist, initial=trained, queue=RunQueue(1))
    run.start()
    assert run.join(TIMEOUT)
    snap = run.snapshot()
    assert snap.status == "done"
    assert snap.losses[0][1] < fresh_first_loss  # it started from the trained weights, not from scratch
    for a, b in zip(run.network_copy().params(), kept):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(trained.params(), kept):
        np.testing.assert_array_equal(a, b)  # the given network was never touched


# ---------------------------------------------------------------------------------------------- gradient norms


def test_gradient_norms_are_recorded_per_weight(make_run):
    run = make_run(grad_every=5).start()
    snap = wait_for(run, lambda s: s.ended)
    assert snap.grad_labels == ("1 Conv2DLayer filters", "3 DenseLayer weights", "3 DenseLayer bias")
    assert [s for s, _ in snap.grad_norms] == [1, 5, 10, 15, 20]
    assert all(len(v) == 3 and all(np.isfinite(x) and x > 0 for x in v) for _, v in snap.grad_norms)


def test_gradient_rms_is_norm_over_root_size():
    rng = np.random.default_rng(0)
    net = build_model(TINY)
    X = prepare_images(rng.integers(0, 256, (8, 784)).astype(np.uint8))
    net.train_batch(X, one_hot(rng.integers(0, 10, 8)))
    grads = [g for layer in net.layers for g in layer.param_grads]
    expected = [np.sqrt(np.mean(np.square(g.astype(np.float64)))) for g in grads]
    np.testing.assert_allclose(grad_rms(net), expected, rtol=1e-12)
    # a gradient scaled up 100 times in every entry reads 100 times larger, whatever its size
    net.layers[0].param_grads[0] = net.layers[0].param_grads[0] * 100
    assert grad_rms(net)[0] == pytest.approx(100 * expected[0])


# ---------------------------------------------------------------------------------------------- config, session


BAD_CONFIGS = [
    ("epochs", 0, "epochs must be a whole number of at least 1, got 0"),
    ("batch_size", 2.5, "batch_size must be a whole number"),
    ("optimizer", "Adam", "the optimizer must be one of SGD, SGDMomentum, got 'Adam'"),
    ("lr", 0, "the learning rate must be a positive number, got 0"),
    ("lr", float("nan"), "the learning rate must be a positive number"),
    ("final_lr", -0.1, "the final learning rate must be a number of at least 0, got -0.1"),
    ("final_lr", 0.5, r"the final learning rate must be between 0 and the learning rate \(0.01\), got 0.5"),
    ("final_lr", 0.0, "exponential decay needs a final learning rate above 0"),
    ("momentum", 1.0, "the momentum must be at least 0 and below 1, got 1.0"),
    ("decay_type", "cosine", "the decay must be one of"),
    ("seed", 0, "seed must be a whole number of at least 1"),
    ("seed", 2 ** 32, "the seed must be below 2"),
    ("dtype", "float16", "the number type must be one of float32, float64, got 'float16'"),
    ("augment", "extreme", "the augmentation must be one of 'none', 'light', 'medium', 'strong', got 'extreme'"),
    ("eval_test_size", 0, "eval_test_size must be"),
    ("model", "{not json", "the model must be a model config or its JSON"),
    ("model", "[1]", "the model config must be a dict, got list"),
    ("model", {"loss": {"type": "SoftmaxCrossEntropy"}}, "the model config needs 'layers'"),
    ("model", {"layers": [{"type": "Conv3D"}], "loss": {"type": "SoftmaxCrossEntropy"}}, "unknown layer type"),
    ("model", {"layers": TINY["layers"]}, "the model config needs a loss, one of"),
    ("model", {**TINY, "input_shape": [3, 32, 32]}, "train on MNIST images"),
]


def bad_config(field, value):
    """The config with ``field`` set to ``value`` (exponential decay when the field is the final rate)."""
    extra = {"decay_type": "exponential"} if field == "final_lr" else {}
    return config(**{**extra, field: value})


@pytest.mark.parametrize("field, value, match", BAD_CONFIGS)
def test_config_rejects_bad_values(field, value, match):
    with pytest.raises(ValueError, match=match):
        bad_config(field, value)


def test_config_refusals_are_said_in_chinese(monkeypatch):
    """Each refusal is a template of the catalogue: the page (settings_ui.make_config) shows it in Chinese."""
    from test_i18n import english

    from app import i18n

    monkeypatch.setattr(i18n, "OUTSIDE", "zh")
    for field, value, _match in BAD_CONFIGS:
        with pytest.raises(ValueError) as caught:
            bad_config(field, value)
        shown = i18n.message(caught.value)
        assert re.search(r"[\u4e00-\u9fff]", shown), (field, value, shown)
        said = english(f"{field} {value} list")  # the field's name, the value refused, a type name stay as they are
        quoted = re.sub(r"'[^']*'", " ", shown)  # option values ('linear', 'layers') stay in Latin letters
        if field == "model" and value == "{not json":
            quoted = re.sub(r"（[^）]*）", " ", quoted)  # the JSON reader's own reason, in Python's English
        assert not [w for w in english(quoted) if w not in said], shown


def test_config_is_hashable_and_comes_from_presets():
    assert hash(config()) == hash(config()) and config() == config()
    assert json.loads(config().model) == TINY
    with pytest.raises(ValueError, match="exponential decay needs a final learning rate above 0"):
        config(decay_type="exponential", final_lr=0)
    cfg = TrainConfig.from_preset("default", epochs=1)
    assert cfg.epochs == 1 and cfg.optimizer == "SGDMomentum" and cfg.decay_type == "exponential"
    assert cfg.model_config["layers"][0]["out_channels"] == 16


def test_session_slot_keeps_past_runs_and_stops_on_release(make_run):
    slot = SessionSlot(keep=2)
    first = slot.start(make_run(**LONG))
    wait_for(first, lambda s: s.step >= 1)
    second = slot.start(make_run(**LONG))  # replacing stops the first, without waiting
    assert first.join(TIMEOUT) and first.snapshot().status == "stopped"
    assert slot.run is second and slot.past == [first]
    labels = [s.label for s in slot.compare()]
    assert labels[0].startswith("#1 ") and labels[1].startswith("#2 ")
    wait_for(second, lambda s: s.step >= 1)
    slot.stop()  # what on_release calls
    assert second.join(TIMEOUT) and second.snapshot().status == "stopped"


def test_the_runner_does_not_import_streamlit():
    code = "import sys, app.lab.run, app.lab.run_queue, app.lab.slot; print('streamlit' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def test_a_run_stopped_by_a_reload_is_reported_to_the_next_session_of_that_browser(make_run):
    token, mask = bytes(range(16)), bytes([9, 8, 7, 6])
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(token))
    cookie = f"2|{mask.hex()}|{masked.hex()}|1700000000"
    key = browser_key(cookie)
    assert key == browser_key(token.hex()) and key != browser_key(bytes(16).hex())  # the token, not its mask
    assert browser_key(None) is None and browser_key("2|zz|yy|1") is None
    old = SessionSlot(browser=key)
    run = old.start(make_run(**LONG))
    wait_for(run, lambda s: s.step >= 1)
    old.release()  # what on_release calls when the tab reloads
    assert run.join(TIMEOUT) and run.snapshot().status == "stopped"
    assert SessionSlot(browser=browser_key(bytes(16).hex())).lost_run() is None  # another browser is not told
    new = SessionSlot(browser=key)
    label, step, total = new.lost_run()
    assert label == run.label and 1 <= step <= run.snapshot().step and total == run.total_steps
    assert new.lost_run() == (label, step, total)  # kept for this session until it trains again
    assert SessionSlot(browser=key).lost_run() is None  # told once: a third session of the browser is not
    done = SessionSlot(browser=key)
    finished = done.start(make_run(epochs=1))
    wait_for(finished, lambda s: s.ended)
    done.release()  # an ended run is not reported as lost
    assert SessionSlot(browser=key).lost_run() is None
