"""Train a preset on MNIST from the terminal: ``python -m smartflow_core.train --preset default``.

Prints a progress bar and the test accuracy at every evaluation, saves the model with its metadata (preset,
seed, test accuracy on the full test set, training time). ``--preset chapter`` runs the chapter's experiment
(add ``--book`` for the book's gradients). ``--augment medium`` (or ``light``, ``strong``, or explicit
``shift=2,rotate=15,elastic_alpha=34,...``) trains on randomly transformed copies of each batch; the
augmentation is recorded in the metadata (``"augment": null`` without it).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from smartflow_core import book_mode
from smartflow_core.augment import AUGMENT_PRESETS, Augment
from smartflow_core.data import load_mnist
from smartflow_core.eval import calc_accuracy_model
from smartflow_core.log import enable_logging
from smartflow_core.optimizers import SGDMomentum
from smartflow_core.persist import PRETRAINED, save_model
from smartflow_core.presets import INPUT_SHAPE, MNIST_MEAN, MNIST_STD, PRESETS, build, one_hot, prepare_images
from smartflow_core.trainer import Trainer


def _bar(stream):
    def on_batch(info):
        if info.batch % 20 and info.batch != info.batches_per_epoch - 1:
            return
        done = (info.batch + 1) / info.batches_per_epoch
        rate = info.images_seen / max(info.seconds, 1e-9)
        stream.write(f"\repoch {info.epoch} [{'#' * int(30 * done):<30}] {100 * done:5.1f}%  loss {info.loss:7.4f}"
                     f"  {rate:6.0f} img/s")
        stream.flush()
    return on_batch


def _print_eval(info) -> None:
    where = f"epoch {info.epoch}" if info.batch < 0 else f"epoch {info.epoch}, batch {info.batch}"
    sys.stderr.write("\n")
    print(f"test accuracy after {where}: {info.accuracy:.2f}%", flush=True)


def _augment_arg(text: str) -> Augment:
    try:
        return Augment.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="default")
    ap.add_argument("--data", default=None, help="folder with the four MNIST files (default: SMARTFLOW_MNIST_DIR, "
                    "~/.smartflow/mnist, else the bundled subset)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--train-size", type=int, default=None, help="use only the first N training images")
    ap.add_argument("--book", action="store_true", help="the book's convolution gradients (bugs included)")
    ap.add_argument("--augment", type=_augment_arg, default=None, metavar="SPEC",
                    help=f"augment the training batches: a strength ({', '.join(AUGMENT_PRESETS)}) or name=value "
                    "pairs, e.g. 'shift=2,rotate=15,scale=0.1,shear=0.2,elastic_alpha=34,elastic_sigma=4,"
                    "thickness=0.5' (default: none)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to save the model (default {PRETRAINED} "
                    "for the default preset, else nothing)")
    args = ap.parse_args(argv)
    enable_logging(stream=sys.stdout)
    preset = PRESETS[args.preset]
    dtype = np.dtype(preset.dtype)
    X_train, y_train, X_test, y_test = load_mnist(args.data)
    if args.train_size:
        X_train, y_train = X_train[:args.train_size], y_train[:args.train_size]
    Xtr, Xte = prepare_images(X_train, dtype), prepare_images(X_test, dtype)
    with book_mode(args.book):
        net = build(preset)
    print(net)
    augment = args.augment if args.augment is not None and args.augment.active else None
    if augment is not None:
        print(f"training batches augmented with {augment}")
    optim = SGDMomentum(preset.lr, final_lr=preset.final_lr, decay_type=preset.decay_type, momentum=preset.momentum)
    epochs = args.epochs or preset.epochs
    start = time.perf_counter()
    trainer = Trainer(net, optim)
    history = trainer.fit(Xtr, one_hot(y_train, dtype=dtype), Xte, one_hot(y_test, dtype=dtype), epochs=epochs,
                          eval_every=1, batch_size=preset.batch_size, seed=preset.seed, early_stopping=False,
                          conv_testing=args.preset == "chapter", on_batch=_bar(sys.stderr),
                          on_eval=_print_eval, augment=augment)
    seconds = time.perf_counter() - start
    accuracy = calc_accuracy_model(trainer.net, Xte, y_test)
    print(f"test accuracy {accuracy:.2f}% on {len(y_test)} images after {epochs} epoch(s), {seconds:.0f} s")
    out = args.out or (PRETRAINED if args.preset == "default" and not args.train_size and not args.book else None)
    if out is not None:
        meta = {"preset": preset.name, "seed": preset.seed, "epochs": epochs, "test_accuracy": accuracy,
                "test_images": int(len(y_test)), "train_images": int(len(y_train)), "train_seconds": round(seconds, 1),
                "standardize": {"mean": MNIST_MEAN, "std": MNIST_STD}, "book": args.book,
                "augment": augment.to_dict() if augment is not None else None,
                "history": history.to_dict(),
                "command": "python -m smartflow_core.train " + " ".join(argv or sys.argv[1:])}
        out.parent.mkdir(parents=True, exist_ok=True)
        save_model(trainer.net, out, INPUT_SHAPE, meta)
        print(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
