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
def deid(in_dir: Annotated[Path, typer.Argument(help="Folder of DICOM files (and .txt reports); never modified. Files are recognised by content, not name.")],
         out_dir: Annotated[Path, typer.Argument(help="New output folder (not IN_DIR, inside it or around it); files get neutral names <study>/<series>/<instance>.dcm by the new UIDs, reports/<hash>.txt, plus deid_audit.csv.")],
         salt: Annotated[Optional[str], typer.Option("--salt", "--seed", help="Secret key for the new UIDs and dummies: the same salt maps the same UID/ID to the same output, so reruns and later batches match. Default: random (not saved).")] = None,
         date_shift_days: Annotated[Optional[str], typer.Option(help="Retain Longitudinal Temporal Information with Modified Dates Option: shift all dates by N whole days (intervals kept), or 'auto' for a salt-derived 62-730 days back. Default: dates removed, emptied or dummies (Basic Profile).")] = None,
         keep_patient_characteristics: Annotated[bool, typer.Option("--retain-patient-characteristics", "--keep-patient-characteristics", help="Retain Patient Characteristics Option: keep age, sex, size, weight, ethnic group, smoking and pregnancy status; clean allergies, pre-medication, special needs.")] = False,
         safe_private: Annotated[Optional[Path], typer.Option("--retain-safe-private", help="Retain Safe Private Option: a list of private tags known to be safe, one 'gggg,ee,Private Creator' a line (hex group, hex offset in the block). Every other private tag is removed; without this list, all are.")] = None,
         retain_device_identity: Annotated[bool, typer.Option("--retain-device-identity", help="Retain Device Identity Option: keep device serial numbers, station names, calibration dates (AE titles become keyed dummies).")] = False,
         retain_institution_identity: Annotated[bool, typer.Option("--retain-institution-identity", help="Retain Institution Identity Option: keep institution and department names and addresses.")] = False,
         clean_descriptors: Annotated[bool, typer.Option("--clean-descriptors", help="Clean Descriptors Option: keep study/series/protocol descriptions and comments after scrubbing names (the file's own and --names), dates, IDs, phones and e-mails from them. Default: removed.")] = False,
         allow_burned_in: Annotated[bool, typer.Option("--allow-burned-in", help="Also write files whose pixels may show identity (BurnedInAnnotation or RecognizableVisualFeatures YES; US, OT, SC, XC, ES, OP, GM, SM, DOC and secondary captures unless BurnedInAnnotation=NO). Default: withheld and listed.")] = False,
         mapping: Annotated[Optional[Path], typer.Option(help="Where to write the input-path -> output-path mapping. It HOLDS IDENTIFIERS (input file and folder names): keep it private. Default: OUT_DIR.mapping-PRIVATE.csv beside OUT_DIR.")] = None,
         force: Annotated[bool, typer.Option("--force", help="Replace a non-empty OUT_DIR and an existing mapping file.")] = False,
         on_error: Annotated[str, typer.Option(help="fail (nothing is left behind) or skip unreadable DICOM files.")] = "fail",
         names: Annotated[Optional[Path], typer.Option(help="File of names (one per line) to scrub from .txt reports and cleaned descriptors.")] = None) -> None:
    """De-identify a DICOM folder under DICOM PS3.15 Annex E (Basic Profile and the chosen options): consistent keyed UIDs, neutral file names, an audit CSV and a private mapping."""
    from ..deid.dicom import deid_folder
    from ..deid.text import load_names

    stats = deid_folder(in_dir, out_dir, salt=salt, date_shift_days=date_shift_days,
                        keep_patient_characteristics=keep_patient_characteristics,
                        retain_device_identity=retain_device_identity,
                        retain_institution_identity=retain_institution_identity, clean_descriptors=clean_descriptors,
                        safe_private=safe_private, allow_burned_in=allow_burned_in, on_error=on_error,
                        names=load_names(names) if names is not None else None, mapping=mapping, force=force)
    skipped, errors, burned = stats["skipped"], stats["errors"], stats["burned_in"]
    shift = stats["date_shift_days"]
    print(f"wrote {stats['files_written']} file(s) to {out_dir} ({stats['dicom_written']} DICOM, "
          f"{stats['text_written']} text); {stats['uids_remapped']} UID(s) remapped; "
          f"{stats['tags_removed']} tag(s) removed; {len(burned)} burned-in; "
          f"{len(skipped)} skipped; {len(errors)} error(s); "
          f"dates {'removed' if shift is None else f'shifted {shift:+d} days'}; audit {stats['audit']}")
    print(f"options: {', '.join(stats['options']) or 'none (Basic Profile)'}")
    print(f"mapping {stats['mapping']}: it holds the input names; keep it private")
    if stats["salt_generated"]:
        print("note: no --salt given: a random salt was used and not saved, so these pseudonyms will not match "
              "other runs (pass --salt to make them reproducible)")
    if burned:
        what = "written, pixel text NOT removed" if allow_burned_in else "withheld (--allow-burned-in writes them)"
        print(f"warning: pixels may show identity, {what}: {_short_list(burned)}", file=sys.stderr)
    if skipped:
        reasons = Counter(s["reason"].split(":")[0] for s in skipped)
        print(f"skipped ({'; '.join(f'{r}: {n}' for r, n in reasons.items())}): "
              f"{_short_list([s['id'] for s in skipped])} (input names in the mapping)")
    if errors:
        print(f"errors: {_short_list([e['id'] + ': ' + e['error'] for e in errors])}", file=sys.stderr)


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
