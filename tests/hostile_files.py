"""Crafted hostile inputs for `test_hostile.py`: each builder writes small files into a folder and
returns the command line to run on them, what its one-line error must name, and the exit code.

Bombs are real where it is cheap: the deflated DICOM inflates to 576 MB of pixels, the gzip NIfTI
to 545 MB of voxels, the RLE DICOM claims 3.6 G pixels; the PNG, JPEG, GIF, BMP and WFDB files only
claim their size in the header (the readers must refuse from the header, so the claim is the test).
"""
from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path


CASES: dict[str, object] = {}


@dataclass
class Case:
    args: list
    needles: tuple = ()
    code: int = 2
    stream: str = "stderr"  # where the one line is: stderr ('error: ...') or stdout (validate's record lines)
    env: dict = field(default_factory=dict)


def case(fn):
    CASES[fn.__name__] = fn
    return fn


# -- DICOM ---------------------------------------------------------------------------------------
def _ds(rows=4, cols=4, bits=16, frames=None, **tags):
    from pydicom.dataset import Dataset
    from pydicom.uid import CTImageStorage, generate_uid

    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = CTImageStorage, generate_uid(), "CT"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if frames:
        ds.NumberOfFrames = frames
    for k, v in tags.items():
        setattr(ds, k, v)
    return ds


def dicom(path: Path, rows=4, cols=4, frames=None, pixels=None, ts=None, bits=16, **tags) -> Path:
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = _ds(rows, cols, bits, frames, **tags)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts or ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.PixelData = pixels if pixels is not None else bytes(rows * cols * bits // 8 * (frames or 1))
    ds.save_as(path, enforce_file_format=True)
    return path


def deflated_dicom(path: Path, rows: int, cols: int, corrupt: bool = False) -> Path:
    """Preamble + file meta, then one raw-deflate stream of the dataset and rows×cols 8-bit zeros."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info
    from pydicom.uid import CTImageStorage, DeflatedExplicitVRLittleEndian, generate_uid

    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, _ds(rows, cols, bits=8))
    meta = DicomBytesIO()
    fm = FileMetaDataset()
    fm.TransferSyntaxUID, fm.MediaStorageSOPClassUID = DeflatedExplicitVRLittleEndian, CTImageStorage
    fm.MediaStorageSOPInstanceUID = generate_uid()
    write_file_meta_info(meta, fm, enforce_standard=True)
    n = rows * cols
    z = zlib.compressobj(1, zlib.DEFLATED, -15)
    parts = [z.compress(body.getvalue() + b"\xe0\x7f\x10\x00OB\x00\x00" + struct.pack("<I", n))]
    chunk = bytes(1 << 20)
    parts += [z.compress(chunk) for _ in range(n >> 20)] + [z.compress(bytes(n % (1 << 20))), z.flush()]
    data = b"".join(parts)
    path.write_bytes(b"\0" * 128 + b"DICM" + meta.getvalue() + (b"\xff" * 64 if corrupt else data))
    return path


def inspect(path, *extra, needles=(), **kw) -> Case:
    return Case(["data", "inspect", path, *extra], (str(path), *needles), **kw)


@case
def dicom_deflated_bomb(d):
    return inspect(deflated_dicom(d / "bomb.dcm", 24000, 24000), needles=("pixels",))


@case
def dicom_deflated_garbage(d):
    return inspect(deflated_dicom(d / "bad.dcm", 4, 4, corrupt=True), needles=("deflate",))


@case
def dicom_rle_claims_3g_pixels(d):
    from pydicom.encaps import encapsulate
    from pydicom.uid import RLELossless

    frag = struct.pack("<16I", 1, 64, *[0] * 14) + b"\x81\x00" * 8
    path = dicom(d / "rle.dcm", 60000, 60000, pixels=encapsulate([frag]), ts=RLELossless)
    return inspect(path, needles=("pixels",))


@case
def dicom_frames_bomb(d):
    return inspect(dicom(d / "f.dcm", 1, 1, frames=20000, pixels=b"\0" * 40000), needles=("NumberOfFrames",))


@case
def dicom_voxels_bomb(d):
    return inspect(dicom(d / "v.dcm", 8000, 8000, frames=9, pixels=b"\0" * 64), needles=("voxels",))


for _name, _value in {"one_value": "0.5", "negative": ["-1", "1"], "zero": ["0", "0"], "nan": ["nan", "1"],
                      "inf": ["1", "inf"], "three_values": ["1", "1", "1"]}.items():
    def _spacing(d, value=_value, name=_name):
        return inspect(dicom(d / f"sp_{name}.dcm", PixelSpacing=value), needles=("PixelSpacing",))
    CASES[f"dicom_pixel_spacing_{_name}"] = _spacing

for _name, (_key, _value) in {"slope_nan": ("RescaleSlope", "nan"), "slope_zero": ("RescaleSlope", "0"),
                              "intercept_inf": ("RescaleIntercept", "inf")}.items():
    def _lut(d, key=_key, value=_value, name=_name):
        return inspect(dicom(d / f"{name}.dcm", **{key: value}), needles=(key,))
    CASES[f"dicom_{_name}"] = _lut


@case
def dicom_inspect_json_never_nan(d):
    """A NaN WindowCenter is allowed (a window is optional) but `--json` must still be strict JSON."""
    return inspect(dicom(d / "w.dcm", WindowCenter="nan", WindowWidth="400"), "--json", "--max-pixels", "4",
                   needles=("pixels",))


@case
def dicom_truncated_pixels(d):
    return inspect(dicom(d / "t.dcm", 64, 64, pixels=b"\0" * 100), needles=("truncated",))


@case
def dicom_no_pixels(d):
    path = dicom(d / "n.dcm")
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"\xe0\x7f\x10\x00")])
    return inspect(path, needles=("no pixel data",))


@case
def dicom_garbage_after_preamble(d):
    (d / "g.dcm").write_bytes(b"\0" * 128 + b"DICM" + os.urandom(200))
    return inspect(d / "g.dcm", needles=("DICOM",))


@case
def dicom_series_one_value_spacing(d):
    (d / "series").mkdir()
    for i in range(3):
        dicom(d / "series" / f"{i}.dcm", SeriesInstanceUID="1.2.3", ImagePositionPatient=[0, 0, i],
              ImageOrientationPatient=[1, 0, 0, 0, 1, 0], PixelSpacing="0.7")
    return inspect(d / "series", needles=("PixelSpacing",))


@case
def dicom_series_too_many_slices(d):
    (d / "s").mkdir()
    for i in range(4):
        dicom(d / "s" / f"{i}.dcm", SeriesInstanceUID="1.2.3", ImagePositionPatient=[0, 0, i])
    return inspect(d / "s", "--max-frames", "3", needles=("frames",))


# -- PNG, JPEG, GIF, BMP -------------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(path: Path, width: int, height: int, idat: bytes | None = None) -> Path:
    idat = zlib.compress(bytes((width + 1) * min(height, 4))) if idat is None else idat
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path


def _patched(path: Path, fmt: str, offsets: dict[int, bytes]) -> Path:
    from PIL import Image

    Image.new("L", (8, 8)).save(path, fmt)
    data = bytearray(path.read_bytes())
    for at, value in offsets.items():
        data[at if at >= 0 else data.index(b"\xff\xc0") + 5: (at if at >= 0 else data.index(b"\xff\xc0") + 5) + len(value)] = value
    path.write_bytes(bytes(data))
    return path


@case
def png_claims_30000_squared(d):
    return inspect(png(d / "bomb.png", 30000, 30000, zlib.compress(bytes(30001 * 8))), needles=("pixels",))


@case
def png_claims_11000_squared(d):
    return inspect(png(d / "big.png", 11000, 11000), needles=("pixels",))


@case
def jpeg_claims_60000_squared(d):
    return inspect(_patched(d / "big.jpg", "JPEG", {-1: struct.pack(">HH", 60000, 60000)}), needles=("pixels",))


@case
def gif_claims_65535_squared(d):
    return inspect(_patched(d / "big.gif", "GIF", {6: struct.pack("<HH", 65535, 65535)}), needles=("pixels",))


@case
def bmp_claims_50000_squared(d):
    return inspect(_patched(d / "big.bmp", "BMP", {18: struct.pack("<ii", 50000, 50000)}), needles=("pixels",))


@case
def png_over_max_pixels_flag(d):
    return inspect(png(d / "small.png", 100, 100), "--max-pixels", "1000", needles=("1,000 pixels", "--max-pixels"))


@case
def png_over_max_pixels_env(d):
    return inspect(png(d / "small.png", 100, 100), needles=("MEDMLLM_MAX_PIXELS",), env={"MEDMLLM_MAX_PIXELS": "1000"})


@case
def max_pixels_flag_zero(d):
    return Case(["data", "inspect", png(d / "small.png", 4, 4), "--max-pixels", "0"], ("--max-pixels", "positive"))


@case
def max_pixels_env_not_a_number(d):
    return Case(["data", "inspect", png(d / "s.png", 4, 4)], ("MEDMLLM_MAX_PIXELS", "lots"), env={"MEDMLLM_MAX_PIXELS": "lots"})


@case
def png_truncated(d):
    path = png(d / "t.png", 64, 64)
    path.write_bytes(path.read_bytes()[:40])
    return inspect(path, needles=("PNG",))


@case
def text_named_png(d):
    (d / "x.png").write_text("hello, not an image\n")
    return inspect(d / "x.png", needles=("looks like text",))


for _suffix in (".png", ".dcm", ".nii", ".npy", ".jpg"):
    def _fifo(d, suffix=_suffix):
        os.mkfifo(d / f"pipe{suffix}")
        return inspect(d / f"pipe{suffix}", needles=("FIFO",))
    CASES[f"fifo_{_suffix[1:]}"] = _fifo


@case
def device_node(d):
    return Case(["data", "inspect", "/dev/zero"], ("/dev/zero", "device"))
