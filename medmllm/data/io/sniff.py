"""What a file is, from its first bytes (the name is only a tie-breaker).

A text file named `.png`, a JPEG named `.png` or a DICOM without the `.dcm` suffix are all
recognised from their content, so the error for a wrong-type file names what it really is.
"""
from __future__ import annotations

import stat
from pathlib import Path

from ...errors import MedMLLMError

FORMATS = ("png", "jpeg", "tiff", "bmp", "gif", "dicom", "nifti", "npy", "wfdb", "dicom-series")


def regular(path: Path) -> Path:
    """`path` when it is a regular file (after links); a FIFO, device or socket is refused by name
    from `stat`, before anything opens it (opening a FIFO blocks until a writer comes)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise MedMLLMError(f"{path}: file not found") from None
    except OSError as e:
        raise MedMLLMError(f"{path}: cannot read ({e.strerror or e})") from None
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "not a regular file")
        raise MedMLLMError(f"{path}: is {kind}, not a regular file")
    return path


def _exists(path: Path) -> Path:
    regular(path)
    if path.stat().st_size == 0:
        raise MedMLLMError(f"{path}: file is empty")
    return path


def wfdb_header(path: Path) -> Path | None:
    """The `.hea` of a WFDB record given as `rec`, `rec.hea` or `rec.dat`, if it exists."""
    if path.suffix.lower() in (".hea", ".dat"):
        path = path.with_suffix("")
    header = Path(str(path) + ".hea")
    return header if header.is_file() else None


def detect_format(path: str | Path) -> str:
    """One of FORMATS, or a one-line MedMLLMError naming the file and what its content looks like."""
    path = Path(path)
    if path.is_dir():
        return "dicom-series"
    if wfdb_header(path) is not None and path.suffix.lower() in ("", ".hea", ".dat"):
        return "wfdb"
    _exists(path)
    with open(path, "rb") as f:
        head = f.read(352)
    name = path.name.lower()
    if head[128:132] == b"DICM":  # first: a DICOM preamble may itself hold a TIFF header
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"\x1f\x8b") and name.endswith(".nii.gz"):
        return "nifti"
    if len(head) >= 348 and (head[344:348] in (b"n+1\x00", b"ni1\x00") or head[4:8] in (b"n+2\x00", b"ni2\x00")):
        return "nifti"
    if name.endswith(".dcm") or looks_like_raw_dicom(head):
        return "dicom"
    raise MedMLLMError(f"{path}: unrecognised file content ({_describe(head)}); expected PNG, JPEG, TIFF, "
                       "DICOM, NIfTI, .npy or a WFDB record")


def looks_like_raw_dicom(head: bytes) -> bool:
    """DICOM written without the 128-byte preamble and file meta: starts with a group
    0002 or 0008 element whose VR (explicit) or length (implicit) is plausible."""
    if len(head) < 8 or head[:2] not in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08"):
        return False
    vr = head[4:6]
    return vr.isalpha() and vr.isupper() or int.from_bytes(head[4:8], "little") < 1 << 16


def _describe(head: bytes) -> str:
    if not head:
        return "empty"
    if head.startswith(b"\x1f\x8b"):
        return "gzip data"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    if text.lstrip().startswith(("{", "[")):
        return "looks like JSON text"
    return "looks like text"
