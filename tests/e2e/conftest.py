"""Real-browser harness: ``streamlit run`` on a free loopback port, driven by Playwright in Debian's chromium.

Skips cleanly when playwright or /usr/bin/chromium is missing (``apt-get install chromium``; never
``playwright install``).
"""
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
APP_READY = ('[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
             '[data-test-script-state="notRunning"]')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    pw_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    with pw_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def server(browser):
    """The app's server process (a ``subprocess.Popen``), its address in ``server.url``."""
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port),
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log = open(ROOT / "tests" / ".streamlit-e2e.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    url, t0 = f"http://127.0.0.1:{port}", time.monotonic()
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail("streamlit exited early: see tests/.streamlit-e2e.log")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() - t0 > 60:
                pytest.fail("streamlit not healthy in 60 s")
            time.sleep(0.1)
        proc.url = url
        yield proc
    finally:
        running = training_workers(proc.pid)
        proc.terminate()  # our own child, by its PID
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        deadline = time.monotonic() + 10
        while [pid for pid in running if not gone(pid)]:  # a server that ends takes its training workers along
            assert time.monotonic() < deadline, f"training workers {running} outlived the server"
            time.sleep(0.05)


@pytest.fixture(scope="session")
def app_url(server):
    return server.url


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, from /proc (no psutil)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it ended meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting to be reaped (it runs no more)."""
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (ProcessLookupError, FileNotFoundError):
        return True


def training_workers(pid: int) -> list[int]:
    """The server's training workers (processes that name themselves smartflow-train, see app/lab/worker.py)."""
    names = []
    for child in children(pid):
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "smartflow-train":
                names.append(child)
        except OSError:
            pass
    return names


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})  # a new context is a new session
    pg = ctx.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    ctx.close()


@pytest.fixture
def open_page(page, app_url):
    """Go to ``path`` (``/conv-1d?x=...``) and wait until the app has rendered."""
    def go(path: str = ""):
        page.goto(app_url + path)
        page.wait_for_selector(APP_READY)
        return page
    return go


@pytest.fixture
def shot(page):
    """Save a full-page screenshot once every chart has drawn."""
    def take(name: str) -> Path:
        page.wait_for_selector(APP_READY)
        page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                                  .every(c => c.querySelector('.main-svg'))""")
        page.mouse.move(1, 1)  # away from any tooltip
        # Streamlit scrolls inside its main block, so a full-page shot needs a viewport as tall as the content
        height = page.evaluate("""() => document.querySelector('[data-testid="stMain"]').scrollHeight""")
        width = page.viewport_size["width"]
        page.set_viewport_size({"width": width, "height": max(1000, min(int(height) + 40, 6000))})
        page.wait_for_timeout(400)  # let charts re-lay out at the new size and tooltips fade
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        page.set_viewport_size({"width": width, "height": 1000})
        return path
    return take


def stop_run(page) -> None:
    """Press Stop until the run says it stopped: a click that lands while the live panel redraws can be lost (one
    was, in a CI dry run: the run went on and the page never said "Stopped")."""
    from playwright.sync_api import Error as PlaywrightError  # imported here: the browser tests may be skipped
    stopped = page.get_by_text(re.compile(r"Stopped at step \d+ of \d+"))
    for _ in range(5):
        try:
            page.get_by_role("button", name="Stop", exact=True).click(timeout=5_000)
            stopped.wait_for(timeout=10_000)
            return
        except PlaywrightError:  # the click or its effect was lost (a timeout is one): try again
            if stopped.count():
                return
    stopped.wait_for(timeout=10_000)
