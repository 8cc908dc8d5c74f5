"""`medmllm eval`: run tasks or manifests against a model or endpoint; `eval compare`; `eval tasks`."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import MedMLLMError, brief
from . import app

eval_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                       help="Evaluate a model on benchmark tasks or manifests (and compare runs).")


@eval_app.callback()
def evaluate_command(
        ctx: typer.Context,
        model: Annotated[Optional[Path], typer.Option(help="A saved medmllm model folder.")] = None,
        endpoint: Annotated[Optional[str], typer.Option(help="An OpenAI-compatible server, e.g. http://host:8000/v1.")] = None,
        api_model: Annotated[Optional[str], typer.Option(help="Model name to send to --endpoint.")] = None,
        hf_model: Annotated[Optional[Path], typer.Option(help="A transformers image-text-to-text model folder.")] = None,
        task: Annotated[Optional[list[str]], typer.Option(help="Registered task (NAME or NAME=PATH), repeatable; see `eval tasks`.")] = None,
        suite: Annotated[Optional[str], typer.Option(help="A named list of tasks, e.g. medsynth-xray.")] = None,
        data_dir: Annotated[Optional[Path], typer.Option(help="Folder holding the tasks' manifests.")] = None,
        data: Annotated[Optional[list[Path]], typer.Option(help="Any manifest, scored by its records' answer types (repeatable).")] = None,
        out: Annotated[Optional[Path], typer.Option(help="Output folder (default: <model>/eval or eval/).")] = None,
        blank: Annotated[bool, typer.Option(help="Also answer with blank inputs (image-reliance check).")] = True,
        batch_size: Annotated[int, typer.Option(help="Items per generation batch.")] = 16,
        concurrency: Annotated[int, typer.Option(help="Parallel requests to --endpoint.")] = 4,
        limit: Annotated[Optional[int], typer.Option(help="At most this many items per task.")] = None,
        max_new_tokens: Annotated[Optional[int], typer.Option(help="Answer length cap (default: from the references).")] = None,
        seed: Annotated[int, typer.Option(help="Random seed, recorded with the results.")] = 0,
        think: Annotated[bool, typer.Option("--think", help="Make the model reason first (<think>); the answer is scored.")] = False,
        samples: Annotated[int, typer.Option(help="Self-consistency: sampled answers per item, majority vote.")] = 1,
        temperature: Annotated[float, typer.Option(help="Sampling temperature for --samples > 1.")] = 0.7,
        judge_endpoint: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server of an LLM judge for open answers and reports (optional).")] = None,
        judge_model: Annotated[Optional[str], typer.Option(help="Model name for --judge-endpoint.")] = None,
        on_error: Annotated[str, typer.Option(help="fail or skip bad records.")] = "fail") -> None:
    """Answer every item (cached per item: rerunning a killed run finishes only what is missing),
    score it with each task's pinned conventions, and write results.json, results.md,
    predictions.jsonl and by_category.png."""
    if ctx.invoked_subcommand is not None:
        return
    from ..eval.evaluate import Decoding, run
    from ..eval.tasks import SUITES, manifest_task, resolve

    if on_error not in ("fail", "skip"):
        raise MedMLLMError(f"--on-error: {on_error!r} is not one of fail, skip")
    chosen = [bool(model), bool(endpoint), bool(hf_model)]
    if sum(chosen) != 1:
        raise MedMLLMError("give exactly one of --model, --endpoint (with --api-model) or --hf-model")
    names = list(task or []) + (list(SUITES.get(suite)) if suite else [])
    tasks = [resolve(n, data_dir) for n in names] + [(manifest_task(p), p) for p in data or []]
    if not tasks:
        raise MedMLLMError("nothing to evaluate: give --task, --suite or --data")
    for _, path in tasks:
        if not Path(path).exists():
            raise MedMLLMError(f"{path}: not found")
    backend = _backend(model, endpoint, api_model, hf_model, batch_size, concurrency)
    out = out or (model / "eval" if model else Path("eval"))
    config = {"tasks": [t.name for t, _ in tasks], "sources": [str(p) for _, p in tasks], "blank": blank,
              "limit": limit, "max_new_tokens": max_new_tokens, "batch_size": batch_size}
    if bool(judge_endpoint) != bool(judge_model):
        raise MedMLLMError("--judge-endpoint and --judge-model go together")
    judge = {"url": judge_endpoint, "model": judge_model, "concurrency": concurrency} if judge_endpoint else None
    config["judge"] = {"url": judge_endpoint, "model": judge_model} if judge else None
    if samples < 1:
        raise MedMLLMError(f"--samples: must be at least 1, got {samples}")
    decoding = Decoding(think=think, samples=samples, temperature=temperature, max_new_tokens=max_new_tokens)
    config["decoding"] = {"think": think, "samples": samples, "temperature": temperature}
    results = run(backend, tasks, out, blank=blank, limit=limit, on_error=on_error, seed=seed,
                  config=config, judge=judge, decoding=decoding)
    print((out / "results.md").read_text())
    print(f"{results['generated']} answers generated, {results['cached']} from the cache; results in {out}/")
    if results["skipped_records"]:
        print(f"skipped {results['skipped_records']} bad record(s)")


def _backend(model, endpoint, api_model, hf_model, batch_size, concurrency):
    from ..eval.backends import BACKENDS

    if model:
        return BACKENDS.get("local")(model, batch_size=batch_size)
    if endpoint:
        if not api_model:
            raise MedMLLMError("--endpoint needs --api-model (the model name the server expects)")
        return BACKENDS.get("openai")(endpoint, api_model, concurrency=concurrency, batch_size=batch_size)
    return BACKENDS.get("hf")(hf_model, batch_size=batch_size)


@eval_app.command("compare")
def compare_command(a: Annotated[Path, typer.Argument(help="results.json of run A.")],
                    b: Annotated[Path, typer.Argument(help="results.json of run B.")]) -> None:
    """Print every score of two runs side by side with the difference, and what differs in their setup."""
    from ..eval.report import compare

    runs = []
    for path in (a, b):
        try:
            runs.append(json.loads(Path(path).read_text()))
            runs[-1]["tasks"]
        except FileNotFoundError:
            raise MedMLLMError(f"{path}: not found") from None
        except (ValueError, KeyError, TypeError) as e:
            raise MedMLLMError(f"{path}: not a medmllm results.json ({type(e).__name__}: {brief(e)})") from None
    print("\n".join(compare(*runs)))


@eval_app.command("tasks")
def tasks_command() -> None:
    """List the registered tasks (with their default file and split) and suites."""
    from ..eval.tasks import SUITES, TASKS

    for name in TASKS.names():
        t = TASKS.get(name)
        print(f"{name:24} {t.file:26} split={t.split or 'all':11} {t.description}")
    print()
    for name in SUITES.names():
        print(f"suite {name}: {', '.join(SUITES.get(name))}")
    sys.stdout.flush()


app.add_typer(eval_app, name="eval")
