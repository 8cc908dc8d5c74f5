"""An optional LLM-as-judge through any OpenAI-compatible chat-completions endpoint.

``judge(items, url, model)`` asks the judge model, once per item and with the fixed prompt
``JUDGE_PROMPT`` (question, reference answer, candidate answer), for a single digit: 1 when the
candidate is correct / clinically equivalent to the reference, 0 otherwise.  The score is the first
standalone 0 or 1 in the reply; a reply with neither scores 0 and is counted in ``.unparseable``
of the returned list.  Requests go through :class:`~medmllm.eval.backends.openai.OpenAIBackend`
(temperature 0, timeout, retries with backoff on 429/5xx/connection errors) with bounded
concurrency; an endpoint that fails after the retries raises a one-line MedMLLMError.

Judge scores depend on the judge model and the prompt: report them with
``judge_convention(model)`` (``JUDGE_CONVENTION`` filled in), which names both (the prompt by
its sha256 prefix ``JUDGE_PROMPT_SHA``).
"""
from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor

from ..errors import MedMLLMError

JUDGE_PROMPT = (
    "You are grading an answer to a medical question against a reference answer.\n"
    "Reply with a single digit: 1 if the candidate answer is correct, that is clinically equivalent to the "
    "reference (the same findings, diagnosis, measurement or option; wording, order and harmless extra detail "
    "do not matter), or 0 if it is wrong, contradicts the reference, misses its key content or does not answer. "
    "Reply with the digit only.\n"
    "\n"
    "Question: {question}\n"
    "Reference answer: {reference}\n"
    "Candidate answer: {prediction}"
)
JUDGE_PROMPT_SHA = hashlib.sha256(JUDGE_PROMPT.encode()).hexdigest()[:12]
JUDGE_MAX_TOKENS = 8
JUDGE_CONVENTION = ("LLM judge {model} (OpenAI-compatible chat completions, temperature 0, max_tokens "
                    f"{JUDGE_MAX_TOKENS}), prompt medmllm.eval.judge.JUDGE_PROMPT sha256:{JUDGE_PROMPT_SHA}; "
                    "score = first standalone 0/1 in the reply (1 = correct / clinically equivalent to the "
                    "reference), no 0/1 = 0 and counted as unparseable; comparable only with the same judge "
                    "model and prompt")
_DIGIT = re.compile(r"(?<![\w.])([01])(?!\w|\.\d)")


class JudgeScores(list):
    """Per-item scores (floats in [0, 1]) with the raw replies, the unparseable count and the convention."""

    def __init__(self, scores: list[float], replies: list[str], unparseable: int, convention: str):
        super().__init__(scores)
        self.replies, self.unparseable, self.convention = replies, unparseable, convention


def judge_convention(model: str) -> str:
    return JUDGE_CONVENTION.format(model=model)


def judge_prompt(item: dict, field: str = "pred", where: str = "item") -> str:
    """JUDGE_PROMPT filled with one item's question, reference(s) and answer."""
    for key in (field, "ref"):
        if key not in item:
            raise MedMLLMError(f"judge: {where} has no {key!r} key")
    ref = item["ref"]
    if isinstance(ref, (list, tuple)):
        ref = " | ".join(str(r) for r in ref) + (" (any of these)" if len(ref) > 1 else "")
    question = item.get("question") or "(none given)"
    return JUDGE_PROMPT.format(question=str(question).strip(), reference=str(ref).strip(),
                               prediction=str(item[field]).strip())


def parse_verdict(reply: str) -> float | None:
    """1.0 / 0.0 from the first standalone 0 or 1 in the reply; None when there is none."""
    m = _DIGIT.search(reply or "")
    return float(m.group(1)) if m else None


def judge(items: list[dict], url: str, model: str, *, api_key: str | None = None, concurrency: int = 4,
          field: str = "pred", retries: int = 4, timeout: float = 120.0) -> list[float]:
    """Score each item's `item[field]` against `item["ref"]` (given `item["question"]`): 1 correct, 0 not.

    Returns a JudgeScores list (per-item floats) with ``.unparseable`` (replies without a 0/1,
    scored 0), ``.replies`` and ``.convention``.  `api_key` defaults to $OPENAI_API_KEY.
    """
    from .backends.openai import OpenAIBackend

    prompts = [judge_prompt(it, field, f"item {i}") for i, it in enumerate(items)]
    backend = OpenAIBackend(url, model, api_key=api_key, concurrency=max(1, concurrency), retries=retries,
                            timeout=timeout, temperature=0.0)

    def ask(k: int) -> str:
        return backend.chat([{"role": "user", "content": prompts[k]}], JUDGE_MAX_TOKENS, where=f"judge item {k}")

    pool = ThreadPoolExecutor(max(1, concurrency))
    try:
        replies = list(pool.map(ask, range(len(prompts))))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # one failure stops the rest
        raise
    pool.shutdown()
    verdicts = [parse_verdict(r) for r in replies]
    scores = [v if v is not None else 0.0 for v in verdicts]
    return JudgeScores(scores, replies, sum(v is None for v in verdicts), judge_convention(model))
