"""Score a predictions file without a model: `medmllm score {vqa,report} PREDICTIONS.jsonl`.

A record is one JSON object per line: {"id", "pred", "ref"}; VQA records also carry
`answer_type` (CLOSED or OPEN) and, when present, `question`; a report's `ref` may be a list of
references. `medmllm eval`'s predictions.jsonl has this shape. Results hold each metric's corpus
value (fractions 0-1; CIDEr-D on its usual 0-10 scale), per-sample values aligned with the records
(None where a metric does not apply), the convention, library versions, and the metrics that
could not be computed with the reason (e.g. METEOR without Java).
"""
from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

from ..version import __version__
from ..errors import MedMLLMError
from .metrics import METRICS
from .metrics.vqa import DEFAULT_CONVENTION, VQA_CONVENTIONS, check_convention, is_closed_multimedeval

TASKS = ("vqa", "report")
VQA_METRICS = {"closed_accuracy": "CLOSED", "open_recall": "OPEN", "open_f1": "OPEN", "exact_match": None}
REPORT_METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rougeL", "ciderD", "rougeL_rouge_score",
                  "rougeL_rouge_score_stem", "bleu4_sacrebleu")
TOKENIZATIONS = ("ptb", "r2gen", "none")
DEFAULT_TOKENIZATION = "ptb"
REFERENCE_LIBRARIES = ("pycocoevalcap", "rouge-score", "sacrebleu")
# The longest pred/ref/question scored (characters): a report is a few thousand; a 100k-word prediction
# made the n-gram metrics take a minute and gigabytes. `medmllm score --max-chars` raises it.
MAX_CHARS = 100_000


def tokenizations() -> tuple[str, ...]:
    """ptb, r2gen, none, plus any other the lexical metrics offer (e.g. r2gen_iu)."""
    try:
        from .metrics._tokenize import TOKENIZERS
    except ImportError:
        return TOKENIZATIONS
    return TOKENIZATIONS + tuple(t for t in TOKENIZERS if t not in TOKENIZATIONS)


def versions() -> dict[str, str]:
    from .report import library_versions

    return {"medmllm": __version__, **library_versions(REFERENCE_LIBRARIES)}


def read_records(path: Path, task: str, max_chars: int = MAX_CHARS) -> list[dict]:
    """The records of a JSONL predictions file; any problem is a one-line MedMLLMError naming file:line:
    a text longer than `max_chars` characters, or an id seen before (named), is one."""
    path = Path(path)
    if not path.is_file():
        why = "is a folder, not a file" if path.is_dir() else "not a regular file" if path.exists() else "no such file"
        raise MedMLLMError(f"{path}: {why}")
    records, seen = [], {}
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            lines = list(f)
        except UnicodeDecodeError as e:
            raise MedMLLMError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            rec = json.loads(line.rstrip("\r\n"))
        except json.JSONDecodeError as e:
            raise MedMLLMError(f"{where}: not valid JSON ({e.msg} at column {e.pos + 1})") from None
        except RecursionError:
            raise MedMLLMError(f"{where}: not valid JSON (nested too deeply)") from None
        if not isinstance(rec, dict):
            raise MedMLLMError(f"{where}: a record must be a JSON object, got {type(rec).__name__}")
        for key in ("pred", "ref"):
            if key not in rec:
                raise MedMLLMError(f"{where}: no {key!r} key (a record needs 'pred' and 'ref')")
        if not isinstance(rec["pred"], str):
            raise MedMLLMError(f"{where}: 'pred' must be a string, got {type(rec['pred']).__name__}")
        ref = rec["ref"]
        ok = isinstance(ref, str) or (task == "report" and isinstance(ref, list) and ref
                                      and all(isinstance(r, str) for r in ref))
        if not ok:
            want = "a string or a non-empty list of strings" if task == "report" else "a string"
            raise MedMLLMError(f"{where}: 'ref' must be {want}, got {json.dumps(ref)[:60]}")
        if "question" in rec and rec["question"] is not None and not isinstance(rec["question"], str):
            raise MedMLLMError(f"{where}: 'question' must be a string")
        _check_length(rec, where, max_chars)
        if "id" in rec:
            key = json.dumps(rec["id"])
            if key in seen:
                raise MedMLLMError(f"{where}: duplicate id {key} (first at line {seen[key]})")
            seen[key] = lineno
        records.append({**rec, "_where": where})
    if not records:
        raise MedMLLMError(f"{path}: no records")
    return records


def _check_length(rec: dict, where: str, max_chars: int) -> None:
    for key in ("pred", "ref", "question"):
        texts = rec.get(key) if isinstance(rec.get(key), list) else [rec.get(key)]
        longest = max((len(t) for t in texts if isinstance(t, str)), default=0)
        if longest > max_chars:
            raise MedMLLMError(f"{where}: {key!r} has {longest:,} characters, over the limit of {max_chars:,} "
                               "(raise it with --max-chars)")


def _finite(x):
    return float(x) if x is not None and math.isfinite(x) else None


def _result(records: list[dict], convention: str) -> dict:
    return {"metrics": {}, "per_sample": {}, "convention": convention, "versions": versions(), "n": len(records),
            "unavailable": {}, "counts": {}, "ids": [r.get("id", r["_where"]) for r in records]}


def _store(result: dict, name: str, idx: list[int], corpus: float, per: list[float]) -> None:
    column = [None] * result["n"]
    for i, v in zip(idx, per):
        column[i] = _finite(v)
    result["counts"][name] = len(idx)
    if _finite(corpus) is None:
        result["unavailable"][name] = "no score (no items)"
        return
    result["metrics"][name] = float(corpus)
    result["per_sample"][name] = column


def answer_type(rec: dict) -> str:
    kind = rec.get("answer_type")
    if not isinstance(kind, str) or kind.upper() not in ("CLOSED", "OPEN"):
        got = "none" if kind is None else json.dumps(kind)
        raise MedMLLMError(f"{rec['_where']}: 'answer_type' must be CLOSED or OPEN (got {got}); "
                           "--convention multimedeval decides from the reference instead")
    return kind.upper()


def score_vqa(records: list[dict], convention: str = DEFAULT_CONVENTION) -> dict:
    """closed_accuracy over CLOSED records, open_recall/open_f1 over OPEN ones, exact_match over all.
    Under `multimedeval` a record is closed when its cleaned reference is yes/no (answer_type ignored)."""
    check_convention(convention)
    if convention == "multimedeval":
        kinds = ["CLOSED" if is_closed_multimedeval(r["ref"]) else "OPEN" for r in records]
    else:
        kinds = [answer_type(r) for r in records]
    result = _result(records, convention)
    for name, kind in VQA_METRICS.items():
        idx = [i for i, k in enumerate(kinds) if kind is None or k == kind]
        if not idx:
            result["counts"][name] = 0
            result["unavailable"][name] = f"no {kind} records" if kind else "no records"
            continue
        group = [records[i] for i in idx]
        questions = [r.get("question") for r in group]
        corpus, per = METRICS.get(name)([r["pred"] for r in group], [r["ref"] for r in group],
                                        convention=convention,
                                        questions=questions if all(isinstance(q, str) for q in questions) else None)
        _store(result, name, idx, corpus, per)
    return result


def _takes_tokenize(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "tokenize" or p.kind is p.VAR_KEYWORD for p in params)


def score_report(records: list[dict], tokenize: str | None = None) -> dict:
    """Every report metric that is registered; `tokenize=None` leaves each metric its own default
    (ptb for the pycocoevalcap family, the library's own tokenizer for rouge-score and sacrebleu)."""
    if tokenize is not None and tokenize not in tokenizations():
        raise MedMLLMError(f"--tokenize: {tokenize!r} is not one of {', '.join(tokenizations())}")
    result = _result(records, tokenize or DEFAULT_TOKENIZATION)
    result["tokenize"] = {}
    preds = [r["pred"] for r in records]
    refs = [r["ref"] for r in records]
    idx = list(range(len(records)))
    for name in REPORT_METRICS:
        if name not in METRICS:
            result["unavailable"][name] = "not registered in this medmllm"
            continue
        fn = METRICS.get(name)
        takes = _takes_tokenize(fn)
        if tokenize is not None and not takes:
            result["unavailable"][name] = f"this version of {name} has no tokenize option"
            continue
        if takes:
            default = inspect.signature(fn).parameters.get("tokenize")
            used = tokenize or (default.default if default is not None and default.default is not default.empty
                                else DEFAULT_TOKENIZATION)
        else:
            used = "built-in"
        try:
            corpus, per = fn(preds, refs, tokenize=tokenize) if tokenize is not None else fn(preds, refs)
        except (MedMLLMError, ImportError) as e:
            result["unavailable"][name] = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            continue
        result["tokenize"][name] = used
        _store(result, name, idx, corpus, per)
    if "bleu4_sacrebleu" in result["metrics"]:
        try:
            from .metrics.libraries import sacrebleu_signature

            result["versions"]["sacrebleu_signature"] = sacrebleu_signature()
        except Exception:  # the signature is a courtesy; the score itself is already there
            pass
    return result


def score_file(task: str, path: Path, convention: str | None = None, tokenize: str | None = None,
               max_chars: int = MAX_CHARS) -> dict:
    if task not in TASKS:
        raise MedMLLMError(f"TASK: {task!r} is not one of {', '.join(TASKS)}")
    if task == "vqa":
        if tokenize is not None:
            raise MedMLLMError("--tokenize applies to `score report`; VQA answers use --convention")
        if convention is not None and convention not in VQA_CONVENTIONS:
            raise MedMLLMError(f"--convention: {convention!r} is not one of {', '.join(VQA_CONVENTIONS)}")
        return score_vqa(read_records(path, task, max_chars), convention or DEFAULT_CONVENTION)
    if convention is not None:
        raise MedMLLMError("--convention applies to `score vqa`; reports use --tokenize")
    if tokenize is not None and tokenize not in tokenizations():
        raise MedMLLMError(f"--tokenize: {tokenize!r} is not one of {', '.join(tokenizations())}")
    return score_report(read_records(path, task, max_chars), tokenize)


def table(result: dict, task: str, path: Path) -> str:
    """The human-readable form: one row per metric, then the unavailable ones with the reason."""
    head = f"{path}: {result['n']} records, " + (
        f"convention {result['convention']}" if task == "vqa" else f"tokenize {result['convention']}")
    rows = [head, f"{'metric':<26}{'value':>10}{'n':>8}  notes"]
    for name, value in result["metrics"].items():
        note = result.get("tokenize", {}).get(name, "")
        note = f"tokenize={note}" if note else ""
        scale = "  (0-10 scale)" if name == "ciderD" else ""
        rows.append(f"{name:<26}{value:>10.4f}{result['counts'][name]:>8}  {note}{scale}".rstrip())
    for name, why in result["unavailable"].items():
        rows.append(f"{name:<26}{'n/a':>10}{result['counts'].get(name, 0):>8}  {why}")
    if task == "vqa":
        rows.append(f"convention {result['convention']}: {VQA_CONVENTIONS[result['convention']]}")
    rows.append("versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()))
    return "\n".join(rows)
