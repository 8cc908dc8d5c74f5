"""The fast decode path: prefill through `MedMLLM`, then a one-token step on a static KV cache.

`decode(model, batch, max_new_tokens, on_tokens, sampling)` is the generation loop under
`Engine.run` (chat, evaluation, the server's batcher) and under GRPO's rollouts
(`sample_completions`). Design:

* Prefill is the model's own forward (`MedMLLM.forward`: images, volumes, ECGs spliced into the
  embeddings), exactly as `generate()` runs it; its KV cache is copied into a **static cache**:
  per layer a preallocated (B, kv_heads, T, head_dim) key and value tensor, T the prompt plus the
  budget rounded up to a multiple of `CHUNK`.
* Each next token comes from `_step`, a hand-written llama-family decoder step over the LLM's
  weights (`_weights`: the tensors themselves, no copy; a peft LoRA projection as its base weight
  plus its adapters' delta): (B, 1) tokens + the cache slot + the cache -> (B, V) logits. It is
  free of transformers' per-step Python (logits processors, cache objects, mask building, module
  hooks), which is most of `generate()`'s time on a small model.
* Positions are what `generate()` gives (no `position_ids`: the padded index, the same for every
  row), so step t writes cache slot L + t of every row; left padding is masked out.
* A row that ends (`on_tokens` says so) is **dropped**: the cache rows still going are gathered
  to the front, and later steps compute only those.
* Greedy is argmax of the float32 logits after `generation_config.suppress_tokens`, as in
  `generate()`, so greedy tokens are the same; sampling applies temperature then top-p as
  `generate()`'s warpers do and draws one uniform number per row from torch's global generator
  (seed it to reproduce; the stream is not `generate()`'s).
* The step can be `torch.compile`d (inductor, `fullgraph`, dynamic shapes: one graph per model
  for a batch of 1 and one for more, whatever the cache length, kept for the process), with
  `MEDMLLM_COMPILE=1` or `Engine(compile=True)`. It is off by default: on the project's 2-core
  CPU a cold compile costs over a minute (seconds with inductor's on-disk cache warm) and saves
  10-45% of a step (`benchmarks/decode.md`), too little for a chat or an evaluation, and a stall a
  server's queue would feel. A compile that fails warns once and the loop goes on eagerly.
* A model this path cannot drive exactly (an LLM family not in `FAMILIES`, a sliding window
  shorter than the run, an activation other than SiLU, a DoRA or other non-Linear projection, a
  generation config with other logits processors) goes through `model.generate()` with the same
  callback.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import StoppingCriteria, StoppingCriteriaList

FAMILIES = ("llama", "qwen2", "mistral")
"""LLM model types whose decoder layer `_step` reproduces (pre-norm, RoPE, GQA, SwiGLU MLP)."""
CHUNK = 64
"""Cache lengths are rounded up to a multiple of this (one compiled step per multiple)."""

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
    weights = None
    if unsupported(model, total) is None:
        try:
            weights = _weights(model.llm)
        except _Unsupported:
            pass
    if weights is None:
        return _generate(model, batch, max_new_tokens, on_tokens, sampling, pad_token_id, eos_token_id)
    compile = _compile_wanted(compile)
    _Loop(model, weights, batch, max_new_tokens, on_tokens, sampling, compile).run()


def sample_completions(model, batch: dict, max_new_tokens: int, temperature: float, pad_token_id: int,
                       eos_token_id: int) -> torch.Tensor:
    """One sampled completion per row (GRPO's rollouts) -> (B, C) ids: each row's tokens up to and
    with the end token, then `pad_token_id`, C the longest (as `generate()`'s output past the prompt)."""
    rows: list[list[int]] = [[] for _ in range(batch["input_ids"].shape[0])]

    def on_tokens(idx: list[int], tokens: list[int]) -> list[bool]:
        for i, t in zip(idx, tokens):
            rows[i].append(t)
        return [t == eos_token_id for t in tokens]

    decode(model, batch, max_new_tokens, on_tokens, Sampling(True, temperature), None, pad_token_id, eos_token_id)
    width = max(len(r) for r in rows)
    return torch.tensor([r + [pad_token_id] * (width - len(r)) for r in rows],
                        device=batch["input_ids"].device)  # (B, C)


def unsupported(model, total: int) -> str | None:
    """Why the fast path cannot drive `model` for `total` positions, or None when it can."""
    if getattr(model, "llm", None) is None:
        return "not a MedMLLM (a Hugging Face VLM decodes with its own generate())"
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


def _compile_wanted(compile: bool | None) -> bool:
    """Whether to run the compiled step: `MEDMLLM_COMPILE` (0/1) decides, then `compile` (default off)."""
    env = os.environ.get("MEDMLLM_COMPILE")
    return env == "1" if env in ("0", "1") else bool(compile)


def pick(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """(n, V) float32 logits, suppressed tokens already at -inf -> (n,) next tokens. Sampling keeps
    `generate()`'s distribution (temperature, then top-p: the smallest set of most likely tokens whose
    probability reaches p, at least one) but draws by inverse CDF from one uniform number per row:
    torch's `multinomial`, `sort` and `exponential_` cost 0.5-0.9 ms each at (16, 1024) on a CPU."""
    if not sampling.do_sample:
        return logits.argmax(-1)  # (n,)
    probs = (logits / sampling.temperature if sampling.temperature != 1.0 else logits).softmax(-1)  # (n, V)
    if sampling.top_p >= 1.0:
        return _draw(probs)  # (n,)
    for k in (min(64, probs.shape[-1]), probs.shape[-1]):  # the 64 most likely, else all (a flat distribution)
        top, index = probs.topk(k)  # (n, k) descending
        cum = top.cumsum(-1)  # (n, k)
        if bool((cum[:, -1] >= sampling.top_p).all()):
            break
    top = top.masked_fill(cum - top >= sampling.top_p, 0.0)  # (n, k) kept: the mass before it is < p
    return index.gather(1, _draw(top)[:, None])[:, 0]  # (n,)


def _draw(probs: torch.Tensor) -> torch.Tensor:
    """One index per row of (n, V) non-negative weights, with probability proportional to them."""
    cdf = probs.cumsum(-1)  # (n, V)
    u = torch.rand(probs.shape[0], 1, device=probs.device) * cdf[:, -1:]  # (n, 1) in [0, total)
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp_max(probs.shape[-1] - 1)  # (n,)


class _Loop:
    """One run of the decode loop: the static cache, the active rows, and their bucket."""

    def __init__(self, model, weights: tuple[_Spec, list], batch: dict, max_new_tokens: int, on_tokens: OnTokens,
                 sampling: Sampling, compile: bool):
        self.model, self.llm, self.on_tokens, self.sampling = model, model.llm, on_tokens, sampling
        self.spec, self.w = weights
        self.max_new, self.compile = max_new_tokens, compile
        self.prompt_len = batch["input_ids"].shape[1]  # L
        self.T = -(-(self.prompt_len + max_new_tokens) // CHUNK) * CHUNK
        self.batch = batch
        self.suppress = sorted(model.generation_config.suppress_tokens or [])

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
        out = self.model(**self.batch, use_cache=True, logits_to_keep=1)  # the head at the last position only
        B = self.batch["input_ids"].shape[0]
        L, dtype = self.prompt_len, out.logits.dtype
        self.keys, self.values = [], []
        for layer in out.cache.layers:
            k = layer.keys.new_zeros(B, layer.keys.shape[1], self.T, layer.keys.shape[3])  # (B, kvh, T, hd)
            v = torch.zeros_like(k)  # (B, kvh, T, hd)
            k[:, :, :L], v[:, :, :L] = layer.keys, layer.values
            self.keys.append(k)
            self.values.append(v)
        device = k.device
        self.valid = torch.zeros(B, self.T, dtype=torch.bool, device=device)  # (B, T) the slots a row attends
        self.valid[:, :L] = self.batch["attention_mask"].bool()
        cos, sin = self.llm.model.rotary_emb(k, torch.arange(self.T, device=device)[None])  # (1, T, hd)
        self.cos, self.sin = cos[0].to(dtype), sin[0].to(dtype)  # (T, hd)
        self.position = torch.zeros(1, dtype=torch.long, device=device)  # (1,) the cache slot being written
        self.bias = torch.zeros(out.logits.shape[-1], device=device)  # (V,) -inf at the tokens never generated
        self.bias[self.suppress] = -float("inf")
        return out.logits[:, -1].float() + self.bias  # (B, V)

    def _compact(self, keep: list[int]) -> None:
        """Keep only the cache rows `keep` (gathered to the front): the next steps compute only those."""
        index = torch.tensor(keep, device=self.valid.device)  # (n',)
        self.keys = [k.index_select(0, index) for k in self.keys]  # (n', kvh, T, hd) each
        self.values = [v.index_select(0, index) for v in self.values]
        self.valid = self.valid.index_select(0, index)  # (n', T)

    def _next(self, tokens: torch.Tensor, pos: int) -> torch.Tensor:
        """Feed (n,) tokens at cache slot `pos` -> (n, V) float32 logits for the next token."""
        self.position.fill_(pos)
        return _steps(self.compile)(self.spec, self.w, tokens[:, None], self.position, self.cos, self.sin, self.bias,
                                    self.valid, self.keys, self.values)  # (n, V)


class _Unsupported(Exception):
    """A module the functional step does not reproduce (the run goes through `generate()`)."""


@dataclass(frozen=True)
class _Spec:
    """The static numbers of a llama-family decoder step (constants of the compiled graph)."""

    heads: int
    kv_heads: int
    head_dim: int
    eps: float
    scale: float


def _linear(module) -> list:
    """A projection as [weight (out, in), bias or None]: an `nn.Linear`, or a peft LoRA layer with its
    active adapters' deltas added (a new tensor; the model is left as it is)."""
    if type(module) is torch.nn.Linear:
        return [module.weight, module.bias]
    base = getattr(module, "base_layer", None)
    if type(base) is not torch.nn.Linear or not hasattr(module, "get_delta_weight"):
        raise _Unsupported(type(module).__name__)
    if module.merged or module.disable_adapters:
        return [base.weight, base.bias]
    if any(module.use_dora.get(a) for a in module.active_adapters):
        raise _Unsupported("DoRA")
    deltas = [module.get_delta_weight(a) for a in module.active_adapters if a in module.lora_A]
    return [base.weight + sum(deltas) if deltas else base.weight, base.bias]


def _weights(llm) -> tuple[_Spec, list]:
    """The LLM's step as its spec and a flat list of tensors: embed, then per layer
    [ln1, q w, q b, k w, k b, v w, v b, o w, o b, ln2, gate w, gate b, up w, up b, down w, down b],
    then the final norm and lm_head (w, b)."""
    cfg, core = llm.config, llm.model
    if getattr(cfg, "hidden_act", "silu") != "silu":
        raise _Unsupported(f"activation {cfg.hidden_act}")
    flat = [core.embed_tokens.weight]
    for layer in core.layers:
        a, m = layer.self_attn, layer.mlp
        flat += [layer.input_layernorm.weight, *_linear(a.q_proj), *_linear(a.k_proj), *_linear(a.v_proj),
                 *_linear(a.o_proj), layer.post_attention_layernorm.weight, *_linear(m.gate_proj),
                 *_linear(m.up_proj), *_linear(m.down_proj)]
    flat += [core.norm.weight, *_linear(llm.lm_head)]
    a = core.layers[0].self_attn
    spec = _Spec(cfg.num_attention_heads, cfg.num_key_value_heads, a.head_dim, float(core.norm.variance_epsilon),
                 float(a.scaling))
    return spec, flat


def _step(spec: _Spec, w: list, ids: torch.Tensor, position: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
          bias: torch.Tensor, valid: torch.Tensor, keys: list[torch.Tensor], values: list[torch.Tensor]) -> torch.Tensor:
    """One decoder step of a llama-family LLM over its weights `w` (`_weights`): (B, 1) ids at cache
    slot `position` (1,) -> (B, V) float32 logits plus `bias` (V,); marks the slot in `valid` (B, T) and
    writes each layer's new key and value into `keys`/`values` (B, kvh, T, hd). The arithmetic is
    transformers' (RMSNorm in float32, rotate-half RoPE)."""
    B, H, G, hd = ids.shape[0], spec.heads, spec.heads // spec.kv_heads, spec.head_dim
    h = F.embedding(ids, w[0])  # (B, 1, d)
    c, s = cos[position][None, None], sin[position][None, None]  # (1, 1, 1, hd)
    valid.index_fill_(1, position, True)
    mask = valid[:, None, None, :]  # (B, 1, 1, T)
    for i, (k_cache, v_cache) in enumerate(zip(keys, values)):
        ln1, qw, qb, kw, kb, vw, vb, ow, ob, ln2, gw, gb, uw, ub, dw, db = w[1 + 16 * i: 17 + 16 * i]
        x = _rms(h, ln1, spec.eps)  # (B, 1, d)
        q = F.linear(x, qw, qb).view(B, 1, H, hd).transpose(1, 2)  # (B, H, 1, hd)
        k = F.linear(x, kw, kb).view(B, 1, H // G, hd).transpose(1, 2)  # (B, kvh, 1, hd)
        v = F.linear(x, vw, vb).view(B, 1, H // G, hd).transpose(1, 2)  # (B, kvh, 1, hd)
        q, k = q * c + _rotate_half(q) * s, k * c + _rotate_half(k) * s
        k_cache.index_copy_(2, position, k)
        v_cache.index_copy_(2, position, v)
        scores = q.view(B, H // G, G, hd) @ k_cache.transpose(2, 3) * spec.scale  # (B, kvh, G, T)
        probs = scores.masked_fill(~mask, -float("inf")).softmax(-1, dtype=torch.float32).to(v.dtype)  # (B, kvh, G, T)
        o = (probs @ v_cache).reshape(B, 1, H * hd)  # (B, 1, H*hd)
        h = h + F.linear(o, ow, ob)  # (B, 1, d)
        x = _rms(h, ln2, spec.eps)  # (B, 1, d)
        h = h + F.linear(F.silu(F.linear(x, gw, gb)) * F.linear(x, uw, ub), dw, db)  # (B, 1, d)
    return F.linear(_rms(h, w[-3], spec.eps), w[-2], w[-1])[:, -1].float() + bias  # (B, V)


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """transformers' RMSNorm: in float32, scaled by the weight in the input's dtype."""
    x32 = x.float()
    return weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


_compiled: Callable | None = None
_failed = False


def _steps(compile: bool) -> Callable:
    """The step to call: compiled (a graph per model, for a batch of 1 and for more, kept for the process) or eager."""
    global _compiled
    if not compile or _failed:
        return _step
    if _compiled is None:
        import torch._dynamo

        cfg = torch._dynamo.config  # a graph per model and per batch bucket of 1 / more
        cfg.recompile_limit = max(cfg.recompile_limit, 64)
        _compiled = torch.compile(_step, fullgraph=True, dynamic=True)
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
