"""Nothing covers a chart's title: Plotly's toolbar (shown on hover, and after a tap on a phone) and the legend.

Read from the element boxes, not the pixels: for every chart on a page, hover it so its toolbar shows, then check
that the toolbar's box, and the legend's, do not meet the title's. Before, the toolbar (224 px wide) sat on the
titles of the pooling and multichannel pages' charts at desktop and phone widths.
"""
import pytest
from conftest import APP_READY, SHOTS

pytestmark = pytest.mark.e2e

BOXES = """() => [...document.querySelectorAll('.js-plotly-plot')].map(plot => {
  const box = e => { if (!e) return null; const b = e.getBoundingClientRect();
                     return b.width && b.height ? [b.left, b.top, b.right, b.bottom] : null; };
  const title = plot.querySelector('.gtitle');
  return {title: title ? title.textContent : '', t: box(title), toolbar: box(plot.querySelector('.modebar')),
          legend: box(plot.querySelector('.legend'))};
})"""
LESSONS = ("conv-1d", "conv-2d", "multichannel", "pooling", "perturb", "grad-1d", "filter-grad-1d", "grad-2d",
           "book-bug")


def meet(a, b) -> bool:
    return bool(a and b) and a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def collisions(page) -> list[str]:
    """Each visible chart hovered in turn: the titles its toolbar or legend covers."""
    found = []
    plots = page.locator(".js-plotly-plot")
    for i in range(plots.count()):
        plot = plots.nth(i)
        if not plot.is_visible():  # in a closed expander or another tab
            continue
        plot.scroll_into_view_if_needed()
        plot.hover(position={"x": 20, "y": 40})
        page.wait_for_timeout(150)
        chart = page.evaluate(BOXES)[i]
        for part in ("toolbar", "legend"):
            if meet(chart["t"], chart[part]):
                found.append(f"chart {i} {chart['title']!r}: its {part} covers the title")
    return found


@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_no_toolbar_or_legend_covers_a_lesson_chart_title(browser, app_url, width, height):
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    try:
        found, titled = [], 0
        for lesson in LESSONS:
            page.goto(f"{app_url}/{lesson}")
            page.wait_for_selector(APP_READY)
            page.wait_for_timeout(500)  # the charts draw after the script ends
            titled += sum(1 for chart in page.evaluate(BOXES) if chart["t"])
            found += [f"/{lesson} at {width} px: {c}" for c in collisions(page)]
        page.screenshot(path=str(SHOTS / f"overlaps_{width}.png"))
        assert titled >= 10  # the check looked at real titles
        assert not found, "\n".join(found)
    finally:
        ctx.close()


@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_no_toolbar_or_legend_covers_a_lab_chart_title(browser, app_url, width, height):
    """Evaluate with a digit opened (the narrow probability chart's toolbar took two rows over its title), Draw
    with a scribble."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{app_url}/evaluate?lesson=evaluate&src=pretrained&cell=all&digit=0")  # a digit opened
        page.wait_for_selector(APP_READY)
        page.locator(".st-key-ev_maps_0 .main-svg").first.wait_for()
        page.wait_for_selector(APP_READY)
        page.wait_for_timeout(500)
        titled = sum(1 for chart in page.evaluate(BOXES) if chart["t"])
        found = [f"/evaluate at {width} px: {c}" for c in collisions(page)]
        page.goto(f"{app_url}/draw?lesson=draw&ex=scribble")
        page.wait_for_selector(APP_READY)
        page.get_by_text("The network reads").first.wait_for()
        page.wait_for_timeout(800)
        titled += sum(1 for chart in page.evaluate(BOXES) if chart["t"])
        found += [f"/draw at {width} px: {c}" for c in collisions(page)]
        assert titled >= 4
        assert not found, "\n".join(found)
    finally:
        ctx.close()
