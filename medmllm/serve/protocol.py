"""The OpenAI chat-completions wire format: request models (pydantic), response and stream-chunk
builders, and the error shape `{"error": {"message", "type", "param", "code"}}`.

Requests are validated strictly (a string is not a number), unknown top-level fields are ignored
as OpenAI's own server does, and validation messages are built here from the field path and the
kind of error only: pydantic's own messages quote the input, which may be patient text.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class TextPart(Strict):
    type: Literal["text"]
    text: str


class ImageURL(Strict):
    url: str
    detail: str | None = None


class ImagePart(Strict):
    type: Literal["image_url"]
    image_url: ImageURL


class FileData(Strict):
    file_data: str
    """A base64 `data:` URL (or bare base64) of the file: DICOM, a zip of a DICOM series or WFDB record, NIfTI."""
    filename: str | None = None


class FilePart(Strict):
    type: Literal["file"]
    file: FileData


Part = Annotated[Union[TextPart, ImagePart, FilePart], Field(discriminator="type")]


class Message(Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[Part] | None = None


class ChatTemplateKwargs(Strict):
    enable_thinking: bool = False
    """vLLM's switch: the answer starts with `<think>` and comes back split into `reasoning_content` and `content`."""


class StreamOptions(Strict):
    include_usage: bool = False


class ChatCompletionRequest(Strict):
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    n: int = Field(default=1, ge=1, le=64)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    chat_template_kwargs: ChatTemplateKwargs | None = None
    vote: bool = False
    """Extension: with `n` > 1, a majority vote over the n answers is returned as `vote`."""

    @property
    def thinking(self) -> bool:
        return bool(self.chat_template_kwargs and self.chat_template_kwargs.enable_thinking)

    @property
    def stops(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    @property
    def sampling(self) -> bool:
        """Sampling only when a temperature above 0 is asked for; otherwise greedy (the model's own
        generation config, as vLLM takes it, and every medmllm model's is greedy)."""
        return self.temperature is not None and self.temperature > 0


class APIError(Exception):
    """An error answered in OpenAI's shape with an HTTP status."""

    TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
             405: "invalid_request_error", 413: "invalid_request_error", 422: "invalid_request_error",
             429: "rate_limit_error", 500: "internal_error", 503: "service_unavailable", 504: "timeout"}

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.headers = status, message, param, code, headers

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}


_TYPE_NAMES = {"str", "int", "float", "bool", "list", "dict", "none"}
_PART_TAGS = {"text", "image_url", "file"}


def validation_error(e: ValidationError) -> APIError:
    """Pydantic's deepest error (for a union, the branch that got furthest) as a 422 naming the field
    path, without echoing the value."""
    err = max(e.errors(include_input=False, include_url=False), key=lambda x: len(x["loc"]))
    loc = list(err["loc"])
    path = [x for k, x in enumerate(loc) if isinstance(x, int) or not (
        "[" in x or x in _TYPE_NAMES or (x in _PART_TAGS and k and isinstance(loc[k - 1], int) and k + 1 < len(loc)))]
    where = ".".join(str(x) if not isinstance(x, int) else f"[{x}]" for x in path).replace(".[", "[")
    what = {"missing": "is required", "model_type": "should be a JSON object"}.get(err["type"])
    if what is None:
        what = err["msg"].replace("Input should", "should")
    return APIError(422, f"{where or 'body'}: {what}", param=where or None, code=err["type"])


async def read_body(request, limit: int) -> bytes:
    """A request's body, or 413 past `limit` bytes (the rest is read and dropped, so the client sees the answer)."""
    declared = request.headers.get("content-length", "")
    too_big = APIError(413, f"the request body exceeds the limit of {limit:,} bytes (--max-body-mb)",
                       code="request_too_large")
    chunks, total = [], 0
    if declared.isdigit() and int(declared) > limit:
        chunks = None
    async for piece in request.stream():
        total += len(piece)
        if chunks is None or total > limit:
            chunks = None
            if total > 4 * limit:
                break
            continue
        chunks.append(piece)
    if chunks is None:
        raise too_big
    return b"".join(chunks)


Model = TypeVar("Model", bound=BaseModel)


def parse_json(body: bytes, model: type[Model]) -> Model:
    """A JSON body validated as `model`; 400 for bad JSON, 422 naming the first bad field."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as e:
        where = f" ({e.msg} at line {e.lineno} column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
        raise APIError(400, f"the body is not valid JSON{where}", code="invalid_json") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise validation_error(e) from None
    except RecursionError:
        raise APIError(400, "the body is nested too deeply", code="invalid_json") from None


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def completion(cid: str, model: str, choices: list[dict], prompt_tokens: int, completion_tokens: int) -> dict:
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": choices, "usage": usage(prompt_tokens, completion_tokens)}


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def choice(index: int, content: str, finish_reason: str, reasoning: str | None = None) -> dict:
    message = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return {"index": index, "message": message, "finish_reason": finish_reason, "logprobs": None}


def chunk(cid: str, model: str, created: int, index: int, delta: dict, finish_reason: str | None = None) -> dict:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]}
