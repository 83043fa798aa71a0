"""The training lab's default network (preset "default", float32, batch 64) against PyTorch and this machine's
matrix-multiply limit, in one run: a training step, each operation, and an epoch on the bundled subset.

    python bench/bench_lab_net.py                # 1 and 2 threads, each in its own process (a few minutes)
    python bench/bench_lab_net.py --repeat 3     # the whole run three times: medians of the ratios
    python bench/bench_lab_net.py --no-epoch     # steps and operations only
    python bench/bench_lab_net.py --variants     # also the kernel choices conv_kernels.py made (chunk, rows or im2col)
    python bench/bench_lab_net.py --before DIR   # also the same measurements of another checkout's smartflow_core
                                                 # (e.g. a git worktree of the commit before), in alternate processes

In each process our step, PyTorch's step with one thread and with two (plain ``nn.Dropout``), and a large float32
matrix multiply are timed in turns, so the ratios hold even when the machine's load changes. Our step runs with the
process's BLAS thread count (the app uses one). PyTorch is a comparison, never a dependency
(``pip install torch==2.13.0``). Speed belongs here, never in a test's assertion.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import THREADS_ENV, interleaved_ms, operation_ms  # noqa: E402 (bench/bench.py, beside this script)

TARGETS = {"torch 1": 1.0, "limit": 1.6}
BATCH = 64


# ------------------------------------------------------------------------------------------------ ours


def subset(np):
    from smartflow_core.data import SUBSET_PATH
    from smartflow_core.presets import one_hot, prepare_images
    with np.load(SUBSET_PATH) as f:
        arrays = {k: f[k] for k in ("training_images", "training_labels", "test_images", "test_labels")}
    return (prepare_images(arrays["training_images"]), one_hot(arrays["training_labels"]),
            prepare_images(arrays["test_images"]), one_hot(arrays["test_labels"]))


def our_net():
    """The default preset as the lab's builder configures it (raw-bit dropout masks, float32)."""
    from smartflow_core.optimizers import SGDMomentum
    from smartflow_core.persist import build_model
    from smartflow_core.presets import PRESETS
    p = PRESETS["default"]
    return build_model({**p.config(), "fast_dropout": True}), SGDMomentum(p.lr, momentum=p.momentum)


def our_step(np, X, y):
    net, optim = our_net()

    def step():
        net.train_batch(X, y)
        optim.step(net.params(), net.param_grads())
    step()
    return step, net


def layer_names(net) -> dict[int, str]:
    """Readable names for the network's operations: "conv1 forward", "pool2 backward", "dense1 ..."."""
    counts: dict[str, int] = {}
    names = {}
    for layer in net.layers:
        kind = {"Conv2DLayer": "conv", "Pool2DLayer": "pool"}.get(type(layer).__name__, "dense")
        counts[kind] = counts.get(kind, 0) + 1
        for op in layer.operations:
            names[id(op)] = f"{kind}{counts[kind]}" if type(op).__name__ in ("Conv2D_Op", "Pool2D") else \
                f"{kind}{counts[kind]} {type(op).__name__}"
    return names


def our_operations(step, net, rounds: int = 20) -> dict[str, float]:
    """Each operation's forward and backward (with its parameter gradient), by layer, medians over steps."""
    names = layer_names(net)
    return operation_ms(step, lambda op: names.get(id(op), type(op).__name__), warmup=1, rounds=rounds)


def our_epoch(np, data) -> tuple[float, float]:
    from smartflow_core.trainer import Trainer
    net, optim = our_net()
    start = time.perf_counter()
    h = Trainer(net, optim).fit(*data, epochs=1, eval_every=1, batch_size=BATCH, seed=net.seed)
    return time.perf_counter() - start, h.evals[-1].accuracy


# ------------------------------------------------------------------------------------------------ PyTorch


def torch_net(torch):
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 16, 5, padding=2, bias=False), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 5, padding=2, bias=False), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
    return net, torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9)


def torch_step(torch, X, labels):
    net, opt = torch_net(torch)

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(X), labels).backward()
        opt.step()
    return step


def torch_operations(torch, X) -> dict[str, float]:
    """PyTorch's modules one at a time: forward, and backward (forward + autograd minus forward)."""
    net, _ = torch_net(torch)
    parts = {"conv1": net[0:1], "pool1": net[2:3], "conv2": net[3:4], "pool2": net[5:6], "dense": net[6:]}
    inputs, h = {}, X
    for name, module in zip(("conv1", "relu1", "pool1", "conv2", "relu2", "pool2"), net[:6]):
        inputs[name] = h.detach().requires_grad_(name != "conv1")
        h = module(h)
    inputs["dense"] = h.detach().requires_grad_(True)
    calls = {}
    for name, module in parts.items():
        x = inputs[name]
        out = module(x)
        g = torch.randn_like(out)
        wanted = [x] * x.requires_grad + list(module.parameters())
        calls[f"{name} forward"] = lambda m=module, x=x: m(x)
        calls[f"{name} both"] = lambda m=module, x=x, g=g, w=wanted: torch.autograd.grad(m(x), w, g)
    times = interleaved_ms(calls, rounds=6, per_round=3)
    return {**{k: v for k, v in times.items() if k.endswith("forward")},
            **{f"{n} backward": times[f"{n} both"] - times[f"{n} forward"] for n in parts}}


def torch_epoch(torch, data) -> tuple[float, float]:
    Xtr, ytr, Xte, yte = (torch.from_numpy(a) for a in data)
    labels, test_labels = ytr.argmax(1), yte.argmax(1)
    net, opt = torch_net(torch)
    start = time.perf_counter()
    order = torch.randperm(len(Xtr))
    net.train()
    for i in range(0, len(Xtr), BATCH):
        idx = order[i:i + BATCH]
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(Xtr[idx]), labels[idx]).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        right = sum(int((net(Xte[i:i + 1000]).argmax(1) == test_labels[i:i + 1000]).sum())
                    for i in range(0, len(Xte), 1000))
    return time.perf_counter() - start, 100 * right / len(Xte)


# ------------------------------------------------------------------------------------------------ kernel choices


def variants(np) -> dict[str, float]:
    """What conv_kernels.py chose between, in turns: on the lab's second convolution (64x16x14x14, 32 filters of
    5x5) the chunk budget; on both convolutions (the first 64x1x28x28, 16 filters) the forward pass by rows,
    widened and im2col (conv_kernels.family) and the filter gradient widened and by im2col, the second's input
    gradient by rows and by col2im; and the ReLU computed by the convolution against a ReLU after it. (The
    filter gradient by rows with the gradient shifted, kw copies of it, ran 7 % slower than widened on the
    second layer and twice as slow on the first; it was removed.)"""
    from smartflow_core import conv_kernels as kernels
    from smartflow_core.conv import conv2d_forward, conv2d_input_grad, conv2d_param_grad
    rng = np.random.default_rng(0)

    def maps(*shape):  # (batch, channels, h, w), stored row by row as the layers store them
        b, c, h, w = shape
        return kernels.seen(rng.normal(size=(h, c, w, b)).astype(np.float32))
    x, g, w = maps(BATCH, 16, 14, 14), maps(BATCH, 32, 14, 14), rng.normal(size=(16, 32, 5, 5)).astype(np.float32)
    x1 = rng.normal(size=(BATCH, 1, 28, 28)).astype(np.float32)  # the network's input, in the chapter's order
    g1, w1 = maps(BATCH, 16, 28, 28), rng.normal(size=(1, 16, 5, 5)).astype(np.float32)
    default = kernels.CHUNK_ELEMENTS
    calls = {}

    def with_chunk(bits, f):
        def run():
            kernels.CHUNK_ELEMENTS = 1 << bits
            try:
                f()
            finally:
                kernels.CHUNK_ELEMENTS = default
        return run
    for bits in (18, 19, 20, 21, 22, 23):
        calls[f"chunk 2^{bits}: forward + filter grad + input grad"] = with_chunk(bits, lambda: (
            conv2d_forward(x, w), conv2d_param_grad(x, g, (5, 5)), conv2d_input_grad(x.shape, w, g)))
    for name, (xs, gs, ws, pads, hw) in {"conv2": (x, g, w, (2, 2), (14, 14)),
                                         "conv1": (x1, g1, w1, (2, 2), (28, 28))}.items():
        calls[f"{name} forward: rows"] = lambda xs=xs, ws=ws, pads=pads, hw=hw: kernels.correlate(
            xs, ws.transpose(1, 0, 2, 3), pads, hw)
        calls[f"{name} forward: widened"] = lambda xs=xs, ws=ws, pads=pads, hw=hw: kernels.forward_widened(
            xs, ws, pads, hw)
        calls[f"{name} forward: im2col"] = lambda xs=xs, ws=ws, pads=pads, hw=hw: kernels.forward_im2col(
            xs, ws, 1, pads, hw)
        calls[f"{name} filter grad: widened"] = lambda xs=xs, gs=gs, pads=pads: kernels.filter_grad_widened(
            xs, gs, (5, 5), pads)
        calls[f"{name} filter grad: im2col"] = lambda xs=xs, gs=gs, pads=pads, hw=hw: kernels.filter_grad_im2col(
            xs, gs, (5, 5), 1, pads, hw)
    calls["conv2 input grad: rows"] = lambda: kernels.input_grad_rows(x.shape, w, g, (2, 2))
    calls["conv2 input grad: col2im"] = lambda: kernels.input_grad_col2im(x.shape, w, g, 1, (2, 2), (14, 14))
    # the floor under these kernels: the second convolution's three passes as their products alone, of the
    # shapes the kernels use, one per output row, over the same overlapping row blocks of the (zero-padded) maps

    def blocks(maps, channels):
        padded = np.zeros((18, channels, 14, BATCH), np.float32)
        padded[2:16] = kernels.stored(maps)
        return kernels._windows(padded, 0, 14, 5)
    x_blocks, g_blocks = blocks(x, 16), blocks(g, 32)
    wide_blocks = blocks(kernels.widen(x, 5, 2, 14), 80)
    g_rows = np.ascontiguousarray(kernels.stored(g)).reshape(14, 32, 14 * BATCH).transpose(0, 2, 1)
    a_f, a_i = rng.normal(size=(160, 80)).astype(np.float32), rng.normal(size=(80, 160)).astype(np.float32)
    calls["conv2's three passes as their products alone"] = lambda: (
        np.matmul(a_f, x_blocks), np.matmul(a_i, g_blocks), np.matmul(wide_blocks, g_rows))
    for name, (xs, ws) in {"conv1": (x1, w1), "conv2": (x, w)}.items():
        calls[f"{name} forward + ReLU: in the convolution"] = lambda xs=xs, ws=ws: conv2d_forward(xs, ws, relu=True)
        calls[f"{name} forward + ReLU: after it"] = lambda xs=xs, ws=ws: np.maximum(conv2d_forward(xs, ws), 0)
    return interleaved_ms(calls, rounds=5, per_round=2, warmup=1)


# ------------------------------------------------------------------------------------------------ worker


def worker(threads: int, with_epoch: bool, with_variants: bool) -> dict:
    import numpy as np

    from bench import _step, step_flops  # bench/bench.py: the chapter model's step, a step's multiply-adds
    data = subset(np)
    X, y = data[0][:BATCH], data[1][:BATCH]
    step, net = our_step(np, X, y)
    a = np.random.default_rng(0).normal(size=(2048, 2048)).astype(np.float32)
    calls = {"ours": step, "matmul": lambda: a @ a,
             "chapter": _step(np, "chapter", np.float32, fast_dropout=True)[0],  # bench.py's "correct, fast dropout"
             "chapter book": _step(np, "chapter", np.float64, book=True)[0]}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(threads)  # once: switching per call oversubscribes its thread pool
        Xt, labels = torch.from_numpy(X), torch.from_numpy(y.argmax(1))
        calls["torch"] = torch_step(torch, Xt, labels)
    times = interleaved_ms(calls, rounds=8, per_round=3, warmup=3)
    r = {"threads": threads, "step": times, "flops": step_flops(net, X),
         "gflops": 2 * 2048 ** 3 / (times["matmul"] / 1000) / 1e9, "ours ops": our_operations(step, net),
         "torch": torch.__version__ if torch else None}
    if torch is not None:
        r["torch ops"] = torch_operations(torch, Xt)
    if with_epoch:  # in turns too: ours, PyTorch, ours, PyTorch
        epochs = [our_epoch(np, data) if i % 2 == 0 else torch_epoch(torch, data)
                  for i in range(4 if torch is not None else 2)]
        r["epoch"] = {"ours": _med([e[0] for e in epochs[::2]]), "ours accuracy": epochs[0][1]}
        if torch is not None:
            r["epoch"].update({"torch": _med([e[0] for e in epochs[1::2]]), "torch accuracy": epochs[1][1]})
    if with_variants:
        r["variants"] = variants(np)
    return r


def _run_worker(threads: int, with_epoch: bool, with_variants: bool, tree: str | None = None) -> dict:
    env = {**os.environ, **{k: str(threads) for k in THREADS_ENV}}
    cmd = [sys.executable, __file__, "--worker", str(threads)] + ["--no-epoch"] * (not with_epoch) + \
        ["--variants"] * with_variants + ["--tree", tree] * (tree is not None)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"the benchmark with {threads} thread(s) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ report


def _med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratios(run: dict) -> dict[str, float]:
    s = run["step"]
    limit = run["flops"] / 1e9 / run["gflops"] * 1000  # ms
    out = {"limit ms": limit, "ours / limit": s["ours"] / limit}
    if "torch" in s:
        out.update({"ours / torch": s["ours"] / s["torch"], "torch / limit": s["torch"] / limit})
    return out


OPS = ("conv1", "pool1", "conv2", "pool2")


def op_rows(run: dict) -> list[tuple[str, float, float | None]]:
    """(operation, ours ms, PyTorch ms) for the convolutions, the poolings and the dense part."""
    ours, theirs = run["ours ops"], run.get("torch ops", {})
    rows = []
    for name in OPS:
        for d in ("forward", "backward"):
            rows.append((f"{name} {d}", ours.get(f"{name} {d}", 0.0), theirs.get(f"{name} {d}")))
    for d in ("forward", "backward"):
        dense = sum(v for k, v in ours.items() if k.startswith("dense") and k.endswith(d))
        rows.append((f"flatten, dense layers, dropout {d}", dense, theirs.get(f"dense {d}")))
    relu = sum(v for k, v in ours.items() if k.startswith("conv") and "ReLU" in k)
    rows.append(("ReLU after the convolutions, both ways", relu, None))
    return rows


def report(runs: list[dict], command: str, seconds: float) -> str:
    """``runs``: one dict per repeat, {(threads, "now" or "before"): worker result}."""
    import numpy as np
    columns = sorted(runs[0], key=lambda c: (c[0], c[1] != "before"))
    first = runs[0][columns[0]]
    torch = first.get("torch")
    out = (f"Measured {time.strftime('%Y-%m-%d')} with `{command}` in {seconds:.0f} s, NumPy {np.__version__}"
           f"{f', PyTorch {torch}' if torch else ', without PyTorch'}; {len(runs)} run(s), medians of each run's "
           f"interleaved medians. One step needs {first['flops'] / 1e6:.0f} MFLOP.\n\n")

    def title(c):
        return f"{c[0]} thread{'s' * (c[0] > 1)}" + (f", {c[1]}" if any(k[1] == "before" for k in columns) else "")
    head = " | ".join(title(c) for c in columns) + " |\n| --- |" + " --- |" * len(columns) + "\n"
    out += f"| training step, batch {BATCH}, float32 | " + head

    def line(label, pick, fmt):
        nonlocal out
        values = [_med([pick(run[c]) for run in runs if c in run]) for c in columns]
        out += f"| {label} | " + " | ".join("–" if v is None else fmt(v) for v in values) + " |\n"

    def verdict(target):
        return lambda v: f"{v:.2f}" + ("" if target is None else " (met)" if v <= target else " (not met)")
    ms = "{:.1f} ms".format
    line("matrix multiply limit (2048² float32)", lambda r: r["gflops"], "{:.0f} GFLOP/s".format)
    line("the step's FLOPs at that rate", lambda r: ratios(r)["limit ms"], ms)
    line("ours", lambda r: r["step"]["ours"], ms)
    line("PyTorch, the same network and thread count", lambda r: r["step"].get("torch"), ms)
    line(f"ours / PyTorch (≤ {TARGETS['torch 1']} with 1 thread)", lambda r: ratios(r).get("ours / torch"),
         verdict(TARGETS["torch 1"]))
    line(f"ours / limit (≤ {TARGETS['limit']})", lambda r: ratios(r)["ours / limit"], verdict(TARGETS["limit"]))
    line("PyTorch / limit", lambda r: ratios(r).get("torch / limit"), verdict(None))
    line("chapter model step, batch 60, float32, fast dropout", lambda r: r["step"]["chapter"], ms)
    line("chapter model step, batch 60, float64, book", lambda r: r["step"]["chapter book"], ms)
    line("chapter model step (float32) / PyTorch's lab step", lambda r: r["step"]["chapter"] / r["step"]["torch"]
         if "torch" in r["step"] else None, verdict(None))
    now = [c for c in columns if c[1] == "now"]
    if torch and (1, "now") in now and (2, "now") in now:
        cross = _med([run[(1, "now")]["step"]["ours"] / run[(2, "now")]["step"]["torch"] for run in runs])
        out += f"\nOurs with 1 thread / PyTorch with 2 threads (separate processes, not in turns): {cross:.2f}.\n"
    if "epoch" in first:
        out += "\n| one epoch of the bundled subset (10,000 images, batch 64, then 2,000 test images) | " + head
        sec = "{:.2f} s".format
        line("ours", lambda r: r["epoch"]["ours"], sec)
        line("PyTorch", lambda r: r["epoch"].get("torch"), sec)
        line("ours / PyTorch", lambda r: r["epoch"]["ours"] / r["epoch"]["torch"] if "torch" in r["epoch"] else None,
             verdict(None))
    for t in sorted({c[0] for c in columns}):
        mine = [c for c in columns if c[0] == t]
        out += (f"\nBy operation, {t} thread{'s' * (t > 1)} (medians over steps; PyTorch's modules timed alone, "
                "its backward as forward + autograd minus forward):\n\n| operation | "
                + " | ".join(f"ours, {c[1]}" for c in mine) + " | PyTorch |\n| --- |" + " --- |" * (len(mine) + 1)
                + "\n")
        rows = {c: [op_rows(run[c]) for run in runs if c in run] for c in mine}
        for i, (label, _, _) in enumerate(rows[mine[0]][0]):
            ours = [_med([r[i][1] for r in rows[c]]) for c in mine]
            theirs = _med([r[i][2] for c in mine for r in rows[c]])
            out += (f"| {label} | " + " | ".join(f"{v:.2f} ms" for v in ours)
                    + f" | {'–' if theirs is None else f'{theirs:.2f} ms'} |\n")
    with_variants = [c for c in columns if "variants" in runs[0][c]]
    if with_variants:
        c = with_variants[0]
        out += (f"\nKernel choices ({title(c)}, the lab's two convolutions, in turns):\n\n"
                "| variant | time |\n| --- | --- |\n")
        for k in runs[0][c]["variants"]:
            out += f"| {k} | {_med([run[c]['variants'][k] for run in runs]):.2f} ms |\n"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1, help="run everything this many times (medians)")
    ap.add_argument("--no-epoch", action="store_true", help="skip the epochs on the subset")
    ap.add_argument("--variants", action="store_true", help="also time the kernel choices of conv_kernels.py")
    ap.add_argument("--before", help="a checkout whose smartflow_core to measure too (e.g. the commit before)")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--tree", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        if args.tree:
            sys.path.insert(0, str(Path(args.tree).resolve()))
        print(json.dumps(worker(args.worker, not args.no_epoch, args.variants)))
        return
    start = time.perf_counter()
    runs = []
    for _ in range(args.repeat):
        run = {}
        for t in args.threads:  # the other checkout and this one in alternate processes
            if args.before:
                run[(t, "before")] = _run_worker(t, not args.no_epoch, False, args.before)
            run[(t, "now")] = _run_worker(t, not args.no_epoch, args.variants and t == args.threads[0])
        runs.append(run)
    command = "python bench/bench_lab_net.py" + " ".join(
        [""] + [f"--repeat {args.repeat}"] * (args.repeat > 1) + ["--no-epoch"] * args.no_epoch
        + ["--variants"] * args.variants + [f"--before {args.before}"] * bool(args.before))
    text = report(runs, command, time.perf_counter() - start)
    print(text)
    (ROOT / "bench" / "results_lab_net.md").write_text(text)


if __name__ == "__main__":
    main()
