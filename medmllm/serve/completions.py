"""`POST /v1/chat/completions`: a validated request -> engine rows -> a JSON answer or an SSE stream.

The request's files are read in a worker thread (at most two at a time, which bounds the memory
that decoding takes), the conversation becomes one sample (`Engine.conversation`, which checks the
placeholder count), and `n` rows of it go to the batcher. A non-streaming request polls for its
client while it waits: a closed connection cancels its rows. A stream ends the same way when the
client goes (the response generator is cancelled and cancels the job).
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import AsyncIterator

from ..answers import split
from ..engine import Row
from ..errors import MedMLLMError
from ..reasoning import THINK_PREFIX, vote
from .batcher import Batcher, Job, QueueFull
from .media import read_messages
from .protocol import APIError, ChatCompletionRequest, choice, chunk, completion, new_id, usage


class Disconnected(Exception):
    """The client closed the connection before its answer was ready."""


async def prepare(req: ChatCompletionRequest, state) -> list[Row]:
    """The request's `n` rows, or a 400 naming what is wrong."""
    engine, cfg = state.engine, state.cfg
    if req.n > cfg.max_batch:
        raise APIError(400, f"n: {req.n} answers exceed the server's batch size of {cfg.max_batch}", param="n")
    async with state.decoding:
        turns, inputs = await asyncio.to_thread(read_messages, req.messages, engine.processor,
                                                cfg.allowed_local_media_path, cfg.max_unzipped_bytes)
    if not turns or turns[-1]["role"] == "assistant":
        raise APIError(400, "messages: the last message must be the user's (or the system's)", param="messages")
    try:
        sample = await asyncio.to_thread(engine.conversation, turns, inputs, THINK_PREFIX if req.thinking else "")
    except MedMLLMError as e:
        raise APIError(400, f"messages: {e}", param="messages") from None
    context = state.context
    prompt = int(sample["input_ids"].shape[0])
    if prompt >= context:
        raise APIError(400, f"messages: the prompt is {prompt} tokens and the model's context is {context}",
                       param="messages", code="context_length_exceeded")
    budget = min(req.max_completion_tokens or req.max_tokens or cfg.default_max_tokens, context - prompt)
    return [Row(sample, budget, req.stops) for _ in range(req.n)]


def submit(req: ChatCompletionRequest, rows: list[Row], batcher: Batcher) -> Job:
    sampling = (req.sampling, float(req.temperature or 1.0), float(req.top_p or 1.0))
    try:
        return batcher.submit(rows, sampling, req.seed, req.stream)
    except QueueFull:
        raise APIError(429, f"the server is busy ({batcher.depth()} requests waiting); retry shortly",
                       code="queue_full", headers={"Retry-After": "1"}) from None


async def answer(req: ChatCompletionRequest, job: Job, model: str, timeout: float, disconnected) -> dict:
    """Wait for the job, ending it when the client goes or the timeout passes."""
    deadline = time.monotonic() + timeout
    while not job.future.done():
        await asyncio.wait([job.future], timeout=min(0.25, max(0.0, deadline - time.monotonic())))
        if job.future.done():
            break
        if await disconnected():
            job.cancelled = True
            raise Disconnected
        if time.monotonic() >= deadline:
            job.cancelled = True
            raise APIError(504, f"the request took longer than {timeout:g} s", code="timeout")
    outputs = job.future.result()
    choices = []
    for i, out in enumerate(outputs):
        if req.thinking:
            reasoning, content = split(THINK_PREFIX + out.text)
            choices.append(choice(i, content, out.finish_reason, reasoning))
        else:
            choices.append(choice(i, out.text, out.finish_reason))
    body = completion(new_id(), model, choices, outputs[0].prompt_tokens, sum(o.completion_tokens for o in outputs))
    if req.vote and len(outputs) > 1:
        reply = vote([(THINK_PREFIX if req.thinking else "") + o.text for o in outputs])
        body["vote"] = {"answer": reply.answer, "votes": reply.votes}
    return body


async def stream(req: ChatCompletionRequest, job: Job, model: str, timeout: float) -> AsyncIterator[bytes]:
    """Server-sent events in OpenAI's chunk format, then `data: [DONE]`."""
    cid, created = new_id(), int(time.time())
    splitters = [_Splitter(req.thinking) for _ in job.rows]
    deadline = time.monotonic() + timeout
    try:
        for i in range(len(job.rows)):
            yield _sse(chunk(cid, model, created, i, {"role": "assistant", "content": ""}))
        while True:
            try:
                event = await asyncio.wait_for(job.events.get(), timeout=max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                job.cancelled = True
                yield _sse(APIError(504, f"the request took longer than {timeout:g} s", code="timeout").body())
                break
            if event is None:
                break
            i, piece = event
            for delta in splitters[i].feed(piece):
                yield _sse(chunk(cid, model, created, i, delta))
        if job.future.done() and not job.future.cancelled():
            error = job.future.exception()
            if error is not None:
                yield _sse(_error_body(error))
            else:
                outputs = job.future.result()
                for i, out in enumerate(outputs):
                    for delta in splitters[i].finish(out.text):
                        yield _sse(chunk(cid, model, created, i, delta))
                    yield _sse(chunk(cid, model, created, i, {}, out.finish_reason))
                if req.stream_options and req.stream_options.include_usage:
                    tail = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                            "choices": [], "usage": usage(outputs[0].prompt_tokens,
                                                          sum(o.completion_tokens for o in outputs))}
                    yield _sse(tail)
        yield b"data: [DONE]\n\n"
    finally:  # the client went away (or we are done): stop generating for it
        job.cancelled = True


def _error_body(error: BaseException) -> dict:
    if isinstance(error, MedMLLMError):
        return APIError(400, str(error)).body()
    return APIError(500, f"internal error ({type(error).__name__})").body()


def _sse(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


class _Splitter:
    """Streamed text -> `content` deltas, or with thinking `reasoning_content` then `content` deltas,
    such that the pieces add up to the non-streamed fields. A tail that may be the start of a tag
    (`<` with no `>` after it) is held back until the next piece shows what it is."""

    def __init__(self, thinking: bool):
        self.thinking, self.raw, self.sent = thinking, "", {"reasoning_content": "", "content": ""}

    def feed(self, piece: str) -> list[dict]:
        self.raw += piece
        if not self.thinking:
            return self._deltas({"content": self.raw})
        reasoning, content = split(THINK_PREFIX + self.raw)
        return self._deltas({"reasoning_content": _untagged(reasoning), "content": _untagged(content)})

    def finish(self, text: str) -> list[dict]:
        if not self.thinking:
            return self._deltas({"content": text})
        reasoning, content = split(THINK_PREFIX + text)
        return self._deltas({"reasoning_content": reasoning, "content": content})

    def _deltas(self, fields: dict[str, str]) -> list[dict]:
        out = []
        for key, value in fields.items():
            sent = self.sent[key]
            if len(value) > len(sent) and value.startswith(sent):
                out.append({key: value[len(sent):]})
                self.sent[key] = value
        return out


def _untagged(text: str) -> str:
    cut = text.rfind("<")
    return text[:cut] if cut >= 0 and ">" not in text[cut:] else text
