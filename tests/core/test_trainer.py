"""Trainer.fit: learning, callbacks, stop requests, divergence, early stopping, chunked evaluation, logging."""
import logging

import numpy as np
import pytest

from smartflow_core import trainer as trainer_module
from smartflow_core.augment import AUGMENT_PRESETS, Augment
from smartflow_core.layer import Conv2DLayer, DenseLayer, Pool2DLayer
from smartflow_core.loss import SoftmaxCrossEntropy
from smartflow_core.nn import NeuralNetwork
from smartflow_core.operation import Linear, ReLU, Tanh
from smartflow_core.trainer import SGD, SGDMomentum, Trainer, evaluate


def blobs(n=300, seed=0, dtype=np.float64):
    """Two classes of 1x6x6 images: a bright left half or a bright right half, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(0, 0.3, (n, 1, 6, 6))
    X[y == 0, :, :, :3] += 1
    X[y == 1, :, :, 3:] += 1
    return X.astype(dtype), np.eye(2, dtype=dtype)[y]


def small_net(seed=3):
    return NeuralNetwork([Conv2DLayer(4, 3, activation=Tanh(), weight_init="glorot"), Pool2DLayer(2, flatten=True),
                          DenseLayer(2, activation=Linear(), weight_init="glorot")],
                         SoftmaxCrossEntropy(), seed=seed)


def test_fit_learns_and_reports_through_callbacks():
    X, y = blobs()
    batches, evals, epochs = [], [], []
    history = Trainer(small_net(), SGDMomentum(lr=0.1, momentum=0.9)).fit(
        X[:200], y[:200], X[200:], y[200:], epochs=3, eval_every=1, batch_size=20, seed=1,
        on_batch=batches.append, on_eval=evals.append, on_epoch=lambda e, h: epochs.append(e))
    assert len(batches) == len(history.batch_losses) == 30
    assert [b.step for b in batches] == list(range(1, 31)) and batches[-1].batches_per_epoch == 10
    assert epochs == [1, 2, 3] and history.epochs_completed == 3
    assert [e.epoch for e in evals] == [1, 2, 3]
    assert evals[-1].accuracy > 95  # the task is easy: it must be learnt
    assert history.batch_losses[-1][1] < history.batch_losses[0][1]
    assert not (history.stopped or history.diverged)


def test_same_seed_same_run_and_float32_stays_float32():
    X, y = blobs(dtype=np.float32)
    runs = []
    for _ in range(2):
        net = small_net()
        h = Trainer(net, SGD(lr=0.1)).fit(X, y, X, y, epochs=1, eval_every=1, batch_size=30, seed=7)
        runs.append([loss for _, loss in h.batch_losses])
        assert all(p.dtype == np.float32 for p in net.params())
    assert runs[0] == runs[1]


def test_should_stop_and_max_batches_end_between_batches():
    X, y = blobs()
    seen = []
    h = Trainer(small_net(), SGD(lr=0.1)).fit(X, y, X, y, epochs=5, batch_size=10, seed=1,
                                             on_batch=seen.append, should_stop=lambda: len(seen) >= 7)
    assert h.stopped and len(h.batch_losses) == 7 and h.epochs_completed == 0
    h = Trainer(small_net(), SGD(lr=0.1)).fit(X, y, X, y, epochs=5, batch_size=10, seed=1, max_batches=45)
    assert h.stopped and len(h.batch_losses) == 45 and h.epochs_completed == 1


def test_diverging_run_stops_with_the_nan_reported(caplog):
    X, y = blobs()
    net = NeuralNetwork([DenseLayer(8, activation=ReLU()), DenseLayer(2)], SoftmaxCrossEntropy(), seed=1)
    X[0, 0, 0, 0] = np.nan  # poisoned input: the first batch's loss is NaN
    with caplog.at_level(logging.WARNING, logger="smartflow"):
        h = Trainer(net, SGD(lr=0.1)).fit(X.reshape(len(X), -1), y, X.reshape(len(X), -1), y, epochs=2,
                                          batch_size=len(X), seed=1)
    assert h.diverged and not h.batch_losses
    assert "loss became nan" in caplog.text and "try a lower learning rate" in caplog.text


def test_early_stopping_restores_the_model_from_the_start_of_the_epoch():
    X, y = blobs()
    trainer = Trainer(small_net(), SGD(lr=0.05))
    trainer.fit(X, y, X, y, epochs=1, eval_every=1, batch_size=20, seed=1)
    trainer.best_loss = -1.0  # nothing can beat it: the next evaluation must stop and restore
    before = [p.copy() for p in trainer.net.params()]
    h = trainer.fit(X, y, X, y, epochs=3, eval_every=1, batch_size=20, seed=1, restart=False)
    assert h.early_stopped and h.epochs_completed == 1
    for a, b in zip(before, trainer.net.params()):
        np.testing.assert_array_equal(a, b)
    trainer.fit(X, y, X, y, epochs=1, eval_every=1, batch_size=20, seed=1, restart=False, early_stopping=False)
    # the optimizer is handed the restored network's parameters, so training goes on with them
    assert any(not np.array_equal(a, b) for a, b in zip(before, trainer.net.params()))


def test_chunked_evaluation_equals_one_pass():
    X, y = blobs()
    net = small_net()
    Trainer(net, SGD(lr=0.1)).fit(X, y, X, y, epochs=1, batch_size=50, seed=1)
    whole = evaluate(net, X, y, batch_size=len(X))
    for chunk in (7, 64, 299):
        np.testing.assert_allclose(evaluate(net, X, y, batch_size=chunk), whole, rtol=1e-12)


def test_conv_testing_logs_the_chapters_lines(caplog):
    X, y = blobs(n=1300)
    with caplog.at_level(logging.INFO, logger="smartflow"):
        Trainer(small_net(), SGDMomentum(lr=0.05)).fit(X[:1200], y[:1200], X[1200:], y[1200:], epochs=1,
                                                       eval_every=1, batch_size=10, seed=1, conv_testing=True)
    lines = [r.getMessage() for r in caplog.records]
    assert sum(line.startswith("batch#") for line in lines) == 12  # batches 0, 10, ..., 110
    assert any(line.startswith("Validation accuracy after 100 batches is ") for line in lines)
    assert lines[-1].startswith("Validation loss after 1 epochs is ")


def test_bad_inputs_get_clear_messages():
    X, y = blobs()
    trainer = Trainer(small_net(), SGD(lr=0.1))
    with pytest.raises(ValueError, match="300 examples but y_train has 299"):
        trainer.fit(X, y[:-1], X, y)
    with pytest.raises(ValueError, match="one-hot"):
        trainer.fit(X, y.argmax(1), X, y.argmax(1))
    with pytest.raises(ValueError, match="learning rate must be positive"):
        SGD(lr=0)


def test_learning_rate_decay():
    X, y = blobs()
    for kind, final in (("linear", 0.01), ("exponential", 0.01)):
        opt = SGD(lr=0.1, final_lr=0.01, decay_type=kind)
        Trainer(small_net(), opt).fit(X, y, X, y, epochs=3, eval_every=10, batch_size=100, seed=1)
        # decayed between epochs: the last epoch runs at final_lr (the book decayed once more, below it)
        assert opt.lr == pytest.approx(final), kind


def _losses(augment=..., seed=7, X=None, y=None):
    X, y = blobs(dtype=np.float32) if X is None else (X, y)
    kwargs = {} if augment is ... else {"augment": augment}
    h = Trainer(small_net(), SGD(lr=0.1)).fit(X, y, X, y, epochs=2, eval_every=1, batch_size=30, seed=seed,
                                             **kwargs)
    return [loss for _, loss in h.batch_losses], h


def test_augment_none_or_all_zero_trains_exactly_as_before():
    plain, _ = _losses()
    assert _losses(None)[0] == plain  # bit for bit
    assert _losses(Augment())[0] == plain  # nothing switched on: nothing drawn, the same run


def test_augmented_training_is_reproducible_and_never_touches_the_test_set(monkeypatch):
    strong = AUGMENT_PRESETS["strong"]
    first, _ = _losses(strong)
    assert _losses(strong)[0] == first  # the seed reproduces an augmented run
    assert first != _losses()[0] and first != _losses(strong, seed=8)[0]
    seen = []
    real = trainer_module.augment_batch
    monkeypatch.setattr(trainer_module, "augment_batch", lambda X, p, rng: seen.append(len(X)) or real(X, p, rng))
    X, y = blobs(dtype=np.float32)
    trainer = Trainer(small_net(), SGD(lr=0.1))
    h = trainer.fit(X[:240], y[:240], X[240:], y[240:], epochs=2, eval_every=1, batch_size=30, seed=7,
                    augment=strong)
    assert seen == [30] * 16  # training batches only
    loss, accuracy = evaluate(trainer.net, X[240:], y[240:])
    assert (h.evals[-1].loss, h.evals[-1].accuracy) == (loss, accuracy)  # evaluated on the plain test set


def test_augment_needs_images():
    X, y = blobs()
    net = NeuralNetwork([DenseLayer(2)], SoftmaxCrossEntropy(), seed=1)
    with pytest.raises(ValueError, match="augmentation needs images"):
        Trainer(net, SGD(lr=0.1)).fit(X[:, 0, 0], y, X[:, 0, 0], y, augment=Augment(shift=1))
    with pytest.raises(ValueError, match="augment must be an Augment or None"):
        Trainer(net, SGD(lr=0.1)).fit(X, y, X, y, augment="medium")
