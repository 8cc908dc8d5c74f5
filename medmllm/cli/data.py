"""`medmllm data inspect | validate | convert`: look at, check and convert medical data."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..data.formats import FORMATS
from ..errors import MedMLLMError
from . import app, print_json

# The size limits of `data/io/limits.py` as flags (None: the default or the MEDMLLM_MAX_* variable).
MaxPixels = Annotated[Optional[int], typer.Option("--max-pixels", help="Largest image or frame in pixels (default 100M; MEDMLLM_MAX_PIXELS).")]
MaxVoxels = Annotated[Optional[int], typer.Option("--max-voxels", help="Largest volume in voxels (default 512*512*2000; MEDMLLM_MAX_VOXELS).")]
MaxFrames = Annotated[Optional[int], typer.Option("--max-frames", help="Most frames or series slices (default 10000; MEDMLLM_MAX_FRAMES).")]
MaxSamples = Annotated[Optional[int], typer.Option("--max-samples", help="Most ECG samples per lead (default 1e7; MEDMLLM_MAX_SAMPLES).")]
MaxLeads = Annotated[Optional[int], typer.Option("--max-leads", help="Most ECG leads (default 64; MEDMLLM_MAX_LEADS).")]
MaxBytes = Annotated[Optional[int], typer.Option("--max-bytes", help="Most decoded bytes per file (default 4 GiB; MEDMLLM_MAX_BYTES).")]

data_app = typer.Typer(no_args_is_help=True, help="Inspect, validate and convert medical data.")
app.add_typer(data_app, name="data")


@data_app.command("inspect")
def data_inspect(file: Annotated[Path, typer.Argument(help="An image, DICOM file or series folder, NIfTI, .npy or WFDB record.")],
                 json_: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
                 max_pixels: MaxPixels = None, max_voxels: MaxVoxels = None, max_frames: MaxFrames = None,
                 max_samples: MaxSamples = None, max_leads: MaxLeads = None, max_bytes: MaxBytes = None) -> None:
    """Print what a file holds, as read: kind, shape, stored dtype, spacing or rate, value range
    (after the modality LUT, before windowing), modality, window, DICOM transfer syntax."""
    from ..data import io

    io.limits.set_limits(pixels=max_pixels, voxels=max_voxels, frames=max_frames, samples=max_samples,
                         leads=max_leads, bytes=max_bytes)
    info = {"path": str(file), **io.load(file).summary()}
    if json_:
        print_json(info)
        return
    for key, value in info.items():
        if key != "affine":
            print(f"{key:>16}: {value}")


@data_app.command("validate")
def data_validate(manifests: Annotated[list[Path], typer.Argument(help="JSONL manifest(s).")],
                  decode: Annotated[bool, typer.Option(help="Also decode every referenced file (slower).")] = True,
                  json_: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
                  max_pixels: MaxPixels = None, max_voxels: MaxVoxels = None, max_frames: MaxFrames = None,
                  max_samples: MaxSamples = None, max_leads: MaxLeads = None, max_bytes: MaxBytes = None) -> None:
    """Check every record (JSON, roles, answers, placeholders vs inputs, files exist and decode): one
    line per bad record, then a summary; exit 1 when any record is bad."""
    from ..data.io import limits
    from ..data.validate import validate

    limits.set_limits(pixels=max_pixels, voxels=max_voxels, frames=max_frames, samples=max_samples,
                      leads=max_leads, bytes=max_bytes)

    stats = validate(manifests, decode=decode)
    if stats["records"] == 0:
        raise MedMLLMError(f"{', '.join(map(str, manifests))}: no records")
    if json_:
        print_json(stats)
    else:
        inputs = ", ".join(f"{n:,} {m}" for m, n in stats["inputs"].items()) or "no inputs"
        print(f"{stats['records']:,} records: {stats['ok']:,} ok, {stats['bad']:,} bad ({inputs}"
              f"{', decoded' if decode else ', not decoded'})")
    if stats["bad"]:
        sys.exit(1)




@data_app.command("convert")
def convert(src: Annotated[Path, typer.Argument(help="The benchmark's download (its folder or main file).")],
            out: Annotated[Path, typer.Argument(help="Manifest to write (.jsonl); media paths are relative to it.")],
            format: Annotated[str, typer.Option("--format", help=f"Source format: {', '.join(FORMATS.names())}.")],
            split: Annotated[Optional[str], typer.Option(help="Keep only this split (the benchmark's own name).")] = None,
            images: Annotated[Optional[Path], typer.Option(help="Where the images/volumes are, when not in the default place.")] = None,
            lang: Annotated[str, typer.Option(help="SLAKE question language: en, zh or all.")] = "en",
            on_error: Annotated[str, typer.Option(help="fail or skip bad records.")] = "fail",
            allow_outside_paths: Annotated[bool, typer.Option("--allow-outside-paths", help="Accept records whose media "
                                                              "path is absolute or outside the source and manifest folders.")] = False) -> None:
    """Convert VQA-RAD, SLAKE, PathVQA, PMC-VQA, MIMIC-CXR, IU X-ray, ROCO, LLaVA-Med or M3D data to a manifest."""
    from ..data.formats import convert as run_convert

    stats = run_convert(format, src, out, split=split, images=images, lang=lang, on_error=on_error,
                        allow_outside_paths=allow_outside_paths)
    splits = ", ".join(f"{name} {n:,}" for name, n in stats["splits"].items())
    print(f"wrote {stats['records']:,} records to {out}" + (f" ({splits})" if splits else ""))
    if stats["filtered"]:
        print(f"left out {stats['filtered']:,} record(s) by the benchmark's convention (see the format's notes)")
    if stats["skipped"]:
        print(f"skipped {stats['skipped']:,} bad record(s)")
