"""How the lessons feel: milliseconds per Next press until the new step is painted, the messages the browser sends
to the server per step, and the server time of a lesson page's rerun on a setting change.

    .venv/bin/python bench/bench_lessons.py [--before DIR] [--presses 10] [--reruns 40]

Starts the app (from this checkout, and with ``--before`` from another one, e.g. a ``git worktree`` of an older
commit) on a free loopback port with its own config, then

* steps every stepped lesson in headless Chromium (Debian's /usr/bin/chromium through Playwright): each press is a
  click dispatched in the page, timed with ``performance.now()`` until the "Step N of M" caption shows the next
  step and a frame has been painted; websocket frames the page sends meanwhile are counted;
* times reruns with ``../shared/tools/load_sessions.py`` (one session, a new shared-link setting each rerun:
  BackMsg sent until ``script_finished``), which on an idle machine is the server's time for the rerun.

Prints Markdown tables (figures, not assertions) and the commands' settings. Loopback only, bounded in count.
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD = ROOT.parent / "shared" / "tools" / "load_sessions.py"
STEPPED = ("conv-1d", "conv-2d", "multichannel", "pooling", "grad-1d", "filter-grad-1d")
RERUN_PAGES = ("conv-1d", "conv-2d", "pooling", "perturb", "grad-1d")
READY = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# In the page: find the "Step N of M" text (in the document or the stepper's shadow root) and the Next button,
# click it, and resolve with the milliseconds until the caption shows the next step and a frame is painted.
PRESS = r"""async () => {
  const roots = () => [document,
    ...[...document.querySelectorAll('*')].filter(e => e.shadowRoot).map(e => e.shadowRoot)];
  const caption = () => { for (const r of roots()) { for (const el of r.querySelectorAll('p, .sf-caption, strong')) {
      const m = /Step (\d+) of (\d+)/.exec(el.textContent); if (m) return [el, +m[1], +m[2]]; } } return null; };
  const next = () => { for (const r of roots()) { for (const b of r.querySelectorAll('button')) {
      if (/Next/.test(b.textContent) && !b.disabled) return b; } } return null; };
  const first = caption(), button = next();
  if (!first || !button) return null;
  const want = first[1] + 1, t0 = performance.now();
  let el = first[0];  // polled each frame; searched for again only once a rerun has replaced it
  const read = () => { if (!el.isConnected) { const c = caption(); if (!c) return null; el = c[0]; }
    const m = /Step (\d+) of (\d+)/.exec(el.textContent); return m ? [el, +m[1], +m[2]] : null; };
  button.click();
  return await new Promise((resolve) => {
    const tick = () => {
      const c = read();
      if (c && c[1] === want) requestAnimationFrame(() => resolve(performance.now() - t0));
      else if (performance.now() - t0 > 15000) resolve(-1);
      else requestAnimationFrame(tick);
    };
    tick();
  });
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# the app's production settings one at a time against Streamlit's defaults (app/.streamlit/config.toml)
VARIANTS = {
    "Streamlit's defaults": ["--runner.postScriptGC", "true", "--server.fileWatcherType", "auto"],
    "no post-script GC": ["--runner.postScriptGC", "false", "--server.fileWatcherType", "auto"],
    "no GC, no file watcher (the app's config)": [],
}


def start_server(checkout: Path, flags: list[str] = ()) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           *flags]
    proc = subprocess.Popen(cmd, cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(checkout)})
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.read() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the app in {checkout} did not start")


def stepping(url: str, presses: int) -> dict[str, tuple[float, float, float]]:
    """Per page: (median ms, max ms, messages to the server per press)."""
    from playwright.sync_api import sync_playwright

    rows = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for name in STEPPED:
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            sent = [0]
            page.on("websocket", lambda ws, sent=sent: ws.on("framesent", lambda _: sent.__setitem__(0, sent[0] + 1)))
            page.goto(f"{url}/{name}?step=1")
            page.wait_for_selector(READY)
            page.wait_for_timeout(1500)  # let the first render settle (and any sync of the opening step)
            times, messages = [], []
            for _ in range(presses):
                before = sent[0]
                ms = page.evaluate(PRESS)
                if ms is None or ms < 0:
                    break
                page.wait_for_selector(READY)  # the old stepper reran the page: wait until it has
                times.append(ms)
                messages.append(sent[0] - before)
            if times:
                rows[name] = (statistics.median(times), max(times), statistics.mean(messages))
            ctx.close()
        browser.close()
    return rows


def reruns(url: str, n: int) -> dict[str, tuple[float, float]]:
    """Per page: (p50 ms, p95 ms) of a rerun with new settings, one session."""
    rows = {}
    for name in RERUN_PAGES:
        out = subprocess.run([sys.executable, str(LOAD), "--url", url, "--sessions", "1", "--pages", name,
                              "--max-reruns", str(n), "--seconds", "60", "--think", "0.05", "--ramp", "0"],
                             capture_output=True, text=True, timeout=180).stdout
        line = out.strip().splitlines()[-1] if out.strip() else ""
        p50, p95 = re.search(r"p50\D*([\d.]+)", line), re.search(r"p95\D*([\d.]+)", line)
        if p50 and p95:
            rows[name] = (float(p50.group(1)), float(p95.group(1)))
        else:
            rows[name] = (float("nan"), float("nan"))
            print(f"  load_sessions.py on {name}: {line!r}", file=sys.stderr)
    return rows


def measure(checkout: Path, presses: int, n: int, flags: list[str] = ()) -> tuple[dict, dict]:
    proc, url = start_server(checkout, flags)
    try:
        reruns(url, 3)  # warm the caches and imports
        return (stepping(url, presses) if presses else {}), reruns(url, n)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, help="another checkout to measure first (e.g. a git worktree)")
    ap.add_argument("--presses", type=int, default=10)
    ap.add_argument("--reruns", type=int, default=40)
    ap.add_argument("--variants", action="store_true",
                    help="also time reruns of this checkout with Streamlit's defaults and each setting alone")
    args = ap.parse_args()
    runs = ([("before", args.before)] if args.before else []) + [("now", ROOT)]
    results = {label: measure(path, args.presses, args.reruns) for label, path in runs}
    labels = [label for label, _ in runs]
    print(f"\nStepping: {args.presses} presses of Next per lesson in headless Chromium, ms until the next step is "
          "painted (median / max), and websocket messages the page sent per press.\n")
    print("| lesson | " + " | ".join(f"{label}: median / max ms | {label}: messages per step" for label in labels)
          + " |")
    print("| --- |" + " --- | --- |" * len(labels))
    for name in STEPPED:
        cells = []
        for label in labels:
            row = results[label][0].get(name)
            cells += [f"{row[0]:.0f} / {row[1]:.0f}", f"{row[2]:.1f}"] if row else ["–", "–"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nA setting change: one session's rerun with new shared-link settings, {args.reruns} reruns per page "
          "(load_sessions.py), p50 / p95 ms.\n")
    print("| lesson page | " + " | ".join(labels) + " |")
    print("| --- |" + " --- |" * len(labels))
    for name in RERUN_PAGES:
        print(f"| {name} | " + " | ".join("{:.0f} / {:.0f}".format(*results[label][1][name]) for label in labels)
              + " |")
    if args.variants:
        timed = {label: measure(ROOT, 0, args.reruns, flags)[1] for label, flags in VARIANTS.items()}
        print("\nThe same reruns of this checkout with each production setting, p50 / p95 ms.\n")
        print("| lesson page | " + " | ".join(timed) + " |")
        print("| --- |" + " --- |" * len(timed))
        for name in RERUN_PAGES:
            print(f"| {name} | " + " | ".join("{:.0f} / {:.0f}".format(*rows[name]) for rows in timed.values())
                  + " |")


if __name__ == "__main__":
    main()
