"""What a setting of the training lab does that its label does not say, worked out with the numbers shown next to
it: the learning rate of each epoch under decay (and that one epoch never decays), what "same" padding makes of
an even kernel, and about how long an epoch takes. No Streamlit here.
"""
from __future__ import annotations

import math

from app.i18n import _, ngettext
from app.lab.builder import Architecture, Plan
from smartflow_core.conv import conv_geometry
from smartflow_core.optimizers import OPTIMIZERS
from smartflow_core.presets import INPUT_SHAPE

# Training speed in multiply-adds a second, counted as the layer table counts them (one image's forward pass):
# the default network (DEFAULT_MACS per image) trained about 800 images a second in the lab, in its
# worker process beside the web server (README, "Training off the web process": 771 and 877 images/s,
# bench/bench_load.py, 2026-12-01). Its bare training step is faster (bench/results.md, 2026-11-29: 52.45 ms for
# 64 images, 1,220 images/s); the lab's figure includes what a run costs around its steps.
DEFAULT_MACS = 3_024_384  # the default preset's multiply-adds per image, as the layer table counts them
RATE = DEFAULT_MACS * 800
FLOAT64_SLOWER = 2.0  # bench/results.md: the chapter's step takes 53.41 ms in float64, 27.14 ms in float32
FORWARD_SHARE = 1 / 3  # an evaluation runs the forward pass only: about a third of a training step per image
SLOW_RUN = 300  # seconds: a run expected to take longer gets a warning rather than a caption


def rates(lr: float, final_lr: float, decay: str | None, epochs: int) -> list[float]:
    """The learning rate of each epoch, as ``Trainer.fit`` sets it: the optimizer decays after every epoch but
    the last (and only when the final rate is above 0), so one epoch keeps the first rate throughout."""
    optim = OPTIMIZERS["SGD"](lr, final_lr, decay)
    optim.max_epochs = epochs
    optim._setup_decay()
    out = [optim.lr]
    for _epoch in range(epochs - 1):
        if optim.final_lr:
            optim._decay_lr()
        out.append(optim.lr)
    return out


def decay_note(lr: float, final_lr: float, decay: str | None, epochs: int) -> tuple[str, bool] | None:
    """A sentence about the rate schedule, and whether it warns (the decay cannot act); None without decay."""
    if not decay or final_lr > lr:  # no decay, or one that cannot train (make_config says why)
        return None
    if epochs == 1:
        return _("With 1 epoch the rate never decays: it drops only between epochs, so the whole run uses {:g} "
                 "and the final rate {:g} has no effect. Train 2 epochs or more to decay.").format(lr, final_lr), True
    steps = rates(lr, final_lr, decay, epochs)
    shown = [f"{r:.3g}" for r in steps] if epochs <= 5 else [f"{r:.3g}" for r in steps[:2]] + ["…", f"{steps[-1]:.3g}"]
    return _("The rate drops between epochs, epoch by epoch: {}.").format(" → ".join(shown)), False


def even_kernels(arch: Architecture, plan: Plan) -> dict[int, str]:
    """For each convolution block whose "same" padding cannot keep the size (an even kernel), the sentence that
    says so with its sizes. ``plan`` is ``builder.check(arch)``; blocks past a layer it refused are left out."""
    notes, row = {}, 0
    for i, block in enumerate(arch.convs):
        if row >= len(plan.rows):
            break
        shape_in = tuple(INPUT_SHAPE) if row == 0 else plan.rows[row - 1].shape
        k = block.kernel
        if block.padding is None and k % 2 == 0 and len(shape_in) == 3:
            s, (h, w) = max(block.stride, 1), shape_in[1:]
            _pads, (oh, ow) = conv_geometry((h, w), (k, k), s, None)
            if s == 1:
                zeros = ngettext("{} zero", "{} zeros", k // 2).format(k // 2)
                notes[i] = _("An even kernel cannot keep the size: “same” adds {} on each side ({} // 2), {} in "
                             "all, but a {}×{} kernel shrinks the maps by only {}, so {}×{} becomes {}×{}. The "
                             "library pads both sides alike: an odd kernel ({} or {}) keeps the size.").format(
                    zeros, k, 2 * (k // 2), k, k, k - 1, h, w, oh, ow, k - 1, k + 1)
            else:
                _pads, (sh, sw) = conv_geometry((h, w), (k + 1, k + 1), s, None)
                notes[i] = _("“Same” padding fits odd kernels only: at stride {} this {}×{} kernel turns the {}×{} "
                             "maps into {}×{}, where a {}×{} kernel gives {}×{}.").format(
                    s, k, k, h, w, oh, ow, k + 1, k + 1, sh, sw)
        row += 1 + (block.pool != "none")
    return notes


def power_text(n: float) -> str:
    """``123456789`` -> ``1.2 × 10⁸``; under a million as a plain number with separators."""
    if n < 1e6:
        return f"{n:,.0f}"
    e = int(math.floor(math.log10(n)))
    sup = str(e).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"{n / 10 ** e:.1f} × 10{sup}"


def epoch_seconds(macs: int, train_images: int, eval_images: int, dtype: str = "float32") -> float:
    """About how long one epoch takes: its training images and its evaluations' test digits (forward only), at
    :data:`RATE` multiply-adds a second (halved for float64)."""
    work = macs * (train_images + FORWARD_SHARE * eval_images)
    return work / RATE * (FLOAT64_SLOWER if dtype == "float64" else 1.0)


def duration(seconds: float | None) -> str:
    """``75`` -> ``1 min 15 s``; under 10 s with a decimal; None -> ``–``."""
    if seconds is None:
        return "–"
    if seconds < 10:
        return _("{:.1f} s").format(seconds)
    s = int(round(seconds))
    if s < 60:
        return _("{} s").format(s)
    if s < 3600:
        return _("{} min {} s").format(s // 60, s % 60)
    return _("{} h {} min").format(s // 3600, s % 3600 // 60)


def measured_rate(images_per_second: float | None, macs: int, dtype: str) -> float | None:
    """A run's speed in float32 multiply-adds a second (as :data:`RATE` counts them), from its training images a
    second and its network's multiply-adds per image; None before it has trained."""
    if not images_per_second or not macs:
        return None
    return images_per_second * macs * (FLOAT64_SLOWER if dtype == "float64" else 1.0)


def time_note(macs: int, train_images: int, epochs: int, eval_images: int, dtype: str,
              measured: float | None = None) -> tuple[str, bool]:
    """The expected time of a run, and whether it is long enough to warn about (over :data:`SLOW_RUN` s).
    ``eval_images``: the test digits evaluated per epoch; ``measured``: the speed of this session's last run (see
    :func:`measured_rate`), used instead of :data:`RATE` when given."""
    rate = measured or RATE
    per_epoch = epoch_seconds(macs, train_images, eval_images, dtype) * RATE / rate
    total = per_epoch * epochs
    where = (_("the speed your last run trained at, about {} a second") if measured else
             _("the speed the lab trains at on this server when it is quiet, about {} a second")).format(
        power_text(rate))
    if total <= SLOW_RUN:
        return _("Expected time: about {} per epoch, {} in all. An estimate from the {} multiply-adds per image at "
                 "{}; two runs at once, or a busy server, take longer.").format(
            duration(per_epoch), duration(total), power_text(macs), where), False
    return _("This run will be slow: each image needs {} multiply-adds (the default network: {}), so an epoch of "
             "{:,} images takes about {} ({}), {} for {} epoch(s). Fewer filters, pooling sooner, fewer training "
             "images or fewer epochs make it faster.").format(
        power_text(macs), power_text(DEFAULT_MACS), train_images, duration(per_epoch), where, duration(total),
        epochs), True


__all__ = ["rates", "decay_note", "even_kernels", "epoch_seconds", "time_note", "measured_rate", "power_text",
           "duration", "RATE", "DEFAULT_MACS"]
