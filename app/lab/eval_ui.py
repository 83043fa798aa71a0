"""The Evaluate page's parts: which model, its evaluation on the whole test set, the confusion matrix whose cells
open their digits, a gallery of those digits, and one digit looked at inside the network.

The pretrained model's evaluation is computed once per server (``st.cache_resource``, on a private copy of the
network); other models' evaluations are kept in this session (``state.EV_RESULTS``), a few at a time.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import streamlit as st

from app import resources, state, view
from app.i18n import N_, Later, _
from app.lab import builder_ui, inside_ui
from app.lab import charts as train_charts
from app.lab.eval_link import ALL, EV_ORDER, EV_RANGE, SOURCES, default_order
from app.lab.evaluation import Evaluation, evaluate
from app.lab.slot import session_slot
from smartflow_core.nn import NeuralNetwork

MODELS = dict(zip(SOURCES, (N_("the pretrained model"), N_("your latest training run"), N_("a model you upload"))))
ORDER_NAMES = {"most": N_("most confident first"), "least": N_("least confident first")}
GALLERY = 24  # digits shown at once
KEEP = 3  # evaluations kept per session


@dataclass(frozen=True, eq=False)
class Evaluated:
    name: str
    net: NeuralNetwork  # this session's own copy
    evaluation: Evaluation
    note: str = ""


@st.cache_resource(show_spinner=Later(N_("Evaluating the pretrained model on every test digit...")))
def _pretrained_evaluation() -> Evaluation:
    data = resources.mnist()
    return evaluate(resources.pretrained_copy(), data.X_test, data.y_test)


def _keep(key: str, result: Evaluated) -> Evaluated:
    kept = dict(st.session_state[state.EV_RESULTS] or {})
    kept.pop(key, None)
    kept[key] = result
    st.session_state[state.EV_RESULTS] = dict(list(kept.items())[-KEEP:])  # a new dict: defaults are shared
    return result


def _evaluate(key: str, name: str, net: NeuralNetwork, note: str = "") -> Evaluated:
    data = resources.mnist()
    bar = st.progress(0.0, text=_("Evaluating on {:,} test digits...").format(len(data.y_test)))
    ev = evaluate(net, data.X_test, data.y_test, on_progress=lambda done, n: bar.progress(
        done / n, text=_("Evaluated {:,} of {:,} test digits").format(done, n)))
    bar.empty()
    return _keep(key, Evaluated(name, net, ev, note))


def _forget(key: str) -> None:
    kept = dict(st.session_state[state.EV_RESULTS] or {})
    kept.pop(key, None)
    st.session_state[state.EV_RESULTS] = kept


def model() -> Evaluated | None:
    """Choose a model and evaluate it on the whole test set (once; kept for this session)."""
    source = view.widget(st.radio, _("Evaluate"), tuple(MODELS), key=state.EV_MODEL, horizontal=True,
                         format_func=lambda s: _(MODELS[s]), help=_(
                             "The shipped pretrained model, the network you trained on the Train page (its weights "
                             "at the moment you evaluate), or a model file saved earlier."))
    kept = st.session_state[state.EV_RESULTS] or {}
    if source == "pretrained":
        meta = resources.pretrained()[1]
        st.caption(_("Shipped with the app: {}.").format(builder_ui.describe(meta)))
        found = kept.get("pretrained")
        return found or _keep("pretrained", Evaluated(_("the pretrained model"), resources.pretrained_copy(),
                                                      _pretrained_evaluation()))
    if source == "uploaded":
        got = builder_ui.upload(state.EV_UPLOAD)
        if got is None:
            st.info(_("Upload a model file (.npz) saved by this app to evaluate it. A link to this page never holds "
                      "the file: whoever opens it uploads their own."))
            return None
        name, net, meta = got
        st.caption(_("“{}”: {}.").format(name, builder_ui.describe(meta)))
        key = f"upload:{name}:{id(net)}"
        return kept.get(key) or _evaluate(key, f"“{name}”", copy.deepcopy(net))
    run = session_slot().run
    snap = run.snapshot() if run is not None else None
    if snap is None or snap.step == 0:
        st.info(_("No trained run in this session yet: train one on the Train page, then come back. (A link to "
                  "this page cannot carry a run: a run stays in the session that trained it.)"))
        return None
    key = f"run:{snap.label}"
    found = kept.get(key) or _evaluate(key, snap.label, run.network_copy(), _note(snap))
    st.caption(_("{} Evaluated with the weights of that moment.").format(found.note))
    if found.note != _note(snap):
        view.widget(st.button, _("Evaluate the latest weights"), key="ev_refresh", on_click=_forget, args=(key,),
                    icon=":material/refresh:", help=_("The run has moved on since: evaluate it again."))
    return found


def _note(snap) -> str:
    return _("Run {}: step {} of {} ({}).").format(snap.label.split()[0], snap.step, snap.total_steps, snap.status)


# ---------------------------------------------------------------------------------------------- the views


def _cell_opened() -> None:
    """A cell chosen in the menu: the gallery takes that cell's order."""
    st.session_state[EV_ORDER] = default_order(st.session_state[state.EV_CELL])


def _pick_cell() -> None:
    event = st.session_state.get("ev_confusion")
    points = event.selection.points if event is not None else []
    if points:  # a marker of the confusion figure: x is the predicted digit, y the true one
        st.session_state[state.EV_CELL] = (int(points[0]["y"]), int(points[0]["x"]))
        st.session_state[state.EV_DIGIT] = None
        _cell_opened()


def confusion(ev: Evaluation) -> tuple[int, int] | None:
    """The matrix (click a cell) and a menu of its cells; returns the opened cell or None (all mistakes)."""
    cells = [ALL] + sorted(((t, p) for t in range(10) for p in range(10) if ev.confusion[t, p] and t != p),
                            key=lambda c: -ev.confusion[c]) + [(d, d) for d in range(10) if ev.confusion[d, d]]
    asked = st.session_state[state.EV_CELL]
    if asked not in cells:  # a link's cell, or one of another model, with no digit for this model
        st.warning(_("No test digit {} is read as {} by this model: showing every mistake instead.").format(*asked))
        st.session_state[state.EV_CELL] = ALL
        _cell_opened()
    chart, menu = st.columns([3, 2])
    with menu:
        view.widget(st.selectbox, _("Open a cell"), cells, key=state.EV_CELL, format_func=lambda c: _cell_text(ev, c),
                    on_change=_cell_opened, help=_(
                        "The digits behind one cell of the matrix: the most frequent confusions come first, then "
                        "the right answers. Clicking a cell of the matrix does the same."))
        worst = [c for c in cells[1:4] if c[0] != c[1]]
        if worst:
            st.markdown(_("Most frequent confusions: ") + ", ".join(_cell_text(ev, c) for c in worst) + ".")
        st.markdown(_("Rows are the true digits, columns the network's answers: the diagonal (purple) counts "
                      "right answers, every other cell (orange) a kind of mistake."))
    cell = st.session_state[state.EV_CELL]
    chart.plotly_chart(train_charts.confusion_figure(ev.confusion, None if cell == ALL else cell), key="ev_confusion",
                       on_select=_pick_cell, selection_mode="points")
    return None if cell == ALL else cell


def _cell_text(ev: Evaluation, cell) -> str:
    if cell == ALL:
        return _("every mistake ({})").format(len(ev.mistakes()))
    t, p = cell
    what = _("{} read as {}") if t != p else _("{} read right as {}")
    return what.format(t, p) + f" ({ev.confusion[t, p]})"


def _open(index: int) -> None:
    st.session_state[state.EV_DIGIT] = index


def gallery(ev: Evaluation, data: resources.Mnist, cell) -> None:
    """The digits of the opened cell (or every mistake) in the order chosen; a button opens each."""
    order = view.widget(st.radio, _("Order"), tuple(ORDER_NAMES), key=EV_ORDER, horizontal=True,
                        format_func=lambda o: _(ORDER_NAMES[o]), help=_(
                            "By the probability the network gave its own answer. For right answers the least "
                            "confident teach most: the digits the network nearly got wrong. For mistakes the most "
                            "confident ones show where it is surely wrong."))
    least = order == "least"
    indices = ev.mistakes(least) if cell is None else ev.cell(*cell, least_first=least)
    if len(indices) == 0:
        st.info(_("No digit falls in this cell."))
        return
    shown = min(GALLERY, len(indices))
    st.caption((_("Showing {} of {} digits, the least confident answers first.") if least else _(
        "Showing {} of {} digits, the most confident answers first.")).format(shown, len(indices)) + " " + _(
        "Under each: true digit → the network's answer · the probability it gave that answer. Click a caption to "
        "look inside."))
    cols = st.columns(8)
    for n, i in enumerate(indices[:GALLERY]):
        with cols[n % 8]:
            st.image(data.test_image(i), width=72, clamp=True)
            view.widget(st.button, f"{data.y_test[i]} → {ev.predicted[i]} · {ev.confidence(i):.0%}", key=f"ev_open_{i}",
                        on_click=_open, args=(int(i),), type="tertiary",
                        help=_("Test digit #{}: look inside the network for it.").format(i))


def digit(result: Evaluated, data: resources.Mnist) -> None:
    """The chosen digit through the evaluated network."""
    index = st.session_state[state.EV_DIGIT]
    if index is not None and not 0 <= index < len(data.y_test):
        st.warning(_("There is no test digit #{}: the test set here holds #0 to #{}.").format(
            index, len(data.y_test) - 1))
        st.session_state[state.EV_DIGIT] = index = None
    if index is None:
        st.caption(_("Click a digit above to look inside the network for it."))
        return
    ev = result.evaluation
    st.markdown(_("**Test digit #{}**: labelled {}, the network says {} ({:.0%}).").format(
        index, int(data.y_test[index]), int(ev.predicted[index]), ev.confidence(index)))
    c1, c2 = st.columns([1, 3])
    c1.image(data.test_image(index), width=140, clamp=True)
    with c2:
        per_map = inside_ui.range_control(EV_RANGE)
        inside_ui.digit(result.net, data, index, "ev", picture=c1, per_map=per_map)


__all__ = ["model", "confusion", "gallery", "digit", "Evaluated"]
