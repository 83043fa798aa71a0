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
