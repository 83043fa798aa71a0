"""Every session-state key as a named constant and the defaults in one table (the links are :mod:`app.links`).

Widgets take their value from their key (never also from ``value=``); :func:`init` sets the defaults once per
session and re-asserts every key on each run, which keeps a lesson's settings when the learner visits another
page (Streamlit otherwise forgets the state of widgets that were not drawn). Page-only keys carry the page's
prefix: ``c1_`` 1D convolution, ``c2_`` 2D convolution, ``mc_`` multichannel, ``pl_`` pooling and flatten,
``dr_`` draw a digit.
"""
from __future__ import annotations

# Plotly imports pandas the first time a figure is made. The first reruns of a fresh process run in threads at
# once, and two threads importing pandas together can find it half made ("partially initialized module 'pandas'
# has no attribute 'Series'", 2-4 of 10 first loads on a new process). The entry script imports this module before
# any page runs, so pandas is made whole here, under this module's import lock; the training workers, which never
# import this module, do not pay for it.
import pandas  # noqa: F401
import streamlit as st

from app.lab.builder import from_preset
from smartflow_core.presets import PRESETS

PAD_MODES = ("none", "same", "custom")
KERNEL_PRESETS = ("edge", "horizontal", "vertical", "blur", "sharpen", "identity", "random", "custom")
SPEEDS = (2.0, 1.0, 0.5, 0.25, 0.1, 0.05, 0.02)  # seconds per step while playing (0.02: a 28x28 map in 16 s)
UPSTREAM_KINDS = ("ones", "random", "loss")

# 1D convolution
C1_INPUT, C1_KERNEL = "c1_input", "c1_kernel"
C1_PAD_MODE, C1_PAD, C1_STRIDE = "c1_pad_mode", "c1_pad", "c1_stride"
C1_STEP, C1_SPEED = "c1_step", "c1_speed"

# 2D convolution
C2_SOURCE, C2_PICK, C2_INDEX, C2_LABEL, C2_NTH = "c2_source", "c2_pick", "c2_index", "c2_label", "c2_nth"
C2_GRID, C2_SIZE, C2_UPLOAD, C2_UPLOADED = "c2_grid", "c2_size", "c2_upload", "c2_uploaded"
C2_PRESET, C2_KERNEL, C2_SEED = "c2_preset", "c2_kernel", "c2_seed"
C2_PAD_MODE, C2_PAD, C2_STRIDE = "c2_pad_mode", "c2_pad", "c2_stride"
C2_STEP, C2_SPEED = "c2_step", "c2_speed"

# multichannel convolution
MC_SOURCE, MC_CIN, MC_SIZE, MC_SEED = "mc_source", "mc_cin", "mc_size", "mc_seed"
MC_UPLOAD, MC_UPLOADED = "mc_upload", "mc_uploaded"
MC_COUT, MC_FILTERS, MC_OUT = "mc_cout", "mc_filters", "mc_out"
MC_PAD_MODE, MC_PAD, MC_STRIDE = "mc_pad_mode", "mc_pad", "mc_stride"
MC_STEP, MC_SPEED = "mc_step", "mc_speed"

# stride, pooling and flatten
PL_SOURCE, PL_INDEX, PL_GRID = "pl_source", "pl_index", "pl_grid"
PL_SIZE, PL_MODE, PL_PRESET = "pl_size", "pl_mode", "pl_preset"
PL_STEP, PL_SPEED = "pl_step", "pl_speed"
PL_FC, PL_FH, PL_FW = "pl_fc", "pl_fh", "pl_fw"

# draw a digit. The canvas adapter (app/draw/canvas.py) keeps its own keys under DR_CANVAS: dr_canvas_<n> for the
# component (n changes on Clear) and dr_canvas_pad for its strokes and image.
DR_MODEL, DR_SOURCE, DR_THRESHOLD = "dr_model", "dr_source", "dr_threshold"
DR_CANVAS, DR_BRUSH, DR_UPLOAD, DR_PHOTO = "dr_canvas", "dr_brush", "dr_upload", "dr_photo"
DR_STEPS = ("dr_ink", "dr_crop", "dr_scale", "dr_center")  # the order of smartflow_core.digits.Steps' fields
DR_SALIENCY, DR_EXPLAIN = "dr_saliency", "dr_explain"
DR_RANGE, DR_EXAMPLE = "dr_map_range", "dr_example"  # feature maps' colour range; the example on the canvas

CP_FIXED = "cp_fixed"  # a teacher's question set (q= in the address) for the session's checkpoints

GRID_2D = "0 0 0 0 0 0 0\n0 0 1 1 1 0 0\n0 0 1 0 1 0 0\n0 0 1 0 1 0 0\n0 0 1 1 1 0 0\n0 0 0 0 0 0 0"
GRID_POOL = "1 3 2 1 0 4\n5 6 1 2 3 1\n0 2 9 4 1 0\n1 1 3 7 2 2\n4 0 1 2 8 1\n2 3 0 1 1 5"

# Every stepped lesson opens at step 1 (a link may ask for another): the output fills in as the steps go.
DEFAULTS: dict[str, object] = {
    C1_INPUT: "1, 2, 3, 4, 5", C1_KERNEL: "1, 1, 1", C1_PAD_MODE: "same", C1_PAD: 1, C1_STRIDE: 1,
    C1_STEP: 1, C1_SPEED: 1.0,
    C2_SOURCE: "mnist", C2_PICK: "index", C2_INDEX: 0, C2_LABEL: 7, C2_NTH: 0, C2_GRID: GRID_2D, C2_SIZE: 28,
    C2_UPLOADED: None, C2_PRESET: "edge", C2_KERNEL: "0 1 0\n1 -4 1\n0 1 0", C2_SEED: 0,
    C2_PAD_MODE: "same", C2_PAD: 1, C2_STRIDE: 1, C2_STEP: 1, C2_SPEED: 0.1,
    MC_SOURCE: "rgb", MC_CIN: 2, MC_SIZE: 5, MC_SEED: 0, MC_UPLOADED: None, MC_COUT: 2, MC_FILTERS: "colour",
    MC_OUT: 0, MC_PAD_MODE: "same", MC_PAD: 1, MC_STRIDE: 1, MC_STEP: 1, MC_SPEED: 0.25,
    PL_SOURCE: "mnist", PL_INDEX: 0, PL_GRID: GRID_POOL, PL_SIZE: 2, PL_MODE: "max", PL_PRESET: "blur",
    PL_STEP: 1, PL_SPEED: 0.25, PL_FC: 2, PL_FH: 3, PL_FW: 3,
    DR_MODEL: "pretrained", DR_SOURCE: "draw", DR_THRESHOLD: 70, DR_BRUSH: 20, DR_PHOTO: None,
    **{key: True for key in DR_STEPS}, DR_SALIENCY: "gradient", DR_EXPLAIN: -1, DR_RANGE: "map", DR_EXAMPLE: "none",
}


def init() -> None:
    """Set missing keys to their defaults and re-assert the rest (called by ``app/main.py`` on every run)."""
    for key, default in DEFAULTS.items():
        st.session_state[key] = st.session_state.get(key, default)


def reset(prefix: str) -> None:
    """Put every key of one page back to its default (and forget the notes about impossible values)."""
    for key, default in DEFAULTS.items():
        if key.startswith(prefix):
            st.session_state[key] = default
            st.session_state.pop(f"{key}_why", None)


# ---------------------------------------------------------------------------------------------- labs
# train a CNN (tr_, pages/train.py) and evaluate it (ev_, pages/evaluate.py). The builder's per-block widgets are
# keyed f"{TR_BLOCK}_<conv|dense><n>_<field>", re-asserted from TR_ARCH on every run (app/lab/builder_ui.py).

TR_SOURCE, TR_PRESET, TR_ARCH, TR_BLOCK, TR_UPLOAD = "tr_source", "tr_preset", "tr_arch", "tr_block", "tr_upload"
TR_SIZE, TR_EPOCHS, TR_BATCH, TR_OPTIMIZER, TR_LR = "tr_size", "tr_epochs", "tr_batch", "tr_optimizer", "tr_lr"
TR_MOMENTUM, TR_DECAY, TR_FINAL_LR, TR_SEED = "tr_momentum", "tr_decay", "tr_final_lr", "tr_seed"
TR_BOOK, TR_DTYPE, TR_EVALS, TR_EVAL_SIZE = "tr_book", "tr_dtype", "tr_evals", "tr_eval_size"
TR_VIEW, TR_DIGIT, TR_COMPARE = "tr_view", "tr_digit", "tr_compare"
TR_AUGMENT = "tr_augment"  # augmentation of the training batches: none, light, medium or strong
TR_FILTERS_LAYER, TR_FILTERS_CHANNEL = "tr_filters_layer", "tr_filters_channel"  # the filters view's layer, channel
EV_MODEL, EV_UPLOAD, EV_CELL, EV_DIGIT, EV_RESULTS = "ev_model", "ev_upload", "ev_cell", "ev_digit", "ev_results"
EV_ORDER, EV_RANGE = "ev_order", "ev_map_range"  # the gallery's order; the feature maps' colour range
LAB_UPLOADED = "lab_uploaded"  # (file name, network, metadata, size) of the model uploaded on either lab page


def preset_settings(name: str) -> dict[str, object]:
    """The training settings a preset comes with, as state keys."""
    p = PRESETS[name]
    return {TR_EPOCHS: p.epochs, TR_BATCH: p.batch_size, TR_LR: p.lr, TR_MOMENTUM: p.momentum or 0.9,
            TR_OPTIMIZER: "SGDMomentum" if p.momentum else "SGD", TR_DECAY: p.decay_type or "none",
            TR_FINAL_LR: p.final_lr or p.lr / 10, TR_SEED: p.seed, TR_DTYPE: p.dtype,
            TR_AUGMENT: "none"}  # a preset never augments: the learner asks for it


DEFAULTS.update({
    TR_SOURCE: "build", TR_PRESET: "default", TR_ARCH: from_preset("default"), TR_SIZE: 10_000,
    **preset_settings("default"), TR_BOOK: False, TR_EVALS: 4, TR_EVAL_SIZE: 1000,
    TR_VIEW: "filters", TR_DIGIT: 0, TR_COMPARE: [], TR_FILTERS_LAYER: 1, TR_FILTERS_CHANNEL: -1,
    EV_MODEL: "pretrained", EV_CELL: (-1, -1), EV_DIGIT: None, EV_RESULTS: None, LAB_UPLOADED: None,
    EV_ORDER: "most", EV_RANGE: "map",
})


# ---------------------------------------------------------------------------------------------- backward pass
# the perturbation experiment (bp_, pages/perturb.py), the 1D input gradient (bi_, pages/grad_1d.py), the 1D filter
# gradient (bf_, pages/grad_1d_filter.py), 2D and multichannel gradients (b2_, pages/grad_2d.py), the book's bug
# (bb_, pages/book_bug.py). Targets left blank mean "every output aims at 0".
BP_INPUT, BP_KERNEL, BP_WHAT, BP_INDEX, BP_DELTA = "bp_input", "bp_kernel", "bp_what", "bp_index", "bp_delta"
BP_UP, BP_SEED, BP_GOAL = "bp_up", "bp_seed", "bp_goal"
BI_INPUT, BI_KERNEL, BI_UP, BI_SEED, BI_GOAL = "bi_input", "bi_kernel", "bi_up", "bi_seed", "bi_goal"
BI_STEP, BI_SPEED = "bi_step", "bi_speed"
BF_INPUT, BF_KERNEL, BF_WEIGHT = "bf_input", "bf_kernel", "bf_weight"
BF_UP, BF_SEED, BF_GOAL = "bf_up", "bf_seed", "bf_goal"
BF_STEP, BF_SPEED = "bf_step", "bf_speed"
B2_BATCH, B2_CIN, B2_COUT, B2_SIZE, B2_K, B2_SEED = "b2_batch", "b2_cin", "b2_cout", "b2_size", "b2_k", "b2_seed"
B2_PAD_MODE, B2_PAD, B2_STRIDE, B2_UP, B2_USEED = "b2_pad_mode", "b2_pad", "b2_stride", "b2_up", "b2_useed"
B2_XB, B2_XC, B2_XR, B2_XW = "b2_xb", "b2_xc", "b2_xr", "b2_xw"  # the input cell: observation, channel, row, col
B2_WC, B2_WO, B2_WI, B2_WJ = "b2_wc", "b2_wo", "b2_wi", "b2_wj"  # the weight: in channel, out channel, row, col
B2_H = "b2_h"  # the gradient check's step is 10 ** -B2_H
B2_MORE = "b2_more"  # batch, channels and stride shown (the lesson opens on one image, one channel, stride 1)
B2_XSTEP, B2_WSTEP, B2_SPEED = "b2_xstep", "b2_wstep", "b2_speed"  # the two steppers (cell, term)
BB_EXAMPLE, BB_BATCH, BB_SIZE, BB_SEED = "bb_example", "bb_batch", "bb_size", "bb_seed"

DEFAULTS.update({
    BP_INPUT: "1, 2, 3, 4, 5", BP_KERNEL: "1, 1, 1", BP_WHAT: "input", BP_INDEX: 4, BP_DELTA: 1.0,
    BP_UP: "ones", BP_SEED: 0, BP_GOAL: "",
    BI_INPUT: "1, 2, 3, 4, 5", BI_KERNEL: "1, 2, 3", BI_UP: "ones", BI_SEED: 0, BI_GOAL: "",
    BI_STEP: 1, BI_SPEED: 1.0,  # step 13 = input 4, weight 0: the chapter's t5
    BF_INPUT: "1 2 3 4 5", BF_KERNEL: "1, 1, 1", BF_WEIGHT: 0, BF_UP: "ones", BF_SEED: 0,
    BF_GOAL: "", BF_STEP: 1, BF_SPEED: 0.5,
    B2_BATCH: 1, B2_CIN: 1, B2_COUT: 1, B2_SIZE: 4, B2_K: 3, B2_SEED: 0, B2_PAD_MODE: "same", B2_PAD: 1,
    B2_STRIDE: 1, B2_UP: "random", B2_USEED: 0, B2_XB: 0, B2_XC: 0, B2_XR: 0, B2_XW: 0,
    B2_WC: 0, B2_WO: 0, B2_WI: 0, B2_WJ: 0, B2_H: 4, B2_MORE: False, B2_XSTEP: 1, B2_WSTEP: 1, B2_SPEED: 1.0,
    BB_EXAMPLE: "unit", BB_BATCH: 2, BB_SIZE: 3, BB_SEED: 0,
})


# ---------------------------------------------------------------------------------------------- teach
# make a lesson link (ll_, pages/lesson_link.py): the page, what to hide and lock, the presenter view, the questions
LL_PAGE, LL_HIDE, LL_LOCK, LL_PRESENT, LL_TEXT = "ll_page", "ll_hide", "ll_lock", "ll_present", "ll_text"
LL_QUESTIONS, LL_SEED = "ll_questions", "ll_seed"
DEFAULTS.update({LL_PAGE: "conv-1d", LL_HIDE: [], LL_LOCK: [], LL_PRESENT: False, LL_TEXT: False,
                 LL_QUESTIONS: "own", LL_SEED: 1})
