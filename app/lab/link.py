"""The training lab's shareable link: the network as a line of text, and every training setting as a URL field.

A teacher builds a network and sets how to train it; the address bar then holds all of it, so the link opens the
same lab for every learner (``lesson=train&net=conv:16,5,1,same,ReLU,max,1,he;...&lr=0.02...``). A link never
carries a model file: "a model you upload" opens asking for one.

A link may name a preset alone (``/train?preset=chapter``): :func:`read` then loads the preset's network and
settings first, and any other value of the link overrides them; a network that is not the preset's makes the
preset "custom". The codec (:func:`arch_to_text`, :func:`arch_from_text`, the parsers) is plain functions;
:func:`read` and :func:`write` are the page's glue, through :mod:`app.links` and the session state.
"""
from __future__ import annotations

import streamlit as st

from app import links, state
from app.i18n import N_, _
from app.lab.builder import (
    ACTIVATIONS,
    INITS,
    MAX_CONV,
    MAX_DENSE,
    POOLS,
    Architecture,
    ConvBlock,
    DenseBlock,
    from_preset,
)
from app.lab.builder_ui import apply_preset
from app.lab.config import DECAYS
from smartflow_core.augment import AUGMENT_PRESETS
from smartflow_core.optimizers import OPTIMIZERS
from smartflow_core.presets import PRESETS

# each value's parser, within the builder's widget limits
FILTERS, KERNEL = links.int_in(1, 64, N_("filters")), links.int_in(1, 28, N_("kernel"))
STRIDE, PAD = links.int_in(1, 4, N_("stride")), links.int_in(0, 6, N_("padding"))
NEURONS, KEEP = links.int_in(1, 512, N_("neurons")), links.float_in(0.05, 1, N_("keep"))
ACTIVATION, POOL, INIT = links.one_of(ACTIVATIONS), links.one_of(POOLS), links.one_of(INITS)


def arch_to_text(arch: Architecture) -> str:
    """``conv:filters,kernel,stride,padding,activation,pool,keep,init`` per convolution block, then
    ``dense:neurons,activation,keep,init`` per hidden layer, then ``out:init``, joined by ``;``."""
    parts = [f"conv:{b.channels},{b.kernel},{b.stride},{'same' if b.padding is None else b.padding},"
             f"{b.activation},{b.pool},{b.dropout:g},{b.init}" for b in arch.convs]
    parts += [f"dense:{b.neurons},{b.activation},{b.dropout:g},{b.init}" for b in arch.denses]
    return ";".join(parts + [f"out:{arch.output_init}"])


def arch_from_text(text: str) -> Architecture:
    """The inverse of :func:`arch_to_text`; raises ValueError naming the part it cannot read."""
    convs, denses, output_init = [], [], "he"
    for part in text.split(";"):
        kind, _sep, rest = part.partition(":")
        v = rest.split(",")
        try:
            if kind == "conv" and len(v) == 8:
                pad = None if v[3] == "same" else PAD(v[3])
                convs.append(ConvBlock(FILTERS(v[0]), KERNEL(v[1]), STRIDE(v[2]), pad, ACTIVATION(v[4]),
                                       POOL(v[5]), KEEP(v[6]), INIT(v[7])))
            elif kind == "dense" and len(v) == 4:
                denses.append(DenseBlock(NEURONS(v[0]), ACTIVATION(v[1]), KEEP(v[2]), INIT(v[3])))
            elif kind == "out" and len(v) == 1:
                output_init = INIT(v[0])
            else:
                raise ValueError(_("expected conv: with 8 values, dense: with 4 or out: with 1"))
        except ValueError as exc:
            raise ValueError(f"{part!r}: {exc}") from None  # the reason is translated where it was raised
    if not 1 <= len(convs) <= MAX_CONV or len(denses) > MAX_DENSE:
        raise ValueError(_("a network here has 1 to {} convolution blocks and at most {} hidden dense layers, the "
                           "link has {} and {}").format(MAX_CONV, MAX_DENSE, len(convs), len(denses)))
    return Architecture(tuple(convs), tuple(denses), output_init)


def flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(_("{!r} is not 0 or 1").format(text))
    return text == "1"


def show_flag(value: object) -> str:
    return "1" if value else "0"


F = links.UrlField
URL_TRAIN = links.UrlSpec("train", (
    F("src", state.TR_SOURCE, links.one_of(("build", "pretrained", "uploaded"))),
    F("preset", state.TR_PRESET, links.one_of((*PRESETS, "custom"))),
    F("net", state.TR_ARCH, arch_from_text, arch_to_text),
    F("n", state.TR_SIZE, links.int_in(1000, 60_000)), F("ep", state.TR_EPOCHS, links.int_in(1, 50)),
    F("bs", state.TR_BATCH, links.int_in(1, 512)), F("seed", state.TR_SEED, links.int_in(1, 2 ** 32 - 1)),
    F("opt", state.TR_OPTIMIZER, links.one_of(tuple(OPTIMIZERS))),
    F("lr", state.TR_LR, links.float_in(0.0001, 10)), F("mom", state.TR_MOMENTUM, links.float_in(0, 0.99)),
    F("decay", state.TR_DECAY, links.one_of(DECAYS)),
    F("flr", state.TR_FINAL_LR, links.float_in(0.00001, 10)), F("book", state.TR_BOOK, flag, show_flag),
    F("dtype", state.TR_DTYPE, links.one_of(("float32", "float64"))),
    F("evals", state.TR_EVALS, links.int_in(1, 20)), F("evn", state.TR_EVAL_SIZE, links.int_in(100, 10_000)),
    F("aug", state.TR_AUGMENT, links.one_of(tuple(AUGMENT_PRESETS)))))


def _fresh() -> bool:
    """Whether the address holds a lab link this session has not applied yet (as :func:`app.links.read_url`
    decides: values other than those the page last wrote)."""
    if st.query_params.get("lesson", URL_TRAIN.lesson) != URL_TRAIN.lesson:
        return False
    incoming = {f.name: st.query_params[f.name] for f in URL_TRAIN.fields if f.name in st.query_params}
    return bool(incoming) and incoming != st.session_state.get(f"url_{URL_TRAIN.lesson}")


def read(locked: bool = False) -> list[str]:
    """Apply a shared link (returns the problems found). A named preset brings its network and settings first,
    so ``/train?preset=chapter`` opens the chapter's model with its settings; the link's other values follow and
    win. Nothing is applied while a run is under way (``locked``): its network and settings stay on screen."""
    if locked or not _fresh():
        return []
    preset = st.query_params.get("preset")
    if preset in PRESETS:
        apply_preset(preset)
    problems = links.read_url(URL_TRAIN)
    name = st.session_state[state.TR_PRESET]
    if name in PRESETS and st.session_state[state.TR_ARCH] != from_preset(name):
        st.session_state[state.TR_PRESET] = "custom"  # the link's network is not the preset's
    return problems


def write() -> None:
    """Put the lab's network and settings in the address bar."""
    links.write_url(URL_TRAIN)
