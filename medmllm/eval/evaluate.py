"""Evaluate a model on manifests: answers, scores per task, and the image-reliance check.

Every record is answered twice: with its real inputs and with blank ones (black image, air
volume, flat ECG). A model that reads its inputs loses points on the blank run; one that
answers from the question alone does not. Scores are keyed by manifest; each manifest's
records are scored by their `meta.answer_type`: CLOSED -> closed_accuracy, OPEN ->
open_recall, REPORT -> bleu4 + rougeL.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from .. import __version__
from ..data.manifest import check_record, iter_records, record_inputs
from ..engine import Engine
from ..errors import MedMLLMError
from .metrics import CONVENTIONS, METRICS

METRICS_BY_TYPE = {"CLOSED": ["closed_accuracy"], "OPEN": ["open_recall"], "REPORT": ["bleu4", "rougeL"]}


def max_new_tokens(items: list[dict], tokenizer) -> int:
    """Room for the longest reference of the batch, plus half again (worked reasoning is long)."""
    longest = max(len(tokenizer(it["ref"], add_special_tokens=False)["input_ids"]) for it in items)
    return min(512, int(longest * 1.5) + 8)


def load_items(manifest: Path, engine: Engine, limit: int | None, on_error: str) -> tuple[list[dict], list[str]]:
    """Records of a manifest as eval items (prompt, reference, inputs); bad ones fail or are skipped."""
    items, skipped = [], []
    modalities = set(engine.processor.settings.num_tokens)
    for lineno, _, rec in iter_records(manifest):
        problem = str(rec) if not isinstance(rec, dict) else None
        if problem is None and (why := check_record(rec, manifest.parent, modalities)):
            problem = f"{manifest}:{lineno}: {why}"
        if problem:
            if on_error == "fail":
                raise MedMLLMError(problem)
            skipped.append(problem)
            continue
        meta = rec.get("meta", {})
        conv = rec["conversations"]
        kind = meta.get("answer_type") or ("REPORT" if meta.get("task") == "report" else "OPEN")
        items.append({"id": rec.get("id", f"{manifest.name}:{lineno}"), "where": f"{manifest}:{lineno}",
                      "question": conv[-2]["value"], "history": conv[:-1], "ref": conv[-1]["value"],
                      "answer_type": kind.upper(), "inputs": {m: [manifest.parent / p for p in ps]
                                                           for m, ps in record_inputs(rec).items()},
                      "question_type": meta.get("question_type")})
        if limit and len(items) >= limit:
            break
    return items, skipped


def answer(engine: Engine, items: list[dict], blank: bool, batch_size: int, desc: str,
           on_error: str = "fail") -> list[str]:
    """Fill `pred` (or `blank_pred`) of each item; batches hold one answer type (similar lengths).
    An input that does not decode fails, or with on_error="skip" drops its item (returned, counted)."""
    p, key = engine.processor, "blank_pred" if blank else "pred"
    skipped: list[str] = []
    for kind in sorted({it["answer_type"] for it in items}):
        group = [it for it in items if it["answer_type"] == kind]
        for start in tqdm(range(0, len(group), batch_size), desc=f"{desc} {kind.lower()}", leave=False,
                          file=sys.stderr):
            batch = group[start:start + batch_size]
            samples, kept = [], []
            for it in batch:
                try:
                    s = {k: torch.tensor(v) for k, v in p.encode(it["history"], generation_prompt=True).items()}
                    for m, paths in it["inputs"].items():
                        s[m] = torch.stack([p.blank(m) if blank else p.load(m, path) for path in paths])
                except MedMLLMError as e:
                    if on_error == "fail":
                        raise MedMLLMError(f"{it['where']}: {e}") from None
                    skipped.append(f"{it['where']}: {e}")
                    print(f"skipped {skipped[-1]}", file=sys.stderr)
                    it["bad"] = True
                    continue
                samples.append(s), kept.append(it)
            if samples:
                for it, text in zip(kept, engine.generate(samples, max_new_tokens(kept, p.tokenizer))):
                    it[key] = text
    items[:] = [it for it in items if not it.get("bad")]
    return skipped


def score(items: list[dict], key: str) -> dict[str, float]:
    """Corpus scores of one run (`pred` or `blank_pred`) by answer type; per-sample scores into the items."""
    scores: dict[str, float] = {}
    for kind, names in METRICS_BY_TYPE.items():
        group = [it for it in items if it["answer_type"] == kind]
        if not group:
            continue
        for name in names:
            corpus, per = METRICS.get(name)([it[key] for it in group], [it["ref"] for it in group])
            scores[name] = corpus
            for it, v in zip(group, per):
                it.setdefault("scores" if key == "pred" else "blank_scores", {})[name] = v
        scores[f"n_{kind.lower()}"] = len(group)
    return scores


def evaluate(engine: Engine, manifests: list[str | Path], out_dir: str | Path, blank: bool = True,
             batch_size: int = 16, limit: int | None = None, on_error: str = "fail", model_name: str = "") -> dict:
    """Answer and score every manifest; write results.json, results.md and predictions.jsonl to `out_dir`."""
    out_dir = Path(out_dir)
    results: dict = {"model": model_name, "medmllm": __version__, "blank_check": blank, "tasks": {},
                     "conventions": {k: CONVENTIONS[k] for k in CONVENTIONS}, "skipped_records": 0}
    all_items = []
    for manifest in map(Path, manifests):
        items, skipped = load_items(manifest, engine, limit, on_error)
        task = manifest.name.removesuffix(".jsonl")
        skipped += answer(engine, items, blank=False, batch_size=batch_size, desc=task, on_error=on_error)
        results["skipped_records"] += len(skipped)
        if not items:
            raise MedMLLMError(f"{manifest}: no records to evaluate")
        entry = {"manifest": str(manifest), "n": len(items), "scores": score(items, "pred")}
        if blank:
            answer(engine, items, blank=True, batch_size=batch_size, desc=f"{task} (blank)")
            entry["blank_scores"] = score(items, "blank_pred")
        results["tasks"][task] = entry
        all_items += [{"task": task, **{k: v for k, v in it.items() if k not in ("history", "inputs")}}
                      for it in items]
    results["config_hash"] = _model_hash(engine)
    write_atomic(out_dir / "results.json", json.dumps(results, indent=2))
    write_atomic(out_dir / "results.md", markdown(results))
    write_atomic(out_dir / "predictions.jsonl", "".join(json.dumps(it, default=str) + "\n" for it in all_items))
    return results


def _model_hash(engine: Engine) -> str:
    return hashlib.sha256(engine.model.config.to_json_string().encode()).hexdigest()[:12]


def markdown(results: dict) -> str:
    """The scores as a Markdown table: one row per task and metric, real vs blank input."""
    lines = ["| task | n | metric | score | blank input | drop |", "|---|---|---|---|---|---|"]
    for task, entry in results["tasks"].items():
        for name, value in entry["scores"].items():
            if name.startswith("n_"):
                continue
            b = entry.get("blank_scores", {}).get(name)
            drop = f"{value - b:+.3f}" if b is not None else ""
            lines.append(f"| {task} | {entry['n']} | {name} | {value:.3f} | "
                         f"{'' if b is None else f'{b:.3f}'} | {drop} |")
    notes = [f"- `{k}`: {v}" for k, v in results["conventions"].items()]
    return "\n".join(lines + ["", "Conventions:", *notes, ""])


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
