"""The Draw page's whole read of one drawing, as the page does it: the preparation, one pass with every layer's
feature maps, the four readings with one step switched the other way (``app.draw.reading``), and the saliency map;
beside it the part ``bench/bench.py`` times ("digit ms": preparation, maps, saliency). Medians of interleaved runs.

    .venv/bin/python bench/bench_draw_read.py          # a few seconds
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy is imported: as the app runs
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image

from app.draw import reading
from smartflow_core import insight
from smartflow_core.data import SUBSET_PATH
from smartflow_core.digits import Steps, prepare
from smartflow_core.persist import load_pretrained

TARGET_MS = 10.0  # issue 20: the Draw page's whole read


def canvas() -> np.ndarray:
    """A test digit drawn on the 280x280 canvas as the page sends it: black strokes on a transparent canvas."""
    with np.load(SUBSET_PATH) as f:
        digit = f["test_images"][0].reshape(28, 28)
    picture = np.zeros((280, 280, 4), np.uint8)
    picture[40:240, 40:240, 3] = np.asarray(Image.fromarray(digit).resize((200, 200), Image.BILINEAR))
    return picture


def main() -> None:
    net, _meta = load_pretrained()
    drawing, mean, std = canvas(), reading.MNIST_MEAN, reading.MNIST_STD

    def page():
        read = reading._read(net, drawing, Steps(), mean, std)
        insight.gradient_saliency(net, read.prepared.x, read.answer)

    def bench_part():
        x = prepare(drawing).x
        insight.feature_maps(net, x)
        insight.gradient_saliency(net, x, 7)
    calls = {"the page's whole read": page, "bench.py's digit ms": bench_part}
    times = {name: [] for name in calls}
    for f in calls.values():
        for _ in range(5):
            f()
    for _ in range(30):
        for name, f in calls.items():
            start = time.perf_counter()
            f()
            times[name].append(1000 * (time.perf_counter() - start))
    for name, v in times.items():
        print(f"{name}: {statistics.median(v):.2f} ms (median of {len(v)})")
    print(f"target for the whole read: {TARGET_MS:g} ms")


if __name__ == "__main__":
    main()
