"""The batcher with a stand-in engine: requests that arrive together run together, a full queue
refuses, a failing request fails alone, a waiting request that is cancelled never runs, and a
short answer does not wait for its batch."""
from __future__ import annotations

import asyncio
import time

import pytest

from medmllm.engine import Output, Row
from medmllm.serve.batcher import Batcher, QueueFull


class FakeEngine:
    """Records each batch; a row whose sample says "bad" makes the whole batch raise."""

    def __init__(self, delay=0.05):
        self.batches, self.delay = [], delay

    def run(self, rows, do_sample=False, temperature=1.0, top_p=1.0, seed=None):
        self.batches.append([r.sample["q"] for r in rows])
        time.sleep(self.delay)
        if any(r.sample["q"] == "bad" for r in rows):
            raise RuntimeError("boom")
        for r in rows:
            if r.on_text:
                r.on_text("ans-")
                r.on_text(r.sample["q"])
        return [Output("ans-" + r.sample["q"], 3, 2, "stop") for r in rows]


def _submit(batcher, q, n=1, sampling=(False, 1.0, 1.0), seed=None, stream=False):
    return batcher.submit([Row({"q": q}, 4) for _ in range(n)], sampling, seed, stream)


def test_concurrent_requests_share_a_batch_and_a_failure_stays_alone():
    engine = FakeEngine()
    batcher = Batcher(engine, max_batch=8, window_s=0.05, max_queue=32)

    async def main():
        jobs = [_submit(batcher, q) for q in ("a", "b", "bad", "c")]
        return await asyncio.gather(*(j.future for j in jobs), return_exceptions=True)

    a, b, bad, c = asyncio.run(main())
    batcher.close()
    assert engine.batches[0] == ["a", "b", "bad", "c"]  # one batch, which failed ...
    assert [o.text for o in a + b + c] == ["ans-a", "ans-b", "ans-c"]  # ... so each ran alone
    assert isinstance(bad, RuntimeError)


def test_sampling_requests_do_not_join_greedy_ones_and_seeded_ones_run_alone():
    engine = FakeEngine()
    batcher = Batcher(engine, max_batch=8, window_s=0.05, max_queue=32)

    async def main():
        jobs = [_submit(batcher, "g1"), _submit(batcher, "s1", sampling=(True, 0.7, 1.0)), _submit(batcher, "g2"),
                _submit(batcher, "seeded", sampling=(True, 0.7, 1.0), seed=3), _submit(batcher, "s2", sampling=(True, 0.7, 1.0))]
        await asyncio.gather(*(j.future for j in jobs))

    asyncio.run(main())
    batcher.close()
    assert sorted(map(sorted, engine.batches)) == [["g1", "g2"], ["s1", "s2"], ["seeded"]]


def test_full_queue_refuses_and_streams_deliver_pieces():
    engine = FakeEngine(delay=0.3)
    batcher = Batcher(engine, max_batch=1, window_s=0.0, max_queue=2)

    async def main():
        first = _submit(batcher, "x", stream=True)
        await asyncio.sleep(0.1)  # the worker has taken it; two more fill the queue
        _submit(batcher, "y")
        _submit(batcher, "z")
        with pytest.raises(QueueFull):
            _submit(batcher, "w")
        pieces = []
        while (event := await first.events.get()) is not None:
            pieces.append(event)
        return pieces

    assert asyncio.run(main()) == [(0, "ans-"), (0, "x")]
    batcher.close()


def test_a_cancelled_waiting_request_is_never_run():
    engine = FakeEngine(delay=0.2)
    batcher = Batcher(engine, max_batch=1, window_s=0.0, max_queue=8)

    async def main():
        _submit(batcher, "first")
        await asyncio.sleep(0.05)
        gone = _submit(batcher, "gone")
        gone.cancelled = True
        return await gone.future

    out = asyncio.run(main())
    batcher.close()
    assert out[0].finish_reason == "cancelled" and ["gone"] not in engine.batches


def test_a_short_answer_is_returned_before_its_batch_ends():
    from medmllm.engine import Engine

    class Steps(Engine):
        """Rows end after as many steps as their budget, one step every 50 ms, calling `on_end`."""

        def __init__(self):
            pass

        def run(self, rows, *args, **kw):
            outs = [None] * len(rows)
            for step in range(1, max(r.max_new_tokens for r in rows) + 1):
                time.sleep(0.05)
                for i, r in enumerate(rows):
                    if r.max_new_tokens == step:
                        outs[i] = Output("x" * step, 1, step, "length")
                        r.on_end(outs[i])
            return outs

    batcher = Batcher(Steps(), max_batch=4, window_s=0.05, max_queue=8)

    async def main():
        short = batcher.submit([Row({}, 1)], (False, 1.0, 1.0), None, False)
        long = batcher.submit([Row({}, 10)], (False, 1.0, 1.0), None, False)
        await short.future
        return long.future.done()

    assert asyncio.run(main()) is False
    batcher.close()
