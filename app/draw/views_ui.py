"""The Draw page's views of a reading: the answer beside its probabilities (and what a confident answer does not
mean, shown on a scribble), and every layer's output, drawn as on the Evaluate page (:mod:`app.inside_charts`)."""
from __future__ import annotations

import streamlit as st

from app import inside_charts, view
from app.draw import charts
from app.draw import link as draw_link
from app.draw import reading as drawing
from app.draw.reading import Reading
from app.i18n import _
from app.lab import inside_ui


def confidence_note() -> None:
    """A confident answer is not a sign of a digit: said in a sentence, and shown by a button that puts a scribble
    on the canvas."""
    st.caption(_("Confidence is not a “this is a digit” detector: softmax shares out 100 % among the ten digits "
                 "whatever the picture, and this network never saw anything but digits."))
    view.widget(st.button, _("Try a scribble"), key="dr_scribble", on_click=draw_link.load_scribble,
                icon=":material/gesture:",
                help=_("Put a tangle of strokes that is no digit on the canvas (in place of what is on it), and see "
                       "how sure the network is."))


def answer(reading: Reading, threshold: int, scribble: bool) -> None:
    """The answer (or "not sure" below ``threshold`` percent), the ten probabilities, and for the scribble why the
    network is sure of a digit that is not there."""
    sure = reading.confidence >= threshold / 100
    second, p_second = reading.runner_up
    st.metric(_("The network reads"), reading.answer if sure else _("not sure"),
              help=_("The digit with the highest probability, if that probability reaches the confidence needed."))
    if sure:
        st.caption(_("Probability of {}: {:.1%}").format(reading.answer, reading.confidence))
    else:
        st.warning(_("Not sure: its best guess is {} at {:.0%}, below the {} % needed.").format(
            reading.answer, reading.confidence, threshold))
    st.caption(_("Runner-up: {} at {:.1%}, a margin of {:.0f} points.").format(second, p_second,
                                                                                100 * reading.margin) + " " + (
        _("A small margin: it hesitates between {} and {}.").format(reading.answer, second)
        if reading.margin < 0.5 else _("A wide margin says which digit fits best, not that this is a digit.")))
    st.plotly_chart(charts.probability_bars(reading.probs, threshold / 100), key="dr_probs")
    if scribble:
        st.info(_("This scribble is no digit, yet the network gives the digit **{}** a probability of {:.1%}. "
                  "Softmax turns the ten scores into probabilities that always add up to 100 %, so some digit "
                  "gets most of it; and the network was never shown a non-digit, so it has no “none of these” "
                  "answer. A high confidence says which digit fits best, not that the picture is a digit.").format(
            reading.answer, reading.confidence))


def model_record() -> None:
    """What the pretrained model was trained on and how it reads the generated test sets, old model beside it."""
    record = drawing.pretrained_record()
    if record is None:
        return
    trained, rows, previous_command = record
    with st.expander(_("What the pretrained model was trained on, and how it reads drawn and typed digits")):
        st.markdown(trained)
        if rows:
            previous = any(before is not None for _s, _a, before in rows)
            names = [_("test set"), _("this model")] + ([_("the previous model")] if previous else [])
            head = "| " + " | ".join(names) + " |"
            lines = [head, "| --- | --- |" + (" --- |" if previous else "")]
            lines += [f"| {name} | {acc:.1f} % |" + ("" if not previous else " – |" if before is None else
                                                      f" {before:.1f} % |") for name, acc, before in rows]
            st.markdown("\n".join(lines))
            measured = _("Measured by `bench/bench_reading.py` on MNIST test digits redrawn on this 280×280 canvas "
                         "and on digits typed with Pillow, all prepared by the steps below.")
            if previous and previous_command:
                measured += " " + _("The previous model was trained by `{}`.").format(previous_command)
            st.caption(measured)


def layers(reading: Reading) -> None:
    """Every layer's output: a picture per layer of maps (each map on its own colour range unless the learner
    chooses one per layer), the last layers' outputs as numbered cells."""
    per_map = inside_ui.range_control(draw_link.DR_RANGE)
    for i, (label, maps) in enumerate(reading.maps):
        if maps.ndim == 3:
            tiles = inside_charts.layer_picture(maps, per_map)
            st.markdown(f"**{label}**")
            st.image(tiles.picture, caption=inside_ui.range_caption(tiles, per_map))
        else:
            st.plotly_chart(charts.output_strip(label, maps), key=f"dr_layer_{i}")
