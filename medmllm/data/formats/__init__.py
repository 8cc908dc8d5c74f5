"""Converters from the public medical benchmarks' official downloads to medmllm manifests.

`medmllm data convert --format NAME SRC OUT.jsonl`. Each format is one small module holding an adapter
registered in `FORMATS`: a generator taking a `Context` and yielding manifest records, or a
`MedMLLMError` for a bad record (the caller stops on it or counts it, following `on_error`).
Problems with a whole source (a missing file, bad JSON, a missing column, an unknown split) are
raised at once. Records the benchmark's own convention leaves out (a report without findings, a
lateral view) are counted in `filtered`, not as errors.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ...chat import normalize_record
from ...errors import MedMLLMError, brief
from ...files import atomic_open
from ...registry import Registry, import_modules
from ..records import check_record

FORMATS: Registry[Callable[["Context"], Iterator[dict | MedMLLMError]]] = Registry("data format")


class Filtered:
    """Yielded by an adapter for a source record that is left out on purpose (counted, not an error)."""


FILTERED = Filtered()


@dataclass
class Context:
    """What an adapter gets: the source, where the manifest goes, and the user's choices."""

    src: Path
    out: Path
    split: str | None = None
    images: Path | None = None
    lang: str = "en"

    def splits(self, available: Iterable[str], where: Path | str) -> list[str]:
        """The splits to convert: all of them, or the one asked for (a clear error when it is not there)."""
        available = list(dict.fromkeys(available))
        if self.split is None:
            return available
        if self.split not in available:
            raise MedMLLMError(f"{where}: no split {self.split!r}; available: {', '.join(available) or 'none'}")
        return [self.split]

    def rel(self, path: Path) -> str:
        """`path` relative to the manifest's folder (absolute when no relative path exists)."""
        try:
            return os.path.relpath(os.path.abspath(path), os.path.abspath(self.out.parent)).replace(os.sep, "/")
        except ValueError:  # another drive on Windows
            return os.path.abspath(path)

    def media_dir(self, *candidates: Path) -> Path:
        """`--images` when given, else the first candidate folder that exists (else the first)."""
        if self.images is not None:
            return self.images
        return next((c for c in candidates if c.is_dir()), candidates[0])


def find_file(src: Path, names: Iterable[str], what: str, deep: bool = False) -> Path:
    """`src` itself when it is a file, else the first of `names` found in the folder `src` (or, with `deep`,
    anywhere below it)."""
    names = list(names)
    if src.is_file():
        return src
    if not src.is_dir():
        raise MedMLLMError(f"{src}: not found")
    for name in names:
        if (src / name).is_file():
            return src / name
    for name in names if deep else []:
        hit = sorted(src.rglob(name))
        if hit:
            return hit[0]
    raise MedMLLMError(f"{src}: no {what} found (expected {' or '.join(repr(n) for n in names)})")


def read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise MedMLLMError(f"{path}: not valid JSON ({brief(e)})") from None
    except OSError as e:
        raise MedMLLMError(f"{path}: cannot read ({e.strerror or e})") from None


def read_csv(path: Path, required: Iterable[str]) -> list[dict[str, str]]:
    """Rows of a CSV (plain or .gz) as dicts; an error naming the file when a required column is missing."""
    import csv
    import gzip

    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            missing = [c for c in required if c not in columns]
            if missing:
                raise MedMLLMError(f"{path}: missing column(s) {', '.join(repr(c) for c in missing)} "
                                   f"(has {', '.join(columns) or 'no header'})")
            return [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    except (OSError, csv.Error, UnicodeDecodeError, EOFError) as e:
        raise MedMLLMError(f"{path}: not a readable CSV ({brief(e)})") from None


def vqa_record(id: str, media: str | list[str], prompt: str, answer: str, meta: dict, key: str = "image") -> dict:
    """One single-turn record; one placeholder per attached input, in front of the prompt."""
    n = 1 if isinstance(media, str) else len(media)
    placeholder = "<volume>" if key == "volume" else "<image>"
    return {"id": id, key: media,
            "conversations": [{"from": "human", "value": "\n".join([placeholder] * n + [prompt])},
                              {"from": "gpt", "value": answer}],
            "meta": meta}


def choice_prompt(question: str, choices: dict[str, str]) -> str:
    lines = [question.strip()] + [f"{letter}: {text}" for letter, text in choices.items()]
    return "\n".join(lines + ["Answer with the option's letter."])


def closed_or_open(answer: str) -> str:
    """PathVQA's convention: yes/no questions are closed, the rest open."""
    return "CLOSED" if answer.strip().lower() in ("yes", "no") else "OPEN"


def convert(format: str, src: Path, out: Path, *, split: str | None = None, images: Path | None = None,
            lang: str = "en", on_error: str = "fail", allow_outside_paths: bool = False) -> dict:
    """Convert a benchmark download to a manifest at `out` (written atomically); returns the counts.
    A record whose media path is absolute or leads outside the folder holding the source, `images` and
    the manifest's folder (`../../etc/passwd`) is a bad record unless `allow_outside_paths`."""
    adapter = FORMATS.get(format)
    if on_error not in ("fail", "skip"):
        raise MedMLLMError(f"on_error: {on_error!r} is not one of fail, skip")
    if lang not in ("en", "zh", "all"):
        raise MedMLLMError(f"lang: {lang!r} is not one of en, zh, all")
    src, out = Path(src), Path(out)
    if not src.exists():
        raise MedMLLMError(f"{src}: not found")
    if out.is_dir():
        raise MedMLLMError(f"{out}: is a folder; give the manifest's file name (.jsonl)")
    if out.suffix != ".jsonl" or out.resolve() == src.resolve():
        raise MedMLLMError(f"{out}: the output must be a new .jsonl manifest, not the source or another file type")
    ctx = Context(src=src, out=out, split=split, images=Path(images) if images else None, lang=lang)
    stats = {"records": 0, "skipped": 0, "filtered": 0, "splits": {}, "out": str(out)}
    seen: set[str] = set()
    roots = [] if allow_outside_paths else [p.resolve() for p in (src.resolve().parent, out.parent, images) if p]
    with atomic_open(out) as f:
        for item in _guarded(adapter(ctx), src, format, stats):
            if item is FILTERED:
                stats["filtered"] += 1
                continue
            if isinstance(item, dict):
                problem = check_record(normalize_record(item), out.parent, check_files=False)
                if problem is None and item["id"] in seen:
                    problem = "duplicate id"
                if problem is None and roots:
                    problem = outside_path(item, out.parent, roots)
                if problem:
                    item = MedMLLMError(f"{src}: record {item['id']}: {problem}")
            if isinstance(item, MedMLLMError):
                if on_error == "fail":
                    raise item
                stats["skipped"] += 1
                print(f"skipped {item}", file=sys.stderr)
                continue
            seen.add(item["id"])
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
            stats["records"] += 1
            name = item["meta"]["split"]
            stats["splits"][name] = stats["splits"].get(name, 0) + 1
    return stats


def outside_path(rec: dict, base: Path, roots: list[Path]) -> str | None:
    """The problem with a record's first media path that is absolute or resolves outside every root."""
    from ..records import record_inputs

    for modality, paths in record_inputs(rec).items():
        for p in paths:
            if os.path.isabs(p) or Path(p).is_absolute():
                return f"{modality} path {p!r} is absolute (--allow-outside-paths accepts it)"
            target = (base / p).resolve()
            if not any(target == r or r in target.parents for r in roots):
                return f"{modality} path {p!r} leads outside the source and manifest folders (--allow-outside-paths accepts it)"
    return None


def _guarded(items: Iterator, src: Path, format: str, stats: dict) -> Iterator:
    """The adapter's items; an unexpected exception (a file that cannot be read, a malformed value) becomes
    one MedMLLMError line naming the source and how far the conversion got."""
    try:
        yield from items
    except MedMLLMError:
        raise
    except Exception as e:
        if os.environ.get("MEDMLLM_DEBUG"):
            raise
        msg = (str(e).strip().splitlines() or [""])[-1][:160]
        raise MedMLLMError(f"{src}: {format} conversion failed after {stats['records']} record(s): "
                           f"{type(e).__name__}: {msg}") from None


import_modules(__name__, __path__)  # registration is by folder: one adapter per file
