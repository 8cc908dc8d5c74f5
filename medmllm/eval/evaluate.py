"""Run tasks against a backend: answers (cached per item, so a killed run resumes), the
image-reliance check, scores with their conventions, and the reports.

Every item with inputs is answered twice: with its real inputs and with blank ones (black image,
air volume, flat ECG). A model that reads its inputs loses points on the blank run. Answers are
appended to `cache.jsonl` in the output folder after each batch; a rerun reuses every cached
answer whose key (backend fingerprint, task, item, prompt, blank) matches and asks only for the
rest.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from ..version import __version__
from ..errors import MedMLLMError
from .metrics import CONVENTIONS, METRICS
from ..reasoning import Reply, vote
from .report import library_versions, write_reports
from .tasks import Task, manifest_task


class AnswerCache:
    """Append-only JSONL of {key, pred[, votes]}; a half-written last line (a killed run) is ignored."""

    def __init__(self, path: Path):
        self.path, self.preds, self.votes = path, {}, {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.preds[entry["key"]] = entry["pred"]
                    if entry.get("votes"):
                        self.votes[entry["key"]] = entry["votes"]
                except (ValueError, KeyError, TypeError):
                    continue

    def add(self, entries: dict[str, str], votes: dict[str, dict] | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        votes = votes or {}
        with open(self.path, "a", encoding="utf-8") as f:
            for key, pred in entries.items():
                f.write(json.dumps({"key": key, "pred": pred, **({"votes": votes[key]} if key in votes else {})}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.preds.update(entries)
        self.votes.update(votes)


@dataclass
class Decoding:
    """How answers are produced: greedy by default; `think` makes the model reason first;
    `samples` > 1 is self-consistency (that many answers at `temperature`, majority vote)."""

    think: bool = False
    samples: int = 1
    temperature: float = 0.7
    max_new_tokens: int | None = None

    def key(self) -> list:
        return [self.think, self.samples, self.temperature if self.samples > 1 else 0.0]


def item_key(fingerprint: str, task: str, item: dict, blank: bool, decoding: Decoding | None = None) -> str:
    # the default (greedy) decoding adds nothing, so caches written before decoding options still match
    extra = decoding.key() if decoding and decoding.key() != Decoding().key() else []
    raw = json.dumps([fingerprint, task, item["id"], item["history"], sorted(item["inputs"].items()), blank] + extra)
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def load_items(task: Task, path: Path, limit: int | None, on_error: str) -> tuple[list[dict], list[str]]:
    items, skipped = [], []
    for item in task.items(path):
        if isinstance(item, MedMLLMError):
            if on_error == "fail":
                raise item
            skipped.append(str(item))
            print(f"skipped {item}", file=sys.stderr)
            continue
        items.append(item)
        if limit and len(items) >= limit:
            break
    return items, skipped


def answer_all(backend, task: Task, items: list[dict], cache: AnswerCache, blank: bool, on_error: str,
               decoding: Decoding) -> tuple[int, int, list[str]]:
    """Fill item["pred"] (or ["blank_pred"]) from the cache or the backend; returns (generated, cached, skipped)."""
    field, fp = ("blank_pred" if blank else "pred"), backend.fingerprint()
    todo = []
    for it in items:
        key = item_key(fp, task.name, it, blank, decoding)
        if key in cache.preds:
            it[field] = cache.preds[key]
            if key in cache.votes:
                it[f"{field}_votes"] = cache.votes[key]
        else:
            todo.append((key, it))
    skipped: list[str] = []
    todo.sort(key=lambda kv: (kv[1]["answer_type"], len(kv[1]["ref"])))  # similar lengths batch together
    step = max(1, backend.batch_size)
    for start in tqdm(range(0, len(todo), step), desc=f"{task.name}{' (blank)' if blank else ''}", leave=False,
                      file=sys.stderr, disable=not todo):
        batch = todo[start:start + step]
        limit = decoding.max_new_tokens or min(512, int(max(backend.tokens(it["ref"]) for _, it in batch) * 1.5) + 8)
        new, votes = {}, {}
        for (key, it), pred in zip(batch, _decode(backend, [it for _, it in batch], blank, limit, decoding)):
            if isinstance(pred, MedMLLMError):
                if on_error == "fail":
                    raise pred
                skipped.append(str(pred))
                print(f"skipped {pred}", file=sys.stderr)
                it["bad"] = True
                continue
            if isinstance(pred, Reply):
                it[f"{field}_votes"] = votes[key] = pred.votes
                pred = pred.text
            it[field], new[key] = pred, pred
        cache.add(new, votes)
    return len(todo) - len(skipped), len(items) - len(todo), skipped


def _decode(backend, items: list[dict], blank: bool, limit: int, decoding: Decoding) -> list:
    """One answer per item: greedy, or with self-consistency the vote over `samples` sampled answers."""
    if decoding.samples <= 1:
        return backend.answer(items, blank, limit, think=decoding.think)
    runs = [backend.answer(items, blank, limit, think=decoding.think, temperature=decoding.temperature)
            for _ in range(decoding.samples)]
    out = []
    for k in range(len(items)):
        answers = [run[k] for run in runs]
        bad = next((a for a in answers if isinstance(a, MedMLLMError)), None)
        out.append(bad if bad is not None else vote(answers))
    return out


def score(task: Task, items: list[dict], field: str) -> tuple[dict, dict, dict]:
    """Corpus scores per metric over the items of each answer type; per-sample scores into the items;
    metrics that cannot run (missing Java, unknown name) are returned as unavailable with the reason."""
    scores, unavailable, by_category = {}, {}, {}
    for kind, names in task.metrics.items():
        group = [it for it in items if it["answer_type"] == kind]
        if not group:
            continue
        for name in names:
            options = dict(task.options.get(name, {}))
            if name == "choice_accuracy":
                options["choices"] = [it.get("choices") for it in group]
            try:
                corpus, per = METRICS.get(name)([it[field] for it in group], [it["ref"] for it in group], **options)
            except MedMLLMError as e:
                unavailable[name] = str(e)
                continue
            key = name if name not in scores else f"{name}_{kind.lower()}"
            scores[key] = corpus
            for it, value in zip(group, per):
                it.setdefault("scores" if field == "pred" else "blank_scores", {})[key] = value
        scores[f"n_{kind.lower()}"] = len(group)
        main = next((n for n in names if n in scores), None)
        for it in group:
            if main and it.get("category") is not None:
                cat = by_category.setdefault(str(it["category"]), {"n": 0, main: 0.0})
                cat["n"] += 1
                cat[main] = cat.get(main, 0.0) + it.get("scores" if field == "pred" else "blank_scores", {}).get(main, 0.0)
    for cat in by_category.values():
        for k in cat:
            if k != "n":
                cat[k] /= cat["n"]
    return scores, unavailable, by_category


def run(backend, tasks: list[tuple[Task, Path]], out_dir: str | Path, *, blank: bool = True, limit: int | None = None,
        on_error: str = "fail", seed: int = 0, max_new_tokens: int | None = None, config: dict | None = None,
        judge: dict | None = None, decoding: Decoding | None = None) -> dict:
    """Answer and score each (task, manifest); write results.json, results.md, predictions.jsonl, plots.
    `judge` ({"url", "model"}) adds `llm_judge`: an OpenAI-compatible model grading each open answer
    and report against its reference (0/1), with the judge named in the conventions."""
    import torch

    torch.manual_seed(seed)
    decoding = decoding or Decoding()
    if max_new_tokens is not None:
        decoding.max_new_tokens = max_new_tokens
    out_dir = Path(out_dir)
    cache = AnswerCache(out_dir / "cache.jsonl")
    results: dict = {"model": backend.name, "backend": type(backend).__name__, "fingerprint": backend.fingerprint(),
                     "seed": seed, "medmllm": __version__, "versions": library_versions(), "blank_check": blank,
                     "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config": config or {}, "tasks": {},
                     "skipped_records": 0, "generated": 0, "cached": 0, "decoding": asdict(decoding)}
    results["config_hash"] = hashlib.sha256(json.dumps(results["config"], sort_keys=True).encode()).hexdigest()[:12]
    predictions = []
    for task, path in tasks:
        items, skipped = load_items(task, Path(path), limit, on_error)
        generated, cached, bad = answer_all(backend, task, items, cache, False, on_error, decoding)
        items = [it for it in items if not it.get("bad")]
        skipped += bad
        if not items:
            raise MedMLLMError(f"{path}: no records to evaluate for task {task.name}")
        entry = {"description": task.description, "source": str(path), "split": task.split or "all", "n": len(items)}
        entry["scores"], entry["unavailable"], entry["by_category"] = score(task, items, "pred")
        with_inputs = [it for it in items if it["inputs"]]
        if blank and with_inputs:
            g, c, _ = answer_all(backend, task, with_inputs, cache, True, on_error, decoding)
            generated, cached = generated + g, cached + c
            entry["blank_scores"], _, entry["blank_by_category"] = score(task, with_inputs, "blank_pred")
        entry["conventions"] = {k: CONVENTIONS.get(k, "") for k in entry["scores"] if not k.startswith("n_")}
        if judge:
            _judge(items, entry, judge)
        entry["skipped_records"] = len(skipped)
        results["tasks"][task.name] = entry
        results["skipped_records"] += len(skipped)
        results["generated"] += generated
        results["cached"] += cached
        predictions += [{"task": task.name, **{k: v for k, v in it.items() if k not in ("history", "inputs")}}
                        for it in items]
    write_reports(results, predictions, out_dir)
    return results


def _judge(items: list[dict], entry: dict, settings: dict) -> None:
    """Grade OPEN / REPORT / CAPTION answers with the judge model; mean into entry["scores"]["llm_judge"]."""
    from .judge import judge

    graded = [it for it in items if it["answer_type"] in ("OPEN", "REPORT", "CAPTION")]
    if not graded:
        return
    scores = judge(graded, settings["url"], settings["model"], concurrency=settings.get("concurrency", 4))
    for it, value in zip(graded, scores):
        it.setdefault("scores", {})["llm_judge"] = value
    entry["scores"]["llm_judge"] = sum(scores) / len(scores)
    entry["conventions"]["llm_judge"] = scores.convention + (f"; {scores.unparseable} unparseable repl(ies) scored 0"
                                                              if scores.unparseable else "")


def evaluate(engine, manifests: list[str | Path], out_dir: str | Path, blank: bool = True, batch_size: int = 16,
             limit: int | None = None, on_error: str = "fail", model_name: str = "") -> dict:
    """A loaded medmllm model on plain manifests (each an ad-hoc task named after its file)."""
    from .backends.local import LocalBackend

    backend = LocalBackend(engine=engine, batch_size=batch_size)
    backend.name = model_name or backend.name
    return run(backend, [(manifest_task(m), Path(m)) for m in manifests], out_dir, blank=blank, limit=limit,
               on_error=on_error)
