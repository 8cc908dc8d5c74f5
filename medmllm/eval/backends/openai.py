"""Any OpenAI-compatible chat-completions endpoint (vLLM, `transformers serve`, a hosted model).

Images go as base64 data URLs in the message (PNG/JPEG files as they are; DICOM and others
rendered to 8-bit PNG after windowing); the blank check sends a black PNG. Requests run with
bounded concurrency, a timeout, and retries with exponential backoff on 429/5xx/connection
errors. Volumes and ECGs have no place in that API and are refused per item.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ...errors import MedMLLMError
from . import BACKENDS

_PLACEHOLDER = "<image>"
THINK_INSTRUCTION = ("Think step by step inside <think></think>, then give only the final answer inside "
                     "<answer></answer>.")


def image_url(path: str | None) -> str:
    """A data URL for an image file (None: a black 224x224 PNG)."""
    if path is not None:
        with open(path, "rb") as f:
            head = f.read(8)
        if head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff"):
            mime = "image/png" if head.startswith(b"\x89PNG") else "image/jpeg"
            return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode()
    import numpy as np
    from PIL import Image

    if path is None:
        arr = np.zeros((224, 224), np.uint8)
    else:
        from ...data.io import read_image

        arr = (read_image(path) * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def messages(item: dict, blank: bool) -> list[dict]:
    """The item's turns as chat messages; each <image> placeholder becomes an image part, in order."""
    if any(m != "image" for m in item["inputs"]):
        raise MedMLLMError(f"{item['where']}: the OpenAI chat API takes images only, not "
                           f"{', '.join(m for m in item['inputs'] if m != 'image')}")
    images = iter(item["inputs"].get("image", []))
    out = []
    for turn in item["history"]:
        role, text = turn["role"], turn["content"]
        if _PLACEHOLDER not in text:
            out.append({"role": role, "content": text})
            continue
        parts = []
        for k, piece in enumerate(text.split(_PLACEHOLDER)):
            if k:
                parts.append({"type": "image_url", "image_url": {"url": image_url(None if blank else next(images))}})
            if piece.strip():
                parts.append({"type": "text", "text": piece.strip()})
        out.append({"role": role, "content": parts})
    return out


@BACKENDS.register("openai")
class OpenAIBackend:
    def __init__(self, url: str, model: str, api_key: str | None = None, concurrency: int = 4, retries: int = 4,
                 timeout: float = 120.0, batch_size: int = 16, temperature: float = 0.0):
        self.url = url.rstrip("/")
        if not self.url.endswith("/chat/completions"):
            self.url += "/chat/completions" if self.url.endswith("/v1") else "/v1/chat/completions"
        self.model, self.name = model, f"{model} @ {url}"
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.concurrency, self.retries, self.timeout = concurrency, retries, timeout
        self.batch_size, self.temperature = batch_size, temperature

    def fingerprint(self) -> str:
        return "openai:" + hashlib.sha256(f"{self.url}|{self.model}|{self.temperature}".encode()).hexdigest()[:16]

    def tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # the endpoint's tokenizer is unknown: ~4 characters per token

    def answer(self, items: list[dict], blank: bool, max_new_tokens: int, think: bool = False,
               temperature: float = 0.0) -> list[str | MedMLLMError]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda it: self._one(it, blank, max_new_tokens, think, temperature), items))

    def _one(self, item: dict, blank: bool, max_new_tokens: int, think: bool = False,
             temperature: float = 0.0) -> str | MedMLLMError:
        try:
            chat = messages(item, blank)
            if think:  # a chat API has no answer prefix: ask for the format instead
                chat = [{"role": "system", "content": THINK_INSTRUCTION}] + chat
            body = {"model": self.model, "messages": chat, "max_tokens": max_new_tokens,
                    "temperature": temperature or self.temperature}
        except MedMLLMError as e:
            return e
        except OSError as e:
            return MedMLLMError(f"{item['where']}: cannot read input ({e})")
        return self._post(body, item["where"])

    def chat(self, messages: list[dict], max_tokens: int, where: str = "request") -> str:
        """One chat completion for ready-made `messages` (the reply text); raises MedMLLMError like `answer`."""
        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": self.temperature}
        return self._post(body, where)

    def _post(self, body: dict, where: str) -> str:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.retries + 1):
            try:
                req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    reply = json.loads(resp.read())
                return str(reply["choices"][0]["message"]["content"] or "").strip()
            except urllib.error.HTTPError as e:
                if e.code not in (408, 409, 429) and e.code < 500 or attempt == self.retries:
                    raise MedMLLMError(f"{self.url}: HTTP {e.code} for {where} "
                                       f"({e.read()[:120].decode(errors='replace')})") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                if attempt == self.retries:
                    raise MedMLLMError(f"{self.url}: unreachable after {self.retries + 1} tries ({e})") from None
            except (KeyError, IndexError, ValueError) as e:
                raise MedMLLMError(f"{self.url}: not an OpenAI chat-completions reply ({e})") from None
            time.sleep(min(30.0, 0.5 * 2 ** attempt))
        raise AssertionError("unreachable")
