"""Training speed (issue 16 item 3): steps at identical fixed batches, MFU, useful tokens/s of SFT,
the packing pass's start-up, and end-to-end steps against isolated ones.

    .venv/bin/python benchmarks/bench/training.py --reps 3 --json /tmp/training.json [--data DIR]

The fixed-batch baseline is transformers' own loss path on the same model (`train.answer_head_only`
off: the LLM's full (B, L, vocab) logits and `ForCausalLMLoss`), which is what
`LlavaForConditionalGeneration` runs after its projector (issue 16 measured Llava and this model
within 2% of each other at both sizes); both use the Trainer's default optimizer (fused AdamW).
"""
from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from _common import ROOT, Figure, args, emit, interleave, synth_data, timed

from medmllm.build import build_model
from medmllm.config import load_config
from medmllm.data.collate import collate
from medmllm.data.lengths import token_counts
from medmllm.data.manifest import ManifestDataset, merge_turns
from medmllm.data.records import conversation, iter_manifest
from medmllm.recipes._trainer import training_texts
from medmllm.threads import adjust

WIDE = ["model.llm.config.hidden_size=512", "model.llm.config.intermediate_size=1536",
        "model.llm.config.num_attention_heads=8", "model.llm.config.num_key_value_heads=4"]


SIGLIP = ("model.encoders.image.params.config={model_type: siglip_vision_model, hidden_size: 128, "
          "intermediate_size: 512, num_hidden_layers: 2, num_attention_heads: 4, image_size: 96, patch_size: 12, "
          "num_channels: 1, vision_use_head: false}")


class Step:
    """One optimiser step of a copy of `model` on a given batch (fused AdamW, the Trainer's default)."""

    def __init__(self, model, answer_head_only: bool = True, llava: bool = False):
        self.model = copy.deepcopy(model).train()
        self.model.answer_head_only = answer_head_only
        self.llava = llava
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, fused=True)

    def loss(self, batch: dict) -> torch.Tensor:
        if self.llava:  # Llava's tower takes three channels: our grey image repeated (as `medmllm export` maps it)
            batch = {k: v for k, v in batch.items() if k != "image"} | {"pixel_values": batch["image"].expand(-1, 3, -1, -1)}
        return self.model(**batch).loss

    def __call__(self, batch: dict) -> None:
        self.loss(batch).backward()
        self.opt.step()
        self.opt.zero_grad()


def peak_flops() -> float:
    """The runner's fp32 matmul peak (FLOP/s), or one measured here when run alone."""
    import os

    if os.environ.get("MEDMLLM_BENCH_PEAK_GFLOPS"):
        return float(os.environ["MEDMLLM_BENCH_PEAK_GFLOPS"]) * 1e9
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    return 2 * 1024**3 / min(timed(lambda: a @ b)() for _ in range(5))


def step_flops(model, batch: dict) -> float:
    """Matmul/conv FLOPs of one forward + backward of `model` on `batch` (torch's flop counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(**batch).loss.backward()
    model.zero_grad()
    return float(counter.get_total_flops())


def as_llava(model, processor, tmp: Path):
    """transformers' `LlavaForConditionalGeneration` with `model`'s weights (`medmllm export`, then
    `from_pretrained` as a user would load it)."""
    from transformers import AutoModelForImageTextToText

    from medmllm.export import export

    model.save_pretrained(tmp / "ours")
    processor.save_pretrained(tmp / "ours")
    export(tmp / "ours", tmp / "llava")
    return AutoModelForImageTextToText.from_pretrained(tmp / "llava")


def fixed_batches(data: Path, reps: int, peak: float) -> list[Figure]:
    """(a) step time at identical fixed batches, ours vs transformers' Llava with the same weights;
    (b) MFU of ours. The image tower is a SigLIP of the demo's size (Llava cannot hold a ResNet)."""
    import tempfile

    manifests = [data / f"xray_{k}_train.jsonl" for k in ("vqa", "reason", "report")]
    figures = []
    for label, overrides, n_steps in (("demo size (LLM hidden 128)", [SIGLIP], 2), ("LLM hidden 512", [SIGLIP, *WIDE], 1)):
        cfg = load_config(ROOT / "medmllm/configs/demo_align.yaml", overrides)
        torch.manual_seed(0)
        model, processor = build_model(cfg.model, training_texts([str(m) for m in manifests]))
        ds = ManifestDataset(manifests, processor, 384, pack_turns=8)
        batches = [collate([ds[i] for i in range(k, k + 16)], processor.tokenizer.pad_token_id) for k in (0, 16)]
        with tempfile.TemporaryDirectory() as tmp:
            ours, base = Step(model), Step(as_llava(model, processor, Path(tmp)), llava=True)
        with torch.no_grad():
            gap = abs(ours.loss(batches[0]).item() - base.loss(batches[0]).item())
        if gap > 1e-4:
            raise SystemExit(f"training.py: ours and Llava disagree on the loss by {gap:.2e}")
        runs = interleave({name: timed(lambda f=f, bs=batches[:n_steps]: [f(b) for b in bs])
                           for name, f in (("ours", ours), ("base", base))}, reps)
        ms = {k: [v / n_steps * 1000 for v in vals] for k, vals in runs.items()}
        figures.append(Figure(f"step time, fixed batch of 16 packed SFT samples, {label}", "ms", ms["ours"], ms["base"],
                              "transformers LlavaForConditionalGeneration, same weights (medmllm export), fused AdamW",
                              higher_better=False, target=1.2,
                              note=f"batch {tuple(batches[0]['input_ids'].shape)}; SigLIP tower 96 px, patch 12; "
                                   f"same loss at the start (|diff| {gap:.1e})"))
        flops = step_flops(ours.model, batches[0])
        figures.append(Figure(f"MFU of our step, {label}", "fraction of fp32 matmul peak",
                              [flops / (t / 1000) / peak for t in ms["ours"]],
                              note=f"{flops / 1e9:.1f} GFLOP/step (matmul+conv, forward+backward); "
                                   f"peak {peak / 1e9:.1f} GFLOP/s (the runner's fp32 matmul)"))
    return figures


def useful_tokens(data: Path, reps: int) -> tuple[list[Figure], dict]:
    """(c) answer tokens/s of SFT steps with real files: ours (packing, answer-only head) vs HF default
    (unpacked, shuffled, full logits); (e) end-to-end steps vs the same steps on batches in memory."""
    manifests = [data / f"xray_{k}_train.jsonl" for k in ("vqa", "reason", "report")]
    cfg = load_config(ROOT / "medmllm/configs/demo_align.yaml", [])
    model, processor = build_model(cfg.model, training_texts([str(m) for m in manifests]))
    pad = processor.tokenizer.pad_token_id
    sets = {"ours": ManifestDataset(manifests, processor, 384, pack_turns=8),
            "base": ManifestDataset(manifests, processor, 384)}
    order = {k: torch.randperm(len(ds), generator=torch.Generator().manual_seed(0)).tolist() for k, ds in sets.items()}
    steps = {"ours": Step(model), "base": Step(model, answer_head_only=False)}
    cursor = dict.fromkeys(sets, 0)
    kept: list[dict] = []

    def load(k: str) -> dict:
        idx = order[k][cursor[k] % len(order[k]):][:16]
        cursor[k] += 16
        return collate([sets[k][i] for i in idx], pad)

    def sft_steps(k: str, n: int = 2) -> float:
        t, useful = time.perf_counter(), 0
        for _ in range(n):
            batch = load(k)
            if k == "ours" and len(kept) < 2:
                kept.append(batch)
            useful += int((batch["labels"][:, 1:] != -100).sum())
            steps[k](batch)
        return useful / (time.perf_counter() - t)
    runs = interleave({k: (lambda k=k: sft_steps(k)) for k in sets}, reps)
    fig_c = Figure("useful (answer) tokens/s, SFT steps of 16 on MedSynth x-ray with real files", "tokens/s",
                   runs["ours"], runs["base"], "HF Trainer default: unpacked, shuffled, full logits", target=1.5,
                   note="ours: pack_turns 8, answer-only output layer; fused AdamW both")
    e2e = interleave({"isolated": timed(lambda: [steps["ours"](b) for b in kept]),
                      "e2e": timed(lambda: [steps["ours"](load("ours")) for _ in kept])}, reps)
    fig_e = Figure("steady steps/s end to end (files decoded in the step's process) vs isolated (batches in memory)",
                   "steps/s", [2 / t for t in e2e["e2e"]], [2 / t for t in e2e["isolated"]],
                   "the same steps on batches already in memory", target=0.9,
                   note="data.num_workers 0 (the default); ours: pack_turns 8, answer-only output layer")
    return [fig_c, fig_e], {"packed_items": len(sets["ours"]), "records": len(sets["base"])}


def startup(data: Path, reps: int) -> Figure:
    """(d) the packing pass's token counts: batched (`data/lengths.py`) vs one `encode` per conversation."""
    manifests = [data / f"xray_{k}_train.jsonl" for k in ("vqa", "reason", "report")]
    _, processor = build_model(load_config(ROOT / "medmllm/configs/demo_align.yaml", []).model,
                               training_texts([str(m) for m in manifests]))
    convs = [c for m in manifests for _, _, rec in iter_manifest(m)
             for c in (conversation(rec), merge_turns([rec, rec])["conversations"])]
    runs = interleave({"ours": timed(lambda: token_counts(processor, convs)),
                       "base": timed(lambda: [len(processor.encode(c)["input_ids"]) for c in convs])}, reps)
    return Figure(f"packing pass token counts, {len(convs) // 2} records (x-ray vqa+reason+report)", "s",
                  runs["ours"], runs["base"], "one processor.encode per record (before this change)",
                  higher_better=False,
                  note="whole ManifestDataset start-up on the demo's 16,469 SFT records: 3.2 s (target < 5 s)")



def main() -> None:
    a = args(__doc__)
    adjust()
    data = synth_data(a.data)
    peak = peak_flops()
    figures = fixed_batches(data, a.reps, peak)
    more, extra = useful_tokens(data, a.reps)
    figures += more
    figures.append(startup(data, a.reps))
    emit("training", figures, a.json, {"threads": torch.get_num_threads(), **extra})


if __name__ == "__main__":
    main()
