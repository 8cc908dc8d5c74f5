"""A transformers image-text-to-text model from a folder (LLaVA, Qwen2-VL, ... with its processor).

The processor's chat template renders each question with one image part per `<image>`
placeholder; batches are left-padded and decoded greedily. Images only.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ...errors import MedMLLMError, brief
from . import BACKENDS


def _pil(path: str | None, size: int = 224):
    from PIL import Image

    from ...data.io import read_image

    arr = np.zeros((size, size), np.float32) if path is None else read_image(path)
    rgb = np.repeat(arr[..., None], 3, -1) if arr.ndim == 2 else arr
    return Image.fromarray((rgb * 255).round().astype(np.uint8))


@BACKENDS.register("hf")
class HFBackend:
    def __init__(self, model: str | Path, batch_size: int = 8):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            self.processor = AutoProcessor.from_pretrained(model)
            self.model = AutoModelForImageTextToText.from_pretrained(model).eval()
        except (OSError, ValueError) as e:
            raise MedMLLMError(f"{model}: not a transformers image-text-to-text model ({brief(e)})") from None
        self.processor.tokenizer.padding_side = "left"
        self.name, self.batch_size = str(model), batch_size

    def fingerprint(self) -> str:
        return "hf:" + hashlib.sha256(self.model.config.to_json_string().encode()).hexdigest()[:16]

    def tokens(self, text: str) -> int:
        return len(self.processor.tokenizer(text, add_special_tokens=False)["input_ids"])

    def answer(self, items: list[dict], blank: bool, max_new_tokens: int, think: bool = False,
               temperature: float = 0.0) -> list[str | MedMLLMError]:
        import torch

        from ...reasoning import THINK_PREFIX

        prefix = THINK_PREFIX if think else ""
        texts, images, out, slots = [], [], [], []
        for it in items:
            if any(m != "image" for m in it["inputs"]):
                out.append(MedMLLMError(f"{it['where']}: the hf backend takes images only"))
                continue
            try:
                msgs = []
                for turn in it["history"]:
                    role, text = turn["role"], turn["content"]
                    parts = [{"type": "image"} for _ in range(text.count("<image>"))]
                    msgs.append({"role": role, "content": parts + [{"type": "text", "text": text.replace("<image>", "").strip()}]})
                texts.append(self.processor.apply_chat_template(msgs, add_generation_prompt=True) + prefix)
                images += [_pil(None if blank else p) for p in it["inputs"].get("image", [])]
            except MedMLLMError as e:
                out.append(MedMLLMError(f"{it['where']}: {e}"))
                continue
            slots.append(len(out))
            out.append("")
        if texts:
            batch = self.processor(text=texts, images=images or None, return_tensors="pt", padding=True)
            with torch.inference_mode():
                gen = self.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                                          **({"temperature": temperature} if temperature > 0 else {}))
            new = gen[:, batch["input_ids"].shape[1]:]
            for slot, row in zip(slots, new):
                out[slot] = prefix + self.processor.tokenizer.decode(row, skip_special_tokens=True).strip()
        return out
