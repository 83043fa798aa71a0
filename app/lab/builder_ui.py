"""The architecture builder's controls: which network to train, its blocks, and the table of shapes.

The :class:`app.lab.builder.Architecture` in ``st.session_state[state.TR_ARCH]`` is the single source of truth. Every
block's widgets take their values from it at each run (so the builder survives a visit to another page and a
removed block's neighbours move up cleanly), and their ``on_change`` callbacks write the edit back into it.
Number boxes take any number: an impossible one is replaced by the nearest possible value, and the block says
which and why (:mod:`app.lab.numbers_ui`). While a run is under way every control is disabled and the table
shows the network being trained, so no edit appears to change it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from app import resources, state, view, widgets
from app.i18n import N_, _
from app.lab import builder, notes
from app.lab import numbers_ui as numbers
from app.lab.config import TrainConfig
from smartflow_core.nn import NeuralNetwork
from smartflow_core.persist import model_config
from smartflow_core.presets import INPUT_SHAPE, PRESETS

SOURCES = {"build": N_("a new network"), "pretrained": N_("the pretrained model"), "uploaded": N_("a model you upload")}
PRESET_LABELS = {"default": N_("A better default: two conv blocks with pooling"), "chapter": N_("The chapter's model"),
                 "custom": N_("Custom (your edits)")}  # one per smartflow_core.presets.PRESETS, then "custom"
PRESET_NAMES = {"default": N_("default net"), "chapter": N_("chapter's net")}  # what a run of each is called
PADDINGS = ("same", 0, 1, 2, 3, 4, 5, 6)
ACTIVATION_HELP = N_("The function applied to every output: ReLU keeps positives (fast to train), Tanh squashes "
                    "into -1..1 (the chapter's), Sigmoid into 0..1, Linear leaves it alone.")
INIT_HELP = N_("How the first random weights are drawn: “he” suits ReLU, “glorot” is the chapter's (its "
              "version), “normal” draws with standard deviation 1, “standard” is the book's dense default.")
KEEP_HELP = N_("Dropout, as the chapter writes it: the probability of KEEPING each output during training "
              "(0.8 drops 20 % at random). 1 means no dropout. Evaluation always keeps everything.")


@dataclass(frozen=True)
class Choice:
    """The network to train: a new one from ``config``, or a private copy of ``initial`` to continue training."""
    name: str
    plan: builder.Plan
    config: dict | None = None
    initial: NeuralNetwork | None = None


# ---------------------------------------------------------------------------------------------- callbacks


def _arch() -> builder.Architecture:
    return st.session_state[state.TR_ARCH]


def _edit(arch: builder.Architecture) -> None:
    st.session_state[state.TR_ARCH] = arch
    st.session_state[state.TR_PRESET] = "custom"


def apply_preset(name: str) -> None:
    """The preset's network and training settings into the state (the notes about typed values go)."""
    st.session_state[state.TR_ARCH] = builder.from_preset(name)
    st.session_state.update(state.preset_settings(name))
    numbers.forget("tr_")


def _apply_preset() -> None:
    name = st.session_state[state.TR_PRESET]
    if name != "custom":
        apply_preset(name)


def _key(kind: str, i: int, field: str) -> str:
    return f"{state.TR_BLOCK}_{kind}{i}_{field}"


def _changed(kind: str, i: int, field: str) -> None:
    value = st.session_state[_key(kind, i, field)]
    if field == "padding" and value == "same":
        value = None
    if kind == "conv":
        _edit(_arch().set_conv(i, **{field: value}))
    elif kind == "dense":
        _edit(_arch().set_dense(i, **{field: value}))
    else:
        _edit(replace(_arch(), output_init=value))


def _add(kind: str) -> None:
    _edit(_arch().add_conv() if kind == "conv" else _arch().add_dense())


def _remove(kind: str, i: int) -> None:
    numbers.forget(state.TR_BLOCK)  # the blocks after it move up: their notes would land on other boxes
    _edit(_arch().remove_conv(i) if kind == "conv" else _arch().remove_dense(i))


def run_name(preset: str, arch: builder.Architecture) -> str:
    """What a run of this network is called: the preset's name only while the network is the preset's."""
    if preset in PRESET_NAMES and arch == builder.from_preset(preset):
        return _(PRESET_NAMES[preset])
    return _("custom net")


# what makes each box's impossible values impossible: (lowest, highest, why, value used below the lowest)
def _span(lo, hi, low_why: str, high_why: str, floor=None):
    return lo, hi, lambda v: low_why if v < lo else high_why, (lambda v: floor if v < lo else hi) if floor else None


BOUNDS = {
    "channels": _span(1, 64, N_("a convolution needs at least one filter"), N_("at most 64 filters here")),
    "kernel": _span(1, 28, N_("a kernel has at least 1×1 weights"), N_("the images are 28×28")),
    # a stride of 0 is let through: the table's check explains it and refuses to train
    "stride": _span(0, 4, N_("a negative stride would walk backwards"), N_("at most 4 here: a larger stride skips "
                                                                          "most of the image"), floor=1),
    "dropout": _span(0.05, 1.0, N_("it is the share of outputs kept: at least 0.05 here, and 0 would pass nothing "
                                  "on"), N_("it is a probability: at most 1")),
    "neurons": _span(1, 512, N_("a layer needs at least one neuron"), N_("at most 512 neurons here")),
}


# ---------------------------------------------------------------------------------------------- widgets


def _widget(col, kind: str, i: int, field: str, value, make, label: str, help: str, locked: bool = False, **kw):
    key, label, help = _key(kind, i, field), _(label), _(help)  # the tables above hold N_() texts
    st.session_state[key] = "same" if field == "padding" and value is None else value
    if field in BOUNDS:
        lo, hi, why, nearest = BOUNDS[field]
        return numbers.bounded(col, label, lo, hi, key=key, why=lambda v, why=why: _(why(v)), nearest=nearest,
                               on_change=_changed,
                               args=(kind, i, field), show=False, help=help, disabled=locked, **kw)
    return view.widget(getattr(col, make), label, key=key, on_change=_changed, args=(kind, i, field), help=help,
                       disabled=locked, **kw)


def _notes(kind: str, i: int, fields: dict[str, str], extra: str | None = None) -> None:
    """A block's notes: each of its boxes' about an impossible value, then ``extra``."""
    for field, label in fields.items():
        if text := numbers.note(_key(kind, i, field)):
            st.caption(f":orange[{_(label)}: {text}]")
    if extra:
        st.caption(f":orange[{extra}]")


CONV_BOXES = {"channels": N_("Filters"), "kernel": N_("Kernel"), "stride": N_("Stride"), "dropout": N_("Keep")}


def _conv_block(i: int, b: builder.ConvBlock, removable: bool, locked: bool, even: str | None) -> None:
    with st.container(border=True):
        head, remove = st.columns([6, 1], vertical_alignment="center")
        head.markdown(_("**Convolution block {}**").format(i + 1))
        view.widget(remove.button, _("Remove"), key=_key("conv", i, "remove"), disabled=locked or not removable,
                    width="stretch", on_click=_remove, args=("conv", i),
                    help=_("Remove this block. A CNN keeps at least one convolution."))
        _notes("conv", i, CONV_BOXES, even)  # above the boxes: on a phone they stack, eight deep
        c = st.columns([1, 1, 1, 1, 1, 1.3, 1, 1])  # the pooling box holds the longest choice ("最大 2×2")
        _widget(c[0], "conv", i, "channels", b.channels, "number_input", CONV_BOXES["channels"], _(
            "How many filters, so how many feature maps this block outputs (1 to 64)."), locked, step=1)
        _widget(c[1], "conv", i, "kernel", b.kernel, "number_input", CONV_BOXES["kernel"], _(
            "Each filter's size: k means k×k weights per input channel (1 to 28)."), locked, step=1)
        _widget(c[2], "conv", i, "stride", b.stride, "number_input", CONV_BOXES["stride"], _(
            "How far the kernel moves between outputs: 2 halves the map's height and width (1 to 4)."), locked,
            step=1)
        _widget(c[3], "conv", i, "padding", b.padding, "selectbox", _("Padding"), _(
            "Zeros added on each side. “same” is the chapter's kernel // 2, which keeps the size at stride 1 for "
            "an odd kernel."), locked, options=PADDINGS, format_func=str)
        _widget(c[4], "conv", i, "activation", b.activation, "selectbox", _("Activation"), ACTIVATION_HELP, locked,
                options=builder.ACTIVATIONS)
        _widget(c[5], "conv", i, "pool", b.pool, "selectbox", _("Pooling"), _(
            "2×2 max or average pooling after the activation halves the maps; “none” keeps them."), locked,
            options=builder.POOLS, format_func={"none": _("none"), "max": _("max 2×2"), "avg": _("avg 2×2")}.get)
        _widget(c[6], "conv", i, "dropout", b.dropout, "number_input", CONV_BOXES["dropout"], KEEP_HELP, locked,
                step=0.05, format="%.2f")
        _widget(c[7], "conv", i, "init", b.init, "selectbox", _("Init"), INIT_HELP, locked, options=builder.INITS)


def _dense_block(i: int, b: builder.DenseBlock, locked: bool) -> None:
    with st.container(border=True):
        _notes("dense", i, {"neurons": _("Neurons"), "dropout": _("Keep")})
        c = st.columns([2, 2, 2, 2, 1], vertical_alignment="bottom")
        _widget(c[0], "dense", i, "neurons", b.neurons, "number_input", _("Dense layer {}: neurons").format(i + 1),
                _("How many outputs this fully connected layer computes, each from every input (1 to 512)."),
                locked, step=1)
        _widget(c[1], "dense", i, "activation", b.activation, "selectbox", _("Activation"), ACTIVATION_HELP, locked,
                options=builder.ACTIVATIONS)
        _widget(c[2], "dense", i, "dropout", b.dropout, "number_input", _("Keep"), KEEP_HELP, locked,
                step=0.05, format="%.2f")
        _widget(c[3], "dense", i, "init", b.init, "selectbox", _("Init"), INIT_HELP, locked, options=builder.INITS)
        view.widget(c[4].button, _("Remove"), key=_key("dense", i, "remove"), width="stretch", disabled=locked,
                    on_click=_remove, args=("dense", i), help=_("Remove this dense layer."))


def _editor(plan_of, locked: bool) -> tuple[builder.Architecture, builder.Plan]:
    """The preset menu and every block; ``plan_of(arch)`` checks the network (the blocks' notes need its shapes)."""
    view.widget(st.selectbox, _("Start from"), tuple(PRESET_LABELS), key=state.TR_PRESET,
                format_func=lambda p: _(PRESET_LABELS[p]), on_change=_apply_preset, disabled=locked, help=_(
                    "A ready-made architecture with the settings that train it well. Editing any block below makes "
                    "it “custom”."))
    preset = st.session_state[state.TR_PRESET]
    if preset != "custom":
        st.caption(_(PRESETS[preset].description))
    arch = _arch()
    plan = plan_of(arch)
    if view.hidden("net"):  # a teacher's link hides the blocks: the table of layers under them still shows the net
        return arch, plan
    even = notes.even_kernels(arch, plan)
    for i, block in enumerate(arch.convs):
        _conv_block(i, block, len(arch.convs) > 1, locked, even.get(i))
    for i, block in enumerate(arch.denses):
        _dense_block(i, block, locked)
    c1, c2, c3 = st.columns(3, vertical_alignment="bottom")
    view.widget(c1.button, _("+ Convolution block"), key=_key("conv", 0, "add"),
                disabled=locked or len(arch.convs) >= builder.MAX_CONV, on_click=_add, args=("conv",), width="stretch",
                help=_("Add a block after the last one (up to {}).").format(builder.MAX_CONV))
    view.widget(c2.button, _("+ Dense layer"), key=_key("dense", 0, "add"),
                disabled=locked or len(arch.denses) >= builder.MAX_DENSE, on_click=_add, args=("dense",),
                width="stretch",
                help=_("Add a hidden fully connected layer before the output (up to {}).").format(builder.MAX_DENSE))
    _widget(c3, "out", 0, "init", arch.output_init, "selectbox", _("Output layer (10 digits): init"), INIT_HELP,
            locked, options=builder.INITS)
    return arch, plan


# ---------------------------------------------------------------------------------------------- sources


def upload(key: str) -> tuple[str, NeuralNetwork, dict] | None:
    """A model file uploader; a valid model is kept for this session (both lab pages share it). Any file is taken,
    so that one that is not a model is told why (a filter on the name only greyed it out, without a word)."""
    got = widgets.upload(_("Upload a model (.npz)"), key, state.LAB_UPLOADED, resources.read_model,
                         help=_(
        "A model saved by this app (the Download button) or by `smartflow_core.persist.save_model`. It is read "
        "without pickle and checked before use; it stays on the server only for this session."))
    return None if got is None else (got[0], *got[1])


def describe(meta: dict) -> str:
    """One line about a saved model: its training and its recorded test accuracy."""
    parts = []
    if meta.get("test_accuracy") is not None:
        parts.append(_("{:.2f} % on {:,} test digits").format(meta["test_accuracy"], meta.get("test_images", 0)))
    elif meta.get("eval_accuracy") is not None:
        parts.append(_("{:.1f} % on {:,} test digits while training").format(meta["eval_accuracy"],
                                                                          meta.get("eval_images", 0)))
    if meta.get("train_images"):
        parts.append(_("trained on {:,} images").format(meta["train_images"]))
    if meta.get("book"):
        parts.append(_("in book mode"))
    return "; ".join(parts) or _("no training record")


def network(book: bool, batch_size: int, dtype: str, running: TrainConfig | None = None) -> Choice | None:
    """Draw the network section; returns what to train, or None when nothing is chosen yet. With ``running`` (the
    config of the run under way) every control is disabled and the choice is the network that run trains."""
    locked = running is not None
    source = view.widget(st.radio, _("Train"), tuple(SOURCES), key=state.TR_SOURCE, horizontal=True, disabled=locked,
                         format_func=lambda s: _(SOURCES[s]), help=_(
                             "Build a network from scratch, or continue training the shipped pretrained model or "
                             "one you saved earlier (its architecture is then fixed)."))

    def plan_of(config) -> builder.Plan:  # while a run is under way, the table shows the network it trains
        return running_plan(running) if locked else builder.check(config, book=book, batch_size=batch_size,
                                                                  dtype=dtype)

    if source == "build":
        arch, plan = _editor(plan_of, locked)
        return Choice(run_name(st.session_state[state.TR_PRESET], arch), plan, config=arch.model_config())
    if locked:
        st.caption(_("Training continues from this model's weights; its architecture is in the table."))
        return Choice(_("continued"), running_plan(running), config=running.model_config)
    if source == "pretrained":
        net, meta = resources.pretrained_copy(), resources.pretrained()[1]
        st.caption(_("The shipped model: {}. Training continues from its weights.").format(describe(meta)))
        name = _("pretrained")
    else:
        got = upload(state.TR_UPLOAD)
        if got is None:
            st.info(_("Upload a model file to continue training it."))
            return None
        name, net, meta = got
        st.caption(_("“{}”: {}. Training continues from its weights.").format(name, describe(meta)))
    return Choice(name, plan_of(model_config(net, INPUT_SHAPE)), initial=net)


def running_plan(config: TrainConfig) -> builder.Plan:
    """The table of the network a run trains, checked with its own settings."""
    return builder.check(config.model_config, book=config.book, batch_size=config.batch_size, dtype=config.dtype)


def trained_elsewhere(choice: Choice | None, config: TrainConfig, label: str) -> None:
    """After a run, when the network above is not the one it trained: say that Start trains the one above, and
    keep the run's table at hand (its curves are further down)."""
    mine = choice.config if choice is not None and choice.initial is None else \
        model_config(choice.initial, INPUT_SHAPE) if choice is not None else None
    if mine is not None and mine["layers"] == config.model_config["layers"]:
        return
    st.caption(_("Start trains the network above. Run {} trained another one; its curves are below.").format(
        label.split()[0]))
    with st.expander(_("The network run {} trained").format(label.split()[0])):
        st.dataframe(builder.table(running_plan(config)), hide_index=True, width="stretch", column_config={
            "layer": _("layer"), "details": _("details"), "output shape": _("output shape"),
            "parameters": _("parameters"), "multiply-adds": _("multiply-adds")})


def show_plan(plan: builder.Plan) -> None:
    """The table of layers, then every problem (training is refused) and warning."""
    st.dataframe(builder.table(plan), hide_index=True, width="stretch", column_config={
        "layer": _("layer"), "details": _("details"), "output shape": _("output shape"),
        "parameters": st.column_config.NumberColumn(_("parameters"), format="localized", help=_(
            "Weights and biases this layer learns.")),
        "multiply-adds": st.column_config.NumberColumn(_("multiply-adds"), format="localized", help=_(
            "Multiplications (each followed by an addition) to compute one image's output: the work per image.")),
    })
    for problem in plan.problems:
        st.error(problem, icon=":material/block:")
    for warning in plan.warnings:
        st.warning(warning)


__all__ = ["Choice", "network", "show_plan", "upload", "describe", "apply_preset", "run_name", "running_plan",
           "trained_elsewhere", "PRESET_LABELS", "PRESET_NAMES"]
