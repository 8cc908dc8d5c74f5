"""De-identify a folder: DICOM files under PS3.15 Annex E (``apply.py``), ``.txt`` reports through the
text scrubber, into neutral names, with an audit that holds no identifier and a private mapping.

- **Input**: every regular file under IN_DIR, in sorted order (the run's input ids ``input#00001``...
  follow it). Links, FIFOs, devices and sockets are listed as skipped and never opened.
- **What a file is** comes from its content (``dataset.sniff``): ``DICM`` at offset 128, or a data set
  without preamble that pydicom reads with a SOP Class UID, is DICOM whatever its name; a
  non-DICOM ``.txt`` file whose bytes are text is a report; anything else is skipped (it may hold PHI).
  A DICOMDIR is skipped and listed.
- **Names**: nothing of an input name reaches OUT_DIR. DICOM goes to
  ``<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` by the new UIDs, a report to
  ``reports/<keyed hash of its input path>.txt``. A second input with the same SOP instance is
  skipped as a duplicate.
- **Burned-in text**: a file whose BurnedInAnnotation or RecognizableVisualFeatures is YES, or whose
  modality or SOP class usually carries text in the pixels (``BURNED_IN_MODALITIES``, secondary
  capture, visible-light photographs) unless BurnedInAnnotation says NO, is withheld unless
  ``allow_burned_in``; then it is written without Patient Identity Removed, and both cases are listed.
- **All or nothing**: everything is written into a temporary folder beside OUT_DIR and renamed into
  place at the end (``files.atomic_folder``); a failed run leaves neither OUT_DIR nor the mapping.
- **Audit** (``OUT_DIR/deid_audit.csv``): one row per decision (output file or input id, tag path,
  keyword, action, detail); never an input name or an original value.
- **Mapping** (``<OUT_DIR>.mapping-PRIVATE.csv`` beside OUT_DIR, or ``mapping``): input id, input
  path, output path, status. It holds identifiers: the user keeps it private.
"""
from __future__ import annotations

import csv
import io
import os
import re
import secrets
import stat
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import MedMLLMError
from ..files import atomic_folder, atomic_path, atomic_write
from .apply import Deidentifier, mark
from .dataset import PIXEL_TAG, FileError, is_dicomdir, looks_like_text, read_dicom, sniff, write_dicom
from .profile import Options
from .rules import Keyed, load_safe_private, parse_shift
from .text import scrub_text

__all__ = ["deid_folder", "AUDIT_NAME", "AUDIT_COLUMNS", "MAPPING_SUFFIX", "BURNED_IN_MODALITIES"]

AUDIT_NAME = "deid_audit.csv"
AUDIT_COLUMNS = ("file", "tag", "keyword", "action", "detail")
MAPPING_SUFFIX = ".mapping-PRIVATE.csv"
MAPPING_COLUMNS = ("id", "input", "output", "status", "reason")
#: Modalities whose images usually carry text or faces in the pixels: ultrasound (and IVUS) screens,
#: "other" and secondary-capture screenshots, external-camera, endoscopy and ophthalmic photographs,
#: microscopy slides (labels) and scanned documents.
BURNED_IN_MODALITIES = frozenset({"US", "IVUS", "OT", "SC", "XC", "ES", "OP", "GM", "SM", "DOC"})
_CAPTURE_CLASSES = ("1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.77.")  # secondary capture, visible light
_UID_NAME = re.compile(r"^[0-9][0-9.]{0,63}$")


def burned_in_risk(ds) -> str:
    """Why the pixels may show identity ("" if nothing says so)."""
    flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag == "YES":
        return "BurnedInAnnotation=YES"
    if str(ds.get("RecognizableVisualFeatures", "") or "").strip().upper() == "YES":
        return "RecognizableVisualFeatures=YES"
    if flag == "NO":
        return ""
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality in BURNED_IN_MODALITIES:
        return f"modality {modality} without BurnedInAnnotation=NO"
    if str(ds.get("SOPClassUID", "")).startswith(_CAPTURE_CLASSES):
        return "secondary capture or photograph without BurnedInAnnotation=NO"
    return ""


class _Run:
    """One deid_folder call: the de-identifier, the audit and mapping rows, the counters."""

    def __init__(self, root: Path, deid: Deidentifier, keyed: Keyed, options: Options, shift_days: int | None,
                 allow_burned_in: bool, names: list[str]):
        self.root, self.deid, self.keyed, self.options = root, deid, keyed, options
        self.shift_days, self.allow_burned_in, self.names = shift_days, allow_burned_in, names
        self.audit: list[tuple[str, str, str, str, str]] = []
        self.mapping: list[tuple[str, str, str, str, str]] = []
        self.counts: Counter[str] = Counter()
        self.burned_in: list[str] = []
        self.skipped: list[dict[str, str]] = []
        self.errors: list[dict[str, str]] = []
        self.outputs: set[str] = set()

    def skip(self, ident: str, rel: str, reason: str, action: str = "skipped") -> None:
        self.skipped.append({"id": ident, "file": rel, "reason": reason})
        self.audit.append((ident, "", "", action, reason))
        self.mapping.append((ident, rel, "", action, reason))

    def error(self, ident: str, rel: str, message: str, audit_detail: str) -> None:
        self.errors.append({"id": ident, "file": rel, "error": message})
        self.audit.append((ident, "", "", "error", audit_detail))
        self.mapping.append((ident, rel, "", "error", message))

    def file(self, path: Path, rel: str, ident: str) -> None:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            return self.skip(ident, rel, "symbolic link: not followed")
        if not stat.S_ISREG(info.st_mode):
            return self.skip(ident, rel, "not a regular file (FIFO, device or socket): not opened")
        if info.st_size == 0:
            return self.skip(ident, rel, "empty file")
        with open(path, "rb") as fh:
            head = fh.read(132)
        kind = sniff(head)
        if kind is not None:
            return self.dicom(path, rel, ident, kind)
        if path.suffix.lower() == ".txt":
            data = path.read_bytes()
            if looks_like_text(data):
                return self.text(data, rel, ident)
        self.skip(ident, rel, "not DICOM or a text report: not copied (may hold PHI)")

    def dicom(self, path: Path, rel: str, ident: str, kind: str) -> None:
        ds = read_dicom(path, kind)
        if is_dicomdir(ds):
            return self.skip(ident, rel, "DICOMDIR: not copied (it holds names and IDs; rebuild it from the output)")
        risk = burned_in_risk(ds)
        if risk and not self.allow_burned_in:
            self.burned_in.append(ident)
            return self.skip(ident, rel, f"{risk}: pixels may show identity (--allow-burned-in writes it)", "withheld")
        pixels = ds.get_item(PIXEL_TAG).value if PIXEL_TAG in ds else None
        try:
            events = self.deid.apply(ds)
            events += mark(ds, self.options, self.shift_days, bool(risk))
        except Exception as e:
            raise FileError("cannot de-identify", f"{type(e).__name__}: {_first_line(e)}") from None
        out = self.dicom_name(ds)
        if out in self.outputs:
            return self.skip(ident, rel, "duplicate SOP Instance UID: already written from another input")
        self.write(ds, out, pixels)
        self.outputs.add(out)
        if risk:
            self.burned_in.append(ident)
            self.audit.append((out, "", "", "warning", f"{risk}: written on request; pixel text NOT removed"))
        for where, keyword, action, detail in events:
            self.counts[action] += 1
            self.audit.append((out, where, keyword, action, detail))
        self.mapping.append((ident, rel, out, "written", risk))
        self.counts["dicom_written"] += 1

    def dicom_name(self, ds) -> str:
        parts = []
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            value = str(ds.get(keyword, "") or "").strip()
            parts.append(value if _UID_NAME.match(value) else self.keyed.name("no-uid", keyword + value))
        return f"{parts[0]}/{parts[1]}/{parts[2]}.dcm"

    def write(self, ds, out: str, pixels: bytes | None) -> None:
        import pydicom

        with atomic_path(self.root / out) as tmp:
            try:
                write_dicom(ds, tmp)
                check = pydicom.dcmread(tmp)
            except Exception as e:
                raise FileError("cannot write the de-identified file", f"{type(e).__name__}: {_first_line(e)}") from None
            if pixels is not None and (PIXEL_TAG not in check or check.get_item(PIXEL_TAG).value != pixels):
                raise FileError("PixelData changed while writing; file not written")

    def text(self, data: bytes, rel: str, ident: str) -> None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        clean, findings = scrub_text(text, names=self.names)
        out = f"reports/{self.keyed.name('report', rel)}.txt"
        atomic_write(self.root / out, clean)
        kinds = Counter(f.kind for f in findings)
        self.audit.append((out, "", "", "scrubbed", "; ".join(f"{k}={n}" for k, n in sorted(kinds.items()))
                           or "nothing found"))
        self.mapping.append((ident, rel, out, "written", ""))
        self.counts["text_written"] += 1


def _csv(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else ""


def _check_dirs(in_dir: Path, out_dir: Path, force: bool) -> tuple[Path, Path]:
    if not in_dir.is_dir():
        raise MedMLLMError(f"{in_dir}: input folder not found")
    src, dst = in_dir.resolve(), out_dir.resolve()
    if dst == src:
        raise MedMLLMError(f"{out_dir}: the output folder is the input folder; choose another (input is never modified)")
    if dst.is_relative_to(src):
        raise MedMLLMError(f"{out_dir}: the output folder is inside the input folder {in_dir}; choose a folder outside it")
    if src.is_relative_to(dst):
        raise MedMLLMError(f"{out_dir}: the output folder contains the input folder {in_dir}; choose a separate folder")
    if dst.exists() and not dst.is_dir():
        raise MedMLLMError(f"{out_dir}: exists and is not a folder")
    if dst.is_dir() and any(dst.iterdir()) and not force:
        raise MedMLLMError(f"{out_dir}: exists and is not empty; choose a new folder, or pass --force to replace it")
    return src, dst


def _check_mapping(mapping: str | Path | None, src: Path, dst: Path, force: bool) -> Path:
    path = Path(mapping).resolve() if mapping is not None else dst.parent / f"{dst.name}{MAPPING_SUFFIX}"
    if path == dst or path.is_relative_to(dst) or path.is_relative_to(src):
        raise MedMLLMError(f"{path}: the mapping file (it holds input names) must be outside the input and output folders")
    if path.is_dir():
        raise MedMLLMError(f"{path}: the mapping file is a folder")
    if path.exists() and not force:
        raise MedMLLMError(f"{path}: the mapping file exists (an earlier run?); pass --force to replace it, or --mapping")
    return path


def _walk(root: Path) -> list[tuple[Path, str]]:
    """(path, relative posix path) of every entry under root that is not a folder we descend into
    (links to folders included, so they are listed), in sorted order."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in sorted(filenames + links):
            p = Path(dirpath) / name
            out.append((p, p.relative_to(root).as_posix()))
    return out


def deid_folder(in_dir: str | Path, out_dir: str | Path, *, salt: str | None = None,
                date_shift_days: int | str | None = None, keep_patient_characteristics: bool = False,
                retain_device_identity: bool = False, retain_institution_identity: bool = False,
                clean_descriptors: bool = False, safe_private: str | Path | Iterable[tuple[int, str, int]] | None = None,
                allow_burned_in: bool = False, on_error: str = "fail", names: Iterable[str] | None = None,
                mapping: str | Path | None = None, force: bool = False) -> dict[str, Any]:
    """De-identify every DICOM file (and scrub every ``.txt`` report) under ``in_dir`` into ``out_dir``.

    Args:
        in_dir: input folder (read only; never modified).
        out_dir: output folder: must not be ``in_dir``, inside it or contain it; an existing non-empty
            one is refused unless ``force`` (then it is replaced at the end of a successful run).
        salt: secret key for the UIDs and dummies: the same salt gives the same output, so later
            batches match. ``None``: a random one (reported as ``salt_generated``; not saved).
        date_shift_days: ``None``: dates and times follow the Basic Profile (removed, emptied or
            dummies). An integer, or ``"auto"`` (62-730 days back, from the salt): the Retain
            Longitudinal Temporal Information with Modified Dates Option; every listed date moves by
            that many whole days (intervals and times of day kept). Birth dates are always emptied.
        keep_patient_characteristics, retain_device_identity, retain_institution_identity,
        clean_descriptors: the PS3.15 options of those names (Retain Patient Characteristics, ...).
        safe_private: Retain Safe Private Option: a list file (``gggg,ee,Private Creator`` a line) or
            (group, creator, offset) entries; other private tags are removed. ``None``: all removed.
        allow_burned_in: write files whose pixels may show identity (see ``burned_in_risk``); they
            are withheld by default. Either way they are listed.
        on_error: ``"fail"``: the first unreadable DICOM raises ``MedMLLMError("<file>: ...")`` and
            nothing is left behind; ``"skip"``: it is counted and listed.
        names: extra names for the text scrubber (reports and cleaned descriptors).
        mapping: where the input-to-output mapping goes (default ``<out_dir>.mapping-PRIVATE.csv``
            beside it); it holds input names, so it must be outside both folders.
        force: replace a non-empty ``out_dir`` and an existing mapping file.

    Returns:
        stats: files_written, dicom_written, text_written, uids_remapped, tags_removed, tags_emptied,
        tags_replaced, tags_shifted, tags_cleaned, burned_in (input ids), skipped (list of {id, file,
        reason}), errors (list of {id, file, error}), salt_generated, date_shift_days, options
        (CID 7050 meanings), audit (path), mapping (path).
    """
    if on_error not in ("fail", "skip"):
        raise MedMLLMError(f"--on-error: {on_error!r} is not one of fail, skip")
    src, dst = _check_dirs(Path(in_dir), Path(out_dir), force)
    mapping_path = _check_mapping(mapping, src, dst, force)
    salt_generated = salt is None
    salt = secrets.token_hex(16) if salt is None else str(salt)
    if not salt:
        raise MedMLLMError("--salt: must not be empty")
    shift = parse_shift(date_shift_days, salt)
    safe = load_safe_private(safe_private) if isinstance(safe_private, (str, Path)) else frozenset(safe_private or ())
    options = Options(retain_modified_dates=shift is not None, retain_patient_characteristics=keep_patient_characteristics,
                      retain_safe_private=safe_private is not None, retain_device_identity=retain_device_identity,
                      retain_institution_identity=retain_institution_identity, clean_descriptors=clean_descriptors)
    keyed = Keyed(salt)
    names = list(names or [])
    files = _walk(src)
    done = False
    try:
        with atomic_folder(dst) as tmp:
            run = _Run(tmp, Deidentifier(options, keyed, shift, safe, names), keyed, options, shift,
                       allow_burned_in, names)
            _run_all(run, files, on_error)
            atomic_write(tmp / AUDIT_NAME, _csv(AUDIT_COLUMNS, run.audit))
            atomic_write(mapping_path, _csv(MAPPING_COLUMNS, run.mapping))
            done = True
    except BaseException:
        if done:  # the folder could not be renamed into place: the mapping goes too
            mapping_path.unlink(missing_ok=True)
        raise
    return {**_stats(run), "salt_generated": salt_generated, "date_shift_days": shift,
            "options": [meaning for _, meaning in options.codes()[1:]], "audit": dst / AUDIT_NAME,
            "mapping": mapping_path}


def _stats(run: _Run) -> dict[str, Any]:
    c = run.counts
    return {"files_written": c["dicom_written"] + c["text_written"], "dicom_written": c["dicom_written"],
            "text_written": c["text_written"], "uids_remapped": len(run.deid.uids), "tags_removed": c["removed"],
            "tags_emptied": c["emptied"], "tags_replaced": c["replaced"], "tags_shifted": c["shifted"],
            "tags_cleaned": c["cleaned"], "burned_in": list(run.burned_in), "skipped": list(run.skipped),
            "errors": list(run.errors)}


def _run_all(run: _Run, files: list[tuple[Path, str]], on_error: str) -> None:
    from tqdm import tqdm

    for number, (path, rel) in enumerate(tqdm(files, desc="deid", unit=" files", file=sys.stderr, disable=None,
                                              leave=False), 1):
        ident = f"input#{number:05d}"
        try:
            run.file(path, rel, ident)
        except (FileError, OSError) as e:
            message = str(e) if isinstance(e, FileError) else f"{type(e).__name__}: {e.strerror or e}"
            run.error(ident, rel, message, e.text if isinstance(e, FileError) else type(e).__name__)
            if on_error == "fail":
                raise MedMLLMError(f"{path}: {message}") from None
