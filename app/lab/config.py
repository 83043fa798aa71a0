"""What a training run needs besides the data: :class:`TrainConfig`, checked when it is made.

A config is frozen and hashable (the model config is kept as sorted JSON), so it can key a cache or a session's
list of runs; every field is validated with a message that names it. No Streamlit here.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from smartflow_core.augment import AUGMENT_PRESETS, Augment
from smartflow_core.layer import LAYERS
from smartflow_core.loss import LOSSES
from smartflow_core.marks import N_
from smartflow_core.optimizers import DECAY_TYPES, OPTIMIZERS
from smartflow_core.presets import INPUT_SHAPE, MNIST_MEAN, MNIST_STD, PRESETS, Preset

DTYPES = ("float32", "float64")
DECAYS = tuple(kind or "none" for kind in DECAY_TYPES)  # the library's decay kinds as the lab names them


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs besides the data; hashable, so it can key a cache or a session's list of runs.

    ``model`` is a model config (``Preset.config()``, ``persist.model_config``) as sorted JSON; a dict is accepted
    and converted. ``train_size`` takes the first that many training images (all when there are fewer).
    ``seed`` seeds the network and the shuffles (it replaces the model config's own seed).
    ``book`` builds the convolutions with the book's gradients. The test set is cut to ``eval_test_size`` images,
    evaluated every ``eval_every`` epochs and, with ``eval_steps``, also every that many steps. ``augment`` names
    a strength of ``smartflow_core.augment.AUGMENT_PRESETS`` that transforms every training batch ("none": off).
    """
    model: str
    train_size: int = 10_000
    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "SGDMomentum"
    lr: float = 0.01
    final_lr: float = 0.0
    decay_type: str | None = None
    momentum: float = 0.9
    seed: int = 20190402
    book: bool = False
    dtype: str = "float32"
    eval_every: int = 1
    eval_test_size: int = 2000
    eval_steps: int = 0
    early_stopping: bool = False
    grad_every: int = 10
    augment: str = "none"

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", json.dumps(self.model, sort_keys=True))
        _check_model(self.model)
        for name in ("train_size", "epochs", "batch_size", "eval_every", "eval_test_size", "grad_every"):
            _check_int(name, getattr(self, name), 1)
        _check_int("eval_steps", self.eval_steps, 0)
        _check_int("seed", self.seed, 1)  # seed 0 would leave the layers unseeded
        if self.seed >= 2 ** 32:
            raise ValueError(N_("the seed must be below 2**32, got {seed}").format(seed=self.seed))
        if self.optimizer not in OPTIMIZERS:
            raise _not_one_of(N_("the optimizer must be one of {choices}, got {value}"), sorted(OPTIMIZERS),
                              self.optimizer, quoted=False)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float, np.floating)) \
                or not np.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(N_("the learning rate must be a positive number, got {value}").format(value=repr(self.lr)))
        if isinstance(self.final_lr, bool) or not isinstance(self.final_lr, (int, float, np.floating)) \
                or not 0 <= self.final_lr < float("inf"):
            raise ValueError(N_("the final learning rate must be a number of at least 0, got {value}").format(
                value=repr(self.final_lr)))
        if self.decay_type not in DECAY_TYPES:
            raise _not_one_of(N_("the decay must be one of {choices}, got {value}"), DECAY_TYPES, self.decay_type)
        if self.decay_type and not 0 <= self.final_lr <= self.lr:
            raise ValueError(N_("the final learning rate must be between 0 and the learning rate ({lr}), got {final}")
                             .format(lr=self.lr, final=self.final_lr))
        if self.decay_type == "exponential" and self.final_lr <= 0:
            raise ValueError(N_("exponential decay needs a final learning rate above 0 (it multiplies the rate towards "
                                "it), got {final}").format(final=self.final_lr))
        if not 0 <= self.momentum < 1:
            raise ValueError(N_("the momentum must be at least 0 and below 1, got {value}").format(value=self.momentum))
        if self.dtype not in DTYPES:
            raise _not_one_of(N_("the number type must be one of {choices}, got {value}"), DTYPES, self.dtype,
                              quoted=False)
        if self.augment not in AUGMENT_PRESETS:
            raise _not_one_of(N_("the augmentation must be one of {choices}, got {value}"), AUGMENT_PRESETS,
                              self.augment)

    @classmethod
    def from_preset(cls, preset: Preset | str, **overrides) -> TrainConfig:
        """The preset's architecture and training settings, any field overridden by keyword."""
        p = PRESETS[preset] if isinstance(preset, str) else preset
        fields = dict(model=p.config(), epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, final_lr=p.final_lr,
                      decay_type=p.decay_type, momentum=p.momentum, seed=p.seed, dtype=p.dtype,
                      optimizer="SGDMomentum" if p.momentum else "SGD")
        return cls(**{**fields, **overrides})

    @property
    def model_config(self) -> dict:
        return json.loads(self.model)

    @property
    def augmentation(self) -> Augment | None:
        """The training batches' augmentation for ``Trainer.fit``, None when it is off."""
        params = AUGMENT_PRESETS[self.augment]
        return params if params.active else None

    def make_optimizer(self):
        if self.optimizer == "SGD":
            return OPTIMIZERS["SGD"](self.lr, self.final_lr, self.decay_type)
        return OPTIMIZERS["SGDMomentum"](self.lr, self.final_lr, self.decay_type, self.momentum)

    def summary(self) -> str:
        """A short label for a legend: ``SGDMomentum lr 0.01, batch 64, 5 epochs``."""
        return (f"{self.optimizer} lr {self.lr:g}, batch {self.batch_size}, {self.epochs} epoch"
                f"{'s' if self.epochs > 1 else ''}{', book' if self.book else ''}"
                f"{'' if self.augment == 'none' else ', augment ' + self.augment}")


def _not_one_of(template: str, choices, value, quoted: bool = True) -> ValueError:
    """The refusal of ``value`` by a catalogue ``template`` with ``{choices}`` and ``{value}``: the choices listed
    (quoted as option values, or plain names), the value as Python writes it."""
    listed = ", ".join(repr(c) if quoted else str(c) for c in choices)
    return ValueError(template.format(choices=listed, value=repr(value)))


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(N_("{name} must be a whole number of at least {low}, got {value}").format(
            name=name, low=low, value=repr(value)))


def _check_model(text: str) -> None:
    try:
        config = json.loads(text)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(N_("the model must be a model config or its JSON, got {value} ({reason})").format(
            value=f"{text!r:.80}", reason=exc)) from None
    if not isinstance(config, dict):
        raise ValueError(N_("the model config must be a dict, got {kind}").format(kind=type(config).__name__))
    layers = config.get("layers")
    if not isinstance(layers, list) or not layers or not all(isinstance(x, dict) for x in layers):
        raise ValueError(N_("the model config needs 'layers': a non-empty list of layer dicts"))
    for spec in layers:
        if spec.get("type") not in LAYERS:
            raise _not_one_of(N_("unknown layer type {value}; choose one of {choices}"), sorted(LAYERS),
                              spec.get("type"), quoted=False)
    if not isinstance(config.get("loss"), dict) or config["loss"].get("type") not in LOSSES:
        raise ValueError(N_("the model config needs a loss, one of {choices}").format(
            choices=", ".join(sorted(LOSSES))))
    if config.get("input_shape", list(INPUT_SHAPE)) != list(INPUT_SHAPE):
        raise ValueError(N_("these runs train on MNIST images {shape}, the model expects {expected}").format(
            shape=INPUT_SHAPE, expected=config["input_shape"]))


def run_metadata(config: TrainConfig, snap, n_train: int, n_test: int, continued: bool) -> dict:
    """What a model file saved from a run records: the settings, the curves, the last test accuracy (``snap`` is
    the run's :class:`app.lab.snapshot.Snapshot`)."""
    fields = dataclasses.asdict(config)
    fields["model"] = json.loads(fields["model"])
    last = snap.evals[-1] if snap.evals else None
    return {"train_config": fields, "status": str(snap.status), "train_images": n_train, "book": config.book,
            "standardize": {"mean": MNIST_MEAN, "std": MNIST_STD}, "continued": continued, "eval_images": n_test,
            "eval_accuracy": last.accuracy if last else None, "train_seconds": round(snap.seconds, 1),
            "history": {"batch_losses": [[s, float(v)] for s, v in snap.losses],
                        "evals": [dataclasses.asdict(e) for e in snap.evals]}}
