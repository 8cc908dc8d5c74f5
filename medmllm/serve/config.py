"""`ServeConfig`: every setting of `medmllm serve`, typed and range-checked (the CLI flags map onto it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..checks import at_least, below, positive


@dataclass
class ServeConfig:
    """How the server listens, batches, and what it accepts. Defaults are the safe ones: loopback
    only, no CORS, no local files, remote URLs never fetched."""

    model: Path
    """A saved medmllm model folder (full or adapter)."""
    served_model_name: str = ""
    """The id clients send as `model`; empty: the folder's name."""
    host: str = "127.0.0.1"
    """Interface to bind; anything but loopback exposes the model (and what is sent to it) to the network."""
    port: int = 8000
    """TCP port; 0 picks a free one (printed at start)."""
    api_key: str | None = None
    """When set, every request but `/health` and the page itself needs `Authorization: Bearer <key>`."""
    max_batch: int = 16
    """Most answers generated together in one `generate` call (a request with `n` > 1 counts n)."""
    batch_window_ms: float = 10.0
    """How long the first waiting request waits for others to join its batch."""
    max_queue: int = 64
    """Most requests waiting for a batch; one more gets 429 with `Retry-After`."""
    request_timeout: float = 300.0
    """Seconds a request may wait and generate before it is ended with 504."""
    max_body_mb: float = 64.0
    """Largest request body in MiB (base64 files included); larger gets 413."""
    max_unzipped_mb: float = 1024.0
    """Most MiB a zipped series or record may unpack to."""
    default_max_tokens: int = 256
    """Answer length when a request gives no `max_tokens` (always capped by the model's context)."""
    threads: int = 0
    """CPU threads for generation; 0: the cores other processes leave free, looked at again every few
    seconds (`medmllm/threads.py`)."""
    allowed_local_media_path: Path | None = None
    """`file://` URLs are read only from inside this folder; None refuses them all."""
    cors_origins: list[str] = field(default_factory=list)
    """Origins allowed to call the API from a browser page served elsewhere; empty: CORS off."""
    ui: bool = True
    """Serve the viewer-chat page at `/`."""

    def __post_init__(self):
        self.model = Path(self.model)
        self.served_model_name = self.served_model_name or self.model.resolve().name
        below("port", self.port, 0, 65536)
        for name in ("max_batch", "max_queue", "default_max_tokens"):
            at_least(name, getattr(self, name), 1)
        for name in ("request_timeout", "max_body_mb", "max_unzipped_mb"):
            positive(name, getattr(self, name))
        at_least("batch_window_ms", self.batch_window_ms, 0)
        at_least("threads", self.threads, 0)
        if self.allowed_local_media_path is not None:
            self.allowed_local_media_path = Path(self.allowed_local_media_path).resolve()

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * (1 << 20))

    @property
    def max_unzipped_bytes(self) -> int:
        return int(self.max_unzipped_mb * (1 << 20))
