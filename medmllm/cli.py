"""The `medmllm` command: one typed function per subcommand (typer builds the flags from the types).

Every user-facing failure (a bad file, record, config key) is printed as one line naming it,
with a non-zero exit; set MEDMLLM_DEBUG=1 to see the traceback instead.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import MedMLLMError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Build, train, evaluate and chat with medical multimodal LLMs.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect, validate and convert medical data.")
app.add_typer(data_app, name="data")


@app.command()
def synth(out: Annotated[Path, typer.Option(help="Folder to write the data set into.")],
          modalities: Annotated[str, typer.Option(help="Comma-separated: xray, ct, ecg.")] = "xray,ct,ecg",
          n: Annotated[int, typer.Option(help="Cases per modality.")] = 200,
          seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
          preferences: Annotated[bool, typer.Option("--preferences", help="Also write DPO pairs (true report vs one "
                                                    "hallucination): {xray,ct}_pref_{split}.jsonl.")] = False) -> None:
    """Write MedSynth, the built-in synthetic data set (PNG+DICOM X-rays, NIfTI CT, WFDB ECG, JSONL manifests)."""
    from .data.synth import synthesize

    try:
        mods = [m.strip() for m in modalities.split(",") if m.strip()]
        paths = synthesize(out, mods, n=n, seed=seed, progress=True)
        if preferences:
            from .data.synth.preferences import write_preferences

            paths = {**paths, **write_preferences(out, mods, seed=seed)}
    except ValueError as e:
        raise MedMLLMError(str(e)) from None
    print(f"wrote {len(paths)} manifests to {out}")


@app.command()
def train(config: Annotated[Path, typer.Argument(help="YAML run config.")],
          overrides: Annotated[Optional[list[str]], typer.Argument(help="key=value overrides, e.g. train.max_steps=10")] = None,
          resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in train.output_dir.")] = False,
          on_error: Annotated[Optional[str], typer.Option(help="fail or skip bad records (sets data.on_error).")] = None) -> None:
    """Train one stage (`train.stage`: align, sft, grpo or dpo) from a YAML config."""
    from .config import load_config
    from .recipes import run

    cfg = load_config(config, (overrides or []) + ([f"data.on_error={on_error}"] if on_error else []))
    metrics = run(cfg, resume=resume)
    print(f"train loss {metrics.get('train_loss', float('nan')):.4f} in {metrics.get('train_runtime', 0):.1f} s")
    if metrics.get("skipped_records"):
        print(f"skipped {metrics['skipped_records']} bad record(s)")


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
    from .engine import load

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


@app.command()
def demo(out: Annotated[Path, typer.Option(help="Run folder.")] = Path("runs/demo"),
         quick: Annotated[bool, typer.Option("--quick", help="A smaller run (about 2 minutes) for tests.")] = False) -> None:
    """synth -> align -> sft -> eval -> sample answers, on MedSynth chest X-rays with a tiny model."""
    from .demo import run_demo

    run_demo(out, quick=quick)


@data_app.command("inspect")
def data_inspect(file: Annotated[Path, typer.Argument(help="An image, DICOM file or series folder, NIfTI, .npy or WFDB record.")],
                 json_: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """Print what a file holds, as read: kind, shape, stored dtype, spacing or rate, value range
    (after the modality LUT, before windowing), modality, window, DICOM transfer syntax."""
    import json

    from .data import io

    info = {"path": str(file), **io.load(file).summary()}
    if json_:
        print(json.dumps(info))
        return
    for key, value in info.items():
        if key != "affine":
            print(f"{key:>16}: {value}")


@data_app.command("validate")
def data_validate(manifests: Annotated[list[Path], typer.Argument(help="JSONL manifest(s).")],
                  decode: Annotated[bool, typer.Option(help="Also decode every referenced file (slower).")] = True,
                  json_: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False) -> None:
    """Check every record (JSON, roles, answers, placeholders vs inputs, files exist and decode): one
    line per bad record, then a summary; exit 1 when any record is bad."""
    import json

    from .data.validate import validate

    stats = validate(manifests, decode=decode)
    if stats["records"] == 0:
        raise MedMLLMError(f"{', '.join(map(str, manifests))}: no records")
    if json_:
        print(json.dumps(stats))
    else:
        inputs = ", ".join(f"{n:,} {m}" for m, n in stats["inputs"].items()) or "no inputs"
        print(f"{stats['records']:,} records: {stats['ok']:,} ok, {stats['bad']:,} bad ({inputs}"
              f"{', decoded' if decode else ', not decoded'})")
    if stats["bad"]:
        sys.exit(1)


# subcommands that live in their own packages: one registration line each
# (the command functions import their heavy dependencies lazily).
from .data.formats.command import convert  # noqa: E402
from .deid.command import deid, deid_text  # noqa: E402
from .eval.eval_command import eval_app  # noqa: E402
from .eval.chexpert.command import label  # noqa: E402
from .eval.command import score  # noqa: E402
from .lora import merge  # noqa: E402

data_app.command("convert")(convert)
app.command()(deid)
app.command("deid-text")(deid_text)
app.add_typer(eval_app, name="eval")
app.command()(label)
app.command()(score)
app.command()(merge)


def main() -> None:
    import click
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if not os.environ.get("MEDMLLM_DEBUG"):  # library warnings would bury the one-line error
        import warnings

        warnings.filterwarnings("ignore")

    try:
        app(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.exceptions.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except MedMLLMError as e:
        _fail(str(e), 2)
    except Exception as e:  # never a traceback for the user; MEDMLLM_DEBUG=1 shows it
        if os.environ.get("MEDMLLM_DEBUG"):
            raise
        msg = str(e).strip().splitlines()
        _fail(f"{type(e).__name__}: {msg[-1] if msg else ''}", 1)


def _fail(message: str, code: int) -> None:
    """Close any open progress bar first, so the error is the last line the user sees."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", [])):
        bar.close()
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
