"""The backward-pass lessons in a real browser: load each, drive one control, screenshot it
(tests/screenshots/, ignored by git)."""
import re

import pytest
from e2e_steps import step_once

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def patient(page):
    """A first visit imports and computes (the book page runs the chapter's model on real digits): on a busy machine
    that can take longer than the harness's 20 s."""
    page.set_default_timeout(60_000)


def metric(page, label: str):
    """The value element of the metric called ``label``."""
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def test_perturb(open_page, shot):
    page = open_page("/perturb")
    page.get_by_role("heading", name="Nudge and watch: what a gradient is").wait_for()
    metric(page, "L before").get_by_text("39", exact=True).wait_for()
    metric(page, "L after").get_by_text("41", exact=True).wait_for()  # the chapter's fifth input, nudged by 1
    page.get_by_text("a weight", exact=True).click()
    page.wait_for_function("() => location.search.includes('what=kernel')")
    metric(page, "gradient dL/dw[0]").wait_for()  # a weight: the chapter's first one
    metric(page, "L after").get_by_text("49", exact=True).wait_for()  # the chapter's first weight, nudged by 1
    metric(page, "gradient dL/dw[0]").get_by_text("10", exact=True).wait_for()
    shot("perturb")


def test_grad_1d(open_page, shot):
    page = open_page("/grad-1d?step=13")
    page.get_by_text("Step 13 of 15").wait_for()  # input 4, weight 0: the chapter's t5, first term (padding)
    assert step_once(page) == 14
    page.locator(".sf-value").get_by_text("input_grad[4] = 2", exact=True).wait_for()  # 0·1 + 1·2
    page.get_by_text("read at 4 + 3 − 1 − 1 = 5").wait_for()
    assert "step=14" in page.url
    shot("grad_1d")


def test_grad_1d_filter(open_page, shot):
    page = open_page("/filter-grad-1d?x=0+1+2+3+4+5+6%3B1+2+3+4+5+6+7&w=1&step=13")  # the chapter's batch
    page.get_by_text("Step 13 of 14").wait_for()
    assert step_once(page) == 14
    page.locator(".sf-value").get_by_text("param_grad[1] = 49", exact=True).wait_for()  # the chapter's [36, 49, 48]
    page.get_by_text("[15, 21, 21] + [21, 28, 27] = [36, 49, 48]").wait_for()
    shot("grad_1d_filter")


def test_grad_2d(open_page, shot):
    page = open_page("/grad-2d?s=2&pad=custom&p=1&n=5")
    page.get_by_role("heading", name="Check with central differences").wait_for()
    page.get_by_text("spread out with 1 zero(s)").wait_for()
    table = page.get_by_role("table").last
    rel = [float(t) for t in re.findall(r"\d\.\de[-+]\d\d", table.inner_text())]
    assert len(rel) == 4 and rel[0] < 1e-7 and rel[2] < 1e-7  # the central differences agree
    shot("grad_2d")


def test_book_bug(open_page, shot):
    page = open_page("/book-bug")
    page.get_by_role("heading", name="Why training still worked", exact=True).wait_for()
    assert float(metric(page, "filter: book's error").inner_text()) > 0.1
    assert float(metric(page, "filter: true error").inner_text()) < 1e-6
    metric(page, "filter: cosine(book, true)").get_by_text("0.883").wait_for()
    page.get_by_text("With 2 digits it is already").wait_for()
    shot("book_bug")
