"""`medmllm serve` under load, on this CPU: batching against one request at a time, latency
percentiles, 100 concurrent clients, peak memory, and greedy answers against `medmllm chat`.

    .venv/bin/medmllm demo --quick --out /tmp/qdemo          # or the full demo: runs/demo
    .venv/bin/python benchmarks/serving.py --model /tmp/qdemo/model --data /tmp/qdemo/data [--threads 1]

1. Equality: 50 x-ray test questions, sent 8 at a time (so they are batched), against
   `Engine.chat` (the call behind `medmllm chat`) one at a time, and 3 of them against the real
   `medmllm chat` command.
2. Throughput: 16 clients, each sending its next question as soon as the last is answered, for
   `--requests` questions in all; once with `--max-batch 16`, once with `--max-batch 1` (one request
   at a time, what a server without batching does). Requests/s, completion tokens/s, p50/p95 latency.
   Two workloads: the x-ray VQA questions (answers of a word or two: the cost is mostly per request)
   and report requests (a few dozen tokens each: the cost is mostly decoding).
3. 100 concurrent clients at once (queue 64): how many got 200 and 429, the server alive after,
   and the server's peak resident memory (VmHWM) over the whole run.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from openai import AsyncOpenAI, RateLimitError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(model: Path, *flags: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "medmllm.cli", "serve", "--model", str(model), "--port", str(port),
                             *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("server did not start")


def stop(proc: subprocess.Popen) -> int:
    """Stop by process id; returns the peak resident memory (MB) the kernel recorded."""
    peak = 0
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) // 1024
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    return peak


def questions(data: Path, n: int, task: str = "vqa") -> list[tuple[str, str]]:
    out = []
    lines = (data / f"xray_{task}_test.jsonl").read_text().splitlines()
    for line in (lines * (n // len(lines) + 1))[:n]:
        rec = json.loads(line)
        out.append((str(data / rec["image"]), rec["conversations"][0]["value"].split("\n", 1)[1]))
    return out


def message(path: str, question: str) -> list[dict]:
    url = "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": question}]}]


async def ask_all(url: str, qs, clients: int, max_tokens: int) -> tuple[list, list[float], int, float]:
    gate, answers, latencies, tokens = asyncio.Semaphore(clients), [None] * len(qs), [], [0]

    async def one(i, path, q):
        async with gate:
            t = time.perf_counter()
            r = await client.chat.completions.create(model="x", messages=message(path, q),
                                                     max_tokens=max_tokens, temperature=0)
            latencies.append(time.perf_counter() - t)
            answers[i] = r.choices[0].message.content
            tokens[0] += r.usage.completion_tokens

    async with AsyncOpenAI(base_url=url + "/v1", api_key="-", max_retries=0, timeout=600) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i, p, q) for i, (p, q) in enumerate(qs)))
        return answers, latencies, tokens[0], time.perf_counter() - t0


async def burst(url: str, path: str, q: str, n: int) -> list[int]:
    async def one():
        try:
            await client.chat.completions.create(model="x", messages=message(path, q), max_tokens=16, temperature=0)
            return 200
        except RateLimitError:
            return 429

    async with AsyncOpenAI(base_url=url + "/v1", api_key="-", max_retries=0, timeout=600) as client:
        return await asyncio.gather(*(one() for _ in range(n)))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def throughput(url: str, qs, max_tokens: int) -> dict:
    _, lat, tokens, wall = asyncio.run(ask_all(url, qs, 16, max_tokens))
    return {"requests": len(lat), "seconds": round(wall, 2), "requests_per_s": round(len(lat) / wall, 2),
            "tokens_per_s": round(tokens / wall, 1), "mean_tokens": round(tokens / len(lat), 1),
            "p50_s": round(statistics.median(lat), 3), "p95_s": round(pct(lat, 95), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--requests", type=int, default=96)
    ap.add_argument("--threads", type=int, default=0, help="the server's --threads")
    args = ap.parse_args()
    from medmllm.engine import load

    vqa, reports = questions(args.data, args.requests), questions(args.data, args.requests, "report")
    engine = load(args.model)
    expected = [engine.chat(q, image=p, max_new_tokens=32) for p, q in vqa[:50]]
    cli = [subprocess.run([sys.executable, "-m", "medmllm.cli", "chat", q, "--model", str(args.model), "--image", p,
                           "--max-new-tokens", "32"], capture_output=True, text=True).stdout.strip() for p, q in vqa[:3]]
    del engine
    results = {"cli_equals_engine": cli == expected[:3], "threads": args.threads}
    for batch in (16, 1):
        proc, url = start(args.model, "--max-batch", str(batch), "--served-model-name", "x",
                          "--threads", str(args.threads))
        if batch == 16:
            got, *_ = asyncio.run(ask_all(url, vqa[:50], 8, 32))
            results["equal_answers_of_50"] = sum(a == b for a, b in zip(got, expected))
        results[f"vqa_max_batch_{batch}"] = throughput(url, vqa, 32)
        results[f"report_max_batch_{batch}"] = throughput(url, reports, 96)
        if batch == 16:
            codes = asyncio.run(burst(url, *vqa[0], 100))
            results["burst_100"] = {"200": codes.count(200), "429": codes.count(429),
                                    "alive_after": httpx.get(url + "/health").status_code == 200}
        results[f"peak_rss_mb_max_batch_{batch}"] = stop(proc)
    for task in ("vqa", "report"):
        results[f"{task}_speedup"] = round(results[f"{task}_max_batch_16"]["requests_per_s"]
                                           / results[f"{task}_max_batch_1"]["requests_per_s"], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
