"""The training lab's settings: data size, epochs, batch, optimizer, learning rate and decay, seed, book mode,
precision and live evaluations, turned into a :class:`app.lab.config.TrainConfig` (or a sentence saying why not).

Every control takes its value from its key in :mod:`app.state` and carries a ``help=`` tooltip.
"""
from __future__ import annotations

import streamlit as st

from app import resources, state
from app.i18n import _
from app.lab.builder_ui import Choice
from app.lab.config import DECAYS, TrainConfig
from smartflow_core.optimizers import OPTIMIZERS
from smartflow_core.persist import model_config
from smartflow_core.presets import INPUT_SHAPE

OPTIMIZER_LABELS = {"SGD": "SGD", "SGDMomentum": "SGD with momentum"}  # one per smartflow_core.optimizers.OPTIMIZERS


def settings(data: resources.Mnist) -> dict:
    """The training controls; returns TrainConfig fields (all but the model)."""
    n_train, n_test = len(data.y_train), len(data.y_test)
    st.session_state[state.TR_SIZE] = min(max(st.session_state[state.TR_SIZE], 1000), n_train)
    st.session_state[state.TR_EVAL_SIZE] = min(st.session_state[state.TR_EVAL_SIZE], n_test)
    c = st.columns(4)
    c[0].slider(_("Training images"), 1000, n_train, step=1000, key=state.TR_SIZE, help=_(
        "How many of the {:,} training digits to learn from. More images: better accuracy, longer epochs.").format(
        n_train))
    c[1].number_input(_("Epochs"), 1, 50, step=1, key=state.TR_EPOCHS, help=_(
        "How many times to go through the training images."))
    c[2].number_input(_("Batch size"), 1, 512, step=1, key=state.TR_BATCH, help=_(
        "Images per gradient step. The chapter uses 60. Small batches: more, noisier steps."))
    c[3].number_input(_("Seed"), 1, 2 ** 32 - 1, step=1, key=state.TR_SEED, help=_(
        "Seeds the initial weights, the shuffling and the dropout masks: the same seed gives the same run."))
    c = st.columns(4)
    opt = c[0].radio(_("Optimizer"), tuple(OPTIMIZERS), key=state.TR_OPTIMIZER,
                     format_func=lambda o: _(OPTIMIZER_LABELS[o]), help=_(
        "SGD steps against the gradient; momentum also keeps part of the previous step, which rolls through "
        "small bumps and speeds training up."))
    c[1].number_input(_("Momentum"), 0.0, 0.99, step=0.05, key=state.TR_MOMENTUM, disabled=opt == "SGD",
                      format="%.2f", help=_("The fraction of the previous step kept in each new one (0.9 in the "
                                            "chapter)."))
    c[2].number_input(_("Learning rate"), 0.0001, 10.0, step=0.01, key=state.TR_LR, format="%.4f", help=_(
        "The size of each step. Too small: slow learning; too large: the loss jumps around or becomes NaN."))
    decay = c[3].selectbox(_("Learning-rate decay"), DECAYS, key=state.TR_DECAY, help=_(
        "Lower the learning rate epoch by epoch, in equal steps (linear) or by a constant factor (exponential), "
        "from the learning rate down to the final one."))
    c = st.columns(4)
    c[0].number_input(_("Final learning rate"), 0.00001, 10.0, step=0.001, key=state.TR_FINAL_LR, format="%.5f",
                      disabled=decay == "none", help=_("Where the decay ends, at the last epoch."))
    c[1].toggle(_("Book mode"), key=state.TR_BOOK, help=_(
        "Train with the chapter's own convolution gradients, bugs included (the kernel is not flipped in the "
        "input gradient; examples are mixed in the filter gradient). Same random draws as the correct mode, so "
        "two runs show exactly what the fix changes. Needs odd kernels, stride 1 and “same” padding."))
    c[2].number_input(_("Evaluations per epoch"), 1, 20, step=1, key=state.TR_EVALS, help=_(
        "How often to measure the test accuracy while training (each evaluation pauses training briefly)."))
    c[3].number_input(_("Test digits per evaluation"), 100, n_test, step=100, key=state.TR_EVAL_SIZE, help=_(
        "The first this many test digits are used for the live accuracy. The Evaluate page uses all {:,}.").format(
        n_test))
    st.radio(_("Numbers"), ("float32", "float64"), key=state.TR_DTYPE, horizontal=True, help=_(
        "float32 trains about twice as fast; float64 is what the chapter's code computes with."))
    ss = st.session_state
    batches = -(-ss[state.TR_SIZE] // ss[state.TR_BATCH])
    return dict(train_size=ss[state.TR_SIZE], epochs=ss[state.TR_EPOCHS], batch_size=ss[state.TR_BATCH],
                optimizer=opt, lr=float(ss[state.TR_LR]), momentum=float(ss[state.TR_MOMENTUM]),
                decay_type=None if decay == "none" else decay,
                final_lr=0.0 if decay == "none" else float(ss[state.TR_FINAL_LR]), seed=int(ss[state.TR_SEED]),
                book=ss[state.TR_BOOK], dtype=ss[state.TR_DTYPE], eval_test_size=ss[state.TR_EVAL_SIZE],
                eval_steps=-(-batches // ss[state.TR_EVALS]) if ss[state.TR_EVALS] > 1 else 0)


def make_config(choice: Choice | None, fields: dict) -> tuple[TrainConfig | None, str | None]:
    """The run's config, or None and why not."""
    if choice is None:
        return None, _("Choose a network first.")
    if not choice.plan.ok:
        return None, _("Fix the network above before training.")
    if fields["decay_type"] and fields["final_lr"] > fields["lr"]:
        return None, _("The final learning rate ({:g}) is above the learning rate ({:g}): decay only lowers it. "
                       "Lower the final rate or switch decay off.").format(fields["final_lr"], fields["lr"])
    model = choice.config if choice.initial is None else model_config(choice.initial, INPUT_SHAPE)
    try:
        return TrainConfig(model=model, **fields), None
    except ValueError as exc:
        return None, _("These settings cannot train: {}.").format(exc)


def label(choice: Choice, config: TrainConfig) -> str:
    """A short name for legends: ``default net, lr 0.02, batch 64, 10k images``."""
    return (f"{choice.name}, lr {config.lr:g}, batch {config.batch_size}, {config.train_size / 1000:g}k images"
            f"{', book' if config.book else ''}")


__all__ = ["settings", "make_config", "label", "OPTIMIZER_LABELS"]
