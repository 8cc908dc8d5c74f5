"""Dynamic batching: concurrent requests gathered into one `Engine.run` call.

Requests wait in a bounded queue (full: `QueueFull`, answered 429). One worker thread takes the
oldest waiting request, waits up to the batch window for others to join, and runs together those
that sample alike (greedy with greedy; a request with a `seed` runs alone, so its seed means the
same thing every time), up to `max_batch` answers. Each row ends on its own (`engine.Row`): a
timed-out or disconnected request is cancelled between two tokens while its batch goes on. If a
batch fails, its requests are run one by one, so one bad request fails alone. Results and
streamed pieces go back to the event loop with `call_soon_threadsafe`.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ..engine import Engine, Output, Row


class QueueFull(Exception):
    pass


@dataclass
class Job:
    """One request: its rows (n answers), how they sample, and where the results go."""

    rows: list[Row]
    sampling: tuple  # (do_sample, temperature, top_p)
    seed: int | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    events: asyncio.Queue | None = None
    """Streaming: (row index, piece) as the text grows, then None."""
    enqueued: float = field(default_factory=time.monotonic)
    cancelled: bool = False
    outputs: list = field(default_factory=list)
    """Filled row by row as rows end; the job is answered when the last one does."""

    def ended(self, i: int, output: Output) -> None:
        self.outputs[i] = output
        if all(o is not None for o in self.outputs):
            _deliver(self, list(self.outputs))

    @property
    def key(self) -> tuple:
        return self.sampling if self.seed is None else (*self.sampling, "seed", id(self))


class Batcher:
    def __init__(self, engine: Engine, max_batch: int = 16, window_s: float = 0.01, max_queue: int = 64,
                 metrics=None):
        self.engine, self.max_batch, self.window_s, self.max_queue = engine, max_batch, window_s, max_queue
        self.metrics = metrics
        self._pending: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="medmllm-batcher", daemon=True)
        self._thread.start()

    def submit(self, rows: list[Row], sampling: tuple, seed: int | None, stream: bool) -> Job:
        """Queue a request (on the event loop); `QueueFull` when `max_queue` are already waiting."""
        loop = asyncio.get_running_loop()
        job = Job(rows, sampling, seed, loop, loop.create_future(), asyncio.Queue() if stream else None)
        job.outputs = [None] * len(rows)
        for i, row in enumerate(rows):
            row.cancelled = lambda job=job: job.cancelled
            row.on_end = lambda out, i=i, job=job: job.ended(i, out)
            if stream:
                row.on_text = lambda piece, i=i, job=job: job.loop.call_soon_threadsafe(
                    job.events.put_nowait, (i, piece))
        with self._cond:
            if len(self._pending) >= self.max_queue:
                raise QueueFull
            self._pending.append(job)
            self._gauge()
            self._cond.notify()
        return job

    def depth(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- the worker thread ------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                deadline = self._pending[0].enqueued + self.window_s
                while self._ready_rows() < self.max_batch and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                jobs = self._take()
                self._gauge()
            if jobs:
                self._run(jobs)

    def _ready_rows(self) -> int:
        key = self._pending[0].key
        return sum(len(j.rows) for j in self._pending if j.key == key)

    def _take(self) -> list[Job]:
        """The oldest job and the jobs after it that sample alike, within `max_batch` rows."""
        jobs, rows, key = [], 0, self._pending[0].key
        for job in list(self._pending):
            if job.cancelled:
                self._pending.remove(job)
                _deliver(job, [Output("", 0, 0, "cancelled")] * len(job.rows))
            elif job.key == key and (not jobs or rows + len(job.rows) <= self.max_batch):
                self._pending.remove(job)
                jobs.append(job)
                rows += len(job.rows)
        return jobs

    def _run(self, jobs: list[Job]) -> None:
        rows = [r for j in jobs for r in j.rows]
        do_sample, temperature, top_p = jobs[0].sampling
        start = time.monotonic()
        try:
            outputs = self.engine.run(rows, do_sample, temperature, top_p, seed=jobs[0].seed)
        except Exception as e:  # noqa: BLE001 - one bad request must not fail the others
            unanswered = [j for j in jobs if any(o is None for o in j.outputs)]
            if len(unanswered) > 1:
                for job in unanswered:
                    job.outputs = [None] * len(job.rows)
                    self._run([job])
            elif unanswered:
                _deliver(unanswered[0], e)
            return
        if self.metrics is not None:
            self.metrics.batch(len(rows), sum(o.completion_tokens for o in outputs), time.monotonic() - start)
        i = 0
        for job in jobs:  # answered as their rows ended, unless the engine does not call `on_end`
            mine, i = outputs[i:i + len(job.rows)], i + len(job.rows)
            if any(o is None for o in job.outputs):
                _deliver(job, mine)

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.set(len(self._pending))


def _deliver(job: Job, result: list[Output] | BaseException) -> None:
    def settle():
        if not job.future.done():
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)
        if job.events is not None:
            job.events.put_nowait(None)

    try:
        job.loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the event loop has closed (server shutting down)
        pass
