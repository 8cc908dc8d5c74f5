"""`medmllm chat`: ask a trained model about an image, a volume or an ECG."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import MedMLLMError
from . import app


@app.command()
def chat(question: Annotated[str, typer.Argument(help="The question; placeholders are added when missing.")],
         model: Annotated[Path, typer.Option(help="A saved model folder.")],
         image: Annotated[Optional[list[Path]], typer.Option(help="PNG/JPEG/DICOM image (repeatable).")] = None,
         volume: Annotated[Optional[list[Path]], typer.Option(help="NIfTI/.npy/DICOM volume (repeatable).")] = None,
         ecg: Annotated[Optional[list[Path]], typer.Option(help="WFDB record (repeatable).")] = None,
         max_new_tokens: Annotated[int, typer.Option(help="Longest answer in tokens.")] = 192,
         think: Annotated[bool, typer.Option("--think", help="Reason first (<think>), print reasoning and answer apart.")] = False,
         samples: Annotated[int, typer.Option(help="Self-consistency: sample this many answers and take the majority.")] = 1,
         temperature: Annotated[float, typer.Option(help="Sampling temperature for --samples > 1.")] = 0.7) -> None:
    """Ask a trained model a question about an image, a volume or an ECG."""
    from ..engine import load

    engine = load(model)
    inputs = {"image": image or None, "volume": volume or None, "ecg": ecg or None}
    if not think and samples <= 1:
        print(engine.chat(question, **inputs, max_new_tokens=max_new_tokens))
        return
    if samples < 1:
        raise MedMLLMError(f"--samples: must be at least 1, got {samples}")
    reply = engine.reason(question, **inputs, think=think, samples=samples, temperature=temperature,
                          max_new_tokens=max_new_tokens)
    if reply.reasoning:
        print(f"reasoning: {reply.reasoning}")
    print(f"answer: {reply.answer}")
    if samples > 1:
        print("votes: " + ", ".join(f"{a or '(none)'} x{n}" for a, n in sorted(reply.votes.items(), key=lambda kv: -kv[1])))


