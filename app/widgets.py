"""Groups of controls shared by the lessons. Each draws its widgets and returns plain values.

Every widget takes its value from a key named in :mod:`app.state` and carries a ``help=`` tooltip. Text the
learner types is parsed here; a bad value comes back as a ``ValueError`` whose message the page shows.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from app import resources, state, view
from app.charts import fmt
from app.i18n import N_, _

MAX_1D = 16

KERNELS = {
    "edge": ((0, 1, 0), (1, -4, 1), (0, 1, 0)),
    "horizontal": ((-1, -1, -1), (2, 2, 2), (-1, -1, -1)),
    "vertical": ((-1, 2, -1), (-1, 2, -1), (-1, 2, -1)),
    "blur": ((0.0625, 0.125, 0.0625), (0.125, 0.25, 0.125), (0.0625, 0.125, 0.0625)),
    "sharpen": ((0, -1, 0), (-1, 5, -1), (0, -1, 0)),
    "identity": ((0, 0, 0), (0, 1, 0), (0, 0, 0)),
}
KERNEL_LABELS = {
    "edge": N_("Edge detector (the chapter's)"), "horizontal": N_("Horizontal lines"),
    "vertical": N_("Vertical lines"), "blur": N_("Blur"), "sharpen": N_("Sharpen"), "identity": N_("Identity"),
    "random": N_("Random"), "custom": N_("Custom (edited)"),
}


# ---------------------------------------------------------------------------------------------- parsing


def _number(token: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise ValueError(_("“{}” is not a number").format(token)) from None
    if not np.isfinite(value):
        raise ValueError(_("“{}” is not a finite number").format(token))
    return value


def parse_values(text: str, what: str, max_len: int = MAX_1D) -> tuple[float, ...]:
    """``"1, 2, 3"`` (commas or spaces) -> ``(1.0, 2.0, 3.0)``."""
    tokens = text.replace(",", " ").split()
    if not tokens:
        raise ValueError(_("the {} is empty: type numbers separated by commas").format(what))
    if len(tokens) > max_len:
        raise ValueError(_("the {} has {} values; use at most {}").format(what, len(tokens), max_len))
    return tuple(_number(t) for t in tokens)


def parse_grid(text: str, what: str, max_size: int = 12) -> np.ndarray:
    """Rows on separate lines (or separated by ``;``), numbers by spaces or commas -> a 2D array."""
    rows = [r for r in text.replace(";", "\n").splitlines() if r.strip()]
    if not rows:
        raise ValueError(_("the {} is empty: type one row of numbers per line").format(what))
    grid = [parse_values(r, what, max_size) for r in rows]
    if len(grid) > max_size:
        raise ValueError(_("the {} has {} rows; use at most {}").format(what, len(grid), max_size))
    if len({len(r) for r in grid}) > 1:
        raise ValueError(_("every row of the {} needs the same number of values (got {})").format(
            what, ", ".join(str(len(r)) for r in grid)))
    return np.array(grid, dtype=np.float64)


def kernel_text(kernel) -> str:
    return "\n".join(" ".join(fmt(v) for v in row) for row in kernel)


def preset_kernel(name: str, seed: int) -> tuple:
    """The cells of a preset; "random" draws integers -2..2 from its own seeded generator."""
    if name == "random":
        return tuple(map(tuple, np.random.default_rng(seed).integers(-2, 3, size=(3, 3)).tolist()))
    return KERNELS[name]


# ---------------------------------------------------------------------------------------------- controls


def _clamp(key: str, lo: int, hi: int, why: Callable[[int], str] | None) -> None:
    value = st.session_state[key]
    if value is None or not lo <= value <= hi:
        used = lo if value is None else min(max(int(value), lo), hi)
        st.session_state[key] = used
        st.session_state[f"{key}_why"] = (value, used, why(value) if why and value is not None else "")
    else:
        st.session_state.pop(f"{key}_why", None)


def bounded_number(where, label: str, lo: int, hi: int, *, key: str, why: Callable[[int], str] | None = None,
                   **kw) -> int:
    """An integer box that takes any number and says, right under it, why one outside ``lo..hi`` is impossible
    (``why(value)``) and which value is used instead (a box with limits would keep the bad number, red, while the
    page silently went on with the old one)."""
    view.widget(where.number_input, label, step=1, key=key, on_change=_clamp, args=(key, lo, hi, why), **kw)
    note = st.session_state.get(f"{key}_why")
    if note is not None:
        typed, used, reason = note
        where.caption(":orange[" + _("{} is impossible here{}: using {}.").format(
            "–" if typed is None else typed, f" ({reason})" if reason else "", used) + "]")
    return int(st.session_state[key])


def _stride_why(v: int) -> str:
    if v == 0:
        return _("a stride of 0 never moves the kernel")
    if v < 0:
        return _("a negative stride would walk backwards")
    return _("at most 8 here: a larger stride skips most of the input")


def _pad_why(v: int) -> str:
    return _("padding cannot be negative") if v < 0 else _("at most 8 zeros here: more padding than input")


def padding_stride(mode_key: str, pad_key: str, stride_key: str, *, stride: bool = True) -> tuple[int | None, int]:
    """Padding (none, the chapter's k // 2, or custom) and, unless ``stride`` is False, the stride. Returns
    ``(pad, stride)``; pad None = k // 2."""
    labels = {"none": _("none"), "same": _("same (kernel // 2)"), "custom": _("custom")}
    c1, c2, c3 = st.columns([3, 2, 2])
    mode = view.widget(c1.radio, _("Padding"), state.PAD_MODES, key=mode_key, horizontal=True, format_func=labels.get,
                       help=_("Zeros added at each end (each side in 2D). “same” adds kernel size // 2, as the "
                              "chapter does, so a stride of 1 keeps the size; “none” lets the output shrink."))
    custom = bounded_number(c2, _("Custom padding"), 0, 8, key=pad_key, why=_pad_why, disabled=mode != "custom",
                            help=_("How many zeros on each side when Padding is “custom”."))
    if stride:
        bounded_number(c3, _("Stride"), 1, 8, key=stride_key, why=_stride_why,
                       help=_("How many cells the kernel moves between two outputs. 2 skips every other position "
                              "and roughly halves the output."))
    pad = {"none": 0, "same": None, "custom": int(custom)}[mode]
    return pad, int(st.session_state[stride_key])


def _back(prefix: str) -> None:
    kept = {key: st.session_state[key] for key in view.locked_keys()}  # a teacher's locked values stay
    state.reset(prefix)
    st.session_state.update(kept)


def back_to_chapter(prefix: str) -> None:
    """A button that puts every setting of this lesson (its keys start with ``prefix``) back on the chapter's
    example, but for those a teacher's link locked; the address bar follows."""
    view.widget(st.button, _("Back to the chapter's example"), key=f"{prefix}back", icon=":material/restart_alt:",
                on_click=_back, args=(prefix,),
                help=_("Undo every change on this page: the numbers, the settings and the step the lesson opened "
                       "with."))


def kernel_controls(preset_key: str, text_key: str, seed_key: str) -> np.ndarray:
    """A preset menu and the kernel's cells as editable text. Raises ValueError for a bad kernel.

    A preset (other than "custom") decides the cells, so a shared link with ``kp=blur`` shows the blur;
    editing a cell switches the preset to "custom"."""
    def _edited():
        st.session_state[preset_key] = "custom"

    name = st.session_state[preset_key]
    if name != "custom":
        st.session_state[text_key] = kernel_text(preset_kernel(name, int(st.session_state[seed_key])))
    c1, c2 = st.columns([3, 1])
    view.widget(c1.selectbox, _("Kernel preset"), state.KERNEL_PRESETS, key=preset_key,
                format_func=lambda k: _(KERNEL_LABELS[k]),
                help=_("Start from a known pattern detector; edit its cells below."))
    view.widget(c2.number_input, _("Seed"), 0, 9_999, step=1, key=seed_key, disabled=name != "random",
                help=_("The random kernel's seed: the same seed always gives the same kernel."))
    text = view.widget(st.text_area, _("Kernel cells"), key=text_key, height=110, on_change=_edited,
                       help=_("One row per line, numbers separated by spaces. Square kernels from 1x1 to 7x7."))
    kernel = parse_grid(text, _("kernel"), max_size=7)
    if kernel.shape[0] != kernel.shape[1]:
        raise ValueError(_("the kernel must be square: it has {} rows of {} values").format(*kernel.shape))
    return kernel


# ---------------------------------------------------------------------------------------------- image sources


def mnist_digit(pick_key: str | None, index_key: str, label_key: str | None = None,
                nth_key: str | None = None) -> tuple[np.ndarray, str] | None:
    """Choose an MNIST digit by index (or, with ``pick_key``, by label). Returns (image 0..1, caption) or None
    after saying that the dataset is missing."""
    data = resources.digits()
    if data is None:
        st.warning(_("The MNIST digits are not installed (smartflow_core/datasets/mnist_subset.npz is missing); "
                     "choose another input."))
        return None
    pick = "index"
    if pick_key is not None:
        pick = view.widget(st.radio, _("Choose the digit"), ("index", "label"), key=pick_key, horizontal=True,
                           format_func={"index": _("by index"), "label": _("by label")}.get,
                           help=_("By its position in the dataset, or as the n-th example of a label."))
    if pick == "index":
        st.session_state[index_key] = min(st.session_state[index_key], len(data) - 1)
        index = view.widget(st.number_input, _("Digit index"), 0, len(data) - 1, step=1, key=index_key,
                            help=_("Which of the {} training digits to use.").format(len(data)))
    else:
        c1, c2 = st.columns(2)
        label = view.widget(c1.selectbox, _("Label"), range(10), key=label_key, help=_("The digit you want to see."))
        count = data.count(label)
        st.session_state[nth_key] = min(st.session_state[nth_key], max(count - 1, 0))
        nth = view.widget(c2.number_input, _("Example"), 0, max(count - 1, 0), step=1, key=nth_key,
                          help=_("Which example of this label (there are {}).").format(count))
        index = data.find(label, nth)
        if index is None:
            st.warning(_("The dataset has no digit labelled {}.").format(label))
            return None
    return data.image(index), _("MNIST digit #{} (label {})").format(index, int(data.labels[index]))


def upload(label: str, upload_key: str, store_key: str, read: Callable[[bytes, str], object], *, help: str,
           types: list[str] | None = None) -> tuple[str, object] | None:
    """A file uploader whose last usable file is kept under ``store_key`` for the session, so it survives a page
    change; returns ``(file name, what read made of it)`` or None.

    ``read(data, name)`` checks the bytes once, when a new file arrives, and raises ``ValueError`` with a sentence
    when the file cannot be used; the sentence is shown, and the file kept before stays in use."""
    file = view.widget(st.file_uploader, label, type=types, key=upload_key, help=help)
    kept = st.session_state.get(store_key)
    if file is not None and (kept is None or kept[:2] != (file.name, file.size)):
        try:
            value = read(file.getvalue(), file.name)
        except ValueError as exc:
            why = str(exc).removeprefix(f"{file.name}: ")
            st.error(_("Cannot use “{}”: {}.").format(file.name, why.rstrip(".")))
            return None
        kept = st.session_state[store_key] = (file.name, file.size, value)
    if kept is None:
        return None
    if file is None:
        st.caption(_("Using “{}”, uploaded earlier.").format(kept[0]))
    return kept[0], kept[2]


def uploaded_image(upload_key: str, store_key: str, convert: Callable[[bytes], np.ndarray]) -> np.ndarray | None:
    """An uploaded picture, converted by ``convert`` (which also checks it) with the lesson's current settings."""
    got = upload(_("Upload an image"), upload_key, store_key, lambda data, name: (convert(data), data)[1],
                 help=_("Any picture Pillow can read (PNG, JPEG, GIF, BMP, WebP, TIFF...). It is cropped to a "
                        "square and scaled down; nothing is stored on the server."))
    if got is None:
        st.info(_("Upload an image to convolve it."))
        return None
    return convert(got[1])
