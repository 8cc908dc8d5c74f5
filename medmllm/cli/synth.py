"""`medmllm synth`: write MedSynth, the built-in synthetic data set."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import MedMLLMError
from . import app


@app.command()
def synth(out: Annotated[Path, typer.Option(help="Folder to write the data set into.")],
          modalities: Annotated[str, typer.Option(help="Comma-separated: xray, ct, ecg.")] = "xray,ct,ecg",
          n: Annotated[int, typer.Option(help="Cases per modality.")] = 200,
          seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
          preferences: Annotated[bool, typer.Option("--preferences", help="Also write DPO pairs (true report vs one "
                                                    "hallucination): {xray,ct}_pref_{split}.jsonl.")] = False) -> None:
    """Write MedSynth, the built-in synthetic data set (PNG+DICOM X-rays, NIfTI CT, WFDB ECG, JSONL manifests)."""
    from ..synth import synthesize

    try:
        mods = [m.strip() for m in modalities.split(",") if m.strip()]
        paths = synthesize(out, mods, n=n, seed=seed, progress=True)
        if preferences:
            from ..synth.preferences import write_preferences

            paths = {**paths, **write_preferences(out, mods, seed=seed)}
    except ValueError as e:
        raise MedMLLMError(str(e)) from None
    print(f"wrote {len(paths)} manifests to {out}")


