"""Benchmarks as tasks, registered by name (one small file per benchmark in this folder).

A task pins what makes its numbers comparable: the manifest it reads (found under `--data-dir`
by its default file name, or given explicitly), the split (`meta.split`), the prompt wrapped
around each question, and the metrics with their conventions per answer type. Suites are named
lists of tasks. `Task.items(path)` yields eval items, or a `MedMLLMError` for a bad record.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ...chat import PLACEHOLDERS
from ...data.records import check_record, iter_manifest, record_inputs
from ...errors import MedMLLMError
from ...registry import Registry, import_modules

TASKS: Registry["Task"] = Registry("task")
SUITES: Registry[list[str]] = Registry("suite")

VQA_METRICS = {"CLOSED": ["closed_accuracy", "exact_match"], "OPEN": ["open_recall", "open_f1", "exact_match"]}
REPORT_METRICS = ["bleu1", "bleu2", "bleu3", "bleu4", "rougeL", "ciderD", "meteor"]
CXR_REPORT_METRICS = REPORT_METRICS + ["chexpert_f1_14_micro", "chexpert_f1_14_macro", "chexpert_f1_5_micro",
                                       "chexpert_f1_5_macro"]


@dataclass
class Task:
    """One benchmark, with everything that decides how its number is computed."""

    name: str
    description: str
    file: str
    """Default manifest (or raw file) name under `--data-dir`."""
    metrics: dict[str, list[str]]
    """answer_type (CLOSED, OPEN, CHOICE, REPORT, CAPTION) -> metric names, scored over those items."""
    split: str | None = None
    """Records whose `meta.split` differs are left out; None keeps all."""
    prompt: str = "{question}"
    """Wraps the last question's text (placeholders stay in front)."""
    options: dict[str, dict] = field(default_factory=dict)
    """metric name -> options passed to it (e.g. {"closed_accuracy": {"convention": "llava-med"}})."""
    loader: Callable[[Path, "Task"], Iterator[dict | MedMLLMError]] | None = None
    """Reads a raw (non-manifest) file, e.g. MedQA JSONL; None reads a medmllm manifest."""
    category: str = "question_type"
    """`meta` key whose values give the per-category breakdown and plot."""

    def items(self, path: Path) -> Iterator[dict | MedMLLMError]:
        source = (self.loader or manifest_items)(Path(path), self)
        for item in source:
            if isinstance(item, dict):
                if self.split is not None and item["split"] not in (None, self.split):
                    continue
                item = self.wrap(item)
            yield item

    def wrap(self, item: dict) -> dict:
        if self.prompt != "{question}":
            history = [dict(t) for t in item["history"]]
            text = history[-1]["content"]
            placeholders = "".join(line + "\n" for line in text.split("\n") if line.strip() in PLACEHOLDERS.values())
            question = "\n".join(line for line in text.split("\n") if line.strip() not in PLACEHOLDERS.values())
            history[-1]["content"] = placeholders + self.prompt.format(question=question.strip())
            item = {**item, "history": history, "question": history[-1]["content"]}
        return item


def manifest_items(path: Path, task: Task) -> Iterator[dict | MedMLLMError]:
    """Eval items from a medmllm manifest: the last answer is the reference, the turns before it the prompt."""
    for lineno, _, rec in iter_manifest(path):
        if not isinstance(rec, dict):
            yield rec
            continue
        why = check_record(rec, path.parent)
        if why:
            yield MedMLLMError(f"{path}:{lineno}: {why}")
            continue
        meta, conv = rec.get("meta", {}), rec["conversations"]
        kind = meta.get("answer_type") or ("REPORT" if meta.get("task") == "report" else "OPEN")
        yield {"id": str(rec.get("id", f"{path.name}:{lineno}")), "where": f"{path}:{lineno}",
               "question": conv[-2]["content"], "history": conv[:-1], "ref": conv[-1]["content"],
               "answer_type": str(kind).upper(), "split": meta.get("split"),
               "inputs": {m: [str(path.parent / p) for p in ps] for m, ps in record_inputs(rec).items()},
               "category": meta.get(task.category), "choices": meta.get("choices")}


def manifest_task(path: Path) -> Task:
    """An ad-hoc task for any manifest (`medmllm eval --data FILE`): metrics chosen by answer type."""
    path = Path(path)
    return Task(name=path.name.removesuffix(".jsonl"), description=f"records of {path}", file=path.name,
                metrics={**VQA_METRICS, "CHOICE": ["choice_accuracy"], "REPORT": REPORT_METRICS,
                         "CAPTION": REPORT_METRICS})


def register(task: Task) -> Task:
    return TASKS.register(task.name)(task)


def resolve(name: str, data_dir: Path | None) -> tuple[Task, Path]:
    """A registered task and its manifest: `NAME` (looked up under data_dir) or `NAME=PATH`."""
    name, _, explicit = name.partition("=")
    task = TASKS.get(name)
    path = Path(explicit) if explicit else (Path(data_dir) / task.file if data_dir else None)
    if path is None:
        raise MedMLLMError(f"task {name}: give --data-dir (where {task.file} is) or {name}=PATH")
    if not path.exists():
        raise MedMLLMError(f"task {name}: {path} not found ({task.description})")
    return task, path


import_modules(__name__, __path__)  # registration is by folder
