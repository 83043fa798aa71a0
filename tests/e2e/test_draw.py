"""Draw a digit in a real browser: a mouse stroke and a finger stroke on the canvas are read; the preparation (five
pictures), the saliency map and the feature maps (four layers of pictures, the ten scores) appear; the drawing
survives a visit to another page and Undo takes it back."""
import re

import pytest

pytestmark = pytest.mark.e2e

PROMPT = "Draw a digit on the canvas"
SEVEN = [(70, 60), (210, 60), (120, 240)]   # canvas pixels
ONE = [(140, 60), (140, 250)]               # touch strokes start below the top 30 px: see touch_stroke


def _points(path, steps=12):
    """Many small moves along the path, as a hand makes them (one jump would draw a single segment)."""
    yield path[0]
    for (x0, y0), (x1, y1) in zip(path, path[1:]):
        for i in range(1, steps + 1):
            yield x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps


def canvas_origin(page):
    canvas = page.locator("canvas.upper-canvas")  # Fabric's event layer, in the component's open shadow root
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    return box["x"], box["y"]


def mouse_stroke(page, path):
    x, y = canvas_origin(page)
    points = list(_points(path))
    page.mouse.move(x + points[0][0], y + points[0][1])
    page.mouse.down()
    for px, py in points[1:]:
        page.mouse.move(x + px, y + py)
    page.mouse.up()


def touch_stroke(page, path):
    """A finger stroke through the Chrome DevTools protocol (Playwright's touchscreen only taps).

    The component's toolbar is invisible until hovered but still covers the canvas's top-right 30 px or so: a
    touch that starts there reaches the toolbar, not the canvas."""
    x, y = canvas_origin(page)
    cdp = page.context.new_cdp_session(page)
    points = list(_points(path))
    for kind, (px, py) in [("touchStart", points[0])] + [("touchMove", p) for p in points[1:]]:
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x + px, "y": y + py, "id": 1}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def wait_for_answer(page, digit: str):
    page.get_by_test_id("stMetricValue").get_by_text(digit, exact=True).wait_for()


def test_a_digit_drawn_with_the_mouse_is_read_and_explained(open_page, shot):
    page = open_page("/draw")
    page.get_by_text(PROMPT).wait_for()
    mouse_stroke(page, SEVEN)
    wait_for_answer(page, "7")
    for key in ("dr_probs", "dr_saliency_map"):
        page.locator(f".st-key-{key} .main-svg").first.wait_for()
    page.get_by_text("Conv2DLayer 1: 16 maps 28x28").wait_for()   # the first layer's maps ...
    page.locator("[class*='st-key-dr_layer_'] .main-svg").last.wait_for()  # ... to the last layer's ten scores
    page.get_by_text(re.compile(r"^DenseLayer \d+: 10 outputs$")).wait_for()
    page.wait_for_function("""() => {                             // 5 steps + a picture per layer of maps
        const imgs = [...document.querySelectorAll('[data-testid="stImage"] img')];
        return imgs.length > 5 && imgs.every(i => i.complete && i.naturalWidth > 0); }""")
    shot("draw")

    page.get_by_role("link", name="Home").click()                # the drawing is kept while the learner is away
    page.get_by_role("heading", name="SmartFlow CNN Lab").wait_for()
    page.get_by_role("link", name="Draw a digit").first.click()
    wait_for_answer(page, "7")

    page.get_by_role("button", name="Undo stroke").click()       # the only stroke: back to an empty canvas
    page.get_by_text(PROMPT).wait_for()
    assert page.get_by_test_id("stMetricValue").count() == 0


def test_a_digit_drawn_with_a_finger_is_read(browser, app_url):
    ctx = browser.new_context(viewport={"width": 412, "height": 915}, has_touch=True, is_mobile=True)
    try:
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{app_url}/draw")
        page.get_by_text(PROMPT).wait_for()
        touch_stroke(page, ONE)
        wait_for_answer(page, "1")
    finally:
        ctx.close()
