"""The lessons' stepper in a real browser: ten Next presses, two keyboard steps and a click on an output cell send
nothing to the server, show the step, window and value that ``smartflow_core`` computes for that step, and leave
the step in the address bar, so the copied link opens at that step in a new session.
"""
import re
import urllib.parse

import numpy as np
import pytest
from conftest import APP_READY

from app.charts import fmt
from app.lessons.traces import mc_filters, sample_rgb
from app.resources import digits
from app.widgets import KERNELS
from smartflow_core.trace import (
    Upstream,
    trace_conv_1d,
    trace_conv_2d,
    trace_grad_2d,
    trace_input_grad_1d,
    trace_multichannel,
    trace_param_grad_1d,
    trace_pool,
)

pytestmark = pytest.mark.e2e
STEP = re.compile(r"Step (\d+) of (\d+)")


def shown(page) -> tuple[int, int, str, str]:
    """(step, of, the value line, the formula) as the stepper shows them."""
    n, total = map(int, STEP.search(page.locator(".sf-caption").first.inner_text()).groups())
    return n, total, page.locator(".sf-value").first.inner_text(), page.locator(".sf-formula").first.inner_text()


def walk(page, clicks: int = 10) -> list:
    """Press Next ``clicks`` times and the right arrow twice; returns the list that collects the websocket
    frames the page sends from now on (listened to since the page opened: see :func:`open_at`)."""
    page.wait_for_timeout(1500)  # any sync of the opening step is done
    sent = page.sent_frames
    sent.clear()
    nxt = page.get_by_role("button", name="Next ▶").first
    for _ in range(clicks):
        nxt.click()
    page.locator(".sf-stepper").first.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    return sent


def open_at(page, app_url: str, path: str, step: int):
    """Open ``path`` at ``step``, counting every websocket frame the page sends (``page.sent_frames``)."""
    page.sent_frames = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: page.sent_frames.append(f)))
    page.goto(f"{app_url}{path}{'&' if '?' in path else '?'}step={step}")
    page.wait_for_selector(APP_READY)
    page.locator(".sf-caption").first.wait_for()
    assert page.sent_frames, "the page's websocket frames are not being counted"
    return page


def link_opens_at(browser, url: str, step: int) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_selector(APP_READY)
        page.locator(".sf-caption").get_by_text(re.compile(rf"Step {step} of")).wait_for()
    finally:
        ctx.close()


def test_1d_steps_in_the_browser_and_the_link_keeps_the_step(page, app_url, browser, shot):
    page = open_at(page, app_url, "/conv-1d", 1)
    tr = trace_conv_1d((1, 2, 3, 4, 5), (1, 1, 1), None, 1)
    sent = walk(page, clicks=2)  # 5 steps: two presses and two arrows reach the last
    assert shown(page)[:2] == (5, 5)
    last = tr.steps[4]
    assert shown(page)[2] == f"out[4] = {fmt(last.output)}"
    assert shown(page)[3] == "out[4] = 1·4 + 1·5 + 1·0 = 9"  # the window ends on a padding zero
    # a click on the output cell under the middle of window 2 (its anchor) goes there
    page.locator(f'.sf-cell[data-grid="3"][data-index="{tr.anchor(2)}"]').click()
    assert shown(page)[:3] == (3, 5, "out[2] = 9")
    assert sent == [], "stepping sent messages to the server"
    assert urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["step"] == ["3"]
    shot("stepper_1d")
    link_opens_at(browser, page.url, 3)
    # a moment later the server hears of the step (one message), so the session keeps it across pages
    page.wait_for_timeout(2000)
    assert len(sent) >= 1
    page.get_by_role("link", name="2D convolution on images").click()
    page.get_by_role("heading", name="2D convolution on images").wait_for()
    page.get_by_role("link", name="1D convolution", exact=True).click()
    page.locator(".sf-caption").get_by_text(re.compile(r"Step 3 of 5")).wait_for()


def test_2d_ten_presses_two_arrows_and_a_click_stay_in_the_browser(page, app_url, browser, shot):
    page = open_at(page, app_url, "/conv-2d", 1)
    image = digits().image(0)
    tr = trace_conv_2d(image, np.array(KERNELS["edge"], dtype=float), None, 1)
    sent = walk(page)
    n, total, value, formula = shown(page)
    assert (n, total) == (13, 28 * 28)
    s = tr.step(12)
    assert value == f"out[{s.row}, {s.col}] = {fmt(s.output)}"
    assert formula.endswith(f"= {fmt(s.output)}")
    r, c = 14, 7  # a cell on the digit's stroke
    page.locator(f'.sf-cell[data-grid="2"][data-index="{r * 28 + c}"]').click()
    n, _, value, _ = shown(page)
    assert n == r * 28 + c + 1 and value == f"out[{r}, {c}] = {fmt(tr.output[r, c])}"
    assert sent == [], "stepping sent messages to the server"
    assert urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["step"] == [str(n)]
    shot("stepper_2d")
    link_opens_at(browser, page.url, n)


def test_multichannel_steps_sum_every_channel(page, app_url):
    page = open_at(page, app_url, "/multichannel", 1)
    x, w = sample_rgb(16)[None], mc_filters("colour", 3, 2, 0)
    tr = trace_multichannel(x, w, None, 1)
    sent = walk(page)
    n, _, value, _ = shown(page)
    r, c = divmod(n - 1, 16)
    assert n == 13 and value == f"out[0][{r}, {c}] = {fmt(tr.step(0, r, c).output)}"
    page.locator('.sf-cell[data-grid="9"][data-index="40"]').click()  # the output map, cell (2, 8)
    assert shown(page)[:3] == (41, 256, f"out[0][2, 8] = {fmt(tr.output[0, 0, 2, 8])}")
    assert sent == []


def test_pooling_steps_in_the_browser(page, app_url):
    page = open_at(page, app_url, "/pooling", 1)
    tr = trace_pool(digits().image(0), 2, None, "max")
    sent = walk(page)
    n, total, value, formula = shown(page)
    s = tr.step(n - 1)
    assert (n, total) == (13, 14 * 14) and value == f"out[{s.row}, {s.col}] = {fmt(s.output)}"
    assert formula.startswith(f"out[{s.row}, {s.col}] = max(")
    assert sent == []


def test_1d_input_gradient_steps_through_the_loop(page, app_url):
    page = open_at(page, app_url, "/grad-1d", 1)
    tr = trace_input_grad_1d((1, 2, 3, 4, 5), (1, 2, 3))
    sent = walk(page)  # 15 terms: ten presses and two arrows reach term 13 (o = 4, p = 0)
    n, total, value, _ = shown(page)
    term = tr.terms[n - 1]
    assert (n, total) == (13, 15) and value == f"input_grad[{term.o}] = {fmt(term.running)}"
    assert "read at 4 + 3 − 0 − 1 = 6" in page.locator(".sf-caption").inner_text()
    page.locator('.sf-cell[data-grid="2"][data-index="1"]').click()  # input_grad[1]: its last term, p = 2
    assert shown(page)[:3] == (6, 15, f"input_grad[1] = {fmt(tr.input_grad[1])}")
    assert sent == []


def test_1d_filter_gradient_steps_over_the_batch(page, app_url):
    page = open_at(page, app_url, "/filter-grad-1d?x=0+1+2+3+4+5+6%3B1+2+3+4+5+6+7", 1)
    tr = trace_param_grad_1d([[0, 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7]], (1, 1, 1))
    sent = walk(page)
    n, total, value, _ = shown(page)
    assert (n, total) == (13, 14) and value == f"param_grad[0] = {fmt(tr.terms(0)[12].running)}"
    page.locator(".sf-stepper").focus()
    page.keyboard.press("End")
    assert shown(page)[:3] == (14, 14, f"param_grad[0] = {fmt(tr.param_grad[0])}")
    assert sent == []


def test_2d_gradients_step_through_the_input_cells(page, app_url):
    from app.lessons.backward import problem_2d

    page = open_at(page, app_url, "/grad-2d?xr=0&xw=0", 1)
    x, w = problem_2d(1, 1, 1, 4, 3, 0)
    tr = trace_grad_2d(x, w, None, 1, Upstream("random", 0))
    sent = walk(page, clicks=3)  # the first stepper: dL/dX, cell by cell
    n, total, value, _ = shown(page)
    r, q = divmod(n - 1, 4)
    assert (n, total) == (6, 16) and value == f"dL/dx[0, 0, {r}, {q}] = {fmt(tr.input_grad[0, 0, r, q])}"
    page.locator('.sf-cell[data-grid="3"][data-index="14"]').first.click()  # dL/dx cell (3, 2)
    assert shown(page)[:3] == (15, 16, f"dL/dx[0, 0, 3, 2] = {fmt(tr.input_grad[0, 0, 3, 2])}")
    assert sent == []
    query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert (query["xr"], query["xw"]) == (["3"], ["2"]) and "step" not in query
