"""What learners tripped over on /evaluate and /draw, in a real browser: the threshold's label on the probability
bars never covers a bar's label, and the address bar holds each page's view, so a link opened in a fresh session
shows the same view (the gallery's digit, the scribble on the canvas)."""
import re
import time

import pytest
from conftest import APP_READY

pytestmark = pytest.mark.e2e

# every text box of the probability bars: the bars' labels ("99 %") and the threshold's label ("needed 70 %")
BOXES = """() => {
    const chart = document.querySelector('.st-key-dr_probs');
    if (!chart) return null;
    const box = t => { const r = t.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const bars = [...chart.querySelectorAll('text.bartext')].filter(t => t.textContent.trim());
    const label = [...chart.querySelectorAll('text.annotation-text')].find(t => /needed/.test(t.textContent));
    return label ? {label: label.textContent, box: box(label), bars: bars.map(t => [t.textContent, box(t)])} : null;
}"""


def _needed(boxes) -> int | None:
    found = boxes and re.search(r"needed\D*(\d+) %", boxes["label"])
    return int(found.group(1)) if found else None


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("viewport", [(1280, 1000), (390, 844)], ids=["desktop", "phone"])
def test_the_threshold_label_never_covers_a_bar_label(browser, app_url, viewport):
    """Every threshold the slider offers, on the scribble (the network gives 4 about 99 %, 8 and 7 about 1 %, so
    three bars carry labels): the threshold's label intersects no bar's label. It did while it sat at the top left of
    the line, over the bars: on a phone, at 100 %, it covered the "99 %" of the bar of 2."""
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{app_url}/draw?lesson=draw&ex=scribble&t=0")
        page.wait_for_selector(APP_READY)
        page.get_by_test_id("stMetricValue").get_by_text("4", exact=True).wait_for()
        slider = page.get_by_role("slider", name="Confidence needed")
        collisions = []
        for threshold in range(0, 101, 5):
            page.wait_for_function(f"() => {{ const b = ({BOXES})(); return b && b.bars.length >= 2 && "
                                   f"/needed\\D*{threshold} %/.test(b.label); }}")
            boxes = page.evaluate(BOXES)
            assert _needed(boxes) == threshold
            collisions += [(threshold, text) for text, bar in boxes["bars"] if _overlap(boxes["box"], bar)]
            if threshold < 100:
                slider.focus()
                page.keyboard.press("ArrowRight")
        assert not collisions, f"the threshold's label covers these bar labels: {collisions}"
    finally:
        ctx.close()


def test_a_link_to_a_gallery_digit_opens_it_in_a_fresh_session(browser, app_url, open_page):
    page = open_page("/evaluate")
    page.locator("[class*='st-key-ev_open_'] button").first.click()   # the gallery's first digit
    page.wait_for_function("() => /[?&]digit=\\d+/.test(location.search)")
    index = int(re.search(r"[?&]digit=(\d+)", page.url).group(1))
    page.get_by_text(f"Test digit #{index}").wait_for()
    link = page.url
    assert "lesson=evaluate" in link and "cell=all" in link and "order=most" in link

    other = browser.new_context(viewport={"width": 1280, "height": 1000})  # a new context: a fresh session
    try:
        fresh = other.new_page()
        fresh.set_default_timeout(20_000)
        fresh.goto(link)
        fresh.wait_for_selector(APP_READY)
        fresh.get_by_text(f"Test digit #{index}").wait_for()
        fresh.locator(".st-key-ev_maps_0 .main-svg").first.wait_for()
        assert fresh.url == link
    finally:
        other.close()


INK = """c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 128 && d[i + 3] > 0) n++;
    return n; }"""


def _wait_for_ink(page, pixels: int = 5000) -> None:
    """Until the canvas as Fabric drew it (its lower canvas, in the component's open shadow root) holds this many
    inked pixels."""
    canvas = page.locator("canvas.dc-canvas.lower-canvas")
    deadline = time.monotonic() + 20
    while canvas.evaluate(INK) < pixels:
        assert time.monotonic() < deadline, "the scribble was not drawn on the canvas"
        page.wait_for_timeout(100)


def test_the_scribble_is_on_the_canvas_and_in_the_link(browser, app_url, open_page):
    page = open_page("/draw")
    page.get_by_role("button", name="Try a scribble").click()
    page.get_by_text("This scribble is no digit").wait_for()
    page.get_by_test_id("stMetricValue").get_by_text("4", exact=True).wait_for()
    page.wait_for_function("() => location.search.includes('ex=scribble')")
    _wait_for_ink(page)  # Fabric drew the scribble's strokes
    link = page.url

    other = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        fresh = other.new_page()
        fresh.set_default_timeout(20_000)
        fresh.goto(link)
        fresh.wait_for_selector(APP_READY)
        fresh.get_by_text("This scribble is no digit").wait_for()
        fresh.get_by_test_id("stMetricValue").get_by_text("4", exact=True).wait_for()
        _wait_for_ink(fresh)
    finally:
        other.close()
