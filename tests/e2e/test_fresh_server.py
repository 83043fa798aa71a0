"""A process that has just started, hit by a class at once (a new pod, a restarted replica): no page fails.

The first reruns of a fresh process run in threads together; they used to import pandas (through Plotly) at the
same time, and 2 to 4 of 10 first page loads failed with "partially initialized module 'pandas'" (five fresh
processes out of five). The learners saw the page's error sentence; the server's log has the traceback.
"""
import asyncio
import concurrent.futures
import os
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import ROOT, _free_port

websockets = pytest.importorskip("websockets")
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

PAGES = ("conv-2d", "pooling", "multichannel", "grad-2d", "conv-1d")


async def first_load(url: str, page: str) -> list[str]:
    """Open the page as a browser's first load does; the exceptions and error messages it shows."""
    msg = BackMsg()
    msg.rerun_script.page_name = page
    msg.rerun_script.widget_states.SetInParent()
    shown = []
    async with websockets.connect(url.replace("http", "ws") + "/_stcore/stream", subprotocols=["streamlit"],
                                  max_size=2 ** 26, ping_interval=None) as ws:
        await ws.send(msg.SerializeToString())
        while True:
            raw = await asyncio.wait_for(ws.recv(), 60)
            if isinstance(raw, str):
                continue
            fm = ForwardMsg()
            fm.ParseFromString(raw)
            if fm.WhichOneof("type") == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                if el.WhichOneof("type") == "exception":
                    shown.append(el.exception.message)
                elif el.WhichOneof("type") == "alert" and "went wrong" in el.alert.body:
                    shown.append(el.alert.body)
            elif fm.WhichOneof("type") == "script_finished":
                return shown


@pytest.mark.slow
def test_ten_first_loads_at_once_on_a_fresh_process(tmp_path):
    port = _free_port()
    log = tmp_path / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port)], cwd=ROOT, stdout=log.open("w"),
        stderr=subprocess.STDOUT, env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)

        async def class_arrives():
            return await asyncio.gather(*(first_load(url, PAGES[i % len(PAGES)]) for i in range(10)))

        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own loop: Playwright's may run in this thread
            shown = pool.submit(lambda: asyncio.run(class_arrives())).result(120)
    finally:
        proc.terminate()
        proc.wait(20)
    assert shown == [[]] * 10, shown
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
