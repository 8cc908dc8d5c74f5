"""`medmllm serve`: the OpenAI-compatible server and its page (see `medmllm/serve/`)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .data import MaxBytes, MaxFrames, MaxLeads, MaxPixels, MaxSamples, MaxVoxels


@app.command()
def serve(model: Annotated[Path, typer.Option(help="A saved model folder (full or adapter).")],
          host: Annotated[str, typer.Option(help="Interface to bind; the default keeps the server on this machine.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="TCP port (0: any free one, printed at start).")] = 8000,
          api_key: Annotated[Optional[str], typer.Option(help="Require Authorization: Bearer KEY (or set MEDMLLM_API_KEY).")] = None,
          served_model_name: Annotated[str, typer.Option(help="The model id clients send (default: the folder's name).")] = "",
          max_batch: Annotated[int, typer.Option(help="Most answers generated together.")] = 16,
          batch_window_ms: Annotated[float, typer.Option(help="How long a request waits for others to batch with.")] = 10.0,
          max_queue: Annotated[int, typer.Option(help="Most waiting requests; more get 429.")] = 64,
          request_timeout: Annotated[float, typer.Option(help="Seconds before a request is ended with 504.")] = 300.0,
          max_body_mb: Annotated[float, typer.Option(help="Largest request body in MiB (413 past it).")] = 64.0,
          max_unzipped_mb: Annotated[float, typer.Option(help="Most MiB a zipped series or record unpacks to.")] = 1024.0,
          default_max_tokens: Annotated[int, typer.Option(help="Answer length when a request sets none.")] = 256,
          threads: Annotated[int, typer.Option(help="CPU threads for generation (0: the cores other processes leave free).")] = 0,
          allowed_local_media_path: Annotated[Optional[Path], typer.Option(help="Folder that file:// URLs may read from (default: none).")] = None,
          cors_origin: Annotated[Optional[list[str]], typer.Option(help="Allow browser calls from this origin (repeatable; default: CORS off).")] = None,
          ui: Annotated[bool, typer.Option(help="Serve the viewer-chat page at /.")] = True,
          max_pixels: MaxPixels = None, max_voxels: MaxVoxels = None, max_frames: MaxFrames = None,
          max_samples: MaxSamples = None, max_leads: MaxLeads = None, max_bytes: MaxBytes = None) -> None:
    """Serve a model behind the OpenAI chat API, reading DICOM, NIfTI and ECG parts, with a web page."""
    from ..checkpoint import check_folder
    from ..data.io import limits
    from ..errors import FieldError, MedMLLMError
    from ..serve import ServeConfig, run

    limits.set_limits(pixels=max_pixels, voxels=max_voxels, frames=max_frames, samples=max_samples,
                      leads=max_leads, bytes=max_bytes)
    try:
        cfg = ServeConfig(model=model, served_model_name=served_model_name, host=host, port=port,
                          api_key=api_key or os.environ.get("MEDMLLM_API_KEY") or None, max_batch=max_batch,
                          batch_window_ms=batch_window_ms, max_queue=max_queue, request_timeout=request_timeout,
                          max_body_mb=max_body_mb, max_unzipped_mb=max_unzipped_mb,
                          default_max_tokens=default_max_tokens, threads=threads, allowed_local_media_path=allowed_local_media_path,
                          cors_origins=cors_origin or [], ui=ui)
    except FieldError as e:
        raise MedMLLMError(f"--{e.field.replace('_', '-')}: {e.why}") from None
    check_folder(model)  # fail before binding the port; the full load runs after
    run(cfg)
