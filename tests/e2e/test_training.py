"""The labs in a real browser: a short run whose loss chart gains points while other controls still answer, two
browser sessions training at once without seeing each other, and the confusion matrix (a click opens a cell).

Runs use the bundled subset (the chapter's model in float32, or the default network); nothing here asserts a time.
A test that acts on a live run (pause, resume, stop, a second session) trains for far longer than the test lasts
(:data:`LONG_EPOCHS` over every training image, minutes on any machine), so the run cannot end by itself before the
test's last click: a run that finished first was the cause of this file's flaky failures (Pause disabled,
"Paused" or "Stopped" never shown, because the run was already done).
"""
import re
import time
import urllib.parse

import pytest
from conftest import APP_READY, gone, training_workers
from conftest import stop_run as stop

from smartflow_core.data import load_mnist

pytestmark = pytest.mark.e2e

LONG_EPOCHS = "50"  # the most the lab allows: 50 x 167 steps of the chapter's model, 8,350 steps

# how many points the smoothed loss line of the "Training loss" chart has (0 before it exists)
LOSS_POINTS = """() => Math.max(0, ...[...document.querySelectorAll('.js-plotly-plot')]
    .filter(g => g.layout && g.layout.title && String(g.layout.title.text).includes('Training loss'))
    .map(g => ((g._fullData || []).find(d => d.name === 'moving average') || {_length: 0})._length || 0))"""


# the confusion matrix's counts, from its two heatmaps (right answers, mistakes), or null before it is drawn
CONFUSION = """() => {
    const g = [...document.querySelectorAll('.js-plotly-plot')].find(g => g._fullData && g._fullData.length === 3
        && g._fullData[0].type === 'heatmap' && g._fullData[1].type === 'heatmap');
    if (!g) return null;
    const [right, wrong] = g._fullData.slice(0, 2).map(d => d.z);
    return [...Array(10).keys()].map(t => [...Array(10).keys()].map(p => Number(t === p ? right[t][p] : wrong[t][p])));
}"""


def loss_points(page) -> int:
    return page.evaluate(LOSS_POINTS)


def wait_points(page, more_than: int) -> int:
    page.wait_for_function(f"() => ({LOSS_POINTS})() > {more_than}", timeout=60_000)
    return loss_points(page)


def long_chapter_run(page) -> None:
    """The chapter's model, float32, every training image, :data:`LONG_EPOCHS` epochs: still training when the
    test is done with it, however fast the machine."""
    page.get_by_role("combobox", name=re.compile("Start from")).click()
    page.get_by_role("option", name="The chapter's model").click()
    page.get_by_text("The chapter's model: 32 filters").wait_for()
    page.get_by_role("radio", name="float32").check(force=True)
    set_number(page, "Epochs", LONG_EPOCHS)


def set_number(page, label: str, value: str) -> None:
    box = page.get_by_role("spinbutton", name=label, exact=True)
    box.fill(value)
    box.press("Enter")
    page.wait_for_function("([l, v]) => [...document.querySelectorAll('input[type=number]')]"
                           ".some(i => i.getAttribute('aria-label') === l && parseFloat(i.value) === parseFloat(v))",
                           arg=[label, value])
    page.wait_for_selector(APP_READY)


def start(page) -> None:
    page.get_by_role("button", name="Start", exact=True).click()
    page.get_by_role("button", name="Stop", exact=True).and_(page.locator(":enabled")).wait_for()


def test_loss_chart_gains_points_while_other_controls_respond(open_page, shot):
    page = open_page("/train")
    long_chapter_run(page)
    start(page)
    first = wait_points(page, 2)
    # another control while training: switch the view inside the network, then pick another test digit
    page.get_by_role("radio", name="Feature maps of a test digit").click()
    page.get_by_text(re.compile(r"Conv2DLayer 1: 32 maps 28x28")).first.wait_for()
    set_number(page, "Test digit", "4")
    page.get_by_text(f"label {int(load_mnist()[3][4])}", exact=True).wait_for()  # the server reads the same data
    later = wait_points(page, first)
    assert later > first
    page.get_by_role("button", name="Pause", exact=True).click()
    page.get_by_text("Paused: the views show the weights of this moment.").wait_for(timeout=30_000)
    shot("train")
    page.get_by_role("button", name="Resume", exact=True).click()
    wait_points(page, loss_points(page))
    stop(page)


def test_two_sessions_train_at_once_and_stay_apart(browser, app_url):
    pages = []
    for _ in range(2):
        ctx = browser.new_context(viewport={"width": 1280, "height": 1000})  # a new context is a new session
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        page.goto(app_url + "/train")
        page.wait_for_selector(APP_READY)
        pages.append(page)
    a, b = pages
    try:
        for page in pages:  # the default network and settings, for longer than the test lasts
            set_number(page, "Epochs", LONG_EPOCHS)
        start(a)
        wait_points(a, 1)
        set_number(b, "Seed", "7")  # B's page runs again after A started, and still has no run of its own
        b.get_by_text("to train. The curves and views below fill in").wait_for()
        start(b)
        wait_points(b, 2)
        wait_points(a, loss_points(a))  # both train at the same time (the server allows two runs by default)
        for page in pages:  # each session numbers its own runs: one shared slot would have made B's run #2
            page.get_by_text("#1 default net, lr 0.02, batch 64, 10k images").wait_for()
            assert page.get_by_text(re.compile(r"^#2 ")).count() == 0
        stop(a)
        wait_points(b, loss_points(b))  # A's stop left B training
        stop(b)
    finally:
        for page in pages:
            page.context.close()


def test_closing_a_training_tab_ends_its_worker_process(browser, server):
    """The run trains in a worker process of the server; closing the tab releases the session's slot, whose
    on_release stops the run, and the worker process ends (it is not left training for nobody)."""
    before = set(training_workers(server.pid))
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        page.goto(server.url + "/train")
        page.wait_for_selector(APP_READY)
        set_number(page, "Epochs", LONG_EPOCHS)
        start(page)
        wait_points(page, 1)
        deadline = time.monotonic() + 30
        while not (mine := set(training_workers(server.pid)) - before):
            assert time.monotonic() < deadline, "no training worker process under the server"
            time.sleep(0.1)
    finally:
        ctx.close()  # the tab closes mid-run
    deadline = time.monotonic() + 30
    while [pid for pid in mine if not gone(pid)]:
        assert time.monotonic() < deadline, f"the worker {mine} outlived its closed tab"
        time.sleep(0.1)


def test_a_reload_mid_run_says_the_run_was_stopped(open_page, page):
    """A reload is a new session: the old one's slot stops its run, and the new page says so instead of showing
    an empty lab."""
    open_page("/train")
    set_number(page, "Epochs", LONG_EPOCHS)
    start(page)
    wait_points(page, 1)
    page.reload()
    page.wait_for_selector(APP_READY)
    page.get_by_text(re.compile(r"Your run #1 .* was stopped at step \d+ of \d+ when its page reloaded")).wait_for()
    assert page.get_by_role("button", name="Start", exact=True).is_enabled()


def test_confusion_matrix_renders_and_a_click_opens_a_cell(open_page, shot):
    page = open_page("/evaluate")
    page.get_by_role("heading", name="Confusion matrix").wait_for()
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.locator(".main-svg").first.wait_for()
    page.wait_for_function(f"() => ({CONFUSION})() !== null")
    z = page.evaluate(CONFUSION)
    assert sum(sum(row) for row in z) == len(load_mnist()[3])  # every test digit is counted once
    # click the most frequent confusion: its cell of the 10 x 10 plot area
    true, pred = max(((t, p) for t in range(10) for p in range(10) if t != p), key=lambda c: z[c[0]][c[1]])
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * (pred + 0.5) / 10, box["y"] + box["height"] * (true + 0.5) / 10)
    page.get_by_text(re.compile(rf"Showing \d+ of {z[true][pred]} digits")).wait_for()
    page.get_by_role("button", name=re.compile(rf"^{true} → {pred} · \d+%")).first.click()
    page.get_by_text(re.compile(rf"Test digit #\d+: labelled {true}, the network says {pred}")).wait_for()
    page.get_by_text(re.compile(r"Conv2DLayer 1: \d+ maps 28x28")).first.wait_for()
    shot("evaluate")


def test_a_shared_lab_link_opens_the_same_network_in_a_new_session(open_page, shot, page):
    net = "conv:8,3,1,same,Tanh,avg,1,glorot;dense:32,ReLU,0.9,he;out:normal"
    open_page("/train?" + urllib.parse.urlencode({"lesson": "train", "preset": "custom", "net": net,
                                                   "lr": "0.05", "ep": "2"}))
    page.get_by_text("2 Avg pool 2×2").first.wait_for(state="attached")  # the layer table (a canvas grid)
    assert page.get_by_role("spinbutton", name="Epochs", exact=True).input_value() == "2"
    assert page.get_by_role("spinbutton", name="Learning rate", exact=True).input_value() == "0.0500"
    assert urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["net"] == [net]  # kept in the bar
    shot("train_link")


def test_a_file_that_is_not_a_model_is_told_why(open_page, tmp_path):
    page = open_page("/evaluate")
    page.get_by_text("a model you upload", exact=True).click()
    notes = tmp_path / "notes.txt"
    notes.write_text("these are my notes, not a model")
    page.locator('input[type="file"]').set_input_files(str(notes))  # once only greyed out by a name filter
    page.get_by_text(re.compile(r"Cannot use “notes\.txt”: .*not a readable \.npz model file")).wait_for()
