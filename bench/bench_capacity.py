"""How many learners one machine serves: lesson reruns of N sessions with a think time, directly and through the
class server's proxy, with and without two training runs, as a Markdown table.

    .venv/bin/python bench/bench_capacity.py                                   # every set-up, N = 1, 10, 20, 40
    .venv/bin/python bench/bench_capacity.py --setups proxy2 --sessions 40 --seconds 60

Set-ups: ``direct`` is one app process (``deploy/serve.py app``, the container's start command) reached on its
own port; ``proxy1`` and ``proxy2`` are ``deploy/serve.py`` with 1 and 2 app processes behind HAProxy. Each
learner is a protocol-level client, as a browser is: it GETs the page (HAProxy's cookie puts it on a process),
opens Streamlit's websocket with that cookie, loads a lesson, then changes a lesson setting every ``--think`` s
(uniformly 0.5–1.5 times it, so the clicks do not fall in step) and times each rerun: the BackMsg sent until the
script-finished message. A learner keeps one websocket the whole time; a closed socket, an exception element, a
"page not found", or a rerun slower than ``--timeout`` counts as an error. With training, two more clients press
Start on /train (the default preset, 50 epochs: it outlasts the measurement) and then, as an open tab does, rerun
each of the page's self-rerunning fragments on its own timer (the live curves every 1 s, the views inside every
2.5 s), before the lessons start. Reported per window: reruns, p50/p95/max, errors, the RSS of the app processes
together (and of the training workers), and their CPU. Loopback only; at most 60 sessions and 300 s a window;
nothing here is a test.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_load import TrainingSession, alive, cpu_seconds, descendants, free_port  # noqa: E402 (after the path)

from smartflow_core.presets import PRESETS  # noqa: E402

BATCH = PRESETS["default"].batch_size  # the training clients run the default preset
SETUPS = {"direct": 0, "proxy1": 1, "proxy2": 2}  # app processes behind the proxy (0: none, one process direct)


# ---------------------------------------------------------------------------------------------- a lesson's settings


def _digits(r: random.Random, n: int, lo: int = -9, hi: int = 9) -> str:
    return ",".join(str(r.randint(lo, hi)) for _ in range(n))


LESSONS = {  # url path -> a fresh, valid shared-link query: a learner who just changed one setting
    "conv-1d": lambda r: {"lesson": "conv-1d", "x": _digits(r, r.randint(5, 12)),
                          "k": r.choice(["1,1,1", "1,0,-1", "1,2,1"]), "pad": r.choice(["none", "same"]),
                          "s": r.randint(1, 2)},
    "conv-2d": lambda r: {"lesson": "conv-2d", "src": "mnist", "i": r.randint(0, 1999),
                          "kp": r.choice(["edge", "horizontal", "vertical", "blur", "sharpen"]),
                          "pad": r.choice(["none", "same"]), "s": r.randint(1, 2)},
    "pooling": lambda r: {"lesson": "pooling", "src": "mnist", "i": r.randint(0, 1999), "size": r.randint(2, 4),
                          "mode": r.choice(["max", "avg"])},
    "perturb": lambda r: {"lesson": "perturb", "x": _digits(r, 5, 0, 9), "k": "1,1,1", "i": r.randint(0, 4),
                          "d": r.choice([1, 2, 5, 10])},
    "grad-1d": lambda r: {"lesson": "grad-1d", "x": _digits(r, r.randint(5, 9), 0, 9), "k": "1,2,3"},
}


def rerun_message(page: str, page_hash: str, query: str) -> bytes:
    msg = BackMsg()
    cs = msg.rerun_script
    cs.query_string, cs.page_script_hash, cs.page_name = query, page_hash, page
    cs.context_info.timezone, cs.context_info.locale = "UTC", "en-US"
    cs.widget_states.SetInParent()
    return msg.SerializeToString()


# ---------------------------------------------------------------------------------------------- one learner


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.by_page: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.servers: dict[str, int] = {}  # the proxy's cookie value -> learners on that process

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def cookie(url: str) -> str:
    """What a browser's first request gets: the proxy's cookie that keeps it on one process ("" when direct)."""
    with urllib.request.urlopen(url + "/", timeout=30) as r:
        r.read()
        return "; ".join(c.split(";", 1)[0] for c in r.headers.get_all("Set-Cookie") or ())


async def finished(ws, timeout: float, tally: Tally, pages: dict) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        raw = await asyncio.wait_for(ws.recv(), max(deadline - time.monotonic(), 0.01))
        if isinstance(raw, str):
            continue
        fm = ForwardMsg()
        fm.ParseFromString(raw)
        kind = fm.WhichOneof("type")
        if kind == "navigation":
            pages.update({p.url_pathname: p.page_script_hash for p in fm.navigation.app_pages})
        elif kind == "page_not_found":
            tally.error("page not found")
        elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
            if fm.delta.new_element.WhichOneof("type") == "exception":
                tally.error("exception")
        elif kind == "script_finished" and fm.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
            return True


async def learner(n: int, url: str, think: float, timeout: float, start_at: float, stop_at: float,
                  tally: Tally) -> None:
    r = random.Random(n)
    names = list(LESSONS)
    pages: dict[str, str] = {}
    try:
        jar = await asyncio.to_thread(cookie, url)
        tally.servers[jar] = tally.servers.get(jar, 0) + 1
        async with websockets.connect(url.replace("http://", "ws://") + "/_stcore/stream",
                                      subprotocols=["streamlit"], additional_headers={"Cookie": jar} if jar else None,
                                      max_size=2 ** 26, open_timeout=timeout, ping_interval=None) as ws:
            first = names[n % len(names)]
            await ws.send(rerun_message(first, "", urllib.parse.urlencode(LESSONS[first](r))))
            await asyncio.wait_for(finished(ws, timeout, tally, pages), timeout)
            await asyncio.sleep(max(start_at - time.monotonic(), 0) + r.uniform(0, think))
            i = n
            while time.monotonic() < stop_at:
                name = names[i % len(names)]
                i += 1
                t0 = time.perf_counter()
                await ws.send(rerun_message(name, pages[name], urllib.parse.urlencode(LESSONS[name](r))))
                if await asyncio.wait_for(finished(ws, timeout, tally, pages), timeout):
                    tally.latencies.append(1000 * (time.perf_counter() - t0))
                    tally.by_page.setdefault(name, []).append(tally.latencies[-1])
                await asyncio.sleep(r.uniform(0.5 * think, 1.5 * think))
    except TimeoutError:
        tally.error("timeout")
    except websockets.exceptions.WebSocketException as exc:
        tally.error("socket: " + type(exc).__name__)
    except (OSError, KeyError) as exc:
        tally.error(type(exc).__name__)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


# ---------------------------------------------------------------------------------------------- the servers


class Setup:
    """The app as a set-up serves it: one process direct, or deploy/serve.py with its proxy."""

    def __init__(self, name: str) -> None:
        self.name, self.replicas = name, SETUPS[name]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        if self.replicas:
            env.update(SMARTFLOW_REPLICAS=str(self.replicas), SMARTFLOW_PORT=str(self.port),
                       SMARTFLOW_BIND="127.0.0.1")
            cmd = [sys.executable, str(ROOT / "deploy" / "serve.py")]
        else:
            cmd = [sys.executable, str(ROOT / "deploy" / "serve.py"), "app", "--address", "127.0.0.1",
                   "--port", str(self.port)]
        self.log = Path(f"/tmp/bench_capacity_{name}.log")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start: see {self.log}")
            time.sleep(0.3)

    def ready(self) -> bool:
        if self.replicas and "serving http" not in self.log.read_text():
            return False
        try:
            with urllib.request.urlopen(self.url + "/_stcore/health", timeout=1) as r:
                return r.read() == b"ok"
        except OSError:
            return False

    def app_pids(self) -> list[int]:
        """The Streamlit processes (not HAProxy, not the training workers)."""
        if not self.replicas:
            return [self.proc.pid]
        pids = []
        for pid in descendants(self.proc.pid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"streamlit" in cmd and b"multiprocessing" not in cmd:
                pids.append(pid)
        return pids

    def worker_pids(self) -> list[int]:
        apps = set(self.app_pids())
        return [p for p in descendants(self.proc.pid) if p not in apps and b"haproxy" not in _cmd(p)]

    def stop(self) -> list[int]:
        below = descendants(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        deadline = time.monotonic() + 10
        while [p for p in below if alive(p)] and time.monotonic() < deadline:
            time.sleep(0.1)
        return [p for p in below if alive(p)]


def _cmd(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1024


async def window(setup: Setup, n: int, think: float, seconds: float, timeout: float, training: int) -> dict:
    tally, peak, worker_peak = Tally(), [0.0], [0.0]
    pids = setup.app_pids()
    cpu0 = sum(cpu_seconds(p) for p in pids)
    ramp = min(think, 2.0)
    start_at = time.monotonic() + ramp + 2  # every learner has loaded its first lesson before the clock starts
    stop_at = start_at + seconds

    async def watch() -> None:
        while time.monotonic() < stop_at:
            peak[0] = max(peak[0], rss_mb(pids))
            worker_peak[0] = max(worker_peak[0], rss_mb(setup.worker_pids()))
            await asyncio.sleep(0.5)

    tasks = [asyncio.create_task(watch())]
    for i in range(n):
        tasks.append(asyncio.create_task(learner(i, setup.url, think, timeout, start_at, stop_at, tally)))
        await asyncio.sleep(ramp / n)
    t0 = time.monotonic()
    await asyncio.wait(tasks, timeout=stop_at - time.monotonic() + timeout + 10)
    cpu = (sum(cpu_seconds(p) for p in pids if alive(p)) - cpu0) / (time.monotonic() - t0 + ramp + 2)
    lat = tally.latencies
    return {"setup": setup.name, "processes": max(setup.replicas, 1), "training": training, "sessions": n,
            "reruns": len(lat), "rate": len(lat) / seconds, "p50": pct(lat, .5), "p95": pct(lat, .95),
            "max": max(lat) if lat else float("nan"), "mean": statistics.fmean(lat) if lat else float("nan"),
            "errors": dict(tally.errors), "spread": sorted(tally.servers.values(), reverse=True),
            "rss": peak[0], "worker_rss": worker_peak[0], "cpu": cpu,
            "pages": {p: (len(v), pct(v, .5), pct(v, .95)) for p, v in sorted(tally.by_page.items())}}


async def measure(name: str, sessions: list[int], think: float, seconds: float, timeout: float) -> list[dict]:
    setup = Setup(name)
    rows: list[dict] = []
    try:
        await window(setup, max(sessions), think, 8, timeout, 0)  # warm-up: first imports, the lessons' caches
        for n in sessions:
            rows.append(await window(setup, n, think, seconds, timeout, 0))
            progress(rows[-1])
        trainers = [TrainingSession(setup.url) for _ in range(2)]
        for t in trainers:
            await t.connect()
            await t.rerun(click="tr_start")
        await asyncio.sleep(3)  # both past their start (the worker processes, the data)
        await asyncio.gather(*(t.rerun() for t in trainers))  # a full rerun while training: the live fragments
        assert all(t.fragments for t in trainers), "the training page shows no self-rerunning fragment"
        ticking = [asyncio.create_task(t.browse()) for t in trainers]
        await asyncio.sleep(2)
        for n in sessions:
            first = [await t.steps() for t in trainers]
            t0 = time.monotonic()
            row = await window(setup, n, think, seconds, timeout, 2)
            last = [await t.steps() for t in trainers]
            row["train_ips"] = [(b[0] - a[0]) * BATCH / (time.monotonic() - t0) for a, b in zip(first, last)]
            rows.append(row)
            progress(row)
        for task in ticking:
            task.cancel()
        for t in trainers:
            await t.rerun(click="tr_stop")
            await t.close()
    finally:
        left = setup.stop()
        rows.append({"setup": name, "left": left})
    return rows


def progress(row: dict) -> None:
    pages = ", ".join(f"{p} {n} p50 {a:.0f} p95 {b:.0f}" for p, (n, a, b) in row["pages"].items())
    print(f"{row['setup']} training {row['training']} learners {row['sessions']}: p95 {row['p95']:.0f} ms "
          f"errors {row['errors'] or 0} ({pages})", file=sys.stderr, flush=True)


def table(rows: list[dict], think: float, seconds: float) -> str:
    out = [f"{seconds:.0f} s a window, think time {think:g} s (0.5–1.5x), lesson reruns timed send → script finished.",
           "", "| set-up | app processes | training runs | learners | reruns/s | p50 ms | p95 ms | max ms | errors "
           "| learners per process | app RSS (all) | worker RSS | app CPU (cores) | training images/s |",
           "|" + " --- |" * 14]
    for r in rows:
        if "sessions" not in r:
            continue
        errors = sum(r["errors"].values())
        errors = f"{errors} {r['errors']}" if errors else "0"
        ips = " / ".join(f"{x:,.0f}" for x in r.get("train_ips", [])) or "–"
        out.append(f"| {r['setup']} | {r['processes']} | {r['training']} | {r['sessions']} | {r['rate']:.1f} "
                   f"| {r['p50']:.0f} | {r['p95']:.0f} | {r['max']:.0f} | {errors} "
                   f"| {' / '.join(map(str, r['spread']))} | {r['rss']:.0f} MB | {r['worker_rss']:.0f} MB "
                   f"| {r['cpu']:.2f} | {ips} |")
    for r in rows:
        if "left" in r:
            out.append(f"\n{r['setup']}: {len(r['left'])} processes left after SIGTERM {r['left'] or ''}".rstrip())
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setups", default="direct,proxy1,proxy2", help=f"comma-separated, from {', '.join(SETUPS)}")
    ap.add_argument("--sessions", default="1,10,20,40", help="learner counts, comma-separated (at most 60)")
    ap.add_argument("--think", type=float, default=2.0, help="mean seconds between a learner's clicks")
    ap.add_argument("--seconds", type=float, default=30, help="seconds of each window (at most 300)")
    ap.add_argument("--timeout", type=float, default=30, help="seconds a rerun may take before it is an error")
    args = ap.parse_args()
    setups = [s for s in args.setups.split(",") if s]
    sessions = [int(n) for n in args.sessions.split(",")]
    if not set(setups) <= set(SETUPS) or not all(1 <= n <= 60 for n in sessions) or not 1 <= args.seconds <= 300:
        ap.error(f"set-ups from {', '.join(SETUPS)}; 1 to 60 learners; 1 to 300 seconds")
    rows = []
    for name in setups:
        rows += asyncio.run(measure(name, sessions, args.think, args.seconds, args.timeout))
        print(table([r for r in rows if r["setup"] == name], args.think, args.seconds), file=sys.stderr, flush=True)
    print(table(rows, args.think, args.seconds))


if __name__ == "__main__":
    main()
