"""A teacher's link: ``hide=``, ``lock=``, ``present=1``, ``text=0`` and ``q=`` on every page (app/view.py), and the
page that makes such links (pages/lesson_link.py)."""
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from apptest import open_page, stepper
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1.element_tree import Widget

from app import view
from app.controls import CONTROLS, Control, readme_table
from app.menu import PAGE_TABLE

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = {row[4]: row[1] for row in PAGE_TABLE}
PAGES = tuple(CONTROLS)


def widgets(at) -> dict[str, Widget]:
    """The page's keyed widgets (the main area: the sidebar's are the app's, not the page's). A checkpoint's keys
    name the settings and the session's question set (``cp_ans_conv-1d_<digest><set>_0``): here, ``cp_ans_0``."""
    found = {}

    def walk(node):
        if isinstance(node, Widget) and node.key and not node.key.startswith("FormSubmitter:"):
            found[re.sub(r"^(cp_[a-z]+)_.*_(\d+)$", r"\1_\2", node.key)] = node
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at.main)
    return found


def owner(page: str, key: str) -> Control | None:
    return next((c for c in CONTROLS[page] if c.owns(key)), None)


def opened(page: str, query: dict | None = None):
    """The page with one question set (``q=1``): a session's own set may ask another number of questions."""
    return open_page(SCRIPTS[page], {"q": "1", **(query or {})})


def warnings(at) -> list[str]:
    return [w.value for w in at.warning]


_PLAIN: dict[str, dict[str, bool]] = {}


def plain(page: str) -> dict[str, bool]:
    """Each keyed widget of the page as it opens without a view, and whether it is disabled."""
    if page not in _PLAIN:
        _PLAIN[page] = {k: w.disabled for k, w in widgets(opened(page)).items()}
    return _PLAIN[page]


# ---------------------------------------------------------------------------------------------- the codec


@st.composite
def views(draw, page: str | None = None):
    page = page or draw(st.sampled_from(PAGES))
    controls = CONTROLS[page]
    names = [c.name for c in controls]
    lockable = [c.name for c in controls if c.kind != "part"]
    hide = draw(st.one_of(st.just({view.ALL}), st.sets(st.sampled_from(names))))
    lock = draw(st.one_of(st.just({view.ALL}), st.sets(st.sampled_from(lockable))))
    return page, view.View(frozenset(hide), frozenset(lock), draw(st.booleans()), draw(st.booleans()))


@given(views())
def test_a_view_round_trips_through_its_link(pv):
    page, v = pv
    assert view.parse(view.to_params(v), page) == (v, [])


def test_names_are_unique_and_every_page_has_its_reset_and_questions():
    for page, controls in CONTROLS.items():
        names = [c.name for c in controls]
        assert len(names) == len(set(names)), page
        assert view.ALL not in names
    for page in PAGES[:9]:  # the lessons
        assert {"reset", "checkpoints"} <= {c.name for c in CONTROLS[page]}, page


def test_bad_view_values_are_named():
    v, problems = view.parse({"hide": "x,nope", "lock": "checkpoints", "present": "yes"}, "conv-1d")
    assert v == view.View(frozenset({"x"}))
    assert any("hide=nope" in p and "x, k, pad" in p for p in problems)
    assert any("lock=checkpoints" in p and "hidden, not locked" in p for p in problems)
    assert any("present=yes" in p and "1 or 0" in p for p in problems)


def test_the_readme_lists_every_pages_control_names():
    readme = (ROOT / "README.md").read_text()
    assert readme_table() in readme


# ---------------------------------------------------------------------------------------------- in the pages


@pytest.mark.parametrize("page", PAGES)
def test_every_control_of_every_page_has_a_name(page):
    """A widget no table names would escape the teacher's hide and lock."""
    keys = plain(page)
    assert keys
    assert [k for k in keys if owner(page, k) is None] == []


@pytest.mark.parametrize("page", PAGES)
def test_hide_all_and_lock_all(page):
    at = opened(page, {"hide": "all"})
    assert warnings(at) == []
    left = {k: owner(page, k).kind for k in widgets(at)}
    assert "setting" not in left.values(), left
    at = opened(page, {"lock": "all"})
    for key, w in widgets(at).items():
        kind = owner(page, key).kind
        assert w.disabled == (kind == "setting" or plain(page)[key]), key
    assert at.query_params["lock"] == "all"


@pytest.mark.parametrize("page", PAGES)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_hidden_controls_are_gone_locked_ones_disabled_and_the_link_keeps_them(page, data):
    _, v = data.draw(views(page))
    query = view.to_params(v)
    at = opened(page, query)
    assert warnings(at) == []
    shown = widgets(at)
    for key, disabled in plain(page).items():
        c = owner(page, key)
        gone = c.name in v.hide or (view.ALL in v.hide and c.kind == "setting") or c.within in v.hide
        frozen = c.kind != "part" and (c.name in v.lock or (view.ALL in v.lock and c.kind == "setting"))
        if gone:
            assert key not in shown, key
        else:
            assert key in shown, key
            assert shown[key].disabled == (frozen or disabled), key
    address = {k: at.query_params[k] for k in ("hide", "lock", "present", "text") if k in at.query_params}
    assert address == query


def test_a_locked_value_survives_the_reset_and_the_rest_goes_back():
    at = open_page("conv_1d.py", {"x": "9, 9, 9", "k": "2, 2", "lock": "x"})
    assert at.text_input(key="c1_input").disabled
    at.text_input(key="c1_kernel").set_value("3, 3, 3").run()
    at.button(key="c1_back").click().run()
    assert at.text_input(key="c1_input").value == "9, 9, 9"
    assert at.text_input(key="c1_kernel").value == "1, 1, 1"


def test_a_hidden_control_keeps_the_links_value():
    at = open_page("conv_1d.py", {"x": "1, 2, 3, 4, 5, 6, 7", "s": "2", "hide": "x,s"})
    assert "c1_input" not in widgets(at) and "c1_stride" not in widgets(at)
    assert stepper(at, "c1_stepper")["n"] == 4  # 7 inputs, stride 2: 4 outputs


def test_the_view_stays_with_its_page_when_the_learner_wanders():
    at = open_page("conv_1d.py", {"lesson": "conv-1d", "hide": "x", "lock": "k"})
    at.switch_page("../pages/conv_2d.py").run()
    assert warnings(at) == [] and "hide" not in at.query_params  # another page: its own controls, all shown
    assert not any(w.disabled for k, w in widgets(at).items() if k == "c2_kernel")
    at.switch_page("../pages/conv_1d.py").run()
    assert "c1_input" not in widgets(at) and widgets(at)["c1_kernel"].disabled
    assert at.query_params["hide"] == "x"


def test_presenter_view_and_no_text():
    at = open_page("conv_1d.py", {"present": "1", "text": "0"})
    styles = [h.proto.body for h in at.get("html")]
    assert any("zoom" in s for s in styles)
    assert not any("slides a small **kernel**" in m.value for m in at.markdown)
    assert at.sidebar.button(key="view_leave")
    assert at.button(key="c1_back")  # the reset stays in the presenter view
    at.switch_page("../pages/pooling.py").run()  # the presenter view goes with the presenter
    assert any("zoom" in h.proto.body for h in at.get("html"))
    at.sidebar.button(key="view_leave").click().run()
    assert not any("zoom" in h.proto.body for h in at.get("html"))
    assert "present" not in at.query_params
    assert any("**Pooling** replaces" in m.value for m in at.markdown)


def test_a_question_set_from_the_link_is_kept_in_the_address():
    at = open_page("conv_1d.py", {"q": "77"})
    assert at.query_params["q"] == "77"
    assert any("Question set 77" in c.value for c in at.caption)
    at = open_page("conv_1d.py", {"q": "x"})
    assert any("q=x" in w for w in warnings(at))


def test_hidden_checkpoints():
    at = open_page("conv_1d.py", {"hide": "checkpoints"})
    assert not [e for e in at.expander if "Check yourself" in e.label]


# ---------------------------------------------------------------------------------------------- the teacher's page


def test_the_lesson_link_opens_the_same_view():
    at = open_page("conv_1d.py")
    at.text_input(key="c1_kernel").set_value("1, 2").run()
    at.switch_page("../pages/lesson_link.py").run()
    assert not at.exception
    at.selectbox(key="ll_page").set_value("conv-1d").run()
    at.multiselect(key="ll_hide").set_value(["x"]).run()
    at.multiselect(key="ll_lock").set_value(["k", "s"]).run()
    at.toggle(key="ll_present").set_value(True).run()
    at.radio(key="ll_questions").set_value("same").run()
    at.number_input(key="ll_seed").set_value(12).run()
    link = at.code[0].value
    url = urlsplit(link)
    assert url.path.endswith("/conv-1d")
    query = dict(parse_qsl(url.query))
    assert {"hide": "x", "lock": "k,s", "present": "1", "q": "12", "k": "1, 2"}.items() <= query.items()
    learner = open_page("conv_1d.py", query)  # a new session, as a learner opening the link
    shown = widgets(learner)
    assert "c1_input" not in shown and shown["c1_kernel"].disabled and shown["c1_stride"].disabled
    assert shown["c1_kernel"].value == "1, 2"
    assert any("zoom" in h.proto.body for h in learner.get("html"))
    assert any("Question set 12" in c.value for c in learner.caption)
    assert any("QR code" in c for img in at.get("image") for c in img.captions)


def test_the_lesson_link_page_starts_on_the_page_it_was_opened_for():
    at = open_page("lesson_link.py", {"for": "pooling"})
    assert at.selectbox(key="ll_page").value == "pooling"
    at.multiselect(key="ll_hide").set_value(["all"]).run()
    at.radio(key="ll_questions").set_value("none").run()
    assert "hide=all" in at.code[0].value
    at.multiselect(key="ll_hide").set_value(["size"]).run()
    assert "hide=checkpoints,size" in at.code[0].value
