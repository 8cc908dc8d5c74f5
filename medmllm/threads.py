"""How many CPU threads torch uses: the cores that other processes leave free, checked again as
the work goes on.

PyTorch's CPU kernels run on OpenMP threads, one per core by default, which spin while they wait
for each other. When another process holds one of the cores, every small operation waits for a
thread that is not running: on this project's 2-core machine, with one core held by another
process, the demo model's `chat()` went from 26 ms to 55 ms and a training step of 16 from 146 ms
to 616 ms with torch's two threads, against 19 ms and 222 ms with one (`benchmarks/threads.md`).

So `adjust()` looks at what the machine's other processes used since it last looked (Linux
`/proc/stat` minus this process's own time from `/proc/self/stat`), at most every `PERIOD`
seconds, and sets `torch.set_num_threads` to the cores they leave free (at least 1). It is called
where compute starts: each `Engine.run` (chat, eval, the server's worker), each training step
(`recipes/_trainer.py`) and each file the processor reads (`follow`, which keeps a count a caller fixed); OpenMP's count belongs to the calling thread, so it is set in the thread
that computes. A fixed count wins: `MEDMLLM_THREADS`, then a command's `--threads` or
`train.threads`, then `OMP_NUM_THREADS` as the user set it. Elsewhere than Linux, torch's default stays.
"""
from __future__ import annotations

import os
import threading
import time

PERIOD = 5.0
"""Seconds between two looks at the machine."""
ENV = "MEDMLLM_THREADS"

_state = threading.local()


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _sample() -> tuple[float, float, float] | None:
    """(wall seconds, busy seconds of all CPUs, this process's CPU seconds), or None off Linux."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        with open("/proc/self/stat", "rb") as f:
            own = f.read().rsplit(b")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return time.monotonic(), (sum(fields[:8]) - idle) / hz, (int(own[11]) + int(own[12])) / hz


def others_busy(before: tuple, after: tuple) -> float:
    """Cores the machine's other processes kept busy between two samples."""
    wall = max(after[0] - before[0], 1e-3)
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / wall)


def free_threads(others: float, n_cores: int) -> int:
    """Threads for the cores others leave free: round(cores - others), at least 1, at most the cores."""
    return max(1, min(n_cores, round(n_cores - others)))


def fixed(requested: int = 0) -> int:
    """The count the user fixed (0: none): MEDMLLM_THREADS, then `requested`, then OMP_NUM_THREADS."""
    for value in (os.environ.get(ENV), requested or None, os.environ.get("OMP_NUM_THREADS")):
        if value:
            try:
                n = int(value)
            except ValueError:
                continue
            if n > 0:
                return n
    return 0


def adjust(requested: int = 0) -> int:
    """Set this thread's torch thread count (see the module docstring) and return it."""
    import torch

    n = fixed(requested)
    _state.fixed = n
    if n:
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        return n
    last = getattr(_state, "sample", None)
    now = time.monotonic()
    if last is not None and now - last[0] < PERIOD:
        return torch.get_num_threads()
    if last is None:  # the first look: a short one
        last = _sample()
        if last is None:
            return torch.get_num_threads()
        time.sleep(0.1)
    current = _sample()
    if current is None:
        return torch.get_num_threads()
    _state.sample = current
    n = free_threads(others_busy(last, current), cores())
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def follow() -> int:
    """`adjust()` for code with no count of its own to ask for (reading and resampling files): where
    a caller fixed this thread's count (a `--threads`, `train.threads`), it stays; else as `adjust()`."""
    import torch

    return torch.get_num_threads() if getattr(_state, "fixed", 0) else adjust()
