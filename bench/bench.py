"""Speed of smartflow_core, as medians after warm-up and as ratios measured in one run.

    python bench/bench.py            # quick: per-step and per-kernel timings (about a minute)
    python bench/bench.py --epoch    # also one full epoch of the chapter's model, float32 and float64, with the
                                     # test accuracy after it (needs the full MNIST: ../shared/mnist or
                                     # SMARTFLOW_MNIST_DIR)

Writes a Markdown table to stdout and to bench/results.md. Run it on a quiet machine; set OPENBLAS_NUM_THREADS
to compare one and two BLAS threads (the app runs with one).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from smartflow_core import book_mode, reference  # noqa: E402
from smartflow_core.conv import conv2d_forward, conv2d_input_grad, conv2d_param_grad  # noqa: E402
from smartflow_core.optimizers import SGDMomentum  # noqa: E402
from smartflow_core.presets import PRESETS, build, one_hot, prepare_images  # noqa: E402
from smartflow_core.trainer import Trainer  # noqa: E402


def median_ms(f, repeat: int = 10, warmup: int = 2) -> float:
    for _ in range(warmup):
        f()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def matmul_gflops(dtype) -> float:
    a = np.random.default_rng(0).normal(size=(1024, 1024)).astype(dtype)
    ms = median_ms(lambda: a @ a, repeat=5)
    return 2 * 1024 ** 3 / (ms / 1000) / 1e9


def chapter_step_ms(dtype, book: bool) -> float:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 1, 28, 28)).astype(dtype)
    y = one_hot(rng.integers(0, 10, 60), dtype=dtype)
    with book_mode(book):
        net = build(PRESETS["chapter"])
    trainer = Trainer(net, SGDMomentum(0.1, momentum=0.9))

    def step():
        net.train_batch(X, y)
        trainer.optim.step()
    return median_ms(step)


def kernels(dtype) -> dict[str, float]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 1, 28, 28)).astype(dtype)
    w = rng.normal(size=(1, 32, 5, 5)).astype(dtype)
    g = rng.normal(size=(60, 32, 28, 28)).astype(dtype)
    return {"forward": median_ms(lambda: conv2d_forward(x, w)),
            "input gradient": median_ms(lambda: conv2d_input_grad(x.shape, w, g)),
            "filter gradient": median_ms(lambda: conv2d_param_grad(x, g, (5, 5)))}


def loops_vs_fast() -> tuple[float, float]:
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, 1, 28, 28)), rng.normal(size=(1, 4, 5, 5))
    t = time.perf_counter()
    reference._output(x, w)
    loops = 1000 * (time.perf_counter() - t)
    return loops, median_ms(lambda: conv2d_forward(x, w))


def inference_ms(batch: int) -> float:
    net = build(PRESETS["default"])
    x = np.random.default_rng(0).normal(size=(batch, 1, 28, 28)).astype(np.float32)
    return median_ms(lambda: net.forward(x, inference=True), repeat=5)


def epoch(dtype) -> tuple[float, float]:
    from smartflow_core.data import load_mnist
    folder = os.environ.get("SMARTFLOW_MNIST_DIR") or str(ROOT.parent / "shared" / "mnist")
    X_train, y_train, X_test, y_test = load_mnist(folder)
    Xtr, Xte = prepare_images(X_train, dtype), prepare_images(X_test, dtype)
    net = build(PRESETS["chapter"])
    t = time.perf_counter()
    h = Trainer(net, SGDMomentum(0.1, momentum=0.9)).fit(Xtr, one_hot(y_train, dtype=dtype), Xte,
                                                          one_hot(y_test, dtype=dtype), epochs=1, eval_every=1,
                                                          batch_size=60, seed=20190402)
    return time.perf_counter() - t, h.evals[-1].accuracy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epoch", action="store_true")
    args = ap.parse_args()
    rows = [("machine", f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, NumPy "
             f"{np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")]
    for dt in (np.float32, np.float64):
        name = np.dtype(dt).name
        rows.append((f"matrix multiply 1024^2, {name}", f"{matmul_gflops(dt):.1f} GFLOP/s"))
        for book in (False, True):
            rows.append((f"chapter model training step, batch 60, {name}, {'book' if book else 'correct'} mode",
                         f"{chapter_step_ms(dt, book):.1f} ms"))
        for k, ms in kernels(dt).items():
            rows.append((f"conv {k}, 60x1x28x28 with 32 5x5 filters, {name}", f"{ms:.2f} ms"))
    loops, fast = loops_vs_fast()
    rows.append(("chapter's loops vs fast kernel, one 28x28 image, 4 filters",
                 f"{loops:.0f} ms vs {fast:.3f} ms ({loops / fast:.0f}x)"))
    for b in (1, 1000):
        rows.append((f"default preset inference, batch {b}, float32", f"{inference_ms(b):.2f} ms"))
    if args.epoch:
        for dt in (np.float32, np.float64):
            seconds, acc = epoch(dt)
            rows.append((f"chapter model, one epoch of 60,000 images, {np.dtype(dt).name}, correct mode",
                         f"{seconds:.0f} s, test accuracy {acc:.2f} %"))
    table = "| measurement | result |\n| --- | --- |\n" + "\n".join(f"| {a} | {b} |" for a, b in rows) + "\n"
    print(table)
    (ROOT / "bench" / "results.md").write_text(f"Measured {time.strftime('%Y-%m-%d')} with "
                                               f"`python bench/bench.py{' --epoch' if args.epoch else ''}`\n\n" + table)


if __name__ == "__main__":
    main()
