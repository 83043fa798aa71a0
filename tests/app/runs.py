"""The training runs of the runner tests (test_training_runner.py, test_training_worker.py): a tiny network, its
config, the ``mnist`` and ``make_run`` fixtures (conftest.py imports them), and ``wait_for``, which polls a run's
snapshot with a deadline, never a bare sleep.

``make_run`` stops and joins every run it made, then checks that no relay thread and no worker process is left.
"""
import contextlib
import threading
import time
from pathlib import Path

import pytest

from app.lab.config import TrainConfig
from app.lab.run import THREAD_NAME, TrainingRun, workers
from app.lab.run_queue import RunQueue, run_queue
from smartflow_core.data import SUBSET_PATH, load_mnist

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0

# a few hundred images train this in well under a second per epoch
TINY = {"layers": [{"type": "Conv2DLayer", "out_channels": 4, "param_size": 3, "activation": "ReLU",
                    "weight_init": "he"},
                   {"type": "Pool2DLayer", "size": 2, "mode": "max", "flatten": True},
                   {"type": "DenseLayer", "neurons": 10, "activation": "Linear", "weight_init": "he"}],
        "loss": {"type": "SoftmaxCrossEntropy"}, "seed": 3, "input_shape": [1, 28, 28]}


@pytest.fixture(scope="module")
def mnist():
    X_train, y_train, X_test, y_test = load_mnist(SUBSET_PATH)
    arrays = (X_train[:600].copy(), y_train[:600].copy(), X_test[:200].copy(), y_test[:200].copy())
    for a in arrays:
        a.setflags(write=False)  # shared as the app shares them: the runner must never write
    return arrays


def config(**kw) -> TrainConfig:
    base = dict(model=TINY, train_size=300, epochs=2, batch_size=30, optimizer="SGDMomentum", lr=0.01,
                momentum=0.9, seed=1, eval_every=1, eval_test_size=100, grad_every=5)
    return TrainConfig(**{**base, **kw})


@pytest.fixture
def make_run(mnist):
    made = []

    def make(queue=None, data=None, **kw):
        run = TrainingRun(config(**kw), *(data or mnist), queue=queue or RunQueue(4), publish_every=0.05)
        made.append(run)
        return run

    yield make
    for run in made:
        run.stop()
    assert all(run.join(TIMEOUT) for run in made), "a run did not end after stop()"
    assert not [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]
    assert not workers(), "a worker process outlived its run"


def wait_for(run: TrainingRun, predicate, timeout: float = TIMEOUT):
    """Poll the snapshot until ``predicate(snapshot)``; fail with the last snapshot's status."""
    deadline = time.monotonic() + timeout
    while True:
        snap = run.snapshot()
        if predicate(snap):
            return snap
        if time.monotonic() > deadline:
            pytest.fail(f"timed out: status {snap.status}, step {snap.step}, message {snap.message}")
        time.sleep(0.01)


LONG = dict(epochs=500)  # never finishes by itself inside a test: each test stops it


@contextlib.contextmanager
def only_slot_taken():
    """The server's queue cut to one slot, held by another session's run (the lab tests' queue): the page's run
    must wait. Afterwards that run is stopped and the cap restored. Yields the other run."""
    queue, cap = run_queue(), run_queue().max_runs
    X, y, Xt, yt = load_mnist(SUBSET_PATH)
    tiny = {**TINY, "layers": [{**TINY["layers"][0], "out_channels": 2}, *TINY["layers"][1:]]}
    other = TrainingRun(TrainConfig(model=tiny, train_size=500, epochs=500, eval_test_size=100), X, y, Xt, yt,
                        label="another session's run")
    try:
        queue.set_max_runs(1)
        other.start()
        deadline = time.monotonic() + 60
        while other.snapshot().status != "running":  # it holds the only slot
            assert time.monotonic() < deadline, "the other session's run never started"
            time.sleep(0.05)
        yield other
    finally:
        other.stop()
        other.join(TIMEOUT)
        queue.set_max_runs(cap)
