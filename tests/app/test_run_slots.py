"""The machine-wide training cap: app processes of one class server share ``SMARTFLOW_MAX_RUNS`` through a folder
of lock files (app.lab.run_queue.MachineSlots). Two queues on one folder stand for two processes here; a real
second process shows that a slot comes back when its holder is killed. Fake runs: the queue only needs objects."""
import subprocess
import sys
import threading
import time

import pytest

import app.lab.run_queue as run_queue_module
from app.lab.run_queue import RunQueue, run_queue

TIMEOUT = 30.0


class Run:  # what the queue keeps: any object
    pass


def take_in_thread(queue: RunQueue, run, cancelled: threading.Event) -> dict:
    got: dict = {}
    thread = threading.Thread(target=lambda: got.update(slot=queue.wait_turn(run, cancelled)), daemon=True)
    thread.start()
    got["thread"] = thread
    return got


def until(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_two_processes_share_one_cap_first_come_first_served(tmp_path):
    one, two = RunQueue(1, tmp_path), RunQueue(1, tmp_path)  # as two app processes with one folder
    a, b, c = Run(), Run(), Run()
    never = threading.Event()
    one.enter(a)
    assert one.wait_turn(a, never)  # a slot is free: a trains at once
    two.enter(b)
    time.sleep(0.002)  # tickets are ordered by the time they were taken
    one.enter(c)
    waiting_b, waiting_c = take_in_thread(two, b, never), take_in_thread(one, c, never)
    time.sleep(3 * run_queue_module.POLL)
    assert "slot" not in waiting_b and "slot" not in waiting_c  # the cap holds across the processes
    assert (two.position(b), one.position(c)) == (1, 2)  # the line is the machine's, not each process's
    assert one.counts() == two.counts() == (1, 2)
    one.release(a)
    until(lambda: waiting_b.get("slot") is True, "the first in the line did not get the free slot")
    assert "slot" not in waiting_c and one.position(c) == 1 and two.counts() == (1, 1)
    two.release(b)
    until(lambda: waiting_c.get("slot") is True, "the next in the line did not get the slot")
    one.release(c)
    assert one.counts() == (0, 0)


def test_a_run_that_leaves_the_line_frees_its_place(tmp_path):
    one, two = RunQueue(1, tmp_path), RunQueue(1, tmp_path)
    a, b, c = Run(), Run(), Run()
    one.enter(a)
    assert one.wait_turn(a, threading.Event())
    two.enter(b)
    time.sleep(0.002)
    two.enter(c)
    cancelled = threading.Event()
    waiting_b = take_in_thread(two, b, cancelled)
    until(lambda: two.position(b) == 1, "b never stood in the line")
    cancelled.set()  # b is stopped while it waits
    waiting_b["thread"].join(TIMEOUT)
    assert waiting_b["slot"] is False and two.position(c) == 1
    two.cancel(c)
    assert two.counts() == (1, 0) and not list(tmp_path.glob("wait-*"))


def test_a_killed_process_gives_its_slot_back(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, threading, time; from app.lab.run_queue import RunQueue\n"
        f"q = RunQueue(1, {str(tmp_path)!r}); r = object(); q.enter(r)\n"
        "assert q.wait_turn(r, threading.Event()); print('holding', flush=True); time.sleep(600)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        queue, run = RunQueue(1, tmp_path), Run()
        assert queue.counts() == (1, 0)
        queue.enter(run)
        waiting = take_in_thread(queue, run, threading.Event())
        time.sleep(3 * run_queue_module.POLL)
        assert "slot" not in waiting
        holder.kill()  # no release: the kernel drops its locks
        until(lambda: waiting.get("slot") is True, "the slot of a killed process never came back")
        queue.release(run)
    finally:
        holder.kill()
        holder.wait()


def test_the_queue_shares_the_folder_the_environment_names(monkeypatch, tmp_path):
    monkeypatch.setattr(run_queue_module, "_QUEUE", None)
    monkeypatch.setenv("SMARTFLOW_MAX_RUNS", "1")
    monkeypatch.setenv("SMARTFLOW_RUN_SLOTS", str(tmp_path))
    queue, other, run = run_queue(), RunQueue(1, tmp_path), Run()
    other.enter(run)
    assert other.wait_turn(run, threading.Event())
    assert queue.counts() == (1, 0)  # it sees the other process's run
    other.release(run)
    monkeypatch.setattr(run_queue_module, "_QUEUE", None)
    monkeypatch.setenv("SMARTFLOW_MAX_RUNS", "0")
    with pytest.raises(ValueError, match="SMARTFLOW_MAX_RUNS must be a whole number >= 1, got '0'"):
        run_queue()
    monkeypatch.setattr(run_queue_module, "_QUEUE", None)
