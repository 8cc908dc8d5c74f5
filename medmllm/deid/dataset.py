"""Reading and comparing DICOM datasets for de-identification: a before/after snapshot of every
element (for the audit) and a completeness check for files pydicom reads only partly."""
from __future__ import annotations

from pathlib import Path
from typing import Any

PIXEL_TAG = 0x7FE00010


class _FileError(Exception):
    """A problem with one input file (reported as ``<file>: ...``)."""


def _tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _freeze(value: Any) -> Any:
    """A hashable, non-aliased copy of an element value for before/after comparison."""
    from pydicom.multival import MultiValue
    from pydicom.valuerep import PersonName

    if isinstance(value, (MultiValue, list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, PersonName):
        return str(value)
    return value


def _snapshot(ds) -> dict[str, tuple[str, str, Any]]:
    """``{path: (keyword, VR, frozen value)}`` for every element, file meta and sequence items included."""
    out: dict[str, tuple[str, str, Any]] = {}

    def visit(dataset, prefix: str) -> None:
        for elem in dataset:
            path = prefix + _tag_str(elem.tag)
            keyword = elem.keyword or ("(private)" if elem.tag.is_private else "")
            if elem.VR == "SQ":
                out[path] = (keyword, "SQ", len(elem.value or []))
                for i, item in enumerate(elem.value or []):
                    visit(item, f"{path}[{i}].")
            else:
                out[path] = (keyword, str(elem.VR), _freeze(elem.value))

    if getattr(ds, "file_meta", None) is not None:
        visit(ds.file_meta, "")
    visit(ds, "")
    return out


def _parent(path: str) -> str | None:
    """The path of the sequence that holds ``path`` (None at the top level)."""
    cut = path.rfind("[")
    return path[:cut] if cut >= 0 else None


def _check_complete(ds, path: Path) -> None:
    """Refuse files pydicom read only partly (it stops silently at a truncated element)."""
    from pydicom.dataelem import RawDataElement

    size = path.stat().st_size
    for source in (getattr(ds, "file_meta", None), ds):
        if source is None:
            continue
        for tag in list(source.keys()):
            raw = source.get_item(tag)
            length = getattr(raw, "length", None)
            value = raw.value
            if length is not None and length != 0xFFFFFFFF and isinstance(value, bytes) and len(value) < length:
                raise _FileError(f"truncated file: element {_tag_str(int(tag))} is cut short")
    if len(ds) == 0:
        raise _FileError("no data set after the file meta header (truncated file?)")
    last = ds.get_item(max(ds.keys()))
    if isinstance(last, RawDataElement) and last.length != 0xFFFFFFFF and last.value_tell is not None:
        end = last.value_tell + last.length
        if end + 8 <= size:  # whole unparsed element headers are left: pydicom stopped early
            raise _FileError(f"corrupt or truncated file: {size - end} trailing bytes could not be parsed")
        if end < size and size - end < 8:
            raise _FileError("truncated file: the last element header is cut short")
    if "SOPClassUID" not in ds:
        raise _FileError("no SOP Class UID (truncated file, or not a DICOM object)")
    if "Rows" in ds and not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise _FileError("image attributes but no pixel data (truncated file?)")
    if "PixelData" in ds and not ds.file_meta.TransferSyntaxUID.is_compressed:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        expected = (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1))
                    * int(ds.BitsAllocated) * frames + 7) // 8
        if len(ds.get_item(PIXEL_TAG).value or b"") < expected:
            raise _FileError(f"truncated pixel data ({len(ds.get_item(PIXEL_TAG).value or b'')} of {expected} bytes)")
