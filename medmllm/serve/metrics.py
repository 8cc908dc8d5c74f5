"""`/metrics`: Prometheus text for requests, queue depth, batch sizes, tokens/s and latency."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """One registry per server (never the process-global one, so two apps in a test do not clash)."""

    def __init__(self):
        r = self.registry = CollectorRegistry()
        self.requests = Counter("medmllm_requests", "Requests answered, by endpoint and HTTP status.",
                                ["endpoint", "status"], registry=r)
        self.queue_depth = Gauge("medmllm_queue_depth", "Requests waiting for a batch.", registry=r)
        self.batch_size = Histogram("medmllm_batch_size", "Answers generated together in one generate call.",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
        self.tokens = Counter("medmllm_generated_tokens", "Completion tokens generated.", registry=r)
        self.tokens_per_second = Gauge("medmllm_tokens_per_second",
                                       "Completion tokens per second of the last batch.", registry=r)
        self.latency = Histogram("medmllm_request_latency_seconds", "Time from request to its last token.",
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300), registry=r)

    def batch(self, rows: int, tokens: int, seconds: float) -> None:
        self.batch_size.observe(rows)
        self.tokens.inc(tokens)
        self.tokens_per_second.set(tokens / seconds if seconds > 0 else 0.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
