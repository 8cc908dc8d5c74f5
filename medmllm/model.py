"""MedMLLM: a dict of modality encoders, one connector per modality, and a decoder LLM.

Design (after torchtune's EarlyFusionModel and transformers' modeling_llava):

    image  (n_img, C, H, W)      --encoders["image"]-->  F (n_img, N, d_enc)  --connectors["image"]-->  T (n_img, M, d_llm)
    volume (n_vol, 1, D, H, W)   --encoders["volume"]--> F (n_vol, N, d_enc)  --connectors["volume"]--> T (n_vol, M, d_llm)
    ecg    (n_ecg, leads, L)     --encoders["ecg"]-->    F (n_ecg, N, d_enc)  --connectors["ecg"]-->    T (n_ecg, M, d_llm)
    input_ids (B, L) --embed--> E (B, L, d_llm); every placeholder id of a modality is one slot; the
    slots are filled in order with that modality's T (masked_scatter) and E goes to the LLM.

* Inputs of one modality are stacked across the batch in placeholder order, so a sample may
  carry zero, one or several images; the count of placeholder tokens must equal n * M, and
  the error names both counts.
* No chat-template logic lives here: the processor expands each placeholder to M ids.
* It is a `PreTrainedModel` with `GenerationMixin`: safetensors save/load, `generate()` with
  the KV cache (modality inputs are used only in the prefill step; placeholder ids are never
  generated), peft-compatible.
* Packed training records (`data.pack_turns`) come with `segments` (B, L): each record attends to
  the shared inputs and itself only (`llm/mask.py`), as if alone.
* Under DDP every trainable parameter must take part in each step: a trainable branch whose
  modality is absent from the batch adds 0 * its parameters to the embeddings.
* Sub-module builders are registries (`ENCODERS`, `CONNECTORS`); the config stores each
  one's name and parameters, so `from_pretrained` rebuilds the model with no hub access.
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, GenerationMixin, PreTrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec
from transformers.modeling_outputs import CausalLMOutputWithPast

from .chat import MODALITIES, PLACEHOLDERS
from .connectors import CONNECTORS
from .data.processor import IGNORE_INDEX
from .encoders import ENCODERS
from .llm.loss import weighted_nll
from .llm.mask import packed_attention


class MedMLLMConfig(PreTrainedConfig):
    """Composite config: `text_config` (the LLM), and per modality an encoder and a connector spec.

    `encoders[m] = {"name": registry name, "params": {...}}`, likewise `connectors[m]`;
    `placeholder_ids[m]` is the token id of `<image>`/`<volume>`/`<ecg>` in the tokenizer.
    """

    model_type = "medmllm"
    sub_configs_defaults = {"text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama")}

    text_config: dict | PreTrainedConfig | None = None
    encoders: dict | None = None
    connectors: dict | None = None
    placeholder_ids: dict | None = None
    tie_word_embeddings: bool = False


class MedMLLM(PreTrainedModel, GenerationMixin):
    config_class = MedMLLMConfig
    base_model_prefix = "medmllm"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True

    def __init__(self, config: MedMLLMConfig):
        super().__init__(config)
        encoders, connectors, d_llm = {}, {}, config.text_config.hidden_size
        for modality, spec in (config.encoders or {}).items():
            enc = ENCODERS.get(spec["name"])(**spec.get("params", {}))
            conn_spec = config.connectors[modality]
            encoders[modality] = enc
            connectors[modality] = CONNECTORS.get(conn_spec["name"])(
                enc.out_dim, d_llm, enc.num_patches, **conn_spec.get("params", {}))
        self.encoders = nn.ModuleDict(encoders)
        self.connectors = nn.ModuleDict(connectors)
        self.llm = AutoModelForCausalLM.from_config(config.text_config)
        self.answer_head_only = False
        """In training, with labels: the output layer only at answer positions (`_answer_loss`); set by the
        trainer from `train.answer_head_only`. Off, or in eval mode, the LLM's full logits and loss."""
        self.turn_weight_power = 0.0
        """p: in training, an answer token of a turn of n tokens weighs 1 / n^p in the loss (`llm/loss.py`;
        set by the trainer from `train.loss_weighting`; 0 is the plain token mean)."""
        self.post_init()
        if self.generation_config is not None and config.placeholder_ids:  # never generate a placeholder
            self.generation_config.suppress_tokens = sorted(set(config.placeholder_ids.values()))

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if hasattr(module, "reset_parameters") and not isinstance(module, (nn.Linear, nn.LayerNorm, nn.Embedding)):
            module.reset_parameters()

    # -- transformers plumbing -------------------------------------------------------------
    def get_input_embeddings(self) -> nn.Module:
        return self.llm.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.llm.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.llm.get_output_embeddings()

    def num_tokens(self, modality: str) -> int:
        """M: how many LLM tokens one input of `modality` becomes."""
        return self.connectors[modality].num_tokens

    # -- the multimodal splice -------------------------------------------------------------
    def encode(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """Encoder then connector: one modality's inputs -> LLM-space tokens (n, M, d_llm)."""
        features = self.encoders[modality](x)  # (n, N, d_enc)
        return self.connectors[modality](features)  # (n, M, d_llm)

    def embed(self, input_ids: torch.Tensor, inputs: dict[str, torch.Tensor | None]) -> torch.Tensor:
        """Text embeddings with each modality's tokens spliced in at its placeholder ids."""
        embeds = self.get_input_embeddings()(input_ids)  # (B, L, d_llm)
        for modality in self.encoders:
            slots = input_ids == self.config.placeholder_ids[modality]  # (B, L)
            x = inputs.get(modality)
            if x is None:
                if slots.any():
                    raise ValueError(f"{int(slots.sum())} {PLACEHOLDERS[modality]} placeholder tokens but no "
                                     f"{modality} input (0 feature vectors)")
                if self.training:  # keep DDP happy: every trainable parameter takes part
                    embeds = embeds + 0.0 * sum(p.sum() for p in self._branch_params(modality))  # (B, L, d_llm)
                continue
            tokens = self.encode(modality, x.to(embeds.dtype))  # (n, M, d_llm)
            n_slots, n_vectors = int(slots.sum()), tokens.shape[0] * tokens.shape[1]
            if n_slots != n_vectors:
                raise ValueError(f"{modality}: {n_slots} {PLACEHOLDERS[modality]} placeholder tokens but "
                                 f"{n_vectors} feature vectors ({tokens.shape[0]} inputs x {tokens.shape[1]} tokens)")
            embeds = embeds.masked_scatter(slots.unsqueeze(-1), tokens.to(embeds.dtype))  # (B, L, d_llm)
        return embeds

    def _branch_params(self, modality: str) -> list[nn.Parameter]:
        params = list(self.encoders[modality].parameters()) + list(self.connectors[modality].parameters())
        return [p for p in params if p.requires_grad]

    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                labels: torch.LongTensor | None = None, image: torch.Tensor | None = None,
                volume: torch.Tensor | None = None, ecg: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, segments: torch.LongTensor | None = None,
                **kwargs) -> CausalLMOutputWithPast:
        """`input_ids` (B, L) with expanded placeholders; `image` (n_img, C, H, W), `volume`
        (n_vol, 1, D, H, W), `ecg` (n_ecg, leads, samples); `labels` (B, L), -100 where no loss;
        `segments` (B, L): packed records kept apart (`llm/mask.py`, with `position_ids`). Other keyword
        arguments (`cache`, `position_ids`, `use_cache`, ...) go to the LLM."""
        if inputs_embeds is None:
            inputs_embeds = self.embed(input_ids, {"image": image, "volume": volume, "ecg": ecg})  # (B, L, d_llm)
        if segments is not None:  # packed records kept apart: each sees the shared inputs and itself
            attention = self.llm.config._attn_implementation
            if attention not in ("eager", "sdpa"):
                raise ValueError(f"packed records (data.pack_turns > 1) need eager or sdpa attention for their "
                                 f"block mask, not {attention}: set data.pack_turns=1")
            attention_mask = packed_attention(segments, inputs_embeds.dtype,
                                              additive=attention == "eager")  # (B, 1, L, L)
        if labels is not None and self.training and (self.answer_head_only or self.turn_weight_power):
            if self._plain_head():
                return self._answer_loss(inputs_embeds, attention_mask, labels, **kwargs)
            if self.turn_weight_power:
                raise ValueError("train.loss_weighting needs an LLM whose logits are its output layer alone "
                                 "(this one scales or caps them): use `token`")
        return self.llm(inputs_embeds=inputs_embeds, attention_mask=attention_mask, labels=labels, **kwargs)

    def _plain_head(self) -> bool:
        """Whether the LLM's logits are its output layer applied to the last hidden state and nothing else
        (no logit soft-capping or scaling), so `_answer_loss` gives the LLM's own loss."""
        cfg = self.config.text_config
        return all(getattr(cfg, name, None) in (None, 1.0) for name in ("final_logit_softcapping", "logit_scale",
                                                                          "logits_scaling", "output_multiplier_scale"))

    def _answer_loss(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None, labels: torch.Tensor,
                     num_items_in_batch: torch.Tensor | int | None = None, **kwargs) -> CausalLMOutputWithPast:
        """The causal-LM loss with the output layer applied only where a label is kept (answer tokens),
        not at every position (prompts, inputs, padding): the same value as the LLM's `ForCausalLMLoss`
        (mean over kept tokens, or their sum over `num_items_in_batch` as the Trainer passes it under
        gradient accumulation), without the (B, L, vocab) logits; with `turn_weight_power` p > 0 the mean is
        weighted, 1 / n^p per token of an n-token answer. Training only; `logits` is None."""
        kwargs.pop("use_cache", None)
        hidden = self.llm.get_decoder()(inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False,
                                        **kwargs).last_hidden_state  # (B, L, d_llm)
        target = labels[:, 1:].to(hidden.device)  # position t predicts token t+1
        keep = target != IGNORE_INDEX  # (B, L-1)
        logits = self.llm.get_output_embeddings()(hidden[:, :-1][keep])  # (kept, vocab)
        return CausalLMOutputWithPast(loss=weighted_nll(logits, target[keep], keep, self.turn_weight_power,
                                                        num_items_in_batch))

    def prepare_inputs_for_generation(self, input_ids, is_first_iteration: bool | None = False, **kwargs):
        inputs = super().prepare_inputs_for_generation(input_ids, is_first_iteration=is_first_iteration, **kwargs)
        if not is_first_iteration and kwargs.get("use_cache", True):
            for modality in MODALITIES:  # already in the KV cache: the new token is text
                inputs.pop(modality, None)
        return inputs


AutoConfig.register("medmllm", MedMLLMConfig)
