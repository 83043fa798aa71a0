"""Every page's controls, by name: the names a teacher's link hides and locks (:mod:`app.view`).

A control is named by its setting's name in the page's link where it has one (``x`` the input values, ``k`` the
kernel, ``s`` the stride...), so one vocabulary serves both. Its kind: ``setting`` (part of the example: ``all``
hides or locks it), ``walk`` (moves through the example or runs it, like the stepper's own buttons, the lab's
Start, the reset: ``all`` leaves it usable, naming it does not) or ``part`` (a section that can be hidden, never
locked: the checkpoints, the canvas). A test fails for a widget of a page that no control here owns.
"""
from __future__ import annotations

from dataclasses import dataclass

from app import menu
from app import state as s
from app.i18n import N_

KIND_NOTES = {"walk": N_("(walk)"), "part": N_("(hide only)")}


@dataclass(frozen=True)
class Control:
    """One control of a page. ``keys`` are its widgets' state keys; a key ending in ``*`` is a prefix."""

    name: str
    label: str
    keys: tuple[str, ...]
    kind: str = "setting"  # "setting", "walk" or "part"
    within: str | None = None  # the part it belongs to: hiding that part hides it too (the canvas's brush)

    def owns(self, key: str) -> bool:
        return any(key.startswith(k[:-1]) if k.endswith("*") else key == k for k in self.keys)


def C(name: str, label: str, *keys: str, kind: str = "setting", within: str | None = None) -> Control:
    return Control(name, label, keys, kind, within)


def _padding(prefix: str) -> tuple[Control, ...]:
    return (C("pad", N_("Padding"), f"{prefix}_pad_mode"), C("p", N_("Custom padding"), f"{prefix}_pad"),
            C("s", N_("Stride"), f"{prefix}_stride"))


def _upstream(prefix: str, goal: bool = True) -> tuple[Control, ...]:
    seed = "useed" if prefix == "b2" else "seed"
    target = (C("t", N_("Target of the outputs"), f"{prefix}_goal"),) if goal else ()
    return (C("up", N_("Upstream gradient dL/dout"), f"{prefix}_up"), C("g", N_("Seed of g"), f"{prefix}_{seed}"),
            *target)


def _lesson(prefix: str, *controls: Control) -> tuple[Control, ...]:
    return (*controls, C("reset", N_("Back to the chapter's example"), f"{prefix}_back", kind="walk"),
            C("checkpoints", N_("Check yourself (the questions)"), "cp_*", kind="part"))


CONTROLS: dict[str, tuple[Control, ...]] = {
    "conv-1d": _lesson("c1", C("x", N_("Input values"), s.C1_INPUT), C("k", N_("Kernel values"), s.C1_KERNEL),
                       *_padding("c1")),
    "conv-2d": _lesson(
        "c2", C("src", N_("Input"), s.C2_SOURCE), C("pick", N_("Choose the digit"), s.C2_PICK),
        C("i", N_("Digit index"), s.C2_INDEX), C("label", N_("Label"), s.C2_LABEL),
        C("nth", N_("Example"), s.C2_NTH), C("grid", N_("Grid values"), s.C2_GRID),
        C("size", N_("Resize to"), s.C2_SIZE), C("upload", N_("Upload an image"), s.C2_UPLOAD),
        C("kp", N_("Kernel preset"), s.C2_PRESET), C("seed", N_("Seed"), s.C2_SEED),
        C("k", N_("Kernel cells"), s.C2_KERNEL), *_padding("c2"),
        C("jump", N_("Show the strongest response"), "c2_jump", kind="walk")),
    "multichannel": _lesson(
        "mc", C("src", N_("Input"), s.MC_SOURCE), C("cin", N_("Input channels"), s.MC_CIN),
        C("n", N_("Size"), s.MC_SIZE), C("upload", N_("Upload an image"), s.MC_UPLOAD),
        C("cout", N_("Output channels"), s.MC_COUT), C("f", N_("Filters"), s.MC_FILTERS),
        C("seed", N_("Seed"), s.MC_SEED), *_padding("mc"), C("o", N_("Output map to build"), s.MC_OUT)),
    "pooling": _lesson(
        "pl", C("src", N_("Input"), s.PL_SOURCE), C("i", N_("Digit index"), s.PL_INDEX),
        C("grid", N_("Grid values"), s.PL_GRID), C("size", N_("Pool size"), s.PL_SIZE),
        C("mode", N_("Pooling"), s.PL_MODE), C("kp", N_("Kernel for the strided convolution"), s.PL_PRESET),
        C("fc", N_("Channels"), s.PL_FC), C("fh", N_("Height"), s.PL_FH), C("fw", N_("Width"), s.PL_FW)),
    "perturb": _lesson(
        "bp", C("x", N_("Input values"), s.BP_INPUT), C("k", N_("Kernel values"), s.BP_KERNEL),
        C("what", N_("Nudge"), s.BP_WHAT), C("i", N_("Which element"), s.BP_INDEX),
        C("d", N_("Nudge by"), s.BP_DELTA), *_upstream("bp")),
    "grad-1d": _lesson("bi", C("x", N_("Input values"), s.BI_INPUT), C("k", N_("Kernel values"), s.BI_KERNEL),
                       *_upstream("bi")),
    "filter-grad-1d": _lesson(
        "bf", C("x", N_("Input: one observation per line"), s.BF_INPUT),
        C("batch", N_("Use the chapter's batch of two"), "bf_batch"), C("k", N_("Kernel values"), s.BF_KERNEL),
        C("w", N_("Weight"), s.BF_WEIGHT), *_upstream("bf")),
    "grad-2d": _lesson(
        "b2", C("more", N_("Show batch, channels and stride"), s.B2_MORE), C("b", N_("Batch"), s.B2_BATCH),
        C("cin", N_("In channels"), s.B2_CIN), C("cout", N_("Out channels"), s.B2_COUT),
        C("n", N_("Input size"), s.B2_SIZE), C("ks", N_("Kernel size"), s.B2_K), C("seed", N_("Seed"), s.B2_SEED),
        *_padding("b2"), *_upstream("b2", goal=False), C("xb", N_("Observation"), s.B2_XB),
        C("xc", N_("Channel"), s.B2_XC), C("wc", N_("In channel"), s.B2_WC), C("wo", N_("Out channel"), s.B2_WO),
        C("wi", N_("Kernel row"), s.B2_WI), C("wj", N_("Kernel column"), s.B2_WJ), C("h", N_("Step h"), s.B2_H)),
    "book-bug": _lesson("bb", C("ex", N_("Example"), s.BB_EXAMPLE), C("b", N_("Batch"), s.BB_BATCH),
                        C("n", N_("Size"), s.BB_SIZE), C("seed", N_("Seed"), s.BB_SEED)),
    "train": (
        C("src", N_("Train"), s.TR_SOURCE), C("preset", N_("Start from"), s.TR_PRESET),
        C("net", N_("The network (its blocks, add and remove)"), f"{s.TR_BLOCK}*"),
        C("upload", N_("Upload a model"), s.TR_UPLOAD),
        C("n", N_("Training images"), s.TR_SIZE), C("ep", N_("Epochs"), s.TR_EPOCHS),
        C("bs", N_("Batch size"), s.TR_BATCH), C("seed", N_("Seed"), s.TR_SEED),
        C("opt", N_("Optimizer"), s.TR_OPTIMIZER), C("mom", N_("Momentum"), s.TR_MOMENTUM),
        C("lr", N_("Learning rate"), s.TR_LR), C("decay", N_("Learning-rate decay"), s.TR_DECAY),
        C("flr", N_("Final learning rate"), s.TR_FINAL_LR), C("book", N_("Book mode"), s.TR_BOOK),
        C("evals", N_("Evaluations per epoch"), s.TR_EVALS), C("evn", N_("Test images per evaluation"),
                                                                  s.TR_EVAL_SIZE),
        C("dtype", N_("Numbers"), s.TR_DTYPE), C("aug", N_("Augmentation"), s.TR_AUGMENT),
        C("run", N_("Start, Pause, Resume and Stop"), "tr_start", "tr_pause", "tr_resume", "tr_stop", kind="walk"),
        C("compare", N_("Overlay earlier runs"), s.TR_COMPARE, kind="walk"),
        C("view", N_("Look inside while it learns"), s.TR_VIEW, kind="walk"),
        C("digit", N_("Test digit"), s.TR_DIGIT, kind="walk"),
        C("layer", N_("The filters' layer and channel"), s.TR_FILTERS_LAYER, s.TR_FILTERS_CHANNEL, kind="walk"),
        C("download", N_("Download this model"), "tr_download", kind="walk")),
    "evaluate": (
        C("src", N_("Evaluate"), s.EV_MODEL), C("upload", N_("Upload a model"), s.EV_UPLOAD),
        C("refresh", N_("Evaluate the latest weights"), "ev_refresh", kind="walk"),
        C("cell", N_("Open a cell"), s.EV_CELL, kind="walk"), C("order", N_("Order"), s.EV_ORDER, kind="walk"),
        C("digit", N_("A mistake's digit (the gallery's buttons)"), "ev_open_*", kind="walk"),
        C("maps", N_("Colour range of the maps"), s.EV_RANGE, kind="walk")),
    "draw": (
        C("model", N_("Model in use"), s.DR_MODEL), C("src", N_("Input"), s.DR_SOURCE),
        C("upload", N_("Upload a photo"), s.DR_UPLOAD), C("brush", N_("Brush size"), s.DR_BRUSH, within="canvas"),
        C("canvas", N_("The canvas, with Undo stroke and Clear"), f"{s.DR_CANVAS}*", kind="part"),
        C("ex", N_("Try a scribble"), "dr_scribble", kind="walk"),
        C("t", N_("Confidence needed"), s.DR_THRESHOLD),
        C("steps", N_("The preparation steps (ink, crop, scale, center)"), *s.DR_STEPS),
        C("sal", N_("Saliency map"), s.DR_SALIENCY), C("why", N_("Explain the digit"), s.DR_EXPLAIN),
        C("maps", N_("Colour range of the maps"), s.DR_RANGE, kind="walk")),
}


def readme_table() -> str:
    """The README's table of every page's control names (a test keeps the README equal to it)."""
    rows = [f"| {menu.title(page)} (`/{page}`) | "
            + ", ".join(f"`{c.name}`" + ("" if c.kind == "setting" else " " + KIND_NOTES[c.kind]) for c in controls)
            + " |" for page, controls in CONTROLS.items()]
    return "| page | control names |\n| --- | --- |\n" + "\n".join(rows)
