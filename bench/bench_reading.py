"""How models read digits as the Draw page gets them: generated canvas and typed-digit sets, old model beside new.

    .venv/bin/python bench/bench_reading.py --old /tmp/pretrained_old.npz            # about four minutes
    .venv/bin/python bench/bench_reading.py --old /tmp/pretrained_old.npz --write-meta  # and record the figures

The sets are those of :mod:`smartflow_core.reading_sets`: MNIST's test digits redrawn on the 280x280 canvas (placed
anywhere, small, large, thick, thin, rotated, inverted, all mixed), digits typed in every font of
``fonts-dejavu-core`` and ``fonts-liberation``, and random scribbles that are no digit. Every picture goes through
the Draw page's preparation (``smartflow_core.digits.prepare``). For each set and model: the accuracy, the share of
pictures below the page's default confidence threshold ("not sure": false alarms on real digits, a catch on
scribbles) and the mean probability of the wrong answers. Then the page's read of one drawing, median of many, for
each model: as bench/bench.py times it (preparation, feature maps, saliency), and with the four step-flipped
alternatives the page also shows.

``--write-meta`` stores the new model's figures (and the old model's accuracies beside them) in the new model's
metadata under ``"reading_sets"``; its weights are written back unchanged. Nothing here is asserted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy is imported: BLAS reads it once

import numpy as np

from smartflow_core import reading_sets as rs
from smartflow_core.data import load_mnist
from smartflow_core.persist import PRETRAINED, load_model, save_model
from smartflow_core.presets import INPUT_SHAPE, prepare_images

THRESHOLD = 0.7  # the Draw page's default "Confidence needed" (app/state.py DR_THRESHOLD)


def build_sets(n: int, data: str | None):
    """name -> (pictures or prepared inputs, labels, description)."""
    _, _, X_test, y_test = load_mnist(data)
    sets = {"mnist": (X_test, y_test, f"MNIST's {len(y_test):,} test digits, as they are (no canvas)")}
    X, y = X_test[:n], y_test[:n]
    for name, how in rs.CANVAS_SETS.items():
        sets[f"canvas: {name}"] = (rs.canvas_set(X, how), y, f"the first {n:,} test digits redrawn, {how}")
    typed, labels, _ = rs.typed_digits()
    sets["typed: all fonts"] = (typed, labels, f"{len(labels):,} digits: {len(rs.fonts())} fonts x sizes "
                                f"{rs.TYPE_SIZES} x strokes {rs.TYPE_STROKES}")
    quick, qlabels, _ = rs.typed_digits(rs.fonts(rs.QUICK_FONTS), sizes=(72, 140), strokes=(0,))
    sets["typed: quick subset"] = (quick, qlabels, f"{len(qlabels)} digits: {', '.join(rs.QUICK_FONTS)} at 72 and "
                                   "140 px (the test's set)")
    sets["scribbles"] = (rs.scribbles(500), np.full(500, -1), "500 random three-stroke tangles (no digit)")
    return sets


def inputs_of(name: str, pictures, mean: float, std: float):
    if name == "mnist":
        return prepare_images(pictures, mean=mean, std=std), np.ones(len(pictures), bool)
    return rs.prepared(pictures, mean, std)


def read_ms(net, mean: float, std: float, repeat: int = 40) -> tuple[float, float]:
    """The Draw page's read of one canvas drawing, median ms: as ``bench/bench.py`` times it (preparation, the
    answer with every feature map, the gradient saliency map), and with the page's four alternatives beside it
    (``app.draw.reading``'s own function: each preparation step flipped, prepared and predicted)."""
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime found": expected outside a server
    from app.draw import reading
    from smartflow_core import insight
    from smartflow_core.digits import prepare
    from smartflow_core.util import softmax

    picture = np.repeat(rs.canvas_set(load_mnist(None)[2][:1], rs.CANVAS_SETS["placed"])[0][..., None], 3, axis=2)
    rgba = np.concatenate([picture, np.full(picture.shape[:2] + (1,), 255, np.uint8)], axis=2)

    def core():
        x = prepare(rgba, mean=mean, std=std).x
        probs = softmax(insight.feature_maps(net, x)[-1][1].astype(np.float64))
        insight.gradient_saliency(net, x, int(np.argmax(probs)))

    def full():
        r = reading._read(net, rgba, reading.Steps(), mean, std)
        insight.gradient_saliency(net, r.prepared.x, r.answer)

    times = {core: [], full: []}
    for _ in range(repeat):  # in turns, so a machine that gets busier moves both alike
        for f, got in times.items():
            start = time.perf_counter()
            f()
            got.append(1000 * (time.perf_counter() - start))
    return statistics.median(times[core][3:]), statistics.median(times[full][3:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--new", type=Path, default=PRETRAINED, help=f"the new model (default {PRETRAINED})")
    ap.add_argument("--old", type=Path, default=None, help="the model to compare with")
    ap.add_argument("--n", type=int, default=2000, help="test digits per canvas set (default 2000)")
    ap.add_argument("--data", default="../shared/mnist", help="folder of the full MNIST (default ../shared/mnist)")
    ap.add_argument("--write-meta", action="store_true", help="store the figures in the new model's metadata")
    args = ap.parse_args(argv)
    models = {"new": load_model(args.new)}
    if args.old is not None:
        models["old"] = load_model(args.old)
    sets = build_sets(args.n, args.data)
    results = {key: {} for key in models}
    for name, (pictures, labels, _) in sets.items():
        for key, (net, meta) in models.items():
            norm = meta.get("standardize", {})
            x, ok = inputs_of(name, pictures, norm.get("mean"), norm.get("std"))
            results[key][name] = rs.score(net, x, ok, labels, THRESHOLD)
    order = [k for k in ("old", "new") if k in models]
    print(f"| set | images | {' | '.join(f'{k} model: right / not sure / p(wrong)' for k in order)} |")
    print(f"| --- | --- |{' --- |' * len(order)}")
    for name in sets:
        cells = []
        for k in order:
            s = results[k][name]
            acc = "–" if name == "scribbles" else f"{s.accuracy:.1f} %"
            wrong = "–" if s.wrong_confidence is None else f"{s.wrong_confidence:.2f}"
            cells.append(f"{acc} / {s.not_sure:.1f} % / {wrong}")
        print(f"| {name} | {results['new'][name].n:,} | {' | '.join(cells)} |")
    print()
    for name, (_, _, what) in sets.items():
        print(f"- {name}: {what}")
    ms = {k: read_ms(net, meta["standardize"]["mean"], meta["standardize"]["std"]) for k, (net, meta) in
          models.items()}
    print("\nthe Draw page's read of one drawing (preparation, feature maps, saliency / and the four step-flipped "
          "alternatives): " + ", ".join(f"{k} model {ms[k][0]:.2f} / {ms[k][1]:.2f} ms" for k in order))
    if args.write_meta:
        net, meta = models["new"]
        meta = {**meta, "reading_sets": {
            "command": "python bench/bench_reading.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "threshold": THRESHOLD, "read_ms": round(ms["new"][0], 2), "read_ms_with_flips": round(ms["new"][1], 2),
            "sets": {name: results["new"][name].to_dict() for name in sets},
            "previous_model": ({name: round(results["old"][name].accuracy, 2) for name in sets}
                               if "old" in results else None),
            "previous_command": models["old"][1].get("command") if "old" in models else None}}
        save_model(net, args.new, INPUT_SHAPE, meta)
        print(f"wrote the figures into {args.new}'s metadata")
    return 0


if __name__ == "__main__":
    sys.exit(main())
