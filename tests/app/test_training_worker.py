"""A run's worker process on its own: the wire protocol, the process's manners (priority, name), a worker killed
or frozen, and no worker left behind when the web process dies (SIGKILL or SIGTERM).

The runs come from the ``make_run`` fixture (tests/app/runs.py) (stopped and joined afterwards, then no relay
thread and no worker process may be left). Nothing here asserts a time: every wait has a deadline.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from multiprocessing import Pipe

import numpy as np
import pytest
from runs import LONG, ROOT, TIMEOUT, config, wait_for

from app.lab import wire, worker
from app.lab.run_queue import RunQueue


def gone(pid: int) -> bool:
    """No such process, or only its zombie (a reparented orphan waits for PID 1 to reap it: it runs no more)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_gone(pid: int, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not gone(pid):
        assert time.monotonic() < deadline, f"worker {pid} is still alive"
        time.sleep(0.05)


def proc_stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


# ---------------------------------------------------------------------------------------------- the wire


def test_messages_carry_json_and_raw_arrays_never_pickles():
    a, b = Pipe()
    arrays = [np.arange(12, dtype=np.float32).reshape(3, 4), np.zeros((0, 5), np.uint8), np.array(7, np.int64),
              np.arange(10)[::2]]  # not contiguous: sent as a contiguous copy
    wire.send(a, {"kind": "test", "loss": np.float32(0.5), "nan": float("nan")}, arrays)
    header, got = wire.recv(b)
    assert header["kind"] == "test" and header["loss"] == 0.5 and np.isnan(header["nan"])
    for x, y in zip(arrays, got):
        assert x.dtype == y.dtype and x.shape == y.shape and not y.flags.writeable
        np.testing.assert_array_equal(x, y)
    with pytest.raises(wire.WireError, match="only plain numeric arrays"):
        wire.send(a, {"kind": "bad"}, [np.array([{"a": 1}], dtype=object)])
    a.send_bytes(json.dumps({"kind": "x", "arrays": [["|O", [1]]]}).encode())  # a header asking for objects
    with pytest.raises(wire.WireError, match="only plain numeric arrays"):
        wire.recv(b)
    a.close()
    with pytest.raises(EOFError):
        wire.recv(b)


# ---------------------------------------------------------------------------------------------- the process


def test_the_worker_is_a_lower_priority_process_of_its_own(make_run):
    run = make_run(**LONG).start()
    wait_for(run, lambda s: s.step >= 1)
    assert run.pid is not None and run.pid != os.getpid()
    with open(f"/proc/{run.pid}/comm") as f:
        assert f.read().strip() == worker.PROCESS_NAME.decode()
    ppid, nice = int(proc_stat(run.pid)[1]), int(proc_stat(run.pid)[16])
    assert ppid == os.getpid() and nice == min(os.nice(0) + worker.nice_step(), 19) and worker.nice_step() > 0


def test_a_killed_worker_is_reported_and_frees_its_slot(make_run):
    queue = RunQueue(1)
    run = make_run(queue=queue, **LONG).start()
    waiting = make_run(queue=queue, **LONG).start()
    wait_for(run, lambda s: s.step >= 2)
    assert waiting.snapshot().status == "queued"
    os.kill(run.pid, signal.SIGKILL)
    snap = wait_for(run, lambda s: s.ended)
    assert snap.status == "error"
    assert snap.error == "The training process ended unexpectedly (killed by signal 9, SIGKILL, perhaps out of memory)."
    assert snap.losses and snap.filters is not None  # what it reported before it died stays
    wait_for(waiting, lambda s: s.step >= 1)  # the slot went to the next run
    assert run.join(TIMEOUT)
    wait_gone(run.pid)


def test_a_worker_that_does_not_stop_is_ended(make_run):
    run = make_run(**LONG).start()
    wait_for(run, lambda s: s.step >= 1)
    os.kill(run.pid, signal.SIGSTOP)  # frozen: it can read no command
    run.stop()  # only sets events: the relay terminates, then kills, the worker after its grace
    assert run.join(TIMEOUT) and run.snapshot().status == "stopped"
    wait_gone(run.pid)


PARENT = textwrap.dedent("""
    import sys, time
    from app.lab.config import TrainConfig
    from app.lab.run import TrainingRun
    from app.lab.run_queue import RunQueue
    from smartflow_core.data import SUBSET_PATH, load_mnist

    if __name__ == "__main__":
        X, y, Xt, yt = load_mnist(SUBSET_PATH)
        run = TrainingRun(TrainConfig(**{config!r}), X, y, Xt, yt, queue=RunQueue(1)).start()
        while run.snapshot().step < 1:
            assert not run.snapshot().ended, run.snapshot()
            time.sleep(0.02)
        print(run.pid, flush=True)
        time.sleep(120)  # killed by the test long before
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_no_worker_outlives_its_parent(tmp_path, sig):
    script = tmp_path / "parent.py"
    cfg = {k: v for k, v in config(**LONG).__dict__.items()}
    script.write_text(PARENT.format(config=cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"the parent printed {line!r}, exit code {parent.poll()}"
        pid = int(line)
        assert not gone(pid) and int(proc_stat(pid)[1]) == parent.pid
        parent.send_signal(sig)
        parent.wait(TIMEOUT)
        wait_gone(pid)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(TIMEOUT)
