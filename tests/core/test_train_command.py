"""``python -m smartflow_core.train``: trains a preset from the terminal, prints its accuracy, saves the model."""
import json

import numpy as np
import pytest

from smartflow_core import train
from smartflow_core.augment import AUGMENT_PRESETS, Augment
from smartflow_core.persist import load_model


def test_train_command_on_the_bundled_subset(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SMARTFLOW_MNIST_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.smartflow/mnist: the bundled subset is used
    out = tmp_path / "m.npz"
    assert train.main(["--preset", "default", "--epochs", "1", "--train-size", "640", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy after epoch 1:" in printed
    assert "on 2000 images after 1 epoch(s)" in printed
    net, meta = load_model(out)
    assert meta["preset"] == "default" and meta["train_images"] == 640 and meta["test_images"] == 2000
    assert meta["augment"] is None  # no --augment: none, and the metadata says so
    assert 10 < meta["test_accuracy"] <= 100 and meta["train_seconds"] > 0
    assert json.dumps(meta)  # all JSON
    assert net.predict(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)


def test_train_command_with_augmentation(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SMARTFLOW_MNIST_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    out = tmp_path / "aug.npz"
    assert train.main(["--preset", "default", "--epochs", "1", "--train-size", "320", "--augment", "medium,shift=3",
                       "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "training batches augmented with Augment(shift=3.0, rotate=12.0" in printed
    _, meta = load_model(out)
    assert Augment.from_dict(meta["augment"]) == Augment.parse("medium,shift=3")
    assert meta["augment"]["elastic_alpha"] == AUGMENT_PRESETS["medium"].elastic_alpha
    assert meta["command"].endswith("--augment medium,shift=3 --out " + str(out))


def test_train_command_refuses_a_bad_augmentation(capsys):
    with pytest.raises(SystemExit) as exc:
        train.main(["--augment", "rotate=400"])
    assert exc.value.code == 2
    assert "Augment rotate must be between 0 and 180, got 400.0" in capsys.readouterr().err
