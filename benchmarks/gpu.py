"""GPU figures, for when a GPU machine is lent (nothing depends on them): bf16 training at LLM
hidden 2048 with eager / SDPA / flash attention and Liger kernels where installed, MFU against the
card's bf16 matmul peak measured in the same run, and decoding (`Engine.run` against `generate()`).

    python benchmarks/gpu.py --out DIR [--layers 8 --steps 10]
    python benchmarks/gpu.py --out DIR --smoke        # the same code on CPU at toy size (a test runs it)

It writes DIR/gpu.json and DIR/gpu.md. The model is a `MedMLLM` of the demo's x-ray shape with a
llama LLM of hidden 2048 (16 heads, 8 KV heads, MLP 5632, `--layers` deep) and the demo's
tokenizer trained on MedSynth (vocabulary 1,024: the LM head is small, so the figures are those of
the transformer body). Batches: 16 MedSynth x-ray questions with their images, padded to the
longest. MFU counts 6 x (LLM parameters without embeddings) x tokens + the attention products
(12 x layers x hidden x sequence per token) against the measured bf16 peak of an 8192^3 matmul.

vLLM serving of an exported model (`medmllm export --format hf-llava`) is reported only if vLLM
imports there: its wheel is far over the 64 MiB that can be carried to the lent machine, which has
no network, so it is normally "not installed". The lent machine's image has torch, transformers,
peft and accelerate; medmllm also needs the wheels listed in `benchmarks/gpu.md` (carried).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: str, dtype: torch.dtype, n: int, reps: int = 10) -> float:
    """TFLOP/s of an n^3 matmul (median of `reps` after 3 warm-ups)."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times) / 1e12


def build(args, attn: str):
    """The benchmark model (fresh weights, seed 0) and one batch of 16 x-ray questions."""
    from medmllm.build import build_model
    from medmllm.config import load_config
    from medmllm.data.collate import collate
    from medmllm.data.manifest import ManifestDataset

    llm = (f"model.llm.config={{model_type: llama, hidden_size: {args.hidden}, intermediate_size: {args.mlp}, "
           f"num_hidden_layers: {args.layers}, num_attention_heads: {args.heads}, num_key_value_heads: {args.heads // 2}, "
           f"max_position_embeddings: 1024, tie_word_embeddings: false}}")
    cfg = load_config(ROOT / "medmllm/configs/demo_align.yaml", [llm])
    manifest = args.data / "xray_vqa_train.jsonl"
    torch.manual_seed(0)
    model, processor = build_model(cfg.model, [line for line in manifest.open()])
    model.llm.config._attn_implementation = attn
    ds = ManifestDataset([manifest], processor, max_length=384)
    batch = collate([ds[i] for i in range(16)], processor.tokenizer.pad_token_id)
    return model.to(args.device), processor, {k: v.to(args.device) for k, v in batch.items()}


def flops_per_step(model, batch) -> float:
    """6 N T for the LLM body plus attention's two products (forward + backward: x3)."""
    c = model.llm.config
    body = sum(p.numel() for n, p in model.llm.named_parameters() if "embed" not in n)
    tokens, seq = batch["input_ids"].numel(), batch["input_ids"].shape[1]
    return 6 * body * tokens + 12 * c.num_hidden_layers * c.hidden_size * seq * tokens


def train_figure(args, attn: str, liger: bool, peak: float) -> dict:
    model, _, batch = build(args, attn)
    if liger:
        from liger_kernel.transformers import apply_liger_kernel_to_llama
        apply_liger_kernel_to_llama(model=model.llm)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=args.device == "cuda")
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step() -> float:
        sync(args.device)
        t = time.perf_counter()
        with torch.autocast(args.device, dtype=dtype, enabled=args.device == "cuda"):
            loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(args.device)
        return time.perf_counter() - t

    for _ in range(3):
        step()
    times = [step() for _ in range(args.steps)]
    s = statistics.median(times)
    tflops = flops_per_step(model, batch) / s / 1e12
    return {"attention": attn, "liger": liger, "step_ms": round(s * 1000, 2),
            "step_ms_range": [round(min(times) * 1000, 2), round(max(times) * 1000, 2)],
            "tokens_per_s": round(batch["input_ids"].numel() / s), "model_tflops": round(tflops, 2),
            "mfu": round(tflops / peak, 3),
            "peak_mem_gb": round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if args.device == "cuda" else None}


def decode_figure(args, batch_size: int) -> dict:
    """Greedy tokens/s of `Engine.run` against `model.generate()` on the same 64-token budget."""
    from medmllm.data.collate import collate
    from medmllm.engine import Engine, Row

    model, processor, _ = build(args, "sdpa")
    if args.device == "cuda":
        model = model.to(torch.bfloat16)
    engine = Engine(model, processor)
    from medmllm.data.manifest import ManifestDataset
    ds = ManifestDataset([args.data / "xray_vqa_test.jsonl"], processor, max_length=384)
    samples = [{k: v.to(args.device) for k, v in ds[i % len(ds)].items()} for i in range(batch_size)]
    if args.device == "cuda":
        samples = [{k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in s.items()} for s in samples]
    def once(name: str) -> float:
        sync(args.device)
        t = time.perf_counter()
        if name == "ours":
            n = sum(o.completion_tokens for o in engine.run([Row(s, 64) for s in samples]))
        else:
            b = collate([{k: v for k, v in s.items() if k != "labels"} for s in samples],
                        processor.tokenizer.pad_token_id, left_pad=True)
            with torch.inference_mode():
                ids = model.generate(**b, max_new_tokens=64, do_sample=False,
                                     pad_token_id=processor.tokenizer.pad_token_id,
                                     eos_token_id=processor.tokenizer.eos_token_id)
            n = int((ids[:, b["input_ids"].shape[1]:] != processor.tokenizer.pad_token_id).sum())
        sync(args.device)
        return n / (time.perf_counter() - t)

    out = {}
    for name in ("ours", "generate"):
        once(name)
        out[name] = statistics.median(once(name) for _ in range(3))
    return {"batch": batch_size, "ours_tokens_per_s": round(out["ours"]), "generate_tokens_per_s": round(out["generate"]),
            "ratio": round(out["ours"] / out["generate"], 2)}


def vllm_figure() -> dict:
    if importlib.util.find_spec("vllm") is None:
        return {"status": "not installed (its wheel is far over the 64 MiB that can be carried to the lent machine)"}
    return {"status": "installed: run `medmllm export MODEL OUT --format hf-llava` and `vllm serve OUT`, then "
                      "benchmarks/serving.py against both (not automated here)"}


def write(out: Path, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("gpu.json", json.dumps(result, indent=1)), ("gpu.md", markdown(result))):
        tmp = out / (name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, out / name)


def markdown(r: dict) -> str:
    lines = [f"# GPU figures ({r['device_name']})", "", (f"bf16 matmul peak measured: {r['peak_tflops']:.0f} TFLOP/s; "
             f"LLM hidden {r['hidden']}, {r['layers']} layers; torch {r['torch']}"), "",
             "| attention | Liger | step ms | tokens/s | model TFLOP/s | MFU | peak GB |", "|---|---|---|---|---|---|---|"]
    for t in r["train"]:
        lines.append(f"| {t['attention']} | {t['liger']} | {t['step_ms']} | {t['tokens_per_s']} | {t['model_tflops']} "
                     f"| {t['mfu']} | {t['peak_mem_gb']} |")
    lines += ["", "| decode batch | ours tokens/s | generate() tokens/s | ratio |", "|---|---|---|---|"]
    lines += [f"| {d['batch']} | {d['ours_tokens_per_s']} | {d['generate_tokens_per_s']} | {d['ratio']} |" for d in r["decode"]]
    lines += ["", f"vLLM: {r['vllm']['status']}", "", "Skipped: " + ("; ".join(r["skipped"]) or "nothing"), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--smoke", action="store_true", help="toy size on CPU: checks the script, measures nothing")
    args = ap.parse_args()
    args.device = "cpu" if args.smoke else "cuda"
    if not args.smoke and not torch.cuda.is_available():
        print("benchmarks/gpu.py: no CUDA device here (use --smoke to check the script on CPU)", file=sys.stderr)
        raise SystemExit(2)
    args.hidden, args.mlp, args.heads = (64, 128, 4) if args.smoke else (2048, 5632, 16)
    args.layers, args.steps = (1, 2) if args.smoke else (args.layers, args.steps)
    from medmllm.synth import synthesize
    args.data = Path(tempfile.mkdtemp(prefix="medmllm-gpu-"))
    synthesize(args.data, ["xray"], n=60 if args.smoke else 200, seed=5)
    peak = matmul_peak(args.device, torch.bfloat16 if args.device == "cuda" else torch.float32, 256 if args.smoke else 8192)
    skipped, train = [], []
    attns = ["eager", "sdpa"] + (["flash_attention_2"] if importlib.util.find_spec("flash_attn") else [])
    if "flash_attention_2" not in attns:
        skipped.append("flash_attention_2 (flash_attn not installed)")
    for attn in attns:
        train.append(train_figure(args, attn, False, peak))
    if importlib.util.find_spec("liger_kernel"):
        train.append(train_figure(args, "sdpa", True, peak))
    else:
        skipped.append("Liger kernels (liger_kernel not installed)")
    decode = [decode_figure(args, b) for b in ((1, 4) if args.smoke else (1, 16, 64))]
    write(args.out, {"device_name": torch.cuda.get_device_name() if args.device == "cuda" else "cpu (smoke)",
                     "torch": torch.__version__, "peak_tflops": peak, "hidden": args.hidden, "layers": args.layers,
                     "train": train, "decode": decode, "vllm": vllm_figure(), "skipped": skipped})


if __name__ == "__main__":
    main()
