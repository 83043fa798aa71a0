"""The training lab's run controls and live views: Start/Pause/Resume/Stop, and a panel that redraws itself.

The run trains in a worker process; its handle (:class:`app.lab.run.TrainingRun`) is held by this session's slot
(:func:`app.lab.slot.session_slot`). The live panel is two ``st.fragment``s that rerun by themselves only while the
run moves: the progress and curves every :data:`REFRESH` s, the views inside the network (a forward pass and several
heatmaps) every :data:`REFRESH_INSIDE` s. They read :class:`app.lab.snapshot.Snapshot`s and network copies, never
the live weights, and rerun the whole page once the run settles (paused, ended), so the buttons follow. The views'
controls sit between the two fragments, outside both, so a redraw never swallows a click or a number being typed.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from app import resources, state, view
from app.i18n import N_, _, message
from app.lab import augment_ui, filters_ui, inside_ui
from app.lab import charts as train_charts
from app.lab.builder_ui import Choice
from app.lab.charts import Curve
from app.lab.config import TrainConfig
from app.lab.notes import duration
from app.lab.numbers_ui import bounded
from app.lab.run import TrainingRun
from app.lab.run_queue import run_queue
from app.lab.settings_ui import label
from app.lab.slot import session_slot
from app.lab.snapshot import Snapshot, Status
from smartflow_core.loss import SoftmaxCrossEntropy

REFRESH, REFRESH_INSIDE = 1.0, 2.5  # seconds between redraws of the curves, and of the views inside
VIEWS = {"filters": N_("Filters: start and now"), "maps": N_("Feature maps of a test digit"),
         "gradients": N_("Gradient sizes")}
# the loss of a uniform guess among the 10 digits, and of one confident wrong answer (the book's loss, see
# smartflow_core.loss.SoftmaxCrossEntropy: it adds -(1 - t) log(1 - p), so these are not ln 10 and -ln 1e-9)
GUESS_LOSS = SoftmaxCrossEntropy().forward(np.zeros((1, 10)), np.eye(10)[:1])
WORST_LOSS = SoftmaxCrossEntropy().forward(100 * np.eye(10)[1:2], np.eye(10)[:1])


def now() -> tuple[TrainingRun | None, Snapshot | None]:
    """This session's latest run and one snapshot of it, (None, None) before the first. A page reads it once, at
    its top, and hands the snapshot to every part that tells the run's state, so that the note above the network,
    the buttons and the panel agree even when the run pauses or ends while the page is drawn (the panel's
    fragment, which reads its own, redraws the page when it finds the run moved on)."""
    run = session_slot().run
    return run, (run.snapshot() if run is not None else None)


def lock_note(snap: Snapshot) -> None:
    """The one line that says why the network and the settings cannot be changed now."""
    if snap.status == Status.QUEUED:
        text = _("This network waits for a free training slot: Stop to change it.")
    elif snap.status == Status.PAUSED and snap.pause_requested:
        text = _("The network is paused mid-run: Stop to change it, or Resume to train on.")
    else:
        text = _("The network is training: Stop or wait for the end to change it.")
    st.info(text, icon=":material/lock:")


# ---------------------------------------------------------------------------------------------- buttons


def _start(config: TrainConfig, initial, name: str) -> None:
    data = resources.mnist()
    session_slot().start(TrainingRun(config, data.X_train, data.y_train, data.X_test, data.y_test,
                                   initial=initial, label=name))


def _pause() -> None:
    run = session_slot().run
    if run is not None:
        run.pause()


def _resume() -> None:
    run = session_slot().run
    if run is not None:
        run.resume()


def _stop() -> None:
    run = session_slot().run
    if run is not None:
        run.stop()


def moving(snap: Snapshot | None) -> bool:
    """Whether the run still changes by itself (so the panel must keep redrawing): queued, running, pausing,
    resuming or stopping; not once it has settled in a pause or ended."""
    if snap is None or not snap.active:
        return False
    return not (snap.status == Status.PAUSED and snap.pause_requested and not snap.stop_requested)


def buttons(config: TrainConfig | None, choice: Choice | None, why_not: str | None, snap: Snapshot | None) -> None:
    """Start, Pause, Resume, Stop, as the run's snapshot `snap` (from now(); None before the first run) allows."""
    active = snap is not None and snap.active
    pausing = snap is not None and snap.pause_requested and not snap.stop_requested
    c = st.columns(4)
    view.widget(c[0].button, _("Start"), key="tr_start", icon=":material/play_arrow:", type="primary", width="stretch",
                disabled=config is None or active, on_click=_start,
                args=(config, choice.initial if choice else None, label(choice, config) if config else ""),
                help=why_not or _("Train a new run with these settings (your earlier runs stay below to compare)."))
    view.widget(c[1].button, _("Pause"), key="tr_pause", icon=":material/pause:", width="stretch", on_click=_pause,
                disabled=not active or pausing, help=_(
                    "Hold training after the current batch; the views then show the weights at that moment."))
    view.widget(c[2].button, _("Resume"), key="tr_resume", icon=":material/resume:", width="stretch", on_click=_resume,
                disabled=not (active and pausing), help=_("Continue training where it paused."))
    view.widget(c[3].button, _("Stop"), key="tr_stop", icon=":material/stop:", width="stretch", on_click=_stop,
                disabled=not active, help=_("End the run now. Its weights and curves stay: download or evaluate "
                                            "them."))


# ---------------------------------------------------------------------------------------------- the live panel


def _status(run: TrainingRun, snap: Snapshot) -> None:
    active, waiting = run_queue().counts()
    if snap.status == Status.QUEUED:
        st.info(_("Waiting for a free training slot: you are number {} in the queue. {} run(s) are training on "
                  "this server (at most {} at once).").format(snap.queue_position, active, run_queue().max_runs),
                icon=":material/hourglass_top:")
        return
    text = _("Epoch {} of {} · batch {} of {} · {} images/s · {} left").format(
        max(snap.epoch, 1), snap.epochs, snap.batch, snap.batches_per_epoch,
        f"{snap.images_per_second:,.0f}" if snap.images_per_second else "–", duration(snap.eta_seconds))
    if snap.ended:
        text = _("{} steps in {}").format(snap.step, duration(snap.seconds))
    st.progress(snap.progress, text=text)
    if snap.status == Status.DIVERGED:
        st.error(_("Training diverged: each step overshot further until the numbers overflowed, so the run "
                   "stopped. {}").format(message(snap.message)), icon=":material/warning:")
    elif snap.status == Status.ERROR:
        st.error(_("The run failed: {}").format(message(snap.error)))
    elif snap.status == Status.DONE:
        st.success(_("Done: {:.1f} % of {:,} test digits right at the last evaluation.").format(
            snap.accuracy or 0, run.n_test) + (" " + message(snap.message) if snap.message else "") + " " +
            _("The Evaluate page measures it on every test digit."))
    elif snap.status == Status.STOPPED:
        st.info(_("Stopped at step {} of {}. The weights of that moment are kept.").format(snap.step,
                                                                                          snap.total_steps))
    elif snap.status == Status.PAUSED and snap.pause_requested:
        st.info(_("Paused: the views show the weights of this moment. Resume or Stop."), icon=":material/pause:")
    elif snap.pause_requested and not snap.stop_requested:
        st.caption(_("Pausing after this batch..."))
    if not snap.ended and _stuck(snap):
        st.warning(_("The loss stays above {:.2f}, what guessing at random scores, and the accuracy near chance: "
                     "the steps are probably too large. Stop, and try a learning rate 10 times lower.").format(
            GUESS_LOSS), icon=":material/trending_flat:")
    if waiting or active > 1:
        st.caption(_("On this server now: {} run(s) training, {} waiting (at most {} at once).").format(
            active, waiting, run_queue().max_runs))


def _average_loss(snap: Snapshot) -> float | None:
    """The smoothed loss of the last batches (None before the first)."""
    if not snap.losses:
        return None
    window = train_charts.smoothing_window(snap.batches_per_epoch)
    return float(train_charts.smooth([v for _, v in snap.losses[-window * 5:]], window)[-1])


def _stuck(snap: Snapshot) -> bool:
    """Half an epoch (at least 20 steps) in, the loss still worse than a uniform guess and the test accuracy, if
    measured, near chance. (The chapter's recipe has a high loss for a while, yet learns.)"""
    loss = _average_loss(snap)
    return (loss is not None and snap.step >= max(20, snap.batches_per_epoch // 2) and loss > GUESS_LOSS
            and (snap.accuracy is None or snap.accuracy < 20))


def _metrics(snap: Snapshot) -> None:
    c = st.columns(4)
    loss = _average_loss(snap)
    c[0].metric(_("Loss (average)"), "–" if loss is None else f"{loss:.3f}", help=_(
        "The book's softmax cross-entropy of the last batches, smoothed. Guessing at random among the 10 digits "
        "scores {:.2f}; one confident wrong answer costs up to {:.0f}, so an overconfident model can show a high "
        "loss and a fair accuracy.").format(GUESS_LOSS, WORST_LOSS))
    c[1].metric(_("Test accuracy"), "–" if snap.accuracy is None else f"{snap.accuracy:.1f} %", help=_(
        "At the last evaluation, on digits the network never trains on."))
    c[2].metric(_("Learning rate"), f"{snap.lr:.4g}", help=_("The step size now (it falls if decay is on)."))
    c[3].metric(_("Time training"), duration(snap.seconds), help=_("Pauses not counted."))


def _past() -> list[Snapshot]:
    """This session's earlier runs that have curves to show."""
    return [snap for snap in session_slot().compare()[:-1] if snap.losses]


def _compare_control() -> None:
    labels = [snap.label for snap in _past()]
    if not labels:
        st.caption(_("Train again with other settings to overlay the two runs' curves here."))
        return
    st.session_state[state.TR_COMPARE] = [x for x in st.session_state[state.TR_COMPARE] if x in labels]
    view.widget(st.multiselect, _("Overlay earlier runs"), labels, key=state.TR_COMPARE, max_selections=3,
                placeholder=_("choose earlier runs of this session"),
                help=_("Draw the curves of earlier runs (dashed) beside this one. Only runs of this browser "
                       "session are listed."))


def _curves(run: TrainingRun, snap: Snapshot) -> None:
    chosen = st.session_state[state.TR_COMPARE]
    curves = [Curve.of(s) for s in _past() if s.label in chosen] + [Curve.of(snap, current=True)]
    c1, c2 = st.columns(2)
    c1.plotly_chart(train_charts.loss_figure(curves), key="tr_loss_chart")
    first = run.config.eval_steps or snap.batches_per_epoch
    c2.plotly_chart(train_charts.accuracy_figure(curves, empty=_("first evaluation after batch {}").format(first)),
                    key="tr_accuracy_chart")
    augment_ui.charts(curves)


def _view_controls(data: resources.Mnist) -> tuple[str, tuple]:
    """Which view inside, and for the feature maps which test digit. Drawn outside the ticking fragments, so a
    redraw never swallows what the learner is typing."""
    shown = view.widget(st.segmented_control, _("Look inside while it learns"), tuple(VIEWS), key=state.TR_VIEW,
                        required=True, format_func=lambda v: _(VIEWS[v]), help=_(
                            "Filters: any convolution's weights as the run began, now, and the change. "
                            "Feature maps: what every layer makes of one test digit. Gradient sizes: how "
                            "strongly each layer is being changed."))
    if shown == "maps":
        last = len(data.y_test) - 1
        bounded(st, _("Test digit"), 0, last, key=state.TR_DIGIT, step=1, width=200, why=lambda v: _(
            "the test digits are numbered 0 to {:,}").format(last), help=_(
            "Which test digit to send through the network (0 to {:,}; the maps follow the training live).").format(
            last))
    run = session_slot().run
    if shown == "filters" and run is not None:
        return shown, filters_ui.controls(run)
    return shown, ()


def _feature_maps(run: TrainingRun, data: resources.Mnist) -> None:
    index = st.session_state[state.TR_DIGIT]
    c1, c2 = st.columns([1, 3])
    c1.image(data.test_image(index), width=112, clamp=True, caption=_("label {}").format(int(data.y_test[index])))
    net = run.network_copy()
    if net is None:
        c2.caption(_("The maps appear after the first batch."))
        return
    with c2:
        inside_ui.digit(net, data, index, "tr", picture=c1)


def _inside(run: TrainingRun, snap: Snapshot, data: resources.Mnist, shown: str, chosen: tuple) -> None:
    if shown == "filters":
        if chosen:
            filters_ui.panels(run, *chosen, snap.step)
        elif snap.filters is None:
            st.caption(_("The filters appear after the first batch."))
        else:
            st.plotly_chart(train_charts.filters_figure(snap.filters), key="tr_filters")
    elif shown == "maps":
        _feature_maps(run, data)
    else:
        st.plotly_chart(train_charts.gradient_figure(snap.grad_labels, snap.grad_norms, snap.batches_per_epoch),
                        key="tr_gradients")
        st.caption(_("Each line is one parameter array's gradient, as the root mean square per weight "
                     "(‖g‖ / √n), so a layer with many weights does not look stronger just for its size."))


def live_panel(data: resources.Mnist, settled: Snapshot | None) -> None:
    """The run's progress and curves (redrawn every REFRESH s while the run moves), the controls of the views
    (outside the fragments), then the views inside the network (every REFRESH_INSIDE s: they cost a forward pass
    and several heatmaps)."""
    run = session_slot().run
    if run is None:
        lost = session_slot().lost_run()
        if lost is not None:
            st.warning(_("Your run {} was stopped at step {} of {} when its page reloaded or its tab closed: a run "
                         "lasts as long as the tab that started it.").format(*lost), icon=":material/sync_problem:")
        st.info(_("Press **Start** to train. The curves and views below fill in as the network learns."))
        return
    ticking = moving(settled)
    queued = settled is not None and settled.status == Status.QUEUED

    @st.fragment(run_every=REFRESH if ticking else None)
    def progress() -> None:
        snap = run.snapshot()
        if moving(snap) != ticking or (snap.status == Status.QUEUED) != queued:
            st.rerun()  # the run settled, woke up or left the queue: redraw the buttons, the note above the
            # network, and switch the timers off or on
        st.markdown(f"**{snap.label}**")
        _status(run, snap)
        _metrics(snap)
        _curves(run, snap)
        if snap.step > 0:
            view.widget(st.download_button, _("Download this model (.npz)"), data=run.model_bytes, on_click="ignore",
                        file_name=f"smartflow-run{snap.label.split()[0].lstrip('#')}.npz",
                        mime="application/octet-stream", icon=":material/download:", key="tr_download",
                        help=_("The weights as they are now, with the settings and curves, in the format "
                               "the Evaluate and Draw pages read."))

    progress()
    _compare_control()
    shown, chosen = _view_controls(data)

    @st.fragment(run_every=REFRESH_INSIDE if ticking else None)
    def inside() -> None:
        _inside(run, run.snapshot(), data, shown, chosen)

    inside()


__all__ = ["buttons", "live_panel", "moving", "duration", "now", "lock_note"]
