"""`medmllm serve` through the official openai client, sync and async, streaming and not: every
kind of file part, greedy answers equal to `medmllm chat`'s, thinking, limits and load."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from openai import AsyncOpenAI, OpenAI

from conftest import part

QUESTIONS = {"xray/xray-00000.png": "Is there a pleural effusion?", "xray/xray-00000.dcm": "Is there a pleural effusion?",
             "ct/ct-00000.nii.gz": "Is there a liver lesion?", "ecg/ecg-00000": "What is the rhythm?"}


def _client(server, **kw):
    return OpenAI(base_url=server.url + "/v1", api_key=server.key, max_retries=0, **kw)


def _ask(data, rel, question):
    return [{"role": "user", "content": [part(data, rel), {"type": "text", "text": question}]}]


@pytest.mark.parametrize("rel", list(QUESTIONS))
def test_each_file_kind_sync_stream_and_not(server, trained, rel):
    _, data = trained
    client = _client(server)
    messages = _ask(data, rel, QUESTIONS[rel])
    reply = client.chat.completions.create(model="model", messages=messages, max_tokens=12, temperature=0)
    text = reply.choices[0].message.content
    assert text.strip() and reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 4 and 1 <= reply.usage.completion_tokens <= 12
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    chunks = list(client.chat.completions.create(model="model", messages=messages, max_tokens=12, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].usage.completion_tokens == reply.usage.completion_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == reply.choices[0].finish_reason


def test_async_client_streams_every_kind_at_once(server, trained):
    _, data = trained

    async def main():
        client = AsyncOpenAI(base_url=server.url + "/v1", api_key=server.key, max_retries=0)

        async def one(rel):
            messages = _ask(data, rel, QUESTIONS[rel])
            full = await client.chat.completions.create(model="model", messages=messages, max_tokens=10)
            stream = await client.chat.completions.create(model="model", messages=messages, max_tokens=10, stream=True)
            pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            return full.choices[0].message.content, "".join(pieces)

        return await asyncio.gather(*(one(rel) for rel in QUESTIONS))

    for full, streamed in asyncio.run(main()):
        assert full.strip() and full == streamed


def _questions(data, n=50):
    out = []
    for modality, key in (("xray", "image"), ("ct", "volume"), ("ecg", "ecg")):
        for line in (data / f"{modality}_vqa_test.jsonl").read_text().splitlines():
            rec = json.loads(line)
            question = rec["conversations"][0]["value"].split("\n", 1)[1]
            out.append((key, rec[key], question))
    return out[:n]


def test_greedy_answers_equal_medmllm_chat_on_50_questions(server, trained):
    """Sent concurrently (so they are batched with each other) and compared with `Engine.chat`, the
    call behind `medmllm chat`, one question at a time."""
    from medmllm.engine import load

    model, data = trained
    questions = _questions(data)
    assert len(questions) == 50
    engine = load(model)
    expected = [engine.chat(q, **{key: data / rel}, max_new_tokens=16) for key, rel, q in questions]

    async def main():
        client = AsyncOpenAI(base_url=server.url + "/v1", api_key=server.key, max_retries=0)
        gate = asyncio.Semaphore(8)

        async def one(rel, q):
            async with gate:
                r = await client.chat.completions.create(model="model", messages=_ask(data, rel, q),
                                                         max_tokens=16, temperature=0)
                return r.choices[0].message.content

        return await asyncio.gather(*(one(rel, q) for _, rel, q in questions))

    got = asyncio.run(main())
    assert got == expected
    metrics = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {server.key}"}).text
    batched = [line for line in metrics.splitlines() if line.startswith("medmllm_batch_size_bucket") and 'le="1.0"' in line]
    total = [line for line in metrics.splitlines() if line.startswith("medmllm_batch_size_count")]
    assert float(batched[0].split()[-1]) < float(total[0].split()[-1])  # some batches held more than one


def test_several_turns_keep_the_earlier_image(server, trained):
    _, data = trained
    client = _client(server)
    first = _ask(data, "xray/xray-00000.png", "Is there a pleural effusion?")
    answer = client.chat.completions.create(model="model", messages=first, max_tokens=6).choices[0].message.content
    follow = first + [{"role": "assistant", "content": answer}, {"role": "user", "content": "Is there cardiomegaly?"},
                      ]
    second = client.chat.completions.create(model="model", messages=[{"role": "system", "content": "Answer briefly."},
                                                                     *follow], max_tokens=6)
    assert second.choices[0].message.content.strip()
    assert second.usage.prompt_tokens > client.chat.completions.create(
        model="model", messages=first, max_tokens=1).usage.prompt_tokens


def test_thinking_gives_reasoning_apart_streamed_too(server, trained):
    _, data = trained
    client = _client(server)
    kw = dict(model="model", messages=_ask(data, "ecg/ecg-00000", "What is the rhythm?"), max_tokens=24,
              extra_body={"chat_template_kwargs": {"enable_thinking": True}})
    reply = client.chat.completions.create(**kw).choices[0].message
    reasoning = reply.model_extra["reasoning_content"]
    assert isinstance(reasoning, str) and "<think>" not in reasoning and "<think>" not in reply.content
    chunks = [c.choices[0].delta for c in client.chat.completions.create(**kw, stream=True) if c.choices]
    assert "".join((d.model_extra or {}).get("reasoning_content") or "" for d in chunks) == reasoning
    assert "".join(d.content or "" for d in chunks) == reply.content


def test_n_sampling_seed_and_vote(server, trained):
    _, data = trained
    client = _client(server)
    kw = dict(model="model", messages=_ask(data, "xray/xray-00001.png", "Is there cardiomegaly?"), max_tokens=8,
              n=4, temperature=1.5, seed=7, extra_body={"vote": True})
    a, b = client.chat.completions.create(**kw), client.chat.completions.create(**kw)
    assert [c.index for c in a.choices] == [0, 1, 2, 3]
    assert [c.message.content for c in a.choices] == [c.message.content for c in b.choices]  # the seed holds
    from medmllm.reasoning import normalise

    votes = a.model_extra["vote"]["votes"]
    assert sum(votes.values()) == 4 and normalise(a.model_extra["vote"]["answer"]) in votes


def test_max_tokens_and_stop(server, trained):
    _, data = trained
    client = _client(server)
    messages = _ask(data, "ecg/ecg-00000", "Describe the ECG.")
    one = client.chat.completions.create(model="model", messages=messages, max_completion_tokens=1)
    assert one.choices[0].finish_reason == "length" and one.usage.completion_tokens == 1
    full = client.chat.completions.create(model="model", messages=messages, max_tokens=20).choices[0].message.content
    word = full.split()[1] if len(full.split()) > 1 else full[1:3]
    cut = client.chat.completions.create(model="model", messages=messages, max_tokens=20, stop=[word])
    assert cut.choices[0].message.content == full[:full.find(word)].rstrip()
    assert cut.choices[0].finish_reason == "stop"
