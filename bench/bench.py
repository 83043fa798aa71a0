"""Speed of smartflow_core, as medians after warm-up, compared in one run with this machine's limits and PyTorch.

    python bench/bench.py              # quick: every measurement with 1 and 2 BLAS threads (under a minute)
    python bench/bench.py --epoch      # also one epoch of the chapter's model on the full MNIST
                                       # (../shared/mnist or SMARTFLOW_MNIST_DIR), float32 and float64
    python bench/bench.py --readme     # also copy the tables into README.md (between the bench markers)

Each thread count runs in its own process (BLAS reads OPENBLAS_NUM_THREADS once, at import); the app runs with
one. PyTorch, when it is installed, runs the same model in the same process as a comparison; it is never a
dependency. The tables go to stdout and bench/results.md. Speed belongs here, never in a test's assertion.
bench/bench_lab_net.py compares the training lab's default network with PyTorch, operation by operation.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREADS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
TARGETS = {"pytorch": 0.5, "flop limit": 3.0, "digit ms": 10.0, "lesson ms": 5.0}


# ------------------------------------------------------------------------------------------------ timing


def median_ms(f, repeat: int = 15, warmup: int = 3) -> float:
    """The median wall time of ``f()`` in milliseconds, after ``warmup`` calls."""
    for _ in range(warmup):
        f()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def interleaved_ms(calls: dict, rounds: int = 6, per_round: int = 2, warmup: int = 2) -> dict[str, float]:
    """Medians of many timed calls, taken in turns (round after round, every call a few times per round), so
    that a machine getting slower or faster during the run moves every measurement alike and ratios hold."""
    for f in calls.values():
        for _ in range(warmup):
            f()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, f in calls.items():
            for _ in range(per_round):
                start = time.perf_counter()
                f()
                samples[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(v) for name, v in samples.items()}


# ------------------------------------------------------------------------------------------------ worker


def _chapter_data(np, dtype, batch: int = 60):
    from smartflow_core.presets import one_hot
    rng = np.random.default_rng(0)
    return (rng.normal(size=(batch, 1, 28, 28)).astype(dtype), one_hot(rng.integers(0, 10, batch), dtype=dtype))


def _step(np, preset: str, dtype, book: bool = False, fast_dropout: bool = False):
    """One training step (forward, loss, backward, SGD with momentum) of a preset's model, ready to time."""
    from smartflow_core import book_mode
    from smartflow_core.optimizers import SGDMomentum
    from smartflow_core.persist import build_model
    from smartflow_core.presets import PRESETS
    p = PRESETS[preset]
    X, y = _chapter_data(np, dtype, p.batch_size)
    with book_mode(book):
        net = build_model({**p.config(), "fast_dropout": fast_dropout})
    optim = SGDMomentum(0.1, momentum=0.9)

    def step():
        net.train_batch(X, y)
        optim.step(net.params(), net.param_grads())
    return step, net, X


def step_flops(net, X) -> int:
    """Multiply-adds x 2 of one training step, as the library computes it: every convolution and dense layer's
    forward pass, filter/weight gradient and input gradient (not for the first layer, which skips it)."""
    from smartflow_core.conv import Conv2D_Op
    from smartflow_core.operation import WeightMultiply
    total, first = 0, True
    for layer in net.layers:
        for op in layer.operations:
            if isinstance(op, Conv2D_Op):
                c, o, kh, kw = op.param.shape
                per_pass = 2 * op.output.size * c * kh * kw
            elif isinstance(op, WeightMultiply):
                per_pass = 2 * op.input_.shape[0] * op.param.size
            else:
                continue
            total += per_pass * (2 if first else 3)
            first = False
    return total


def operation_ms(step, label=lambda op: type(op).__name__, warmup: int = 3, rounds: int = 15) -> dict[str, float]:
    """Each operation's forward and backward during ``step()`` (an operation's backward includes its parameter
    gradient), medians over ``rounds`` steps in ms, keyed ``"<label(op)> forward"``: the classes' methods are wrapped
    with a timer for the while."""
    from smartflow_core import operation
    times: dict[str, list[float]] = {}
    originals = {}
    for cls, name in ((operation.Operation, "forward"), (operation.Operation, "backward"),
                      (operation.ParamOperation, "backward")):
        f = cls.__dict__[name]
        originals[(cls, name)] = f

        def timed(self, *args, _f=f, _name=name, **kwargs):
            start = time.perf_counter()
            result = _f(self, *args, **kwargs)
            times.setdefault(f"{label(self)} {_name}", []).append(time.perf_counter() - start)
            return result
        setattr(cls, name, timed)
    try:
        for _ in range(warmup):
            step()
        times.clear()
        for _ in range(rounds):
            step()
    finally:
        for (cls, name), f in originals.items():
            setattr(cls, name, f)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def breakdown(np, fast_dropout: bool) -> dict[str, float]:
    """Where a float32 chapter-model step's time goes: each operation's forward and backward."""
    step, _net, _X = _step(np, "chapter", np.float32, fast_dropout=fast_dropout)
    return operation_ms(step)


MATMUL_SIZES = {"float32": (1024, 2048), "float64": (1024, 2048)}


def matmuls(np) -> dict:
    """Square matrix multiplies, ``"matmul <dtype> <n>"``: the best of them is this machine's practical limit."""
    calls = {}
    for name, sizes in MATMUL_SIZES.items():
        for n in sizes:
            a = np.random.default_rng(0).normal(size=(n, n)).astype(name)
            calls[f"matmul {name} {n}"] = lambda a=a: a @ a
    return calls


def best_gflops(times: dict, dtype: str) -> float:
    return max(2 * n ** 3 / (times[f"matmul {dtype} {n}"] / 1000) / 1e9 for n in MATMUL_SIZES[dtype])


def kernels(np, dtype) -> dict[str, float]:
    from smartflow_core.conv import conv2d_forward, conv2d_input_grad, conv2d_param_grad
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 1, 28, 28)).astype(dtype)
    w = rng.normal(size=(1, 32, 5, 5)).astype(dtype)
    g = rng.normal(size=(60, 32, 28, 28)).astype(dtype)
    # the chapter's layer flattens: its output is stored in the chapter's order (conv.py's batch_first)
    return {"forward": median_ms(lambda: conv2d_forward(x, w, batch_first=True)),
            "input gradient": median_ms(lambda: conv2d_input_grad(x.shape, w, g)),
            "filter gradient": median_ms(lambda: conv2d_param_grad(x, g, (5, 5)))}


def loops_vs_fast(np) -> tuple[float, float]:
    """The chapter's loops and the fast kernel on one 28x28 image with the chapter's 32 filters of 5x5."""
    from smartflow_core import reference
    from smartflow_core.conv import conv2d_forward
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, 1, 28, 28)), rng.normal(size=(1, 32, 5, 5))
    start = time.perf_counter()
    reference._output(x, w)
    return 1000 * (time.perf_counter() - start), median_ms(lambda: conv2d_forward(x, w))


def _test_digit(np):
    from smartflow_core.data import SUBSET_PATH
    with np.load(SUBSET_PATH) as f:
        return f["test_images"][0].reshape(28, 28)


def drawn_digit(np) -> tuple[float, float]:
    """What the draw page computes for a drawing: MNIST's preparation of a 280x280 canvas, the pretrained model's
    probabilities with every layer's feature maps (one pass), and the gradient saliency map of its answer.
    Returns (whole read, the network's part)."""
    from PIL import Image

    from smartflow_core import insight
    from smartflow_core.digits import prepare
    from smartflow_core.persist import load_pretrained
    from smartflow_core.util import softmax
    net, _meta = load_pretrained()
    ink = np.asarray(Image.fromarray(_test_digit(np)).resize((200, 200), Image.BILINEAR))
    canvas = np.zeros((280, 280, 4), np.uint8)  # black strokes on a transparent canvas, as the page sends
    canvas[40:240, 40:240, 3] = ink

    def network(x):
        maps = insight.feature_maps(net, x)
        probs = softmax(maps[-1][1].astype(np.float64))
        return insight.gradient_saliency(net, x, int(np.argmax(probs)))
    x = prepare(canvas).x
    return median_ms(lambda: network(prepare(canvas).x)), median_ms(lambda: network(x))


def lesson_steps(np) -> dict[str, float]:
    """Each lesson's computation for its default settings (what a learner's change recomputes)."""
    from smartflow_core import trace
    from smartflow_core.trace import backward as tb
    from smartflow_core.trace import backward_2d as tb2
    digit = _test_digit(np) / 255.0
    edge = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float)
    blur = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], float) / 16
    rng = np.random.default_rng(0)
    mc_x, mc_w = rng.integers(0, 4, (1, 2, 5, 5)).astype(float), rng.integers(-1, 2, (2, 2, 3, 3)).astype(float)
    x2, w2 = rng.integers(0, 4, (2, 1, 4, 4)).astype(float), rng.integers(-1, 2, (1, 2, 3, 3)).astype(float)
    up = tb.Upstream("random", 0)
    unit = np.arange(9.0).reshape(1, 1, 3, 3)
    book_x, book_g = np.concatenate([unit, 2 * unit + 1]), np.concatenate([unit, np.ones_like(unit)])

    def grad_2d():
        tr = tb2.trace_grad_2d(x2, w2, None, 1, up)
        tb2.grad_check(x2, w2, "input", (0, 0, 1, 2), float(tr.input_grad[0, 0, 1, 2]), 1e-4, None, 1, up)
        tb2.grad_check(x2, w2, "kernel", (0, 0, 0, 0), float(tr.param_grad[0, 0, 0, 0]), 1e-4, None, 1, up)
    steps = {
        "1D convolution": lambda: trace.trace_conv_1d((1, 2, 3, 4, 5), (1, 1, 1), None, 1),
        "2D convolution (28x28 digit)": lambda: trace.trace_conv_2d(digit, edge, None, 1),
        "multichannel": lambda: trace.trace_multichannel(mc_x, mc_w, None, 1),
        "pooling and stride": lambda: (trace.trace_pool(digit, 2, None, "max"),
                                       trace.stride_vs_pool(digit, blur, 2)),
        "perturbation": lambda: tb.perturb_1d((1, 2, 3, 4, 5), (1, 1, 1), "input", 4, 1.0, tb.Upstream()),
        "1D input gradient": lambda: tb.trace_input_grad_1d((1, 2, 3, 4, 5), (1, 2, 3)),
        "1D filter gradient": lambda: tb.trace_param_grad_1d(((0, 1, 2, 3, 4, 5, 6), (1, 2, 3, 4, 5, 6, 7)),
                                                             (1, 1, 1)),
        "2D gradients and checks": grad_2d,
        "the book's bug": lambda: tb2.compare_book(book_x, unit, book_g),
    }
    return {name: median_ms(f, repeat=9, warmup=2) for name, f in steps.items()}


def torch_steps() -> tuple[str, dict] | None:
    """PyTorch on the same model and batch: conv 32 5x5 (no bias), tanh, flatten, dropout 20 %, dense 10,
    softmax cross-entropy, SGD with momentum, as ``(version, {name: step})``. None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    calls = {}
    for name, dtype, dropout in (("float32", torch.float32, True), ("float32, no dropout", torch.float32, False),
                                 ("float64", torch.float64, True)):
        torch.manual_seed(0)
        conv = torch.nn.Conv2d(1, 32, 5, padding=2, bias=False).to(dtype)
        dense = torch.nn.Linear(32 * 28 * 28, 10).to(dtype)
        opt = torch.optim.SGD(list(conv.parameters()) + list(dense.parameters()), lr=0.1, momentum=0.9)
        X, y = torch.randn(60, 1, 28, 28, dtype=dtype), torch.randint(0, 10, (60,))

        def step(conv=conv, dense=dense, opt=opt, X=X, y=y, dropout=dropout):
            opt.zero_grad(set_to_none=True)
            h = torch.tanh(conv(X)).flatten(1)
            if dropout:
                h = torch.nn.functional.dropout(h, 0.2, training=True)
            torch.nn.functional.cross_entropy(dense(h), y).backward()
            opt.step()
        calls[f"torch {name}"] = step
    return torch.__version__, calls


def epoch(np, dtype) -> tuple[float, float]:
    from smartflow_core.data import load_mnist
    from smartflow_core.optimizers import SGDMomentum
    from smartflow_core.presets import PRESETS, build, one_hot, prepare_images
    from smartflow_core.trainer import Trainer
    folder = os.environ.get("SMARTFLOW_MNIST_DIR") or str(ROOT.parent / "shared" / "mnist")
    X_train, y_train, X_test, y_test = load_mnist(folder)
    Xtr, Xte = prepare_images(X_train, dtype), prepare_images(X_test, dtype)
    net = build(PRESETS["chapter"])
    start = time.perf_counter()
    h = Trainer(net, SGDMomentum(0.1, momentum=0.9)).fit(Xtr, one_hot(y_train, dtype=dtype), Xte,
                                                          one_hot(y_test, dtype=dtype), epochs=1, eval_every=1,
                                                          batch_size=60, seed=20190402)
    return time.perf_counter() - start, h.evals[-1].accuracy


def worker(threads: int, with_epoch: bool, with_loops: bool) -> dict:
    """Every measurement with this process's BLAS thread count; a flat dict of numbers (ms unless named)."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    r: dict = {}
    calls = matmuls(np)
    for dt in (np.float32, np.float64):
        name = np.dtype(dt).name
        for label, book, fast in (("correct", False, False), ("correct, fast dropout", False, True),
                                  ("book", True, False)):
            if dt is np.float64 and fast:
                continue
            calls[f"chapter step {name} {label}"], net, X = _step(np, "chapter", dt, book, fast)
    torch = torch_steps()
    if torch:
        calls.update(torch[1])
    times = interleaved_ms(calls)  # the limit, our steps and PyTorch's, in turns
    r["chapter step MFLOP"] = step_flops(net, X) / 1e6  # the last model built, which has run by now
    r.update((k, v) for k, v in times.items() if k.startswith("chapter step"))
    r["matmul float32"], r["matmul float64"] = best_gflops(times, "float32"), best_gflops(times, "float64")
    r["torch"] = {"version": torch[0], **{k[len("torch "):]: v for k, v in times.items()
                                          if k.startswith("torch ")}} if torch else None
    for dt in (np.float32, np.float64):
        for kernel, ms in kernels(np, dt).items():
            r[f"conv {kernel} {np.dtype(dt).name}"] = ms
    step, net, X = _step(np, "default", np.float32, fast_dropout=True)
    r["default step float32"] = median_ms(step)
    from smartflow_core.persist import load_pretrained
    pretrained, _meta = load_pretrained()
    for b in (1, 1000):
        x = np.random.default_rng(0).normal(size=(b, 1, 28, 28)).astype(np.float32)
        r[f"inference batch {b}"] = median_ms(lambda x=x: pretrained.forward(x, inference=True),
                                              *((5, 1) if b > 1 else (15, 3)))
    r["digit whole"], r["digit network"] = drawn_digit(np)
    r["lessons"] = lesson_steps(np)
    r["breakdown"] = breakdown(np, fast_dropout=True)
    if with_loops:
        r["loops"], r["loops fast"] = loops_vs_fast(np)
    if with_epoch:
        for dt in (np.float32, np.float64):
            r[f"epoch {np.dtype(dt).name}"] = epoch(np, dt)
    return r


# ------------------------------------------------------------------------------------------------ report


def _run_worker(threads: int, with_epoch: bool, with_loops: bool) -> dict:
    env = {**os.environ, **{k: str(threads) for k in THREADS_ENV}}
    cmd = [sys.executable, __file__, "--worker", str(threads)] + ["--epoch"] * with_epoch + ["--loops"] * with_loops
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"the benchmark with {threads} thread(s) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt(value: float, unit: str = "ms") -> str:
    if unit == "ms":
        return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"
    return f"{value:.1f} {unit}"


def _machine() -> str:
    import numpy as np
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu} ({platform.machine()}), {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}")


def report(runs: dict[int, dict]) -> str:
    threads = sorted(runs)
    head = "| measurement | " + " | ".join(f"{t} BLAS thread{'s' * (t > 1)}" for t in threads) + " |\n"
    head += "| --- |" + " --- |" * len(threads) + "\n"
    rows: list[tuple[str, list[str]]] = []

    def row(label, key, unit="ms", pick=lambda r, k: r.get(k)):
        values = [pick(runs[t], key) for t in threads]
        if all(v is None for v in values):
            return
        rows.append((label, ["–" if v is None else _fmt(v, unit) for v in values]))
    first = runs[threads[0]]
    flops = first["chapter step MFLOP"]
    row("matrix multiply, float32 (the better of 1024 and 2048 squared)", "matmul float32", "GFLOP/s")
    row("matrix multiply, float64", "matmul float64", "GFLOP/s")
    rows.append((f"FLOP limit of a chapter-model step ({flops:.1f} MFLOP at the float32 rate)",
                 [_fmt(flops / runs[t]["matmul float32"]) for t in threads]))
    for dt in ("float32", "float64"):
        for label in ("correct", "correct, fast dropout", "book"):
            row(f"chapter model training step, batch 60, {dt}, {label}", f"chapter step {dt} {label}")
    for name in ("float32", "float32, no dropout", "float64"):
        row(f"PyTorch, the same step, {name}", name, pick=lambda r, k: (r.get("torch") or {}).get(k))
    for dt in ("float32", "float64"):
        for kernel in ("forward", "input gradient", "filter gradient"):
            row(f"conv {kernel}, 60x1x28x28 with 32 5x5 filters, {dt}", f"conv {kernel} {dt}")
    row("default preset training step, batch 64, float32 (the training lab)", "default step float32")
    row("pretrained model inference, batch 1, float32", "inference batch 1")
    row("pretrained model inference, batch 1000, float32", "inference batch 1000")
    row("drawn digit: preparation + probabilities + every feature map + saliency", "digit whole")
    row("drawn digit: the network's part only", "digit network")
    lesson_names = list(first["lessons"])
    for name in lesson_names:
        row(f"lesson step: {name}", name, pick=lambda r, k: r["lessons"][k])
    for dt in ("float32", "float64"):
        key = f"epoch {dt}"
        if key in first:
            rows.append((f"chapter model, one epoch of 60,000 images, {dt}, correct mode",
                         [f"{runs[t][key][0]:.0f} s, test accuracy {runs[t][key][1]:.2f} %" if key in runs[t]
                          else "–" for t in threads]))
    if "loops" in first:
        rows.append(("the chapter's loops vs the fast kernel, one 28x28 image, 32 5x5 filters",
                     [f"{first['loops']:.0f} ms vs {first['loops fast']:.3f} ms "
                      f"({first['loops'] / first['loops fast']:,.0f}x)"] + ["–"] * (len(threads) - 1)))
    table = head + "".join(f"| {label} | " + " | ".join(v) + " |\n" for label, v in rows)
    return table + "\n" + targets(runs) + "\n" + breakdown_table(runs)


def breakdown_table(runs: dict[int, dict]) -> str:
    """The float32 chapter step (fast dropout) by operation, with one BLAS thread, slowest first."""
    parts = runs[min(runs)]["breakdown"]
    total = sum(parts.values())
    out = (f"Where the float32 chapter-model step (fast dropout, {min(runs)} BLAS thread) spends its "
           f"{total:.1f} ms, by operation:\n\n| operation | time | share |\n| --- | --- | --- |\n")
    for name, ms in sorted(parts.items(), key=lambda kv: -kv[1]):
        if ms >= 0.05:
            out += f"| {name} | {ms:.2f} ms | {100 * ms / total:.0f} % |\n"
    return out


def targets(runs: dict[int, dict]) -> str:
    threads = sorted(runs)
    out = "| target | " + " | ".join(f"{t} BLAS thread{'s' * (t > 1)}" for t in threads) + " |\n"
    out += "| --- |" + " --- |" * len(threads) + "\n"

    def line(label, values):
        nonlocal out
        out += f"| {label} | " + " | ".join(values) + " |\n"

    def verdict(x, limit):
        return f"{x:.2f} ({'met' if x <= limit else 'not met'})"
    for label in ("correct, fast dropout", "correct"):
        key = f"chapter step float32 {label}"
        torch = [(r.get("torch") or {}).get("float32") for r in (runs[t] for t in threads)]
        if any(torch):
            line(f"chapter step, float32 {label} / PyTorch's float32 step (≤ {TARGETS['pytorch']})",
                 [verdict(runs[t][key] / p, TARGETS["pytorch"]) if p else "–" for t, p in zip(threads, torch)])
        line(f"chapter step, float32 {label} / FLOP limit (≤ {TARGETS['flop limit']:.0f})",
             [verdict(runs[t][key] / (runs[t]["chapter step MFLOP"] / runs[t]["matmul float32"]),
                      TARGETS["flop limit"]) for t in threads])
    line(f"drawn digit, whole read in ms (< {TARGETS['digit ms']:.0f})",
         [verdict(runs[t]["digit whole"], TARGETS["digit ms"]) for t in threads])
    slowest = [max(runs[t]["lessons"].items(), key=lambda kv: kv[1]) for t in threads]
    line(f"slowest lesson step in ms (< {TARGETS['lesson ms']:.0f})",
         [f"{verdict(ms, TARGETS['lesson ms'])}, {name}" for name, ms in slowest])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epoch", action="store_true", help="also one epoch on the full MNIST (minutes)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="BLAS thread counts (default 1 2)")
    ap.add_argument("--readme", action="store_true", help="copy the tables into README.md")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--loops", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.epoch, args.loops)))
        return
    start = time.perf_counter()
    runs = {t: _run_worker(t, args.epoch and t == args.threads[0], t == args.threads[0]) for t in args.threads}
    torch = next((r["torch"]["version"] for r in runs.values() if r.get("torch")), None)
    command = "python bench/bench.py" + " --epoch" * args.epoch
    text = (f"Measured {time.strftime('%Y-%m-%d')} with `{command}` in {time.perf_counter() - start:.0f} s on "
            f"{_machine()}{f', PyTorch {torch}' if torch else ', without PyTorch'}. Medians after warm-up.\n\n"
            + report(runs))
    print(text)
    (ROOT / "bench" / "results.md").write_text(text)
    if args.readme:
        readme = ROOT / "README.md"
        marked = re.compile(r"(<!-- bench:start -->\n).*?(<!-- bench:end -->)", re.S)
        old = readme.read_text()
        if not marked.search(old):
            sys.exit("README.md has no <!-- bench:start --> ... <!-- bench:end --> section to fill")
        readme.write_text(marked.sub(lambda m: m.group(1) + text + "\n" + m.group(2), old))


if __name__ == "__main__":
    main()
