"""Build the MNIST subset bundled with smartflow_core, so the app works offline on a fresh machine.

From the four original IDX files, pick 1,000 training images and 200 test images of each digit (10,000 / 2,000 in
all) with ``np.random.default_rng(0)``, keep them in their original order, and save them with
``np.savez_compressed`` under the keys of ``load_mnist`` plus ``training_index`` / ``test_index`` (the original row
of every image). The result must stay under 3 MB.

    .venv/bin/python scripts/make_mnist_subset.py [SOURCE] [--out PATH]

SOURCE defaults to ``../shared/mnist``, taken relative to the project root. The arrays are reproducible; the file's
bytes are not (zip entries carry the time of writing), so record the printed sha256 in
``smartflow_core/datasets/README.md`` and ``tests/core/test_data.py`` after a rebuild.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from smartflow_core.data import read_mnist_idx  # noqa: E402

TRAIN_PER_CLASS, TEST_PER_CLASS = 1000, 200
MAX_BYTES = 3 * 1024 * 1024
SEED = 0


def stratified_index(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted row numbers of ``per_class`` rows of each label 0..9, drawn without replacement: ``(10 * per_class,)``."""
    chosen = [rng.choice(np.flatnonzero(labels == digit), size=per_class, replace=False) for digit in range(10)]
    return np.sort(np.concatenate(chosen)).astype(np.int32)


def make_subset(source: Path, seed: int = SEED) -> dict[str, np.ndarray]:
    """The subset's six arrays: images ``uint8 (n, 784)``, labels ``uint8 (n,)``, original rows ``int32 (n,)``."""
    full = read_mnist_idx(source)
    rng = np.random.default_rng(seed)
    train_index = stratified_index(full["training_labels"], TRAIN_PER_CLASS, rng)
    test_index = stratified_index(full["test_labels"], TEST_PER_CLASS, rng)
    return {
        "training_images": full["training_images"][train_index],
        "training_labels": full["training_labels"][train_index],
        "test_images": full["test_images"][test_index],
        "test_labels": full["test_labels"][test_index],
        "training_index": train_index,
        "test_index": test_index,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", default="../shared/mnist",
                        help="folder of the four MNIST IDX files (relative paths start at the project root)")
    parser.add_argument("--out", default="smartflow_core/datasets/mnist_subset.npz",
                        help="output .npz (relative paths start at the project root)")
    args = parser.parse_args(argv)
    source, out = ROOT / args.source, ROOT / args.out  # an absolute argument replaces ROOT

    arrays = make_subset(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    size = out.stat().st_size
    sha256 = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out}: {len(arrays['training_labels'])} train / {len(arrays['test_labels'])} test images")
    print(f"size {size} bytes, sha256 {sha256}")
    if size > MAX_BYTES:
        print(f"error: {out} is larger than {MAX_BYTES} bytes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
