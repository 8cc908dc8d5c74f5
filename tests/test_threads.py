"""Thread choice: the cores other processes leave free, a fixed count winning, and a real busy core seen."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from medmllm import threads


@pytest.mark.parametrize("others, n_cores, expected", [(0.0, 2, 2), (0.2, 2, 2), (0.97, 2, 1), (1.6, 2, 1),
                                                       (5.0, 2, 1), (0.0, 8, 8), (2.6, 8, 5)])
def test_free_threads(others, n_cores, expected):
    assert threads.free_threads(others, n_cores) == expected


def test_others_busy_leaves_out_this_process():
    # 2 s of wall time, 3 CPU-seconds busy in all, 1.2 of them ours: others kept 0.9 cores busy
    assert threads.others_busy((10.0, 100.0, 5.0), (12.0, 103.0, 6.2)) == pytest.approx(0.9)
    assert threads.others_busy((10.0, 100.0, 5.0), (12.0, 100.5, 6.0)) == 0.0  # never below zero


def test_a_fixed_count_wins_in_order(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.fixed(0) == 0
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.fixed(0) == 3 and threads.fixed(2) == 2
    monkeypatch.setenv(threads.ENV, "1")
    assert threads.fixed(2) == 1
    monkeypatch.setenv(threads.ENV, "many")
    assert threads.fixed(2) == 2  # not a number: ignored


def test_adjust_follows_the_machine_and_looks_again_after_the_period(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(threads, "_state", type(threads._state)())
    busy = {"others": 1.0}
    clock = {"t": 0.0}

    total = {"busy": 0.0}

    def sample():  # one second passes per look; others use `busy["others"]` cores of it, we none
        clock["t"] += 1.0
        total["busy"] += busy["others"]
        return clock["t"], total["busy"], 0.0

    monkeypatch.setattr(threads, "_sample", sample)
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock["t"])
    before = torch.get_num_threads()
    try:
        assert threads.adjust() == 1 and torch.get_num_threads() == 1
        busy["others"] = 0.0
        assert threads.adjust() == 1  # within the period: not looked at again
        monkeypatch.setattr(threads, "PERIOD", 0.0)
        assert threads.adjust() == 2 and torch.get_num_threads() == 2
        assert threads.adjust(requested=1) == 1
        assert threads.follow() == 1  # a reader keeps the count a caller fixed for this thread
        assert threads.adjust() == 2 and threads.follow() == 2  # none fixed: it follows the machine
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(threads.cores() < 2 or threads._sample() is None, reason="needs Linux and 2 cores")
def test_a_real_busy_core_is_seen(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(threads.cores() - 1)]
    try:
        time.sleep(0.5)
        before = threads._sample()
        time.sleep(1.0)
        others = threads.others_busy(before, threads._sample())
    finally:
        for hog in hogs:
            hog.kill()
    assert others >= 0.7 * len(hogs)
    assert threads.free_threads(others, threads.cores()) <= threads.cores() - len(hogs) + 1
