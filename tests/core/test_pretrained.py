"""The pretrained CNN shipped in the package: small, documented, and as accurate as its metadata says."""
import numpy as np

from smartflow_core.data import load_mnist
from smartflow_core.persist import PRETRAINED, load_model
from smartflow_core.presets import prepare_images


def test_pretrained_model_metadata_and_size():
    assert PRETRAINED.stat().st_size < 2_000_000
    net, meta = load_model(PRETRAINED)
    assert meta["preset"] == "default" and meta["train_images"] == 60000 and meta["test_images"] == 10000
    assert meta["seed"] == 20190402 and meta["train_seconds"] > 0 and meta["command"].startswith("python -m")
    assert meta["standardize"] == {"mean": 33.318421449829934, "std": 78.56748998339798}
    assert meta["augment"] is not None and "--augment" in meta["command"]  # issue 20: trained with augmentation
    sets = meta["reading_sets"]["sets"]  # bench/bench_reading.py's figures, quoted by the Draw page and README
    assert {"mnist", "canvas: mixed", "typed: all fonts", "scribbles"} <= set(sets)
    assert sets["mnist"]["accuracy"] == round(meta["test_accuracy"], 2)


def test_pretrained_model_scores_at_least_99_3_percent_on_the_full_test_set(mnist_dir):
    net, meta = load_model(PRETRAINED)
    _, _, X_test, y_test = load_mnist(mnist_dir)
    predicted = net.predict(prepare_images(X_test), batch_size=1000).argmax(axis=1)
    accuracy = 100 * float(np.mean(predicted == y_test))
    assert accuracy >= 99.3  # issue 20: trained with augmentation
    assert abs(accuracy - meta["test_accuracy"]) < 1e-9  # the recorded figure is the measured one
