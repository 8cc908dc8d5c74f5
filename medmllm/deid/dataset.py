"""Reading input files for de-identification: what a file is (from its content, never its name),
reading a DICOM file whole, and writing one with new File Meta Information and a zeroed preamble.

A file is DICOM when it has ``DICM`` at offset 128 (Part 10), or when it starts like a data set
written without preamble and file meta and pydicom reads it with a SOP Class UID.  A DICOMDIR is
recognised (its SOP class, or a Directory Record Sequence) before any other check, so it is
skipped rather than failed.  Files pydicom reads only in part are refused (it stops silently at a
truncated element).
"""
from __future__ import annotations

from pathlib import Path

from ..data.io.sniff import looks_like_raw_dicom

__all__ = ["PIXEL_TAG", "FileError", "sniff", "read_dicom", "is_dicomdir", "write_dicom", "looks_like_text"]

PIXEL_TAG = 0x7FE00010
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


class FileError(Exception):
    """A problem with one input file (reported as ``<file>: ...``). ``text`` is our own words, safe for
    the audit; ``detail`` (an exception's class and first line, which may quote a value) is only shown
    to the user and written to the private mapping."""

    def __init__(self, text: str, detail: str = ""):
        super().__init__(f"{text} ({detail})" if detail else text)
        self.text = text


def _tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def sniff(head: bytes) -> str | None:
    """``"dicom"`` (Part 10), ``"raw"`` (a data set without preamble, to be confirmed by reading) or None."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if looks_like_raw_dicom(head[:16]):
        return "raw"
    return None


def looks_like_text(data: bytes) -> bool:
    """No NUL byte, and UTF-8 or mostly printable Latin-1."""
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f")
        return controls <= len(text) // 100


def is_dicomdir(ds) -> bool:
    meta = getattr(ds, "file_meta", None)
    return (meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_CLASS) \
        or "DirectoryRecordSequence" in ds or str(ds.get("SOPClassUID", "")) == DICOMDIR_CLASS


def read_dicom(path: Path, kind: str):
    """The whole data set of a DICOM file (``kind`` from ``sniff``), or FileError."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, force=kind == "raw")
    except Exception as e:  # InvalidDicomError, struct.error, EOFError, ...
        raise FileError("not a readable DICOM file", type(e).__name__) from None
    if is_dicomdir(ds):
        return ds
    try:
        _check_complete(ds, path)
    except FileError:
        raise
    except Exception as e:
        raise FileError("not a readable DICOM file", type(e).__name__) from None
    return ds


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
                raise FileError(f"truncated file: element {_tag_str(int(tag))} is cut short")
    if len(ds) == 0:
        raise FileError("no data set after the file meta header (truncated file?)")
    last = ds.get_item(max(ds.keys()))
    if isinstance(last, RawDataElement) and last.length != 0xFFFFFFFF and last.value_tell is not None:
        end = last.value_tell + last.length
        if end + 8 <= size:  # whole unparsed element headers are left: pydicom stopped early
            raise FileError(f"corrupt or truncated file: {size - end} trailing bytes could not be parsed")
        if end < size and size - end < 8:
            raise FileError("truncated file: the last element header is cut short")
    if "SOPClassUID" not in ds or not str(ds.SOPClassUID).strip():
        raise FileError("no SOP Class UID (truncated file, or not a DICOM object)")
    if "SOPInstanceUID" not in ds or not str(ds.SOPInstanceUID).strip():
        raise FileError("no SOP Instance UID")
    if "Rows" in ds and not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise FileError("image attributes but no pixel data (truncated file?)")
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if "PixelData" in ds and syntax is not None and not syntax.is_compressed:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        expected = (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1))
                    * int(ds.BitsAllocated) * frames + 7) // 8
        if str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
            expected = expected * 2 // 3  # two chroma samples shared by two pixels
        if len(ds.get_item(PIXEL_TAG).value or b"") < expected:
            raise FileError(f"truncated pixel data ({len(ds.get_item(PIXEL_TAG).value or b'')} of {expected} bytes)")


def _transfer_syntax(ds):
    from pydicom import uid

    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID"):
        return meta.TransferSyntaxUID
    implicit, little = ds.original_encoding
    if implicit:
        return uid.ImplicitVRLittleEndian
    return uid.ExplicitVRLittleEndian if little else uid.ExplicitVRBigEndian


def write_dicom(ds, path: Path) -> None:
    """Write ``ds`` as a Part-10 file with a zeroed preamble and File Meta Information made anew:
    only the version, the SOP class and instance, the transfer syntax and pydicom as implementation
    (PS3.15 E.1.1: the file meta and preamble shall describe the de-identifying application)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset

    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = _transfer_syntax(ds)
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    ds.save_as(path, enforce_file_format=True)
