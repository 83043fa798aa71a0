"""A classroom's load on one server: lesson reruns with and without two training runs going, as a Markdown table.

    .venv/bin/python bench/bench_load.py                         # this checkout
    .venv/bin/python bench/bench_load.py --repo /tmp/before      # another checkout (git worktree add /tmp/before HEAD)
    .venv/bin/python bench/bench_load.py --stop-only             # only the Stop-to-stopped times, in process

For each set-up it starts ``streamlit run app/main.py`` from ``--repo`` on a free loopback port, warms the lessons
up, then measures with ``../shared/tools/load_sessions.py`` (1 and ``--sessions`` lesson sessions asking for lesson
pages, for ``--seconds`` each) with no training, and again while two sessions train the default preset (50 epochs,
started by pressing Start over Streamlit's websocket, as the browser does; they outlast the measurement; with
``--tick S`` each reruns /train every S s while it trains, as an open tab's live panel redraws). The
training sessions are read (one rerun of /train each) at the start and end of every window: the images per second
are the steps they made times the batch size, over the window. Then it presses Stop on each run and times the page
until it says "Stopped at step" (rerunning /train every 50 ms), measures the lessons once more without training
(the row "(again)": how far the shared machine drifted), and ends the server with SIGTERM, checking that no
process it started is left. ``--stop-only`` times ``TrainingRun.stop()`` until the snapshot says stopped, in this
process, for the checkout on ``PYTHONPATH``. Loopback only, bounded in sessions and time; nothing here is a test.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD = ROOT.parent / "shared" / "tools" / "load_sessions.py"
TRAIN_QUERY = "lesson=train&ep=50"  # the default preset, for 50 epochs: longer than any window here
PROGRESS = re.compile(r"Epoch (\d+) of \d+ · batch (\d+) of (\d+) · ([\d,–]+) images/s")
STEPS_DONE = re.compile(r"Stopped at step (\d+)")


# ---------------------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(repo: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(repo)}
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                if r.read() == b"ok":
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the server did not start: see {log}")
        time.sleep(0.2)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                pass
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found += kids
        todo += kids
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# ---------------------------------------------------------------------------------------------- a training session


class TrainingSession:
    """One learner on /train over Streamlit's websocket: loads the page, presses buttons, reads the progress."""

    def __init__(self, url: str) -> None:
        self.ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
        self.pages: dict[str, str] = {}
        self.buttons: dict[str, str] = {}
        self.lock = asyncio.Lock()  # one rerun at a time on the socket
        self.ticks = 0
        self.fragments: dict[str, float] = {}  # the page's self-rerunning fragments: id -> interval (s)

    async def tick(self, every: float) -> None:
        """Rerun /train every ``every`` s, as a browser's live panel redraws (full reruns: a little more work)."""
        while True:
            await asyncio.sleep(every)
            await self.rerun()
            self.ticks += 1

    async def browse(self) -> None:
        """Rerun each self-rerunning fragment of /train at its own interval, as an open tab does (the browser
        sends a fragment-scoped rerun on each fragment's timer; only the fragment's code runs)."""
        due = {fid: time.monotonic() + every for fid, every in self.fragments.items()}
        while True:
            fid = min(due, key=due.get)
            await asyncio.sleep(max(due[fid] - time.monotonic(), 0))
            async with self.lock:
                await self._rerun("train", None, fragment=fid)
            self.ticks += 1
            due[fid] = time.monotonic() + self.fragments[fid]

    async def connect(self) -> None:
        import websockets

        self.ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], max_size=2 ** 26,
                                           ping_interval=None)
        await self.rerun("")  # the first load, as the browser sends it (home), to learn the pages
        await self.rerun()

    async def rerun(self, page: str = "train", click: str | None = None) -> list[str]:
        """One rerun of ``page`` (pressing the button ``click``); returns the texts of its progress bars and
        messages."""
        async with self.lock:
            return await self._rerun(page, click)

    async def _rerun(self, page: str, click: str | None, fragment: str = "") -> list[str]:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = TRAIN_QUERY if page == "train" else ""
        cs.page_script_hash = self.pages.get(page, "")
        cs.page_name = page
        cs.fragment_id, cs.is_auto_rerun = fragment, bool(fragment)  # a fragment's timer: only its code runs
        cs.context_info.timezone, cs.context_info.locale = "UTC", "en-US"
        cs.widget_states.SetInParent()
        if click is not None:
            w = cs.widget_states.widgets.add()
            w.id, w.trigger_value = self.buttons[click], True
        await self.ws.send(msg.SerializeToString())
        texts, deadline = [], time.monotonic() + 60
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), max(deadline - time.monotonic(), 0.1))
            if isinstance(raw, str):
                continue
            fm = ForwardMsg()
            fm.ParseFromString(raw)
            kind = fm.WhichOneof("type")
            if kind == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in fm.navigation.app_pages}
            elif kind == "auto_rerun":
                self.fragments[fm.auto_rerun.fragment_id] = fm.auto_rerun.interval
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                what = el.WhichOneof("type")
                if what == "button" and "tr_" in el.button.id:
                    self.buttons[el.button.id.rsplit("-", 1)[-1]] = el.button.id
                elif what == "progress":
                    texts.append(el.progress.text)
                elif what == "alert":
                    texts.append(el.alert.body)
            elif kind == "script_finished" and (fragment or fm.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY):
                return texts

    async def steps(self) -> tuple[int, int, str]:
        """(steps done, batches per epoch, the page's images/s) as the page shows them now."""
        for text in await self.rerun():
            m = PROGRESS.search(text)
            if m:
                epoch, batch, per_epoch = int(m[1]), int(m[2]), int(m[3])
                return (epoch - 1) * per_epoch + batch, per_epoch, m[4]
        raise RuntimeError("the training page shows no progress")

    async def close(self) -> None:
        await self.ws.close()


# ---------------------------------------------------------------------------------------------- measuring


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) the process ``pid`` has used so far, its own threads only."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, sessions: int, seconds: float, pid: int) -> dict:
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    cmd = [sys.executable, str(LOAD), "--url", url, "--sessions", str(sessions), "--seconds", str(seconds),
           "--timeout", "30", "--ramp", "1", "--pid", str(pid)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120).stdout.strip().splitlines()
    last = out[-1] if out else ""
    fields = dict(re.findall(r"(\w+)=([^\s]+)", last))
    errors = re.search(r"errors=(\d+)", last)
    return {"rate": float(fields.get("rate", "nan/s")[:-2]), "p50": float(fields.get("p50", "nanms")[:-2]),
            "p95": float(fields.get("p95", "nanms")[:-2]), "reruns": int(fields.get("reruns", 0)),
            "errors": int(errors[1]) if errors else -1, "rss": fields.get("peak_rss", "?"), "line": last,
            "cpu": (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)}


async def measure(repo: Path, label: str, sessions: list[int], seconds: float, batch: int,
                  tick: float = 0) -> list[dict]:
    log = Path(f"/tmp/bench_load_{label}.log")
    proc, url = start_server(repo, log)
    rows = []
    try:
        load(url, max(sessions), 8, proc.pid)  # warm-up: the lessons' caches, the first imports
        for n in sessions:
            rows.append({"setup": label, "training": 0, "sessions": n, **load(url, n, seconds, proc.pid)})
        trainers = [TrainingSession(url) for _ in range(2)]
        for t in trainers:
            await t.connect()
            await t.rerun(click="tr_start")
        await asyncio.sleep(4)  # both past their start (the worker process, the data)
        ticking = [asyncio.create_task(t.tick(tick)) for t in trainers] if tick else []
        alone = await images_per_second(trainers, batch, None, 10)
        rows.append({"setup": label, "training": 2, "sessions": 0, "train_ips": alone})
        for n in sessions:
            result: dict = {}
            ips = await images_per_second(trainers, batch,
                                          lambda n=n, result=result: result.update(load(url, n, seconds, proc.pid)))
            rows.append({"setup": label, "training": 2, "sessions": n, **result, "train_ips": ips})
        for task in ticking:
            task.cancel()
        rows.append({"setup": label, "stop_page_ms": await stop_time(trainers[0])})
        await stop_time(trainers[1])
        for t in trainers:
            await t.close()
        n = max(sessions)  # again without training: how much the machine drifted meanwhile
        rows.append({"setup": label + " (again)", "training": 0, "sessions": n, **load(url, n, seconds, proc.pid)})
    finally:
        below = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        deadline = time.monotonic() + 10
        while [p for p in below if alive(p)] and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [p for p in below if alive(p)]
        rows.append({"setup": label, "children": len(below), "left": left})
    return rows


async def images_per_second(trainers, batch: int, during, seconds: float = 0) -> list[float]:
    """Each run's images/s over the window: steps made times the batch size, over the seconds."""
    first = [await t.steps() for t in trainers]
    t0 = time.monotonic()
    if during is not None:
        await asyncio.to_thread(during)
    else:
        await asyncio.sleep(seconds)
    last = [await t.steps() for t in trainers]
    dt = time.monotonic() - t0
    return [(b[0] - a[0]) * batch / dt for a, b in zip(first, last)]


async def stop_time(trainer: TrainingSession) -> float:
    """Milliseconds from pressing Stop until the page says the run stopped."""
    t0 = time.perf_counter()
    texts = await trainer.rerun(click="tr_stop")
    while not any(STEPS_DONE.search(t) for t in texts):
        await asyncio.sleep(0.05)
        texts = await trainer.rerun()
    return 1000 * (time.perf_counter() - t0)


def stop_only(repeat: int) -> None:
    """TrainingRun.stop() until the snapshot says stopped, the default preset running alone, in process."""
    from app.lab.config import TrainConfig
    from app.lab.run import TrainingRun
    from app.lab.run_queue import RunQueue
    from smartflow_core.data import load_mnist, mnist_source

    data = load_mnist(mnist_source().path)
    times = []
    for _ in range(repeat):
        run = TrainingRun(TrainConfig.from_preset("default", epochs=50), *data, queue=RunQueue(1)).start()
        while run.snapshot().step < 20:
            time.sleep(0.01)
        t0 = time.perf_counter()
        run.stop()
        while not run.snapshot().ended:
            time.sleep(0.001)
        times.append(1000 * (time.perf_counter() - t0))
        run.join(10)
    print(f"stop-to-stopped over {repeat} runs: median {statistics.median(times):.0f} ms, "
          f"max {max(times):.0f} ms ({', '.join(f'{t:.0f}' for t in times)})")


def table(rows: list[dict]) -> str:
    out = ["| set-up | training runs | lesson sessions | reruns/s | p50 ms | p95 ms | reruns | errors "
           "| server peak RSS | server CPU (cores) | training images/s (each run) |", "|" + " --- |" * 11]
    for r in rows:
        if "sessions" not in r:
            continue
        ips = " / ".join(f"{x:,.0f}" for x in r.get("train_ips", [])) or "–"
        if r["sessions"] == 0:
            out.append(f"| {r['setup']} | 2 | 0 | – | – | – | – | – | – | – | {ips} |")
            continue
        out.append(f"| {r['setup']} | {r['training']} | {r['sessions']} | {r['rate']:.1f} | {r['p50']:.0f} "
                   f"| {r['p95']:.0f} | {r['reruns']} | {r['errors']} | {r['rss']} | {r['cpu']:.2f} | {ips} |")
    for r in rows:
        if "stop_page_ms" in r:
            out.append(f"\n{r['setup']}: Stop pressed to the page saying stopped: {r['stop_page_ms']:.0f} ms")
        if "left" in r:
            out.append(f"{r['setup']}: {r['children']} processes under the server, {len(r['left'])} left after "
                       f"SIGTERM {r['left'] or ''}")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=ROOT, help="the checkout whose app is served")
    ap.add_argument("--label", default=None, help="the set-up's name in the table (default: the folder)")
    ap.add_argument("--sessions", default="1,20", help="lesson session counts, comma-separated (at most 50)")
    ap.add_argument("--seconds", type=float, default=20, help="seconds of load per measurement (at most 120)")
    ap.add_argument("--tick", type=float, default=0, help="the training sessions rerun /train every that many s "
                                                              "while they train, as a browser redraws (0: never)")
    ap.add_argument("--stop-only", action="store_true", help="only time TrainingRun.stop(), in this process")
    ap.add_argument("--repeat", type=int, default=5, help="runs stopped with --stop-only")
    args = ap.parse_args()
    if args.stop_only:
        return stop_only(min(args.repeat, 20))
    sessions = [int(n) for n in args.sessions.split(",")]
    if not all(1 <= n <= 50 for n in sessions) or not 1 <= args.seconds <= 120:
        ap.error("1 to 50 sessions, 1 to 120 seconds")
    from smartflow_core.presets import PRESETS

    rows = asyncio.run(measure(args.repo.resolve(), args.label or args.repo.resolve().name, sessions, args.seconds,
                               PRESETS["default"].batch_size, max(args.tick, 0)))
    print(table(rows))


if __name__ == "__main__":
    main()
