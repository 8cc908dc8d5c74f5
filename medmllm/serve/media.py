"""Content parts -> model inputs: what a chat request carries, read as `medmllm data inspect` reads files.

A part is a base64 `data:` URL (`image_url`, or the `file` part's `file_data`), or a `file://`
URL inside the one folder `--allowed-local-media-path` names; `http(s)://` is never fetched. The
bytes are written to a private temporary folder (mode 0700, removed when the request is read)
and the reader is chosen by content (`data.io.detect_format`): PNG/JPEG/TIFF, DICOM (an image,
a multi-frame file, a waveform ECG), a zip of one DICOM series or one WFDB record, NIfTI. What was
read decides the modality: an image, a volume (multi-frame DICOM, series, NIfTI) or an ECG. The
readers check the size limits (`data/io/limits.py`) from the headers before decoding; a zip is
unpacked within a member count and a total size, names flattened (no path escapes).

Errors name the part by its place in the request (`messages[0].content[1]`), never by the
uploaded file name or the temporary path (a file name may itself be patient data).
"""
from __future__ import annotations

import base64
import binascii
import gzip
import re
import tempfile
import zipfile
from io import BytesIO
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..chat import PLACEHOLDERS
from ..data import io
from ..data.io.dicom import dicom_kind
from ..errors import MedMLLMError, brief
from .protocol import APIError, FilePart, ImagePart, Message, TextPart

PIL_FORMATS = {"png", "jpeg", "tiff", "bmp", "gif"}
_DATA_URL = re.compile(r"data:([^;,]*)((?:;[^;,]*)*),(.*)", re.DOTALL)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def read_messages(messages: list[Message], processor, allowed: Path | None, max_unzipped: int):
    """Request messages -> (turns with placeholders, {modality: [input tensor, ...]}) for
    `Engine.conversation`. Parts of one message are joined by newlines, a placeholder standing
    where each file was; a 400 `APIError` names the first part that cannot be read."""
    turns, inputs = [], {}
    with _Scratch() as scratch:
        for i, message in enumerate(messages):
            content = message.content
            if content is not None and not isinstance(content, str):
                content = "\n".join(_piece(part, f"messages[{i}].content[{j}]", message.role, processor, inputs,
                                           scratch, allowed, max_unzipped) for j, part in enumerate(content))
            turns.append({"role": _role(message.role), "content": content or ""})
    return turns, inputs


def _piece(part, where: str, role: str, processor, inputs: dict, scratch: "_Scratch", allowed: Path | None,
           max_unzipped: int) -> str:
    """A part's text: its own, or for a file the placeholder of the modality it was read as (the
    input tensor appended to `inputs`)."""
    if isinstance(part, TextPart):
        return part.text
    if role != "user":
        raise APIError(400, f"{where}: files are taken in user messages only", param=where)
    path = materialize(part, scratch.folder(where), where, allowed, max_unzipped)
    modality = _read_as(path, where)
    if modality not in processor.settings.num_tokens:
        reads = ", ".join(processor.settings.num_tokens) or "text only"
        raise APIError(400, f"{where}: is {_a(modality)} input, and this model reads {reads}", param=where)
    inputs.setdefault(modality, []).append(guarded(where, path, processor.load, modality, path))
    return PLACEHOLDERS[modality]


class _Scratch:
    """A private temporary folder (mode 0700), made when a request's first file needs it (a text-only
    request makes none) and removed with everything in it at exit."""

    def __init__(self):
        self._tmp: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> "_Scratch":
        return self

    def folder(self, where: str) -> Path:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="medmllm-serve-")
        return Path(self._tmp.name) / where.replace("[", "-").replace("]", "").replace(".", "-")

    def __exit__(self, *exc) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _role(role: str) -> str:
    return "system" if role == "developer" else role


def _a(modality: str) -> str:
    return {"image": "an image", "volume": "a volume", "ecg": "an ECG"}[modality]


def materialize(part: ImagePart | FilePart, folder: Path, where: str, allowed: Path | None, max_unzipped: int) -> Path:
    """One file part as a path the readers take: a local file (`file://`, inside `allowed`) or the
    decoded bytes written under `folder` (a zip unpacked there)."""
    if isinstance(part, ImagePart):
        url, where = part.image_url.url, where + ".image_url.url"
    else:
        url, where = part.file.file_data, where + ".file.file_data"
    scheme = url[:16].split(":", 1)[0].lower() if ":" in url[:16] else ""
    if scheme in ("http", "https", "ftp"):
        raise APIError(400, f"{where}: remote URLs are not fetched; send the file as a base64 data: URL", param=where)
    if scheme == "file":
        return _local(url, where, allowed)
    if scheme == "data":
        mime, blob = _data_url(url, where)
    elif isinstance(part, FilePart):  # bare base64 is allowed in file_data
        mime, blob = "", _b64(url, where)
    else:
        raise APIError(400, f"{where}: expected a base64 data: URL", param=where)
    folder.mkdir(parents=True)
    if blob[:4] == b"PK\x03\x04":
        return _unzip(blob, folder, where, max_unzipped)
    path = folder / ("input" + _suffix(blob, mime))
    path.write_bytes(blob)
    return path


def _data_url(url: str, where: str) -> tuple[str, bytes]:
    m = _DATA_URL.fullmatch(url)
    if m is None or "base64" not in [p.strip().lower() for p in m.group(2).split(";")]:
        raise APIError(400, f"{where}: not a base64 data: URL (expected data:<type>;base64,<data>)", param=where)
    return m.group(1).lower(), _b64(m.group(3), where)


def _b64(text: str, where: str) -> bytes:
    try:
        blob = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise APIError(400, f"{where}: invalid base64", param=where) from None
    if not blob:
        raise APIError(400, f"{where}: the file is empty", param=where)
    return blob


def _suffix(blob: bytes, mime: str) -> str:
    """A name the content sniffer needs only for gzip (NIfTI) and preamble-less DICOM."""
    if blob[:2] == b"\x1f\x8b":
        try:
            head = gzip.GzipFile(fileobj=BytesIO(blob)).read(352)
        except (OSError, EOFError):
            return ".gz"
        return ".nii.gz" if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00") else ".gz"
    return ".dcm" if mime in ("application/dicom", "application/dicom+octet-stream") else ""


def _local(url: str, where: str, allowed: Path | None) -> Path:
    if allowed is None:
        raise APIError(400, f"{where}: file:// URLs are refused (start the server with "
                            "--allowed-local-media-path FOLDER to allow one folder)", param=where)
    parsed = urlparse(url)
    if parsed.netloc not in ("", "localhost"):
        raise APIError(400, f"{where}: file:// URL names another host", param=where)
    path = Path(unquote(parsed.path)).resolve()  # links followed: a link out of the folder is refused too
    if not path.is_relative_to(allowed):
        raise APIError(400, f"{where}: the file is outside the allowed media folder", param=where)
    if not path.exists():
        raise APIError(400, f"{where}: no such file in the allowed media folder", param=where)
    return path


def _unzip(blob: bytes, folder: Path, where: str, max_unzipped: int) -> Path:
    """A zip of one DICOM series (-> the folder) or one WFDB record (-> the record), or of one file."""
    try:
        with zipfile.ZipFile(BytesIO(blob)) as zf:
            members = [m for m in zf.infolist() if not m.is_dir() and not _hidden(m.filename)]
            _check_zip(members, where, max_unzipped)
            names = []
            for m in members:
                name = _SAFE_NAME.sub("_", m.filename.replace("\\", "/").rsplit("/", 1)[-1]) or "file"
                name = name if name not in names else f"{len(names)}-{name}"
                names.append(name)
                _copy(zf, m, folder / name, max_unzipped)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, RuntimeError, ValueError) as e:
        raise APIError(400, f"{where}: not a readable zip ({brief(e)})", param=where) from None
    headers = [n for n in names if n.lower().endswith(".hea")]
    if len(headers) > 1:
        raise APIError(400, f"{where}: the zip holds {len(headers)} WFDB records; send one", param=where)
    if headers:
        return folder / headers[0][:-4]
    return folder / names[0] if len(names) == 1 else folder


def _hidden(name: str) -> bool:
    """macOS and dot files a zip tool adds (`__MACOSX/`, `.DS_Store`); `../` in a name is not this."""
    parts = name.replace("\\", "/").split("/")
    return parts[-1].startswith(".") or "__MACOSX" in parts


def _check_zip(members: list, where: str, max_unzipped: int) -> None:
    limit = io.limits.current().frames
    if not members:
        raise APIError(400, f"{where}: the zip holds no file", param=where)
    if len(members) > limit:
        raise APIError(400, f"{where}: the zip holds {len(members):,} files, over the limit of {limit:,} "
                            "(--max-frames)", param=where)
    declared = sum(m.file_size for m in members)
    if declared > max_unzipped:
        raise APIError(400, f"{where}: the zip unpacks to {declared:,} bytes, over the limit of "
                            f"{max_unzipped:,} (--max-unzipped-mb)", param=where)
    if any(m.flag_bits & 0x1 for m in members):
        raise APIError(400, f"{where}: the zip is encrypted", param=where)


def _copy(zf: zipfile.ZipFile, member: zipfile.ZipInfo, dest: Path, budget: int) -> None:
    """Copy one member, counting what is really inflated (a member's declared size may lie)."""
    done = 0
    with zf.open(member) as src, open(dest, "wb") as out:
        while chunk := src.read(1 << 20):
            done += len(chunk)
            if done > budget:
                raise ValueError("inflates past its declared size")
            out.write(chunk)


def _read_as(path: Path, where: str) -> str:
    """The modality a file is read as, from its content."""
    fmt = guarded(where, path, io.detect_format, path)
    if fmt in PIL_FORMATS:
        return "image"
    if fmt in ("nifti", "dicom-series"):
        return "volume"
    if fmt == "wfdb":
        return "ecg"
    if fmt == "dicom":
        kind = guarded(where, path, dicom_kind, path)  # the header only: the pixels are decoded once, later
        return {"signal": "ecg"}.get(kind, kind)
    raise APIError(400, f"{where}: {fmt} arrays are not taken here; send PNG, JPEG, TIFF, DICOM, NIfTI "
                        "or a zipped WFDB record", param=where)


def guarded(where: str, path: Path, fn, *args):
    """Run a reader; its one-line error comes back as a 400 naming the part instead of the path."""
    try:
        return fn(*args)
    except MedMLLMError as e:
        message = str(e)
        for p in sorted({str(path), str(path.parent), str(path.parent.parent)}, key=len, reverse=True):
            message = message.replace(p, where)
        raise APIError(400, message, param=where) from None
    except Exception as e:  # a reader's slip: named by its type only (its text may hold the path)
        raise APIError(400, f"{where}: cannot be read ({type(e).__name__})", param=where) from None
