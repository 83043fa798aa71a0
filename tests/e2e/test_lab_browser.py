"""The training lab in a real browser, on a desktop and a phone screen: no chart's legend is drawn over its title
(the gradient sizes' legend, six entries wrapping onto two or three rows, once was), and the filters view gives
each filter at least 40 pixels, for the first layer and a deeper one.

Each test trains the default network for longer than it lasts (50 epochs) and stops it at the end.
"""
import re

import pytest
from conftest import APP_READY, SHOTS
from conftest import stop_run as stop
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.e2e

SCREENS = {"desktop": (1280, 900), "phone": (390, 844)}

# every Plotly chart on the page: its title, the boxes of its title, legend and x-axis title, its plot area and
# the size of its first trace's z (a heatmap's cells)
CHARTS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(g => {
    const box = s => { const e = g.querySelector(s); if (!e) return null; const r = e.getBoundingClientRect();
                       return r.width && r.height ? [r.left, r.top, r.right, r.bottom] : null; };
    const z = g.data && g.data[0] && g.data[0].z;  // a typed array's spec (dtype, bdata, shape) or nested lists
    const cells = !z ? null : z.shape ? String(z.shape).split(',').map(Number) : z.length ? [z.length, z[0].length]
                                                                                           : null;
    const title = g.layout && g.layout.title ? String(g.layout.title.text).replace(/<[^>]*>/g, '') : '';
    return {title: title, gtitle: box('.gtitle'),
            legend: box('.legend'), xtitle: box('.xtitle'), plot: box('.nsewdrag'),
            cells: cells,
            points: Math.min(...(g._fullData || []).map(d => d._length || 0))};
})"""


def overlap(a, b) -> bool:
    return bool(a and b) and a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def charts(page) -> list[dict]:
    return page.evaluate(CHARTS)


@pytest.fixture(params=sorted(SCREENS))
def lab(request, browser, app_url):
    """/train on one screen size, the default network training for 50 epochs; stopped afterwards."""
    width, height = SCREENS[request.param]
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(app_url + "/train?ep=50")
    page.wait_for_selector(APP_READY)
    page.get_by_role("button", name="Start", exact=True).click()
    page.get_by_role("button", name="Stop", exact=True).and_(page.locator(":enabled")).wait_for()
    page.screen = request.param
    try:
        yield page
    finally:
        stop(page)
        ctx.close()


def view(page, name: str) -> None:
    """Choose a view (a segment of the view control). A click that lands while the live panel redraws can be lost:
    click again until the segment is checked."""
    segment = page.get_by_role("radio", name=name)
    for _ in range(5):
        try:
            segment.scroll_into_view_if_needed()
            segment.click(force=True)  # a redraw can move it away mid-click ("outside of the viewport"): again
            page.wait_for_function("e => e.checked || e.getAttribute('aria-checked') === 'true'",
                                   arg=segment.element_handle(), timeout=5_000)
            return
        except PlaywrightError:  # the click or its effect was lost (a timeout is one): try again
            page.wait_for_timeout(300)
    raise AssertionError(f"the view {name!r} could not be chosen")


def shoot(page, element, name: str) -> None:
    """A screenshot of ``element`` (Streamlit scrolls inside its main block, so a page shot shows the viewport), for
    a person to look at: not a check, so a redraw that keeps replacing the element leaves it out."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # the live panel redraws every second: an element can be replaced while it is shot
        try:
            element.screenshot(path=str(SHOTS / f"{name}_{page.screen}.png"))
            return
        except PlaywrightError:
            page.wait_for_timeout(200)


def test_no_legend_covers_its_title(lab):
    page = lab
    view(page, "Gradient sizes")
    # the gradient sizes are recorded every 10 steps: wait for two points on each of its six lines
    try:
        page.wait_for_function(f"""() => ({CHARTS})().some(c => c.title.startsWith('Gradient size')
                                                            && c.points >= 2 && c.legend)""")
    except PlaywrightTimeout:  # say what the page showed instead
        status = page.get_by_test_id("stMain").inner_text()[:1500]
        raise AssertionError(f"no gradient chart with two points and a legend: {charts(page)}\n{status}") from None
    found = charts(page)
    curves = [c for c in found if c["legend"]]
    assert any(c["title"].startswith("Gradient size") for c in curves), found
    assert not [c["title"] for c in found if overlap(c["gtitle"], c["legend"])], "a legend covers its title"
    assert not [c["title"] for c in found if overlap(c["xtitle"], c["legend"])], "a legend covers its axis title"
    assert not [c["title"] for c in curves if c["plot"] and c["legend"][1] < c["plot"][3]], "a legend on its plot"
    shoot(page, page.get_by_test_id("stPlotlyChart").filter(has_text="Gradient size per weight").last,
          "train_gradients")


def filter_sizes(page, rows: int) -> dict[str, float]:
    """Pixels per 5x5 filter in each panel of the filters view, once its heatmaps have ``rows`` rows of cells."""
    page.wait_for_function(f"""() => ({CHARTS})().filter(c => /^(Start|Now|Change)/.test(c.title) && c.cells
                                                         && c.cells[0] === {rows}).length === 3""")
    sizes = {}
    for c in charts(page):
        title = c["title"]
        if re.match(r"(Start|Now|Change)", title) and c["cells"]:
            rows, cols = c["cells"]
            width, height = c["plot"][2] - c["plot"][0], c["plot"][3] - c["plot"][1]
            sizes[title.split(":")[0]] = 5 * min(width / cols, height / rows)
    return sizes


def test_each_filter_gets_forty_pixels_in_every_layer(lab):
    page = lab
    view(page, "Filters: start and now")
    first = filter_sizes(page, 23)  # 16 filters: 4 rows of 5 weights and a gap
    assert set(first) == {"Start", "Now", "Change"} and min(first.values()) >= 40, first
    shoot(page, page.get_by_test_id("stHorizontalBlock").filter(has_text="Start: as the run began").last,
          "train_filters")
    page.get_by_role("combobox", name="Layer", exact=True).focus()  # typed, not clicked: a click can land where
    page.keyboard.type("3 Conv")  # the box was before the page moved
    page.keyboard.press("Enter")
    deeper = filter_sizes(page, 41)  # 32 filters: 7 rows
    assert min(deeper.values()) >= 40, deeper
