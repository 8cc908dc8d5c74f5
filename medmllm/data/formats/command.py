"""`medmllm data convert`: a benchmark's official download -> a medmllm manifest."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import FORMATS


def convert(src: Annotated[Path, typer.Argument(help="The benchmark's download (its folder or main file).")],
            out: Annotated[Path, typer.Argument(help="Manifest to write (.jsonl); media paths are relative to it.")],
            format: Annotated[str, typer.Option("--format", help=f"Source format: {', '.join(FORMATS.names())}.")],
            split: Annotated[Optional[str], typer.Option(help="Keep only this split (the benchmark's own name).")] = None,
            images: Annotated[Optional[Path], typer.Option(help="Where the images/volumes are, when not in the default place.")] = None,
            lang: Annotated[str, typer.Option(help="SLAKE question language: en, zh or all.")] = "en",
            on_error: Annotated[str, typer.Option(help="fail or skip bad records.")] = "fail") -> None:
    """Convert VQA-RAD, SLAKE, PathVQA, PMC-VQA, MIMIC-CXR, IU X-ray, ROCO, LLaVA-Med or M3D data to a manifest."""
    from . import convert as run_convert

    stats = run_convert(format, src, out, split=split, images=images, lang=lang, on_error=on_error)
    splits = ", ".join(f"{name} {n:,}" for name, n in stats["splits"].items())
    print(f"wrote {stats['records']:,} records to {out}" + (f" ({splits})" if splits else ""))
    if stats["filtered"]:
        print(f"left out {stats['filtered']:,} record(s) by the benchmark's convention (see the format's notes)")
    if stats["skipped"]:
        print(f"skipped {stats['skipped']:,} bad record(s)")
