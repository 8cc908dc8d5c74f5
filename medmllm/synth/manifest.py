"""LLaVA-style JSONL manifests: per-case records, train/val/test split, yes/no balancing.

File names are ``{modality}_{task}_{split}.jsonl`` (task in report/vqa/reason), written
atomically at the top of the output folder; media paths are relative to that folder.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write
from ._util import STREAM_BALANCE, STREAM_SPLIT, modality_code
from .questions import QA
from .text import CaseText

TASKS = ("report", "vqa", "reason")
SPLITS = ("train", "val", "test")
PLACEHOLDERS = {"xray": "<image>", "ct": "<volume>", "ecg": "<ecg>"}
MEDIA_KEYS = {"xray": "image", "ct": "volume", "ecg": "ecg"}

Record = dict[str, Any]


@dataclass
class Case:
    """Everything needed to emit the records of one synthesized case."""

    modality: str
    case_id: str
    paths: dict[str, str]  # media key (and "dicom" for x-ray) -> path relative to out_dir
    findings: dict[str, Any]
    text: CaseText
    split: str = field(default="train")


def validate_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Check that three non-negative split fractions sum to 1."""
    fr = tuple(float(x) for x in fractions)
    if len(fr) != 3 or any(x < 0 for x in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"split_fractions must be three non-negative numbers summing to 1, got {fractions!r}")
    return fr  # type: ignore[return-value]


def assign_splits(n: int, fractions: Sequence[float], seed: int, modality: str) -> list[str]:
    """Deterministically assign each of ``n`` cases to train/val/test (shuffled, exact counts)."""
    fr = validate_fractions(fractions)
    n_train = int(round(n * fr[0]))
    n_val = min(n - n_train, int(round(n * fr[1])))
    order = np.random.default_rng([int(seed), modality_code(modality), STREAM_SPLIT]).permutation(n)
    splits = [""] * n
    for rank, idx in enumerate(order):
        splits[int(idx)] = "train" if rank < n_train else ("val" if rank < n_train + n_val else "test")
    return splits


def _human(modality: str, question: str) -> str:
    return f"{PLACEHOLDERS[modality]}\n{question}"


def _record(case: Case, task: str, k: int, question: str, gpt: str, meta: dict[str, Any]) -> Record:
    media = MEDIA_KEYS[case.modality]
    base_meta: dict[str, Any] = {"case": case.case_id, "modality": case.modality, "task": task, "split": case.split}
    base_meta.update(meta)
    if "dicom" in case.paths:
        base_meta["dicom"] = case.paths["dicom"]
    base_meta["findings"] = case.findings
    return {"id": f"{case.case_id}-{task}-{k}", media: case.paths[media],
            "conversations": [{"from": "human", "value": _human(case.modality, question)},
                              {"from": "gpt", "value": gpt}],
            "meta": base_meta}


def _qa_record(case: Case, qa: QA, k: int) -> Record:
    meta: dict[str, Any] = {"answer_type": qa.answer_type, "question_type": qa.question_type, "answer": qa.answer}
    if qa.task == "reason":
        meta["rationale"] = qa.rationale
        gpt = f"<think>{qa.rationale}</think><answer>{qa.answer}</answer>"
    else:
        gpt = qa.answer
    return _record(case, qa.task, k, qa.question, gpt, meta)


def case_records(case: Case) -> dict[str, list[Record]]:
    """All records of one case, keyed by task (vqa/reason ids are per-task indices)."""
    out: dict[str, list[Record]] = {
        "report": [_record(case, "report", 0, case.text.report_prompt, case.text.report,
                           {"answer_type": "REPORT", "question_type": "report", "answer": case.text.report})],
        "vqa": [], "reason": [],
    }
    for qa in case.text.questions:
        out[qa.task].append(_qa_record(case, qa, len(out[qa.task])))
    return out


def balance_yes_no(records: list[Record], rng: np.random.Generator) -> list[Record]:
    """Per closed question type keep equally many ``yes`` and ``no`` records (random surplus dropped).

    Open/report records are kept; the original order is preserved.
    """
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"yes": [], "no": []})
    for i, rec in enumerate(records):
        meta = rec["meta"]
        if meta["answer_type"] == "CLOSED":
            groups[meta["question_type"]][meta["answer"]].append(i)
    drop: set[int] = set()
    for qtype in sorted(groups):
        yes, no = groups[qtype]["yes"], groups[qtype]["no"]
        keep = min(len(yes), len(no))
        for idx in (yes, no):
            if len(idx) > keep:
                chosen = set(rng.choice(len(idx), size=keep, replace=False).tolist())
                drop.update(j for pos, j in enumerate(idx) if pos not in chosen)
    return [rec for i, rec in enumerate(records) if i not in drop]


def jsonl_bytes(records: list[Record]) -> bytes:
    """Serialise records as UTF-8 JSON lines."""
    return "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records).encode("utf-8")


def write_manifests(out_dir: str | Path, modality: str, cases: list[Case], seed: int) -> dict[str, tuple[Path, int]]:
    """Write the 9 manifests of one modality; return ``{name: (path, n_records)}``."""
    out_dir = Path(out_dir)
    buckets: dict[tuple[str, str], list[Record]] = {(t, s): [] for t in TASKS for s in SPLITS}
    for case in cases:
        for task, recs in case_records(case).items():
            buckets[(task, case.split)].extend(recs)
    result: dict[str, tuple[Path, int]] = {}
    for t_idx, task in enumerate(TASKS):
        for s_idx, split in enumerate(SPLITS):
            recs = buckets[(task, split)]
            if task != "report":
                rng = np.random.default_rng([int(seed), modality_code(modality), s_idx, t_idx, STREAM_BALANCE])
                recs = balance_yes_no(recs, rng)
            name = f"{modality}_{task}_{split}"
            path = atomic_write(out_dir / f"{name}.jsonl", jsonl_bytes(recs))
            result[name] = (path, len(recs))
    return result
