"""A teacher's link in a real browser: a locked control cannot be changed, the stepper still walks, the presenter
view at a projector's 1920×1080 (screenshots in tests/screenshots/presenter_*.png), and the teacher's page."""
import re

import pytest
from e2e_steps import step_once
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.e2e

PROJECTOR = {"width": 1920, "height": 1080}


def test_a_locked_control_cannot_be_changed_but_the_lesson_still_steps(open_page):
    page = open_page("/conv-1d?x=1,2,3,4,5,6&lock=x,s")
    page.get_by_text("Step 1 of 6").wait_for()
    box = page.get_by_label("Input values", exact=True)
    assert box.is_disabled() and box.input_value() == "1,2,3,4,5,6"
    with pytest.raises(PlaywrightTimeout):  # a disabled box takes no typing: Playwright waits for it to be editable
        box.fill("9, 9", timeout=2_000)
    assert page.get_by_label("Stride", exact=True).is_disabled()
    assert not page.get_by_label("Kernel values", exact=True).is_disabled()  # not named: the learner may change it
    assert step_once(page) == 2
    assert box.input_value() == "1,2,3,4,5,6"
    assert "lock=s,x" in page.url.replace("%2C", ",")  # the link keeps the view (names sorted)


def test_hide_all_leaves_the_walk(open_page):
    page = open_page("/pooling?hide=all&q=3")
    page.get_by_text("Step 1 of").first.wait_for()
    main = page.get_by_test_id("stMain")
    assert main.get_by_label("Pool size", exact=True).count() == 0
    assert main.get_by_label("Digit index", exact=True).count() == 0
    step_once(page)
    assert main.get_by_role("button", name="Back to the chapter's example").is_visible()


@pytest.mark.parametrize("path, name", [
    ("/conv-1d?present=1&lock=all", "conv_1d"),
    ("/conv-2d?present=1&hide=all&text=0", "conv_2d"),
    ("/pooling?present=1&hide=mode,fc,fh,fw", "pooling"),
    ("/train?present=1&lock=all", "train"),
])
def test_presenter_view_at_1920x1080(open_page, page, path, name):
    page.set_viewport_size(PROJECTOR)
    open_page(path)
    page.get_by_test_id("stMainBlockContainer").wait_for()
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                              .every(c => c.querySelector('.main-svg'))""")
    page.wait_for_timeout(800)
    assert page.get_by_test_id("stSidebar").get_attribute("data-collapsed") == "true"  # the menu folded away
    zoomed = """() => parseFloat(getComputedStyle(document.querySelector('[data-testid="stMainBlockContainer"]'))
                                 .zoom) > 1.3"""
    page.wait_for_function(zoomed)
    title = page.get_by_role("heading", level=1).first.bounding_box()
    assert title["height"] > 60  # larger type than the 1280-wide page's (about 45 px)
    page.screenshot(path=f"tests/screenshots/presenter_{name}.png")
    assert page.evaluate(zoomed)  # still, after the page settled


def test_the_teachers_page_makes_a_link_that_opens_the_view(open_page, page):
    open_page("/lesson-link?for=conv-1d")
    page.get_by_role("heading", name="Make a lesson link").wait_for()
    lock = page.get_by_test_id("stMultiSelect").filter(has_text="Lock")
    lock.click()
    page.get_by_role("option", name=re.compile(r"^k: Kernel values")).click()
    page.keyboard.press("Escape")
    page.get_by_text("Presenter view", exact=True).click()
    code = page.get_by_test_id("stCode")
    code.filter(has_text="present=1").wait_for()
    link = code.inner_text().strip()
    assert "lock=k" in link and "/conv-1d?" in link
    page.get_by_test_id("stImage").first.wait_for()  # the QR code
    page.screenshot(path="tests/screenshots/lesson_link.png", full_page=True)
    page.goto(link)
    page.get_by_text("Step 1 of 5").wait_for()
    assert page.get_by_label("Kernel values", exact=True).is_disabled()
    assert not page.get_by_label("Input values", exact=True).is_disabled()
