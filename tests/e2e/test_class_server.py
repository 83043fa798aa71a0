"""The class server (``./run.sh serve``: two app processes behind HAProxy, on loopback): each browser keeps its
process and its session across reruns and a websocket reconnect, both processes serve someone, and a process
that is killed is replaced while new sessions keep working. Skipped without Debian's haproxy."""
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import APP_READY, _free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "deploy" / "serve.py"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "(Z)" not in Path(f"/proc/{pid}/stat").read_text()[:64] \
        and " Z " not in Path(f"/proc/{pid}/stat").read_text()


@pytest.fixture(scope="module")
def class_server():
    if not (shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists()):
        pytest.skip("haproxy is missing: apt-get install haproxy")
    port = _free_port()
    env = {**os.environ, "SMARTFLOW_REPLICAS": "2", "SMARTFLOW_PORT": str(port), "SMARTFLOW_BIND": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, str(SERVE)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    pids, deadline = {}, time.monotonic() + 90
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
        except queue.Empty:
            proc.kill()
            pytest.fail("the class server did not start in 90 s")
        if m := re.match(r"(app\d|proxy) pid (\d+)", line):
            pids[m.group(1)] = int(m.group(2))
        if m := re.search(r"socket (\S+)", line):
            admin = m.group(1)
        if line.startswith("serving"):
            break
    server = {"url": f"http://127.0.0.1:{port}", "pids": pids, "lines": lines, "proc": proc, "admin": admin}
    try:
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in server["pids"].values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [name for name, p in server["pids"].items() if _alive(p)], "a process outlived the server"


def _drop_connections(admin: str, server: str) -> None:
    """Cut every connection HAProxy holds to ``server`` (its runtime API): the browsers' websockets drop."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(admin)
        s.sendall(f"shutdown sessions server app/{server}\n".encode())
        s.recv(1024)


def _open(browser, url: str):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(60_000)  # a process's first page imports and loads everything
    page.sockets = []  # every websocket the page opens: a reconnect opens another
    page.on("websocket", lambda ws: page.sockets.append(ws))
    page.goto(url)
    page.wait_for_selector(APP_READY)
    return page


def _process(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "SMARTFLOW_SERVER")


def _kernel(page, text: str, total: float) -> None:
    box = page.get_by_role("textbox", name="Kernel values")
    box.fill(text)
    box.press("Enter")
    page.locator(".sf-caption").wait_for()
    page.get_by_text("Whole output: [").filter(has_text=re.compile(rf"^Whole output: \[{total:g}, ")).wait_for()


def test_each_browser_keeps_its_process_and_its_session(class_server, browser):
    pages = [_open(browser, class_server["url"] + "/conv-1d?x=1,2,3,4,5&pad=none") for _ in range(2)]
    try:
        assert {_process(p) for p in pages} == {"app1", "app2"}  # both processes serve someone
        for n in range(1, 6):  # many reruns, each session with its own kernel
            for i, page in enumerate(pages):
                weight = n + 10 * i
                _kernel(page, f"{weight}, {weight}, {weight}", weight * 6)  # 1 + 2 + 3 first
        before = [_process(p) for p in pages]
        for name in before:  # every websocket drops; each browser reconnects to its process and finds its session
            _drop_connections(class_server["admin"], name)
        deadline = time.monotonic() + 30
        while any(len(page.sockets) < 2 for page in pages):
            assert time.monotonic() < deadline, "the browsers did not reconnect"
            pages[0].wait_for_timeout(100)
        for page in pages:
            page.wait_for_selector(APP_READY)
        for i, page in enumerate(pages):
            weight = 5 + 10 * i
            assert page.get_by_role("textbox", name="Kernel values").input_value() == f"{weight}, {weight}, {weight}"
        assert [_process(p) for p in pages] == before
    finally:
        for page in pages:
            page.context.close()


def test_a_killed_process_is_replaced_and_new_sessions_still_work(class_server, browser):
    victim = class_server["pids"]["app1"]
    os.kill(victim, signal.SIGKILL)
    page = _open(browser, class_server["url"] + "/conv-1d")  # while app1 is down: the proxy sends it to app2
    try:
        page.locator(".sf-caption").wait_for()
    finally:
        page.context.close()
    deadline = time.monotonic() + 60
    while True:
        line = class_server["lines"].get(timeout=max(deadline - time.monotonic(), 0.1))
        if m := re.match(r"app1 pid (\d+)", line):
            class_server["pids"]["app1"] = int(m.group(1))
            break
    assert class_server["pids"]["app1"] != victim and _alive(class_server["pids"]["app1"])
