"""The training lab's settings: data size, epochs, batch, optimizer, learning rate and decay, seed, book mode,
precision, live evaluations and augmentation (:mod:`app.lab.augment_ui`), turned into a
:class:`app.lab.config.TrainConfig` (or a sentence saying why not).

Every control takes its value from its key in :mod:`app.state` and carries a ``help=`` tooltip. Number boxes
take any number and say under them why one is impossible and which value is used (:mod:`app.lab.numbers_ui`); the
learning-rate decay and the expected time get a sentence with their numbers (:mod:`app.lab.notes`).
"""
from __future__ import annotations

import streamlit as st

from app import resources, state, view
from app.i18n import N_, _, message
from app.lab import augment_ui, notes
from app.lab.builder_ui import Choice, running_plan
from app.lab.config import DECAYS, TrainConfig
from app.lab.numbers_ui import bounded
from smartflow_core.optimizers import OPTIMIZERS
from smartflow_core.persist import model_config
from smartflow_core.presets import INPUT_SHAPE

DECAY_NAMES = {"none": N_("none"), "linear": N_("linear"), "exponential": N_("exponential")}  # config.DECAYS
# one per smartflow_core.optimizers.OPTIMIZERS
OPTIMIZER_LABELS = {"SGD": "SGD", "SGDMomentum": N_("SGD with momentum")}


def _span(lo, hi, low_why: str, high_why: str):
    """The limits of a box and why a value past each is impossible."""
    return dict(lo=lo, hi=hi, why=lambda v: low_why if v < lo else high_why)


def _rate_why(v: float) -> str:
    if v < 0:
        return _("a negative rate would climb the loss instead of descending it")
    if v == 0:
        return _("a rate of 0 never moves the weights")
    return _("at least 0.0001 here: smaller steps barely move in a few epochs") if v < 0.0001 else \
        _("at most 10 here")


def settings(data: resources.Mnist, locked: bool = False) -> dict:
    """The training controls; returns TrainConfig fields (all but the model). ``locked``: a run is under way with
    these settings, so every control is disabled."""
    n_train, n_test = len(data.y_train), len(data.y_test)
    ss = st.session_state
    ss[state.TR_SIZE] = min(max(ss[state.TR_SIZE], 1000), n_train)
    ss[state.TR_EVAL_SIZE] = min(ss[state.TR_EVAL_SIZE], n_test)
    off = dict(disabled=locked)
    c = st.columns(4)
    view.widget(c[0].slider, _("Training images"), 1000, n_train, step=1000, key=state.TR_SIZE, **off, help=_(
        "How many of the {:,} training digits to learn from. More images: better accuracy, longer epochs.").format(
        n_train))
    epochs = bounded(c[1], _("Epochs"), **_span(1, 50, _("0 epochs would not train at all"), _("at most 50 here")),
                     key=state.TR_EPOCHS, step=1, **off, help=_("How many times to go through the training images "
                                                                 "(1 to 50)."))
    bounded(c[2], _("Batch size"), **_span(1, 512, _("a batch holds at least one image"), _("at most 512 here")),
            key=state.TR_BATCH, step=1, **off, help=_(
                "Images per gradient step (1 to 512). The chapter uses 60. Small batches: more, noisier steps."))
    bounded(c[3], _("Seed"), **_span(1, 2 ** 32 - 1, _("seed 0 means “no seed”: the run could not be repeated"),
                                     _("NumPy's seeds stop at 4,294,967,295")), key=state.TR_SEED, step=1, **off,
            help=_("Seeds the initial weights, the shuffling and the dropout masks: the same seed gives the same "
                   "run."))
    c = st.columns(4)
    opt = view.widget(c[0].radio, _("Optimizer"), tuple(OPTIMIZERS), key=state.TR_OPTIMIZER, **off,
                      format_func=lambda o: _(OPTIMIZER_LABELS[o]), help=_(
        "SGD steps against the gradient; momentum also keeps part of the previous step, which rolls through "
        "small bumps and speeds training up."))
    bounded(c[1], _("Momentum"), **_span(0.0, 0.99, _("it is the share of the last step kept: at least 0"), _(
        "at most 0.99 here: with 1 or more the steps never fade and keep growing")), key=state.TR_MOMENTUM,
        step=0.05, disabled=locked or opt == "SGD", format="%.2f", help=_(
            "The fraction of the previous step kept in each new one (0.9 in the chapter)."))
    lr = bounded(c[2], _("Learning rate"), 0.0001, 10.0, why=_rate_why, key=state.TR_LR, step=0.01, format="%.4f",
                 **off, help=_("The size of each step (0.0001 to 10). Too small: slow learning; too large: the loss "
                               "jumps around or becomes NaN."))
    decay = view.widget(c[3].selectbox, _("Learning-rate decay"), DECAYS, key=state.TR_DECAY, **off,
                        format_func=lambda d: _(DECAY_NAMES.get(d, d)), help=_(
        "Lower the learning rate epoch by epoch, in equal steps (linear) or by a constant factor (exponential), "
        "from the learning rate down to the final one."))
    final = float(ss[state.TR_FINAL_LR])
    said = notes.decay_note(float(lr), final, None if decay == "none" else decay, int(epochs))
    if said:
        st.caption(f":orange[{said[0]}]" if said[1] else said[0])
    c = st.columns(4)
    bounded(c[0], _("Final learning rate"), **_span(0.00001, 10.0, _(
        "the decay must end above 0: at 0 the library would not decay at all"), _("at most 10 here")),
        key=state.TR_FINAL_LR, step=0.001, format="%.5f", disabled=locked or decay == "none", help=_(
            "Where the decay ends, at the last epoch."))
    view.widget(c[1].toggle, _("Book mode"), key=state.TR_BOOK, **off, help=_(
        "Train with the chapter's own convolution gradients, bugs included (the kernel is not flipped in the "
        "input gradient; examples are mixed in the filter gradient). Same random draws as the correct mode, so "
        "two runs show exactly what the fix changes. Needs odd kernels, stride 1 and “same” padding."))
    bounded(c[2], _("Evaluations per epoch"), **_span(1, 20, _("at least one per epoch"), _("at most 20 here")),
            key=state.TR_EVALS, step=1, **off, help=_(
                "How often to measure the test accuracy while training (each evaluation pauses training briefly)."))
    bounded(c[3], _("Test digits per evaluation"), **_span(100, n_test, _(
        "at least 100 here: fewer make a jumpy accuracy"), _("the test set has {:,} digits").format(n_test)),
        key=state.TR_EVAL_SIZE, step=100, **off, help=_(
            "The first this many test digits are used for the live accuracy. The Evaluate page uses all {:,}."
        ).format(n_test))
    view.widget(st.radio, _("Numbers"), ("float32", "float64"), key=state.TR_DTYPE, horizontal=True, **off, help=_(
        "float32 trains about twice as fast; float64 is what the chapter's code computes with."))
    augment_ui.control(data, locked)
    batches = -(-ss[state.TR_SIZE] // ss[state.TR_BATCH])
    return dict(train_size=ss[state.TR_SIZE], epochs=ss[state.TR_EPOCHS], batch_size=ss[state.TR_BATCH],
                optimizer=opt, lr=float(ss[state.TR_LR]), momentum=float(ss[state.TR_MOMENTUM]),
                decay_type=None if decay == "none" else decay,
                final_lr=0.0 if decay == "none" else float(ss[state.TR_FINAL_LR]), seed=int(ss[state.TR_SEED]),
                book=ss[state.TR_BOOK], dtype=ss[state.TR_DTYPE], eval_test_size=ss[state.TR_EVAL_SIZE],
                eval_steps=-(-batches // ss[state.TR_EVALS]) if ss[state.TR_EVALS] > 1 else 0,
                augment=ss[state.TR_AUGMENT])


def time_note(plan, fields: dict, last_run=None) -> None:
    """About how long the run will take, under the settings (a warning when it is long); at the speed of
    ``last_run`` (this session's latest run) once it has trained."""
    measured = None
    if last_run is not None:
        snap = last_run.snapshot()
        if snap.images_per_second and snap.step >= 5:  # a few steps in: the first ones include warming up
            measured = notes.measured_rate(snap.images_per_second, running_plan(last_run.config).macs,
                                           last_run.config.dtype)
    evals = fields["eval_test_size"] * st.session_state[state.TR_EVALS]
    text, slow = notes.time_note(plan.macs, fields["train_size"], fields["epochs"], evals, fields["dtype"],
                                 measured)
    if slow:
        st.warning(text, icon=":material/schedule:")
    else:
        st.caption(text)


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
        return None, _("These settings cannot train: {}.").format(message(exc))


def label(choice: Choice, config: TrainConfig) -> str:
    """A short name for legends: ``default net, lr 0.02, batch 64, 10k images``."""
    return (f"{choice.name}, lr {config.lr:g}, batch {config.batch_size}, {config.train_size / 1000:g}k images"
            f"{', book' if config.book else ''}{'' if config.augment == 'none' else ', augment ' + config.augment}")


__all__ = ["settings", "time_note", "make_config", "label", "OPTIMIZER_LABELS"]
