"""`medmllm export`: write a model in another library's format (`hf-llava`: transformers and vLLM)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import app


@app.command()
def export(model_dir: Annotated[Path, typer.Argument(help="A medmllm model folder (full, or a LoRA/DoRA adapter: "
                                                          "merged first).")],
           out_dir: Annotated[Path, typer.Argument(help="Folder for the exported model.")],
           fmt: Annotated[str, typer.Option("--format", help="hf-llava: a transformers LlavaForConditionalGeneration "
                                               "folder with its processor, also served by vLLM.")] = "hf-llava",
           force: Annotated[bool, typer.Option("--force", help="Replace OUT_DIR if it exists and is not "
                                               "empty.")] = False) -> None:
    """Export a model for other libraries: hf-llava loads with AutoModelForImageTextToText and AutoProcessor
    (no medmllm code) and serves with `vllm serve OUT_DIR`. Image-only models with an hf_vision CLIP, SigLIP
    or ViT tower, a linear or mlp2x_gelu connector and a llama, qwen2 or mistral LLM."""
    from ..export import export as export_model

    done = export_model(model_dir, out_dir, fmt=fmt, force=force)
    print(f"exported {model_dir} -> {out_dir} ({done['format']}: {done['tower']} tower, {done['connector']} "
          f"connector as projector act '{done['projector_act']}', {done['llm']} LLM, {done['image_tokens']} "
          "image tokens)")
    for note in done["vllm"]:
        print(f"note: {note} (docs/serving.md)")
