"""`medmllm deid` and `medmllm deid-text`: de-identify DICOM folders and report texts."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import MedMLLMError
from . import app

_LIST_AT_MOST = 10


def _short_list(items: list[str]) -> str:
    shown = ", ".join(items[:_LIST_AT_MOST])
    return shown + (f" ... (+{len(items) - _LIST_AT_MOST} more, see the audit)" if len(items) > _LIST_AT_MOST else "")


@app.command()
def deid(in_dir: Annotated[Path, typer.Argument(help="Folder of DICOM files (and .txt reports); never modified.")],
         out_dir: Annotated[Path, typer.Argument(help="Output folder (not IN_DIR or inside it); mirrors IN_DIR.")],
         salt: Annotated[Optional[str], typer.Option("--salt", "--seed", help="Secret key for the pseudonyms: the same salt maps the same UID/ID to the same output, so reruns and later batches match. Default: random (not saved).")] = None,
         date_shift_days: Annotated[Optional[str], typer.Option(help="Shift all dates by N whole days (intervals kept), or 'auto' for a salt-derived 62-730 days back. Default: dates removed/emptied.")] = None,
         keep_private: Annotated[bool, typer.Option("--keep-private", help="Keep private tags (not Basic-Profile conformant).")] = False,
         keep_patient_characteristics: Annotated[bool, typer.Option("--keep-patient-characteristics", help="Retain Patient Characteristics Option: keep age, sex, size, weight.")] = False,
         skip_burned_in: Annotated[bool, typer.Option("--skip-burned-in", help="Do not write files with BurnedInAnnotation=YES (always warned).")] = False,
         on_error: Annotated[str, typer.Option(help="fail or skip unreadable DICOM files.")] = "fail",
         names: Annotated[Optional[Path], typer.Option(help="File of names (one per line) to scrub from .txt reports.")] = None) -> None:
    """De-identify a DICOM folder (PS3.15 Basic Profile via dicognito) with consistent pseudonyms and an audit CSV."""
    from ..deid.dicom import deid_folder
    from ..deid.text import load_names

    stats = deid_folder(in_dir, out_dir, salt=salt, date_shift_days=date_shift_days, keep_private=keep_private,
                        skip_burned_in=skip_burned_in, on_error=on_error,
                        names=load_names(names) if names is not None else None,
                        keep_patient_characteristics=keep_patient_characteristics)
    skipped, errors, burned = stats["skipped"], stats["errors"], stats["burned_in"]
    shift = stats["date_shift_days"]
    print(f"wrote {stats['files_written']} file(s) to {out_dir} ({stats['dicom_written']} DICOM, "
          f"{stats['text_written']} text); {stats['uids_remapped']} UID(s) remapped; "
          f"{stats['tags_removed']} tag(s) removed; {len(burned)} burned-in warning(s); "
          f"{len(skipped)} skipped; {len(errors)} error(s); "
          f"dates {'removed' if shift is None else f'shifted {shift:+d} days'}; audit {stats['audit']}")
    if stats["salt_generated"]:
        print("note: no --salt given: a random salt was used and not saved, so these pseudonyms will not match "
              "other runs (pass --salt to make them reproducible)")
    if burned:
        print(f"warning: BurnedInAnnotation=YES (pixel text NOT removed{'; not written' if skip_burned_in else ''}): "
              f"{_short_list(burned)}", file=sys.stderr)
    if skipped:
        reasons = Counter(s["reason"].split(":")[0] for s in skipped)
        print(f"skipped ({'; '.join(f'{r}: {n}' for r, n in reasons.items())}): "
              f"{_short_list([s['file'] for s in skipped])}")
    if errors:
        print(f"errors: {_short_list([e['file'] + ': ' + e['error'] for e in errors])}", file=sys.stderr)


@app.command("deid-text")
def deid_text(in_path: Annotated[Path, typer.Argument(help="JSONL manifest or report file to scrub.")],
              out_path: Annotated[Path, typer.Argument(help="Where to write the scrubbed JSONL (atomically).")],
              field: Annotated[Optional[list[str]], typer.Option(help="Top-level string field to scrub (repeatable). Default: every turn text (conversations, a DPO record's prompt, chosen and rejected; either turn form) and a top-level 'text'.")] = None,
              names: Annotated[Optional[Path], typer.Option(help="File of names (one per line) to scrub wherever they appear (adds to the detector, which needs no list).")] = None,
              max_chars: Annotated[Optional[int], typer.Option(min=1, help="Refuse a text field longer than this many characters (default 10,000,000).")] = None) -> None:
    """Scrub the 18 HIPAA Safe Harbor identifiers that occur in text (names, dates, ages over 89, addresses,
    institutions, phone/fax, e-mail, URLs, IPs, record/plan/licence/device/vehicle numbers) from a JSONL manifest."""
    from ..deid.text import load_names, scrub_jsonl

    if in_path.suffix.lower() not in (".jsonl", ".json", ".ndjson"):
        raise MedMLLMError(f"{in_path}: expected a .jsonl manifest")
    stats = scrub_jsonl(in_path, out_path, fields=field, names=load_names(names) if names is not None else None,
                        max_chars=max_chars)
    found = ", ".join(f"{k} {n}" for k, n in stats["findings"].items()) or "none"
    print(f"wrote {stats['records']} record(s) to {out_path}; {stats['fields_scrubbed']} field(s) scrubbed; "
          f"replaced: {found}")
