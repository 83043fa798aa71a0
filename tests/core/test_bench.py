"""bench/bench.py's own arithmetic, and that its measurements still run (no timing is asserted)."""
import importlib.util
import math
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_under_test", ROOT / "bench" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flops_of_a_chapter_step():
    # conv forward and filter gradient (the first layer skips its input gradient), dense forward and both grads
    bench = _bench()
    step, net, X = bench._step(np, "chapter", np.float32)
    step()
    conv = 2 * 60 * 32 * 28 * 28 * 5 * 5
    dense = 2 * 60 * (32 * 28 * 28) * 10
    assert bench.step_flops(net, X) == 2 * conv + 3 * dense == 240_844_800


def test_the_measurements_run():
    bench = _bench()
    lessons = bench.lesson_steps(np)
    assert len(lessons) == 9 and all(math.isfinite(ms) and ms > 0 for ms in lessons.values())
    assert all(ms > 0 for ms in bench.drawn_digit(np))
    from smartflow_core.operation import Operation, ParamOperation
    before = (Operation.forward, Operation.backward, ParamOperation.backward)
    parts = bench.breakdown(np, fast_dropout=True)
    assert {"Conv2D_Op forward", "Conv2D_Op backward", "Tanh forward", "Dropout forward"} <= set(parts)
    assert (Operation.forward, Operation.backward, ParamOperation.backward) == before  # timers removed


def _fake_run(scale: float, torch: bool) -> dict:
    run = {"matmul float32": 80.0, "matmul float64": 40.0, "chapter step MFLOP": 240.8448,
           "default step float32": 50 * scale, "inference batch 1": 0.5, "inference batch 1000": 300.0,
           "digit whole": 6.0, "digit network": 3.0, "lessons": {"1D convolution": 0.05, "the book's bug": 0.4},
           "breakdown": {"Tanh forward": 2.0, "Conv2D_Op forward": 2.5, "Flatten forward": 0.01},
           "torch": {"version": "x", "float32": 40.0, "float32, no dropout": 25.0, "float64": 60.0} if torch else None}
    for dt in ("float32", "float64"):
        for label in ("correct", "correct, fast dropout", "book"):
            run[f"chapter step {dt} {label}"] = 15.0 * scale
        for kernel in ("forward", "input gradient", "filter gradient"):
            run[f"conv {kernel} {dt}"] = 2.0
    return run


def test_the_report_reads_every_run_with_or_without_pytorch():
    bench = _bench()
    with_torch = bench.report({1: {**_fake_run(1, True), "loops": 900.0, "loops fast": 0.2}, 2: _fake_run(1, True)})
    assert "| PyTorch, the same step, float32 | 40.00 ms | 40.00 ms |" in with_torch
    assert "/ PyTorch's float32 step (≤ 0.5) | 0.38 (met) | 0.38 (met) |" in with_torch
    assert "/ FLOP limit (≤ 3) | 4.98 (not met)" in with_torch  # 15 ms over 240.8 MFLOP at 80 GFLOP/s
    assert "(4,500x)" in with_torch
    alone = bench.report({1: _fake_run(2, False)})
    assert "PyTorch" not in alone and "| 1 BLAS thread |" in alone
    assert "Flatten forward" not in alone  # under 0.05 ms: left out of the breakdown
