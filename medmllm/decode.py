"""The fast decode path: prefill through `MedMLLM`, then a compiled one-token step on a static KV cache.

`decode(model, batch, max_new_tokens, on_tokens, sampling)` is the generation loop under
`Engine.run` (chat, evaluation, the server's batcher) and under GRPO's rollouts. Design:

* Prefill is the model's own forward (`MedMLLM.forward`: images, volumes, ECGs spliced into the
  embeddings), exactly as `generate()` runs it; its KV cache is copied into a **static cache**:
  per layer a preallocated (Bb, kv_heads, T, head_dim) key and value tensor.
* Each next token comes from `_step`, a hand-written decoder step over the LLM's own modules
  (norms, projections, MLP, rotary table, `lm_head`; a peft LoRA layer is called like any
  Linear): (Bb, 1) tokens + the position + the cache -> (Bb, V) logits. It is `torch.compile`d
  (inductor, `fullgraph`, static shapes) once per **bucket**: the batch rounded up to a power of
  two (Bb) and the cache length to a multiple of `CHUNK` (T); compiled steps are kept per model
  and bucket, so a later request of the same bucket pays nothing.
* Positions are what `generate()` gives (no `position_ids`: the padded index, the same for every
  row), so step t writes cache slot L + t of every row; left padding is masked out.
* A row that ends (`on_tokens` says so) is **dropped**: the cache rows still going are gathered to
  the front and the batch moves to the smallest bucket that holds them.
* Greedy is argmax of the float32 logits after `generation_config.suppress_tokens`, as in
  `generate()`, so greedy tokens are the same; sampling applies temperature then top-p as
  `generate()`'s warpers do and draws from torch's global generator (seed it to reproduce).
* Compile is off with `MEDMLLM_COMPILE=0` (or `compile=False`), and for short jobs (fewer than
  `COMPILE_MIN_TOKENS` batch rows x new tokens): the same loop then runs eagerly. A compile
  that fails warns once and the loop goes on eagerly. A model this path cannot drive exactly
  (an LLM family not in `FAMILIES`, a sliding window shorter than the run, a generation config
  with other logits processors) goes through `model.generate()` with the same callback.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from transformers import StoppingCriteria, StoppingCriteriaList

FAMILIES = ("llama", "qwen2", "mistral")
"""LLM model types whose decoder layer `_step` reproduces (pre-norm, RoPE, GQA, SwiGLU MLP)."""
CHUNK = 64
"""Cache lengths are rounded up to a multiple of this (one compiled step per multiple)."""
COMPILE_MIN_TOKENS = 256
"""Below this many batch rows x new tokens a run stays eager: compiling would cost more than it saves."""

OnTokens = Callable[[list[int], list[int]], list[bool]]
"""(row indices in the batch, their new tokens) -> for each, whether that row has now ended."""


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen: greedy (argmax) or sampled at `temperature` within `top_p`."""

    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0


def decode(model, batch: dict, max_new_tokens: int, on_tokens: OnTokens, sampling: Sampling = Sampling(),
           compile: bool | None = None, pad_token_id: int | None = None, eos_token_id: int | None = None) -> None:
    """Generate up to `max_new_tokens` for a left-padded batch (`input_ids`, `attention_mask`,
    modality inputs), handing each step's tokens of the rows still going to `on_tokens` (which
    ends rows, the end token included). `pad_token_id`/`eos_token_id` are for the fallback."""
    total = batch["input_ids"].shape[1] + max_new_tokens
    if unsupported(model, total) is not None:
        return _generate(model, batch, max_new_tokens, on_tokens, sampling, pad_token_id, eos_token_id)
    compile = _compile_wanted(compile, batch["input_ids"].shape[0] * max_new_tokens)
    _Loop(model, batch, max_new_tokens, on_tokens, sampling, compile).run()


def unsupported(model, total: int) -> str | None:
    """Why the fast path cannot drive `model` for `total` positions, or None when it can."""
    cfg = model.llm.config
    if cfg.model_type not in FAMILIES:
        return f"LLM type {cfg.model_type!r} is not one of {FAMILIES}"
    window = getattr(cfg, "sliding_window", None)
    if window is not None and total > window:
        return f"sliding window {window} shorter than {total} positions"
    g = model.generation_config
    extra = {"top_k": g.top_k, "repetition_penalty": g.repetition_penalty, "min_new_tokens": g.min_new_tokens,
             "no_repeat_ngram_size": g.no_repeat_ngram_size, "bad_words_ids": g.bad_words_ids,
             "begin_suppress_tokens": g.begin_suppress_tokens, "num_beams": g.num_beams}
    set_ = [k for k, v in extra.items() if v not in (None, 0, 1, 1.0, [])]
    return f"generation config sets {set_}" if set_ else None


def _compile_wanted(compile: bool | None, work: int) -> bool:
    if compile is None:
        compile = work >= COMPILE_MIN_TOKENS
    return compile and os.environ.get("MEDMLLM_COMPILE", "1") != "0"


def pick(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """(n, V) float32 logits, suppressed tokens already at -inf -> (n,) next tokens."""
    if not sampling.do_sample:
        return logits.argmax(-1)  # (n,)
    if sampling.temperature != 1.0:
        logits = logits / sampling.temperature
    if sampling.top_p < 1.0:  # as transformers' TopPLogitsWarper (keeps at least one token)
        sorted_logits, order = torch.sort(logits, descending=False)  # (n, V)
        drop = sorted_logits.softmax(-1).cumsum(-1) <= 1 - sampling.top_p  # (n, V)
        drop[:, -1] = False
        logits = logits.masked_fill(drop.scatter(1, order, drop), -float("inf"))  # (n, V)
    return torch.multinomial(logits.softmax(-1), 1)[:, 0]  # (n,)


class _Loop:
    """One run of the decode loop: the static cache, the active rows, and their bucket."""

    def __init__(self, model, batch: dict, max_new_tokens: int, on_tokens: OnTokens, sampling: Sampling,
                 compile: bool):
        self.model, self.llm, self.on_tokens, self.sampling = model, model.llm, on_tokens, sampling
        self.max_new, self.compile = max_new_tokens, compile
        self.prompt_len = batch["input_ids"].shape[1]  # L
        self.T = -(-(self.prompt_len + max_new_tokens) // CHUNK) * CHUNK
        self.batch = batch
        ids = model.generation_config.suppress_tokens or []
        self.suppress = torch.tensor(sorted(ids), dtype=torch.long)  # (S,)

    def run(self) -> None:
        logits = self._prefill()  # (B, V)
        rows = list(range(logits.shape[0]))  # original batch index of each active slot
        for t in range(self.max_new):
            tokens = pick(logits[:len(rows)], self.sampling)  # (n,)
            ended = self.on_tokens(rows, tokens.tolist())
            if t == self.max_new - 1 or all(ended):
                return
            if any(ended):
                keep = [i for i, e in enumerate(ended) if not e]
                rows = [rows[i] for i in keep]
                self._compact(keep)
                tokens = tokens[keep]  # (n',)
            logits = self._next(tokens, self.prompt_len + t)  # (n', V)

    def _prefill(self) -> torch.Tensor:
        """The model's forward over the prompts; its cache copied into the static one. -> (B, V)."""
        out = self.model(**self.batch, use_cache=True)
        B = self.batch["input_ids"].shape[0]
        Bb, L, dtype = _bucket(B), self.prompt_len, out.logits.dtype
        self.keys, self.values = [], []
        for layer in out.cache.layers:
            k = layer.keys.new_zeros(Bb, layer.keys.shape[1], self.T, layer.keys.shape[3])  # (Bb, kvh, T, hd)
            v = torch.zeros_like(k)  # (Bb, kvh, T, hd)
            k[:B, :, :L], v[:B, :, :L] = layer.keys, layer.values
            self.keys.append(k)
            self.values.append(v)
        self.valid = torch.zeros(Bb, self.T, dtype=torch.bool)  # (Bb, T) which cache slots a row attends
        self.valid[:B, :L] = self.batch["attention_mask"].bool()
        self.valid[B:, 0] = True  # bucket padding rows attend something (no NaN)
        cos, sin = self.llm.model.rotary_emb(k, torch.arange(self.T)[None])  # (1, T, hd)
        self.cos, self.sin = cos[0].to(dtype), sin[0].to(dtype)  # (T, hd)
        return self._suppressed(out.logits[:, -1].float())  # (B, V)

    def _compact(self, keep: list[int]) -> None:
        """Keep only the cache rows `keep` (gathered to the front), in the smallest bucket holding them."""
        Bb = _bucket(len(keep))
        index = torch.tensor(keep + [keep[0]] * (Bb - len(keep)))  # (Bb,)
        self.keys = [k.index_select(0, index) for k in self.keys]  # (Bb, kvh, T, hd) each
        self.values = [v.index_select(0, index) for v in self.values]
        self.valid = self.valid.index_select(0, index)  # (Bb, T)

    def _next(self, tokens: torch.Tensor, pos: int) -> torch.Tensor:
        """Feed (n,) tokens at cache slot `pos` -> (n, V) float32 logits for the next token."""
        n, Bb = tokens.shape[0], self.valid.shape[0]
        ids = torch.cat([tokens, tokens[:1].expand(Bb - n)])[:, None]  # (Bb, 1)
        self.valid[:, pos] = True
        position = torch.tensor([pos])  # (1,)
        step = _steps(self.llm, self.compile)
        logits = step(self.llm, ids, position, self.cos, self.sin, self.valid, self.keys, self.values)  # (Bb, V)
        return self._suppressed(logits[:n].float())  # (n, V)

    def _suppressed(self, logits: torch.Tensor) -> torch.Tensor:
        if len(self.suppress):
            logits[:, self.suppress] = -float("inf")
        return logits


def _bucket(n: int) -> int:
    """The batch bucket: n rounded up to a power of two."""
    return 1 << (n - 1).bit_length()


def _step(llm, ids: torch.Tensor, position: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
          valid: torch.Tensor, keys: list[torch.Tensor], values: list[torch.Tensor]) -> torch.Tensor:
    """One decoder step of a llama-family LLM: (Bb, 1) ids at cache slot `position` (1,) -> (Bb, V)
    logits; writes each layer's new key and value into `keys`/`values` (Bb, kvh, T, hd)."""
    core = llm.model
    h = core.embed_tokens(ids)  # (Bb, 1, d)
    c, s = cos[position][None, None], sin[position][None, None]  # (1, 1, 1, hd)
    mask = valid[:, None, None, :]  # (Bb, 1, 1, T)
    for layer, k_cache, v_cache in zip(core.layers, keys, values):
        attn = layer.self_attn
        x = layer.input_layernorm(h)  # (Bb, 1, d)
        shape = (x.shape[0], 1, -1, attn.head_dim)
        q = attn.q_proj(x).view(shape).transpose(1, 2)  # (Bb, heads, 1, hd)
        k = attn.k_proj(x).view(shape).transpose(1, 2)  # (Bb, kvh, 1, hd)
        v = attn.v_proj(x).view(shape).transpose(1, 2)  # (Bb, kvh, 1, hd)
        q, k = q * c + _rotate_half(q) * s, k * c + _rotate_half(k) * s
        k_cache.index_copy_(2, position, k)
        v_cache.index_copy_(2, position, v)
        o = F.scaled_dot_product_attention(q, k_cache, v_cache, attn_mask=mask, scale=attn.scaling,
                                           enable_gqa=True)  # (Bb, heads, 1, hd)
        h = h + attn.o_proj(o.transpose(1, 2).reshape(x.shape[0], 1, -1))  # (Bb, 1, d)
        h = h + layer.mlp(layer.post_attention_layernorm(h))  # (Bb, 1, d)
    return llm.lm_head(core.norm(h))[:, -1]  # (Bb, V)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


_compiled: Callable | None = None
_failed = False


def _steps(llm, compile: bool) -> Callable:
    """The step to call: compiled (one graph per bucket, kept across runs) or eager."""
    global _compiled
    if not compile or _failed:
        return _step
    if _compiled is None:
        import torch._dynamo

        cfg = torch._dynamo.config  # one graph per bucket (batch x cache length) must not hit the limit
        cfg.recompile_limit = max(cfg.recompile_limit, 256)
        cfg.accumulated_recompile_limit = max(cfg.accumulated_recompile_limit, 1024)
        _compiled = torch.compile(_step, fullgraph=True, dynamic=False)
    return _guarded


def _guarded(*args) -> torch.Tensor:
    global _failed
    try:
        return _compiled(*args)
    except Exception as e:  # noqa: BLE001 - any compiler failure: warn once, stay eager
        _failed = True
        warnings.warn(f"medmllm: torch.compile of the decode step failed ({type(e).__name__}: "
                      f"{str(e).splitlines()[0] if str(e) else ''}); decoding eagerly", stacklevel=2)
        return _step(*args)


def _generate(model, batch: dict, max_new_tokens: int, on_tokens: OnTokens, sampling: Sampling,
              pad_token_id: int | None, eos_token_id: int | None) -> None:
    """The fallback: `model.generate()`, its stopping criterion feeding `on_tokens`."""
    model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=sampling.do_sample,
                   temperature=sampling.temperature if sampling.do_sample else None,
                   top_p=sampling.top_p if sampling.do_sample else None, top_k=None,
                   pad_token_id=pad_token_id, eos_token_id=eos_token_id,
                   stopping_criteria=StoppingCriteriaList([_Feed(on_tokens)]))


class _Feed(StoppingCriteria):
    """`on_tokens` as a stopping criterion: the last column of the rows not yet ended -> (B,) mask."""

    def __init__(self, on_tokens: OnTokens):
        self.on_tokens, self.ended = on_tokens, None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        if self.ended is None:
            self.ended = [False] * input_ids.shape[0]
        rows = [i for i, e in enumerate(self.ended) if not e]
        new = input_ids[rows, -1].tolist()
        for i, e in zip(rows, self.on_tokens(rows, new)):
            self.ended[i] = e
        return torch.tensor(self.ended, device=input_ids.device)  # (B,)
