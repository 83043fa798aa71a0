"""Each lesson in a real browser: load it, step once, screenshot it (tests/screenshots/, ignored by git)."""
import pytest
from e2e_steps import STEP, step_once

pytestmark = pytest.mark.e2e


def test_home(open_page, shot):
    page = open_page()
    page.get_by_role("heading", name="SmartFlow CNN Lab").wait_for()
    page.get_by_test_id("stMain").get_by_role("link", name="2D convolution on images").click()
    page.get_by_role("heading", name="2D convolution on images").wait_for()
    page.get_by_role("link", name="Home").click()
    page.get_by_role("heading", name="SmartFlow CNN Lab").wait_for()
    shot("home")


def test_conv_1d(open_page, shot):
    page = open_page("/conv-1d")
    page.get_by_text("Step 1 of 5").wait_for()
    assert step_once(page) == 2
    assert step_once(page) == 3
    page.locator(".sf-value").get_by_text("out[2] = 9", exact=True).wait_for()
    assert "step=3" in page.url
    shot("conv_1d")


def test_conv_1d_shared_link(open_page):
    page = open_page("/conv-1d?x=1,2,3,4,5&k=1,1,1&pad=custom&p=1&s=2&step=2")
    page.get_by_text("Step 2 of 3").wait_for()
    page.locator(".sf-value").get_by_text("out[1] = 9", exact=True).wait_for()


def test_conv_2d(open_page, shot):
    page = open_page("/conv-2d")
    step_once(page)
    shot("conv_2d")


def test_multichannel(open_page, shot):
    page = open_page("/multichannel")
    step_once(page)
    shot("multichannel")


def test_pooling(open_page, shot):
    page = open_page("/pooling")
    step_once(page)
    shot("pooling")


def test_settings_survive_navigation_and_do_not_leak(open_page):
    page = open_page("/conv-1d?x=1,2,3,4,5&k=1,1,1&pad=custom&p=1&s=2&step=2")
    page.get_by_text("Step 2 of 3").wait_for()
    page.get_by_role("link", name="2D convolution on images").click()
    page.get_by_text(STEP).first.wait_for()
    assert "s=2" not in page.url and "Step 2 of" not in page.get_by_text(STEP).first.inner_text()
    page.get_by_role("link", name="1D convolution").click()
    page.get_by_text("Step 2 of 3").wait_for()  # the 1D lesson kept its settings
    page.wait_for_function("() => location.search.includes('s=2')")  # and put them back in the address bar


def test_play_moves_the_kernel_by_itself(open_page):
    page = open_page("/conv-1d?step=4")
    page.get_by_text("Step 4 of 5").wait_for()
    page.get_by_role("button", name="Play", exact=True).click()
    page.get_by_role("button", name="Pause", exact=True).wait_for()
    page.get_by_text("Step 5 of 5").wait_for()
    page.get_by_role("button", name="Play", exact=True).wait_for()  # stopped by itself at the last step
    page.locator(".sf-value").get_by_text("out[4] = 9", exact=True).wait_for()


def test_home_answers_at_its_own_address_too(open_page):
    page = open_page("/home")  # once a "Page not found" dialog: the default page answered only at "/"
    page.get_by_role("heading", name="SmartFlow CNN Lab").wait_for()
    assert page.get_by_text("Page not found").count() == 0
    assert page.get_by_role("link", name="Home", exact=True).count() == 1  # the way there is not in the menu twice


@pytest.mark.parametrize("width", [1280, 390])
def test_home_cards_open_on_a_click_anywhere_and_tab_in_reading_order(browser, app_url, width):
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(app_url)
        page.get_by_role("heading", name="SmartFlow CNN Lab").wait_for()
        links = page.get_by_test_id("stMain").get_by_test_id("stPageLink-NavLink")
        links.nth(12).wait_for()
        boxes = [links.nth(i).bounding_box() for i in range(links.count())]
        assert len(boxes) == 13  # nine lessons, three labs, the teacher's page
        names = [links.nth(i).inner_text().strip().splitlines()[-1] for i in range(links.count())]  # not the icon
        # the page's (and so the keyboard's) order is reading order: top to bottom, then left to right in a row
        assert boxes == sorted(boxes, key=lambda b: (round(b["y"] / 40), b["x"])), names
        assert names[:2] == ["1D convolution", "2D convolution on images"]
        blurb = page.get_by_test_id("stMain").get_by_text("Shrink a feature map by max")
        blurb.scroll_into_view_if_needed()
        b = blurb.bounding_box()
        page.mouse.click(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)  # on the blurb, not on the link
        page.get_by_role("heading", name="Stride, pooling and flatten").wait_for()
    finally:
        ctx.close()
