"""“Check yourself” on every lesson under AppTest: the questions render, a wrong answer gets the hint and then the
worked answer, the right one (worked out here from the lesson's settings with smartflow_core) is accepted, and a
changed setting gives a recomputed question."""
import re

import numpy as np
import pytest
from apptest import open_page, step_view, stepper

from app import state
from app.lessons import backward
from smartflow_core import checkpoints as cp
from smartflow_core.trace.backward import Upstream

SEED = 5


def grid(text):
    return np.array([[float(v) for v in row.split()] for row in text.splitlines()])


RNG = np.random.default_rng(0)  # backward.problem_2d(1, 1, 1, 4, 3, seed 0): inputs first, then weights
X2, W2 = RNG.integers(0, 4, (1, 1, 4, 4)).astype(float), RNG.integers(-1, 2, (1, 1, 3, 3)).astype(float)
EDGE = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float)
ONES = Upstream()
BOOK = backward.book("unit", 2, 3, 0)  # the book's lesson as it opens: the unit example, a batch of two
# page, address, lesson, the settings the page has with that address (the defaults of app/state.py)
LESSONS = [
    ("conv_1d.py", {}, "conv-1d", {"inp": (1, 2, 3, 4, 5), "kernel": (1, 1, 1), "pad": None, "stride": 1}),
    ("conv_2d.py", {"src": "grid"}, "conv-2d", {"image": grid(state.GRID_2D), "kernel": EDGE, "pad": None,
                                                "stride": 1}),
    ("multichannel.py", {}, "multichannel", {"in_channels": 3, "out_channels": 2, "h": 16, "w": 16, "k": 3,
                                             "pad": None, "stride": 1}),
    ("pooling.py", {"src": "grid"}, "pooling", {"image": grid(state.GRID_POOL), "size": 2, "mode": "max"}),
    ("perturb.py", {}, "perturb", {"inp": (1, 2, 3, 4, 5), "kernel": (1, 1, 1), "what": "input", "index": 4,
                                   "delta": 1.0, "up": ONES}),
    ("grad_1d.py", {}, "grad-1d", {"inp": (1, 2, 3, 4, 5), "kernel": (1, 2, 3), "up": ONES}),
    ("grad_1d_filter.py", {}, "grad-1d-filter", {"rows": ((1, 2, 3, 4, 5),), "kernel": (1, 1, 1), "up": ONES}),
    ("grad_2d.py", {}, "grad-2d", {"x": X2, "w": W2, "pad": None, "stride": 1, "up": Upstream("random", 0)}),
    ("book_bug.py", {}, "book-bug", {"x": BOOK.x, "w": BOOK.param, "g": BOOK.output_grad}),
]


def open_lesson(page, query):
    at = open_page(page, query)
    at.query_params["q"] = str(SEED)  # a teacher's fixed question set, as in a shared link
    at.run()
    assert not at.exception, at.exception
    return at


def shown(at) -> list[str]:
    """The questions' texts as the page shows them."""
    return [m.value.split(" ", 1)[1] for m in at.markdown if re.match(r"\*\*\d+\.\*\* ", m.value)]


def answer(at, n: int, text: str) -> None:
    boxes = [t for t in at.text_input if (t.key or "").startswith("cp_ans_")]
    boxes[n].input(text)
    [b for b in at.button if (b.key or "").startswith("FormSubmitter:cp_form_")][n].click()
    at.run()
    assert not at.exception, at.exception


def as_text(q: cp.Question) -> str:
    if q.kind == "cells":
        return ", ".join(map(str, sorted(q.answer)))
    if q.kind == "tuple":
        return ", ".join(map(str, q.answer))
    return cp.fmt(q.answer)


def progress(at) -> str:
    return next(e.label for e in at.expander if e.label.startswith("Check yourself"))


@pytest.mark.parametrize("page, query, lesson, settings", LESSONS, ids=[row[2] for row in LESSONS])
def test_questions_hint_worked_answer_and_right_answer(page, query, lesson, settings):
    at = open_lesson(page, query)
    qs = cp.questions(lesson, settings, SEED)
    assert shown(at) == [q.text for q in qs]  # the page asks about the numbers it shows
    assert progress(at) == f"Check yourself: 0 of {len(qs)} right in this lesson"
    assert any("Question set 5" in c.value for c in at.caption)
    assert at.query_params.get("q") == str(SEED)  # the teacher's seed stays in the address

    answer(at, 0, "-98765")  # wrong for every question here
    warning = [w.value for w in at.warning if w.value.startswith("Not quite.")]
    assert warning == ["Not quite. Hint: " + qs[0].hint.format(**qs[0].params)]
    at.button(key=next(b.key for b in at.button if (b.key or "").startswith("cp_showbtn_"))).click().run()
    assert any(i.value == "Worked answer: " + qs[0].worked.format(**qs[0].params) for i in at.info)

    for n, q in enumerate(qs):
        answer(at, n, as_text(q))
    assert len([s for s in at.success if s.value == "Right."]) == len(qs)
    assert progress(at) == f"Check yourself: {len(qs)} of {len(qs)} right in this lesson"


def test_text_that_is_not_an_answer_gets_a_clear_message():
    at = open_lesson("conv_1d.py", {})
    answer(at, 0, "five")
    assert [w.value for w in at.warning] == ["Type a whole number, e.g. 7."]
    assert not at.exception


def test_a_changed_setting_recomputes_the_question_and_old_answers_do_not_count():
    at = open_lesson("conv_1d.py", {})
    old = cp.questions("conv-1d", LESSONS[0][3], SEED)
    value = next(n for n, q in enumerate(old) if q.id.startswith("conv-1d:value:"))
    answer(at, value, as_text(old[value]))
    assert progress(at).startswith("Check yourself: 1 of")

    at.text_input(key=state.C1_INPUT).input("2, 4, 6, 8, 10, 12").run()
    new = cp.questions("conv-1d", {**LESSONS[0][3], "inp": (2, 4, 6, 8, 10, 12)}, SEED)
    assert shown(at) == [q.text for q in new]
    assert new[value].answer != old[value].answer  # out[i] doubled (and the input grew)
    assert progress(at).startswith("Check yourself: 0 of")  # the old right answer was for the old numbers
    answer(at, value, as_text(old[value]))
    assert any(w.value.startswith("Not quite.") for w in at.warning)
    answer(at, value, as_text(new[value]))
    assert progress(at).startswith("Check yourself: 1 of")


STEPPERS = {"conv-1d": "c1_stepper", "conv-2d": "c2_stepper", "pooling": "pl_stepper", "grad-1d": "bi_stepper",
            "grad-2d": "b2_xstepper"}


@pytest.mark.parametrize("page, query, lesson, settings", [row for row in LESSONS if row[2] in STEPPERS],
                         ids=[row[2] for row in LESSONS if row[2] in STEPPERS])
def test_the_hints_step_shows_the_answer(page, query, lesson, settings):
    """A hint that says "step 4 of the stepper" points at the step whose result is the answer."""
    at = open_lesson(page, query)
    data = stepper(at, STEPPERS[lesson])
    pointed = [q for q in cp.questions(lesson, settings, SEED) if q.step is not None and q.kind == "float"
               or q.id.startswith("pooling:winner")]
    assert pointed
    for q in pointed:
        value = step_view(data, q.step)["value"]
        expected = settings["image"][q.answer] if lesson == "pooling" else q.answer
        assert value == pytest.approx(expected), q.text
