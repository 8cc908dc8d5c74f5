"""`medmllm label`: CheXpert labels of report texts (the rule-based labeler)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import MedMLLMError
from ..files import atomic_write
from . import app


def read_reports(path: Path) -> list[tuple[str, str]]:
    """(id, text) of each JSONL record ``{"id", "text"}``; a bad line is a one-line error naming file:line."""
    from ..data.jsonl import iter_records

    out = []
    for n, _, rec in iter_records(path):
        if isinstance(rec, MedMLLMError):
            raise rec
        text = rec.get("text")
        if not isinstance(text, str):
            raise MedMLLMError(f"{path}:{n}: missing string field 'text'")
        out.append((str(rec.get("id", n)), text))
    return out


def _csv_value(v: Optional[int]) -> str:
    return "" if v is None else f"{float(v):.1f}"


def format_labels(rows: list[tuple[str, dict[str, Any]]], as_json: bool) -> str:
    """CSV (``id`` then the 14 names; 1.0/0.0/-1.0/blank, like the CheXpert labeler) or JSONL."""
    import csv
    import io
    import json

    from ..chexpert.phrases import OBSERVATIONS

    buf = io.StringIO()
    if as_json:
        for rid, labels in rows:
            buf.write(json.dumps({"id": rid, **{k: labels[k] for k in OBSERVATIONS}}) + "\n")
    else:
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["id", *OBSERVATIONS])
        for rid, labels in rows:
            w.writerow([rid, *(_csv_value(labels[k]) for k in OBSERVATIONS)])
    return buf.getvalue()


@app.command()
def label(reports: Annotated[Path, typer.Argument(help="JSONL file of {\"id\", \"text\"} records.")],
          json_: Annotated[bool, typer.Option("--json", help="Write JSONL ({\"id\", <14 names>: 1|0|-1|null}) instead of CSV.")] = False,
          out: Annotated[Optional[Path], typer.Option(help="Write here (atomically) instead of to stdout.")] = None) -> None:
    """Label reports with the 14 CheXpert observations (rule-based labeler): CSV like the CheXpert
    labeler's (id, then 1.0 positive / 0.0 negative / -1.0 uncertain / blank not mentioned), or JSONL."""
    from ..chexpert.labeler import label as label_one

    records = read_reports(reports)
    text = format_labels([(rid, label_one(t)) for rid, t in records], json_)
    if out is None:
        sys.stdout.write(text)
        return
    atomic_write(out, text)
    print(f"labeled {len(records)} report(s) -> {out}", file=sys.stderr)
