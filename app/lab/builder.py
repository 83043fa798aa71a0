"""The architecture builder: convolution blocks, dense layers and an output layer, checked before anything trains.

An :class:`Architecture` is a frozen list of :class:`ConvBlock` (a convolution, its activation, optional 2x2 pooling
and dropout) followed by :class:`DenseBlock` hidden layers and a 10-class output layer. Blocks always come in that
order, so a network the builder makes never puts a convolution after a flat vector; the last convolution block
flattens its maps for the first dense layer.

:func:`check` turns it into a :class:`Plan`: one row per layer with its output shape, parameter count and
multiply-adds per image (from ``NeuralNetwork.shapes``), or the problems that make it impossible, each said in a
sentence a learner can act on (a stride of 0, a kernel larger than its input, pooling a 1x1 map, book mode with a
convolution the book cannot compute, a batch too large for the server's memory), wrapped in ``_()`` for
translation. No Streamlit here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from app.i18n import _
from smartflow_core import operation
from smartflow_core.layer import WEIGHT_INITS
from smartflow_core.nn import NeuralNetwork
from smartflow_core.persist import build_model
from smartflow_core.presets import INPUT_SHAPE, PRESETS

ACTIVATIONS = ("ReLU", "Tanh", "Sigmoid", "Linear")  # the library's, in the order the menus offer them
assert set(ACTIVATIONS) == set(operation.ACTIVATIONS), "the builder offers every activation the library has"
INITS = WEIGHT_INITS
POOLS = ("none", "max", "avg")
POOL_SIZE = 2
CLASSES = 10
MAX_CONV, MAX_DENSE = 5, 3
MEMORY_LIMIT = 768 * 2 ** 20  # bytes one run may use for a convolution's windows (two runs share the server)
BIG_DENSE = 2_000_000  # weights: a dense layer larger than this trains slowly; warn


@dataclass(frozen=True)
class ConvBlock:
    """``Conv2DLayer(channels, kernel, stride, padding)``, then pooling (``pool`` "none", "max" or "avg", 2x2).

    ``padding`` None is the chapter's ``kernel // 2`` ("same" size at stride 1); ``dropout`` is the probability of
    *keeping* a unit, as the chapter writes it (0.8 keeps 80 %)."""
    channels: int = 16
    kernel: int = 5
    stride: int = 1
    padding: int | None = None
    activation: str = "ReLU"
    pool: str = "max"
    dropout: float = 1.0
    init: str = "he"


@dataclass(frozen=True)
class DenseBlock:
    """A hidden ``DenseLayer(neurons, activation)`` with dropout (keep probability)."""
    neurons: int = 64
    activation: str = "ReLU"
    dropout: float = 1.0
    init: str = "he"


@dataclass(frozen=True)
class Architecture:
    convs: tuple[ConvBlock, ...] = (ConvBlock(),)
    denses: tuple[DenseBlock, ...] = ()
    output_init: str = "he"

    # editing: every method returns a new Architecture
    def set_conv(self, i: int, **changes) -> Architecture:
        return replace(self, convs=_set(self.convs, i, changes))

    def set_dense(self, i: int, **changes) -> Architecture:
        return replace(self, denses=_set(self.denses, i, changes))

    def add_conv(self) -> Architecture:
        """One more block like the last one, with twice its channels (up to 64), as networks usually grow."""
        last = self.convs[-1] if self.convs else ConvBlock()
        return replace(self, convs=self.convs + (replace(last, channels=min(2 * last.channels, 64)),))

    def add_dense(self) -> Architecture:
        return replace(self, denses=self.denses + (DenseBlock(),))

    def remove_conv(self, i: int) -> Architecture:
        return replace(self, convs=self.convs[:i] + self.convs[i + 1:])

    def remove_dense(self, i: int) -> Architecture:
        return replace(self, denses=self.denses[:i] + self.denses[i + 1:])

    def layers(self) -> list[dict]:
        """The layer configs ``persist.build_model`` reads; the last convolution stage flattens."""
        layers = []
        for n, b in enumerate(self.convs):
            last = n == len(self.convs) - 1
            layers.append({"type": "Conv2DLayer", "out_channels": b.channels, "param_size": b.kernel,
                           "stride": b.stride, "padding": b.padding, "activation": b.activation,
                           "dropout": b.dropout, "weight_init": b.init, "flatten": last and b.pool == "none"})
            if b.pool != "none":
                layers.append({"type": "Pool2DLayer", "size": POOL_SIZE, "mode": b.pool, "flatten": last})
        for b in self.denses:
            layers.append({"type": "DenseLayer", "neurons": b.neurons, "activation": b.activation,
                           "dropout": b.dropout, "weight_init": b.init})
        layers.append({"type": "DenseLayer", "neurons": CLASSES, "activation": "Linear",
                       "weight_init": self.output_init})
        return layers

    def model_config(self, seed: int = 1) -> dict:
        """The lab's networks draw dropout masks from raw bits (fast): the lab promises no book numbers, and
        book and correct mode still share every draw."""
        return {"layers": self.layers(), "loss": {"type": "SoftmaxCrossEntropy"}, "seed": seed,
                "input_shape": list(INPUT_SHAPE), "fast_dropout": True}


def _set(blocks: tuple, i: int, changes: dict) -> tuple:
    return blocks[:i] + (replace(blocks[i], **changes),) + blocks[i + 1:]


def from_preset(name: str) -> Architecture:
    """The builder's view of a preset of :mod:`smartflow_core.presets` ("chapter" or "default")."""
    convs, denses = [], []
    for spec in PRESETS[name].layers:
        if spec["type"] == "Conv2DLayer":
            convs.append(ConvBlock(spec["out_channels"], spec["param_size"], spec.get("stride", 1),
                                   spec.get("padding"), spec.get("activation", "Linear"), "none",
                                   spec.get("dropout", 1.0), spec.get("weight_init", "normal")))
        elif spec["type"] == "Pool2DLayer":
            convs[-1] = replace(convs[-1], pool=spec.get("mode", "max"))
        else:
            denses.append(DenseBlock(spec["neurons"], spec.get("activation", "Linear"), spec.get("dropout", 1.0),
                                     spec.get("weight_init", "standard")))
    output = denses.pop()
    return Architecture(tuple(convs), tuple(denses), output.init)


# ---------------------------------------------------------------------------------------------- the check


@dataclass(frozen=True)
class Row:
    """One layer of the table: ``shape`` is one image's output (no batch axis)."""
    layer: str
    detail: str
    shape: tuple
    params: int
    macs: int


@dataclass(frozen=True)
class Plan:
    rows: tuple[Row, ...]
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)


def shape_text(shape: tuple) -> str:
    """``(16, 28, 28)`` -> ``16 × 28 × 28``; ``(10,)`` -> ``10``."""
    return " × ".join(str(n) for n in shape)


def _pad(spec: dict) -> int:
    return spec["param_size"] // 2 if spec.get("padding") is None else spec["padding"]


def layer_name(n: int, spec: dict) -> str:
    """``1 Conv 16@5×5``: layer ``n`` (from 1) as the table names it."""
    kind = spec["type"]
    if kind == "Conv2DLayer":
        k = spec["param_size"]
        return _("{} Conv {}@{}×{}").format(n, spec["out_channels"], k, k)
    if kind == "Pool2DLayer":
        pool = _("{} Max pool {}×{}") if spec.get("mode", "max") == "max" else _("{} Avg pool {}×{}")
        return pool.format(n, spec.get("size", 2), spec.get("size", 2))
    return _("{} Dense {}").format(n, spec["neurons"])


def _detail(spec: dict) -> str:
    kind, parts = spec["type"], []
    if kind == "Conv2DLayer":
        parts += [_("stride {}").format(spec.get("stride", 1)), _("padding {}").format(_pad(spec))]
    if kind != "Pool2DLayer":
        parts.append(spec.get("activation") or "Linear")
        if spec.get("dropout", 1.0) < 1:
            parts.append(_("keep {:.0%}").format(spec["dropout"]))
        parts.append(_("{} init").format(spec.get("weight_init", "standard")))
    if spec.get("flatten"):
        parts.append(_("flatten"))
    return ", ".join(parts)


def _own_problem(n: int, spec: dict, book: bool) -> str | None:
    """What is wrong with a layer whatever its input (the widgets allow these on purpose, to explain them)."""
    where = layer_name(n, spec)
    if spec["type"] == "Conv2DLayer":
        k, s, p = spec["param_size"], spec.get("stride", 1), _pad(spec)
        if s < 1:
            return _("{}: a stride of {} never moves the kernel, so the convolution would never reach the next "
                     "output cell. The stride must be at least 1.").format(where, s)
        if spec["out_channels"] < 1 or k < 1:
            return _("{}: a convolution needs at least one filter of at least 1×1.").format(where)
        if p < 0:
            return _("{}: padding adds zeros around the input; it cannot be negative.").format(where)
        if book and (s != 1 or k % 2 == 0 or p != k // 2):
            return _("{}: book mode reproduces the chapter's convolution, which only handles odd kernels, stride 1 "
                     "and “same” padding (kernel // 2); this one has a {}×{} kernel, stride {} and padding {}. "
                     "Switch book mode off or change the layer.").format(where, k, k, s, p)
    if spec["type"] != "Pool2DLayer" and not 0 < spec.get("dropout", 1.0) <= 1:
        return _("{}: dropout keeps a fraction of the units, between 0 (excluded) and 1.").format(where)
    return None


def _shape_problem(n: int, spec: dict, shape: tuple) -> str:
    """Why layer ``n`` cannot take an input of ``shape`` (one example's)."""
    where = layer_name(n, spec)
    if spec["type"] == "Conv2DLayer":
        k, p = spec["param_size"], _pad(spec)
        h, w = shape[1:]
        return _("{}: its {}×{} kernel does not fit its {}×{} input (padded by {} on each side: {}×{}). Use a "
                 "kernel of at most {}, more padding, or less pooling and stride before it.").format(
            where, k, k, h, w, p, h + 2 * p, w + 2 * p, min(h, w) + 2 * p)
    if spec["type"] == "Pool2DLayer":
        h, w = shape[1:]
        return _("{}: its input is only {}×{}, smaller than the {}×{} window, so there is nothing left to pool. "
                 "Turn this pooling off, or shrink the maps less before it.").format(where, h, w, POOL_SIZE,
                                                                                       POOL_SIZE)
    return _("{}: cannot read an input of shape {}.").format(where, shape_text(shape))


def _macs(spec: dict, shape_in: tuple, shape_out: tuple) -> int:
    if spec["type"] == "Conv2DLayer":
        k = spec["param_size"]
        out = spec["out_channels"] * math.prod(shape_out[-2:]) if len(shape_out) == 3 else math.prod(shape_out)
        return out * shape_in[0] * k * k
    if spec["type"] == "DenseLayer":
        return math.prod(shape_in) * spec["neurons"]
    return 0


def _window_bytes(spec: dict, shape_in: tuple, shape_out: tuple, batch_size: int, itemsize: int) -> int:
    """Memory of the window copy a convolution's matrix product makes: batch x in x out_h x out_w x k x k."""
    k = spec["param_size"]
    oh, ow = (shape_out[1:] if len(shape_out) == 3 else
              _conv_hw(shape_in[1:], k, spec.get("stride", 1), _pad(spec)))
    return batch_size * shape_in[0] * oh * ow * k * k * itemsize


def _conv_hw(hw, k, s, p):
    return tuple((n + 2 * p - k) // s + 1 for n in hw)


def check(arch: Architecture | dict, *, book: bool = False, batch_size: int | None = None,
          dtype: str = "float32") -> Plan:
    """The table of layers and what stops the network from training (``problems``) or slows it (``warnings``).

    ``arch`` is an :class:`Architecture` or a model config dict (a loaded model's). Shapes and parameter counts
    are ``NeuralNetwork.shapes``'s; when it refuses, the layers are walked one by one to say which fails and why."""
    config = arch.model_config() if isinstance(arch, Architecture) else arch
    specs = config["layers"]
    own = [msg for n, spec in enumerate(specs, 1) if (msg := _own_problem(n, spec, book))]
    if own:
        return Plan((), tuple(own))
    net = build_model({**config, "layers": [{k: v for k, v in s.items() if k != "book"} for s in specs]})
    try:
        shapes = net.shapes(INPUT_SHAPE)
    except ValueError:
        return _diagnose(specs, net)
    rows, inputs = [], [tuple(INPUT_SHAPE)] + [out for _layer, out, _params in shapes[:-1]]
    for n, (spec, (_layer, out, params), shape) in enumerate(zip(specs, shapes, inputs), 1):
        rows.append(Row(layer_name(n, spec), _detail(spec), out, params, _macs(spec, shape, out)))
    problems = [_memory_problem(n, spec, shape, out, batch_size, dtype)
                for n, (spec, (_layer, out, _params), shape) in enumerate(zip(specs, shapes, inputs), 1)
                if batch_size and spec["type"] == "Conv2DLayer"]
    big = [r for r, spec in zip(rows, specs) if spec["type"] == "DenseLayer" and r.params > BIG_DENSE]
    warnings = [_("{} has {:,} weights: it will train slowly. Pooling before it shrinks its input.").format(
        r.layer, r.params) for r in big]
    return Plan(tuple(rows), tuple(p for p in problems if p), tuple(warnings))


def _diagnose(specs: list[dict], net: NeuralNetwork) -> Plan:
    """The rows up to the first layer that cannot take its input, and why it cannot."""
    rows, shape = [], tuple(INPUT_SHAPE)
    for n, (spec, layer) in enumerate(zip(specs, net.layers), 1):
        try:
            out = layer.output_shape(shape)
        except ValueError:
            return Plan(tuple(rows), (_shape_problem(n, spec, shape),))
        rows.append(Row(layer_name(n, spec), _detail(spec), out, layer.param_count(shape), _macs(spec, shape, out)))
        shape = out
    raise AssertionError("NeuralNetwork.shapes refused a network whose every layer fits")  # pragma: no cover


def _memory_problem(n: int, spec: dict, shape_in: tuple, shape_out: tuple, batch_size: int,
                    dtype: str) -> str | None:
    need = _window_bytes(spec, shape_in, shape_out, batch_size, 8 if dtype == "float64" else 4)
    if need <= MEMORY_LIMIT:
        return None
    k = spec["param_size"]
    return _("{}: each of its output cells reads a {}×{}×{} window, and a batch of {} copies them all: about "
             "{:.1f} GB, more than the {:.2f} GB one run may use on this server. Lower the batch size, the channels "
             "before this layer or its kernel.").format(layer_name(n, spec), k, k, shape_in[0], batch_size,
                                                        need / 2 ** 30, MEMORY_LIMIT / 2 ** 30)


def table(plan: Plan) -> list[dict]:
    """The rows as a learner reads them, with the input first and the totals last."""
    out = [{"layer": _("Input"), "details": _("an MNIST image"), "output shape": shape_text(INPUT_SHAPE),
            "parameters": 0, "multiply-adds": 0}]
    out += [{"layer": r.layer, "details": r.detail, "output shape": shape_text(r.shape), "parameters": r.params,
             "multiply-adds": r.macs} for r in plan.rows]
    if plan.ok:
        out.append({"layer": _("Total"), "details": "", "output shape": "", "parameters": plan.params,
                    "multiply-adds": plan.macs})
    return out


__all__ = ["ConvBlock", "DenseBlock", "Architecture", "from_preset", "Row", "Plan", "check", "table", "shape_text",
           "layer_name", "ACTIVATIONS", "INITS", "POOLS", "MAX_CONV", "MAX_DENSE"]
