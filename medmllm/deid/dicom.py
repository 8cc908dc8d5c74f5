"""De-identify a folder of DICOM files (PS3.15 Annex E Basic Application Level Confidentiality Profile).

dicognito does the consistent pseudonyms: every UID, patient ID, accession number and person name is
replaced by a keyed hash of ``salt + original`` (same input, same output, in every file and in every
run with the same salt). Around it this module adds what dicognito leaves out: the profile's list of
attributes to remove (``profile.py``), private tags, whole-day date shifting that keeps intervals,
the BurnedInAnnotation warning, a PixelData byte check, atomic writes into a mirrored output folder,
report-text scrubbing and a CSV audit log that never holds an original attribute value. File and folder
names are kept as they are (in the output and the audit): rename files whose paths carry PHI first.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import MedMLLMError
from ..files import atomic_path, atomic_write
from . import profile
from .dataset import PIXEL_TAG, _check_complete, _FileError, _parent, _snapshot
from .rules import make_profile_handler, parse_shift
from .text import scrub_text

__all__ = ["deid_folder", "AUDIT_NAME", "AUDIT_COLUMNS"]

AUDIT_NAME = "deid_audit.csv"
AUDIT_COLUMNS = ("file", "tag", "keyword", "action", "detail")
DICOM_SUFFIXES = {".dcm", ".dicom", ".dic", ".ima"}
TEXT_SUFFIXES = {".txt"}
_DCM_CODES = (("113100", "Basic Application Confidentiality Profile"),
              ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
              ("113108", "Retain Patient Characteristics Option"),
              ("113111", "Retain Safe Private Option"))


class _Run:
    """State of one deid_folder call: settings, the anonymizer, the audit rows and the counters."""

    def __init__(self, in_dir: Path, out_dir: Path, salt: str, shift_days: int | None, keep_private: bool,
                 keep_characteristics: bool, skip_burned_in: bool, names: list[str]):
        from dicognito.anonymizer import Anonymizer

        self.in_dir, self.out_dir = in_dir, out_dir
        self.salt, self.shift_days = salt, shift_days
        self.keep_private, self.keep_characteristics = keep_private, keep_characteristics
        self.skip_burned_in, self.names = skip_burned_in, names
        self.anonymizer = Anonymizer(seed=salt)
        self.anonymizer.add_element_handler(make_profile_handler(shift_days, keep_characteristics))
        self.audit: list[tuple[str, str, str, str, str]] = []
        self.uids: set[str] = set()  # original UIDs seen being remapped (memory only)
        self.counts: Counter[str] = Counter()
        self.burned_in: list[str] = []
        self.skipped: list[dict[str, str]] = []
        self.errors: list[dict[str, str]] = []

    # -- audit -----------------------------------------------------------------------------------
    def row(self, rel: str, tag: str, keyword: str, action: str, detail: str = "") -> None:
        self.audit.append((rel, tag, keyword, action, detail))

    def skip(self, rel: str, reason: str) -> None:
        self.skipped.append({"file": rel, "reason": reason})
        self.row(rel, "", "", "skipped", reason)

    def _diff(self, rel: str, before: dict, after: dict) -> None:
        removed = {p for p in before if p not in after}
        added = {p for p in after if p not in before}
        for path, (keyword, vr, old) in before.items():
            if path in removed:
                if _parent(path) not in removed:
                    self.counts["tags_removed"] += 1
                    self.row(rel, path, keyword, "removed",
                             "private tag" if keyword == "(private)" else "")
                continue
            _, _, new = after[path]
            if vr == "SQ" or new == old:
                if vr == "TM" and new:
                    self.row(rel, path, keyword, "kept", "time of day (whole-day date shift)")
                elif keyword in profile.PROFILE_KEYWORDS and vr != "SQ":
                    self.row(rel, path, keyword, "kept", "retained by option" if keyword in
                             profile.PATIENT_CHARACTERISTICS else "")
                continue
            if new in ("", None, ()) or (isinstance(new, tuple) and not any(new)):
                self.counts["tags_emptied"] += 1
                self.row(rel, path, keyword, "emptied")
            elif vr in ("DA", "DT"):
                self.counts["tags_shifted"] += 1
                self.row(rel, path, keyword, "shifted", f"{self.shift_days:+d} days")
            elif vr == "UI":
                for uid in (old if isinstance(old, tuple) else (old,)):
                    self.uids.add(str(uid))
                self.row(rel, path, keyword, "replaced", "uid remapped")
            else:
                self.counts["tags_replaced"] += 1
                self.row(rel, path, keyword, "replaced", "pseudonym")
        for path in sorted(added):
            if _parent(path) not in added:
                self.row(rel, path, after[path][0], "added", "de-identification marker")

    # -- one DICOM file ----------------------------------------------------------------------------
    def dicom(self, src: Path, rel: str) -> None:
        import pydicom
        from pydicom.uid import MediaStorageDirectoryStorage

        try:
            ds = pydicom.dcmread(src)
            _check_complete(ds, src)
        except _FileError:
            raise
        except Exception as e:  # InvalidDicomError, struct.error, EOFError, ...
            raise _FileError(f"not a readable DICOM file ({type(e).__name__}: {_first_line(e)})") from None
        if ds.file_meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage:
            self.skip(rel, "DICOMDIR: not copied (it holds names and IDs; rebuild it from the output)")
            return
        if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
            self.burned_in.append(rel)
            self.row(rel, "(0028,0301)", "BurnedInAnnotation", "warning",
                     "BurnedInAnnotation=YES: text burned into the pixels is NOT removed; review the image")
            if self.skip_burned_in:
                self.skip(rel, "BurnedInAnnotation=YES (--skip-burned-in)")
                return
        pixels = ds.get_item(PIXEL_TAG).value if PIXEL_TAG in ds else None
        try:
            before = _snapshot(ds)
            self._apply(ds)
            after = _snapshot(ds)
        except Exception as e:
            raise _FileError(f"cannot de-identify ({type(e).__name__}: {_first_line(e)})") from None
        with atomic_path(self.out_dir / rel) as tmp:
            try:
                ds.save_as(tmp)
                check = pydicom.dcmread(tmp)
            except Exception as e:
                raise _FileError(f"cannot write the de-identified file ({type(e).__name__}: {_first_line(e)})") from None
            if pixels is not None and (PIXEL_TAG not in check or check.get_item(PIXEL_TAG).value != pixels):
                raise _FileError("PixelData changed while writing; file not written")
        self._diff(rel, before, after)
        self.counts["dicom_written"] += 1

    def _apply(self, ds) -> None:
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence

        if not self.keep_private:
            ds.remove_private_tags()
        for kw in profile.META_REMOVE:
            if kw in ds.file_meta:
                delattr(ds.file_meta, kw)
        self.anonymizer.anonymize(ds)

        def strip(dataset, elem) -> None:  # what dicognito re-added (InstitutionAddress) goes again
            if elem.keyword in profile.REMOVE:
                del dataset[elem.tag]

        ds.walk(strip)
        if str(ds.get("BurnedInAnnotation", "")).strip().upper() != "YES":
            ds.PatientIdentityRemoved = "YES"
        elif "PatientIdentityRemoved" in ds:
            del ds.PatientIdentityRemoved
        methods = ["Basic Profile (medmllm deid + dicognito)"]  # LO: at most 64 characters
        codes = [_DCM_CODES[0]]
        if self.shift_days is not None:
            methods.append("dates shifted by whole days")
            codes.append(_DCM_CODES[1])
        if self.keep_characteristics:
            codes.append(_DCM_CODES[2])
        if self.keep_private:
            methods.append("private tags retained")
        ds.DeidentificationMethod = methods if len(methods) > 1 else methods[0]
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        ds.LongitudinalTemporalInformationModified = "MODIFIED" if self.shift_days is not None else "REMOVED"

    # -- one report text file --------------------------------------------------------------------
    def text(self, src: Path, rel: str) -> None:
        raw = src.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        clean, findings = scrub_text(text, names=self.names)
        atomic_write(self.out_dir / rel, clean)
        kinds = Counter(f.kind for f in findings)
        self.row(rel, "", "", "scrubbed", "; ".join(f"{k}={n}" for k, n in sorted(kinds.items())) or "nothing found")
        self.counts["text_written"] += 1

    def write_audit(self) -> Path:
        path = self.out_dir / AUDIT_NAME
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(AUDIT_COLUMNS)
        writer.writerows(self.audit)
        return atomic_write(path, buf.getvalue())


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else ""


def _is_dicom(path: Path) -> bool:
    """Part-10 files start with a 128-byte preamble and ``DICM``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def _check_dirs(in_dir: Path, out_dir: Path) -> tuple[Path, Path]:
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
    return src, dst


def _walk(root: Path) -> Iterable[tuple[Path, str, bool]]:
    """(path, relative posix path, is_symlink) for every file under root, in sorted order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            yield p, p.relative_to(root).as_posix(), p.is_symlink()


def deid_folder(in_dir: str | Path, out_dir: str | Path, *, salt: str | None = None,
                date_shift_days: int | str | None = None, keep_private: bool = False,
                skip_burned_in: bool = False, on_error: str = "fail", names: Iterable[str] | None = None,
                keep_patient_characteristics: bool = False) -> dict[str, Any]:
    """De-identify every DICOM file (and scrub every ``.txt`` report) under ``in_dir`` into ``out_dir``.

    Args:
        in_dir: input folder (read only; never modified).
        out_dir: output folder (created; must not be ``in_dir``, inside it, or contain it). It mirrors
            the input's structure and gets ``deid_audit.csv``.
        salt: secret key for the pseudonyms (UIDs, IDs, names): the same salt gives the same output,
            so later batches match. ``None``: a random one (reported as ``salt_generated``; not saved).
        date_shift_days: ``None`` removes/empties dates and times (Basic Profile); an integer shifts
            every date by that many days (times kept, intervals kept); ``"auto"`` derives the shift
            (62-730 days back) from the salt. Birth dates are always emptied.
        keep_private: keep private tags (not conformant with the profile).
        skip_burned_in: do not write files with BurnedInAnnotation=YES (they are always warned about).
        on_error: ``"fail"``: the first unreadable DICOM raises ``MedMLLMError("<file>: ...")``;
            ``"skip"``: it is counted and listed.
        names: extra names for the report-text scrubber.
        keep_patient_characteristics: Retain Patient Characteristics Option (age, sex, size, weight...).

    Returns:
        stats: files_written, dicom_written, text_written, uids_remapped, tags_removed, tags_emptied,
        tags_replaced, tags_shifted, burned_in (list), skipped (list of {file, reason}), errors
        (list of {file, error}), salt_generated, date_shift_days, audit (path).
    """
    if on_error not in ("fail", "skip"):
        raise MedMLLMError(f"--on-error: {on_error!r} is not one of fail, skip")
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    src_root, dst_root = _check_dirs(in_dir, out_dir)
    salt_generated = salt is None
    if salt is None:
        salt = secrets.token_hex(16)
    elif not str(salt):
        raise MedMLLMError("--salt: must not be empty")
    salt = str(salt)
    shift = parse_shift(date_shift_days, salt)
    run = _Run(src_root, dst_root, salt, shift, keep_private, keep_patient_characteristics, skip_burned_in,
               list(names or []))
    dst_root.mkdir(parents=True, exist_ok=True)

    from tqdm import tqdm

    for path, rel, is_link in tqdm(list(_walk(src_root)), desc="deid", unit=" files", file=sys.stderr,
                                   disable=None, leave=False):
        if is_link:
            run.skip(rel, "symbolic link: not followed")
            continue
        suffix = path.suffix.lower()
        try:
            if suffix in TEXT_SUFFIXES:
                run.text(path, rel)
            elif suffix in DICOM_SUFFIXES or _is_dicom(path):
                run.dicom(path, rel)
            else:
                run.skip(rel, "not DICOM or .txt: not copied (may hold PHI)")
        except (_FileError, OSError) as e:
            message = str(e) if isinstance(e, _FileError) else f"{type(e).__name__}: {e.strerror or e}"
            run.row(rel, "", "", "error", message if isinstance(e, _FileError) else type(e).__name__)
            if on_error == "fail":
                run.write_audit()
                raise MedMLLMError(f"{path}: {message}") from None
            run.errors.append({"file": rel, "error": message})

    audit = run.write_audit()
    c = run.counts
    return {
        "files_written": c["dicom_written"] + c["text_written"],
        "dicom_written": c["dicom_written"],
        "text_written": c["text_written"],
        "uids_remapped": len(run.uids),
        "tags_removed": c["tags_removed"],
        "tags_emptied": c["tags_emptied"],
        "tags_replaced": c["tags_replaced"],
        "tags_shifted": c["tags_shifted"],
        "burned_in": list(run.burned_in),
        "skipped": list(run.skipped),
        "errors": list(run.errors),
        "salt_generated": salt_generated,
        "date_shift_days": shift,
        "audit": audit,
    }
