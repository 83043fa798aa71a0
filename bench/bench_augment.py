"""What augmentation costs: a training step of the lab's default preset (batch 64, float32) with and without it.

    .venv/bin/python bench/bench_augment.py                 # about half a minute
    .venv/bin/python bench/bench_augment.py --rounds 20     # steadier medians on a busy machine

The step is the trainer's: (augment), forward, loss, backward, SGD with momentum, on real digits (the bundled
subset, standardised as the trainer gets them). Every measurement is taken in turns, round after round, so a
machine that gets busier during the run moves them all alike and the ratios hold; medians are reported. Pillow's
per-image affine transform is timed beside the NumPy batch warp, the reason it is not used. One BLAS thread, as
the app trains (set OPENBLAS_NUM_THREADS before running to change it). Nothing here is asserted.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy is imported: BLAS reads it once

import numpy as np

from bench import interleaved_ms
from smartflow_core.augment import AUGMENT_PRESETS, Augment, augment
from smartflow_core.data import SUBSET_PATH, load_mnist
from smartflow_core.optimizers import SGDMomentum
from smartflow_core.presets import PRESETS, build, one_hot, prepare_images

TARGET = 1.3  # a step with augmentation costs at most this many times one without (issue 20)
PARTS = {"shift": Augment(shift=2), "rotation": Augment(rotate=15), "scale + shear": Augment(scale=0.1, shear=0.2),
         "elastic (alpha 34, sigma 4)": Augment(elastic_alpha=34, elastic_sigma=4),
         "thickness 1": Augment(thickness=1)}


def batches(batch_size: int):
    """An endless cycle of real training batches (standardised float32 images, one-hot labels)."""
    X, y, _, _ = load_mnist(SUBSET_PATH)
    X, y = prepare_images(X[:50 * batch_size]), one_hot(y[:50 * batch_size])
    i = 0
    while True:
        yield X[i:i + batch_size], y[i:i + batch_size]
        i = (i + batch_size) % len(X)


def step_calls(rng: np.random.RandomState) -> dict:
    """Training steps of the default preset: plain, and with each augmentation strength."""
    preset = PRESETS["default"]
    net = build(preset)
    optim = SGDMomentum(preset.lr, momentum=preset.momentum)
    data = batches(preset.batch_size)

    def step(params: Augment | None):
        X, y = next(data)
        if params is not None:
            X = augment(X, params, rng)
        net.train_batch(X, y)
        optim.step(net.params(), net.param_grads())
    calls = {"training step, no augmentation": lambda: step(None)}
    for name, params in AUGMENT_PRESETS.items():
        if params.active:
            calls[f"training step, augmentation {name}"] = lambda p=params: step(p)
    return calls


def augment_calls(rng: np.random.RandomState) -> dict:
    """Augmentation alone on one batch: each strength, each transform, and Pillow's per-image affine warp."""
    X = next(batches(PRESETS["default"].batch_size))[0]
    calls = {f"augmentation {name} alone": lambda p=p: augment(X, p, rng)
             for name, p in AUGMENT_PRESETS.items() if p.active}
    calls.update({f"  {name} alone": lambda p=p: augment(X, p, rng) for name, p in PARTS.items()})
    try:
        from PIL import Image
    except ImportError:
        return calls

    def pillow_affine():
        coeffs = (0.98, 0.17, -2.0, -0.17, 0.98, 2.5)  # a rotation of about 10 degrees and a shift
        return np.stack([np.asarray(Image.fromarray(x[0]).transform((28, 28), Image.Transform.AFFINE, coeffs,
                                                                     Image.Resampling.BILINEAR)) for x in X])
    calls["  Pillow: one affine warp per image (64 calls), for comparison"] = pillow_affine
    return calls


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args(argv)
    rng = np.random.RandomState(0)
    start = time.perf_counter()
    times = interleaved_ms({**step_calls(rng), **augment_calls(rng)}, args.rounds, per_round=3, warmup=3)
    plain = times["training step, no augmentation"]
    print(f"Default preset, batch 64, float32, {os.environ['OPENBLAS_NUM_THREADS']} BLAS thread(s); medians of "
          f"{3 * args.rounds} in interleaved rounds; {time.perf_counter() - start:.0f} s in all.\n")
    print("| measurement | ms | x plain step |\n| --- | --- | --- |")
    for name, ms in times.items():
        print(f"| {name} | {ms:.2f} | {ms / plain:.3f} |")
    for name, params in AUGMENT_PRESETS.items():
        if params.active:
            ratio = times[f"training step, augmentation {name}"] / plain
            print(f"\n{name}: {params}\n  step ratio {ratio:.3f} (target at most {TARGET}: "
                  f"{'met' if ratio <= TARGET else 'NOT met'})", end="")
    print()


if __name__ == "__main__":
    main()
