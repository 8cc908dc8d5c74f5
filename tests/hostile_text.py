"""More crafted inputs for `test_hostile.py` (see `hostile_files.py`): NIfTI, .npy, WFDB, manifests,
configs, checkpoints, `score` inputs and `data convert` sources."""
from __future__ import annotations

import json
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from hostile_files import CASES, Case, case, inspect, png


# -- NIfTI and .npy ------------------------------------------------------------------------------
def nifti_header(shape, dtype=np.uint8, **fields):
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(dtype)
    hdr["vox_offset"] = 352
    for key, value in fields.items():
        hdr[key] = value
    return hdr.binaryblock + b"\0" * 4


def nifti(path: Path, data=None, **header) -> Path:
    import nibabel as nib

    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32) if data is None else data, np.eye(4))
    for key, value in header.items():
        img.header[key] = value
    img.to_filename(str(path))  # to_filename keeps the fields set above
    return path


@case
def nifti_gzip_bomb(d):
    """1024 × 1024 × 520 uint8 zeros: 545 MB of voxels, about 0.5 MB gzip'd."""
    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [z.compress(nifti_header((1024, 1024, 520)))] + [z.compress(bytes(1 << 20)) for _ in range(520)] + [z.flush()]
    (d / "bomb.nii.gz").write_bytes(b"".join(parts))
    return inspect(d / "bomb.nii.gz", needles=("voxels",))


@case
def nifti_claims_huge_dim(d):
    (d / "big.nii").write_bytes(nifti_header((30000, 30000, 30000)) + bytes(64))
    return inspect(d / "big.nii", needles=("voxels",))


@case
def nifti_4d_claims_many_volumes(d):
    (d / "t.nii").write_bytes(nifti_header((512, 512, 100, 30)) + bytes(64))
    return inspect(d / "t.nii", needles=("voxels",))


for _name, _pixdim in {"nan": [1, 1, 1, np.nan, 1, 1, 1, 1], "inf": [1, np.inf, 1, 1, 1, 1, 1, 1]}.items():
    def _pix(d, pixdim=_pixdim, name=_name):  # raw: nibabel's writer sets pixdim from the affine (and its reader
        # sets zero pixdims to 1, so only non-finite ones reach us)
        (d / f"p_{name}.nii").write_bytes(nifti_header((4, 4, 4), pixdim=pixdim) + bytes(64))
        return inspect(d / f"p_{name}.nii", needles=("pixdim",))
    CASES[f"nifti_pixdim_{_name}"] = _pix


@case
def nifti_nan_voxels(d):
    data = np.zeros((4, 4, 4), np.float32)
    data[1, 2, 3] = np.nan
    return inspect(nifti(d / "nan.nii", data), needles=("NaN",))


@case
def nifti_inf_voxels(d):
    return inspect(nifti(d / "inf.nii.gz", np.full((4, 4, 4), np.inf, np.float32)), needles=("infinite",))


@case
def nifti_truncated(d):
    path = nifti(d / "t.nii", np.zeros((16, 16, 16), np.float32))
    path.write_bytes(path.read_bytes()[:600])
    return inspect(path, needles=("NIfTI",))


@case
def npy_claims_huge_shape(d):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4000, 4000, 4000), }".ljust(117) + "\n"
    (d / "big.npy").write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(64))
    return inspect(d / "big.npy", needles=("voxels",))


# -- WFDB ----------------------------------------------------------------------------------------
def wfdb(d: Path, first_line: str, n_sig: int = 1, dat: bytes = bytes(40)) -> Path:
    lines = [first_line] + [f"rec.dat 16 200 16 0 0 0 0 lead{i}" for i in range(n_sig)]
    (d / "rec.hea").write_text("\n".join(lines) + "\n")
    if dat is not None:
        (d / "rec.dat").write_bytes(dat)
    return d / "rec.hea"


@case
def wfdb_claims_1e10_samples(d):
    return inspect(wfdb(d, "rec 1 500 10000000000"), needles=("sig_len",))


@case
def wfdb_claims_1000_leads(d):
    return inspect(wfdb(d, "rec 1000 500 10", n_sig=1000), needles=("n_sig",))


@case
def wfdb_rate_zero(d):
    return inspect(wfdb(d, "rec 1 0 10"), needles=("sampling frequency",))


@case
def wfdb_samples_over_flag(d):
    return inspect(wfdb(d, "rec 1 500 20"), "--max-samples", "10", needles=("sig_len",))


@case
def wfdb_dat_is_fifo(d):
    hea = wfdb(d, "rec 1 500 10", dat=None)
    os.mkfifo(d / "rec.dat")
    return Case(["data", "inspect", hea], ("rec.dat", "FIFO"))


# -- manifests (data validate) -------------------------------------------------------------------
def manifest(d: Path, *records) -> Path:
    (d / "m.jsonl").write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return d / "m.jsonl"


def _rec(image):
    return {"id": "a", "image": image, "conversations": [{"from": "human", "value": "<image>\nWhat?"},
                                                         {"from": "gpt", "value": "yes"}]}


@case
def manifest_deeply_nested_line(d):
    return Case(["data", "validate", manifest(d, "[" * 100000)], ("m.jsonl:1", "nested"), code=1, stream="stdout")


@case
def manifest_points_at_png_bomb(d):
    png(d / "bomb.png", 30000, 30000)
    return Case(["data", "validate", manifest(d, _rec("bomb.png"))], ("m.jsonl:1", "bomb.png", "pixels"), code=1,
                stream="stdout")


@case
def manifest_points_at_fifo(d):
    os.mkfifo(d / "p.png")
    return Case(["data", "validate", manifest(d, _rec("p.png"))], ("m.jsonl:1", "p.png", "FIFO"), code=1, stream="stdout")


@case
def manifest_is_fifo(d):
    os.mkfifo(d / "m.jsonl")
    return Case(["data", "validate", d / "m.jsonl"], ("m.jsonl", "regular file"))


@case
def manifest_validate_flag_limit(d):
    png(d / "s.png", 64, 64)
    return Case(["data", "validate", manifest(d, _rec("s.png")), "--max-pixels", "100"], ("m.jsonl:1", "s.png", "pixels"),
                code=1, stream="stdout")


# -- configs (train) -----------------------------------------------------------------------------
@case
def config_latin1(d):
    (d / "c.yaml").write_bytes("model:\n  name: caf\xe9\n".encode("latin-1"))
    return Case(["train", d / "c.yaml"], (str(d / "c.yaml"), "UTF-8"))


@case
def config_override_broken_yaml(d):
    (d / "c.yaml").write_text("{}\n")
    return Case(["train", d / "c.yaml", "data.train=[1,2"], ("data.train", "YAML"))


@case
def config_deeply_nested(d):
    (d / "c.yaml").write_text("[" * 20000)
    return Case(["train", d / "c.yaml"], (str(d / "c.yaml"), "YAML"))


@case
def config_is_fifo(d):
    os.mkfifo(d / "c.yaml")
    return Case(["train", d / "c.yaml"], (str(d / "c.yaml"), "regular file"))


# -- checkpoints (chat) --------------------------------------------------------------------------
def safetensors_bytes(n_floats: int = 1, truncate: int = 0) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}}).encode()
    data = struct.pack("<Q", len(header)) + header + bytes(4 * n_floats)
    return data[: len(data) - truncate]


def model_folder(d: Path, weights: bytes | None = safetensors_bytes(), processor: str | None = "{}") -> Path:
    folder = d / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "medmllm"}))
    if weights is not None:
        (folder / "model.safetensors").write_bytes(weights)
    if processor is not None:
        (folder / "processor_config.json").write_text(processor)
    return folder


def chat(folder: Path, *needles) -> Case:
    return Case(["chat", "--model", folder, "hi"], needles)


class _Trap:
    """Unpickling this creates a file: the test checks it never exists."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@case
def checkpoint_pickle_only(d):
    folder = model_folder(d, weights=None)
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Trap(d / "UNPICKLED")))
    return chat(folder, "pytorch_model.bin", "pickle")


@case
def checkpoint_garbage_safetensors(d):
    return chat(model_folder(d, weights=os.urandom(300)), "model.safetensors")


@case
def checkpoint_truncated_safetensors(d):
    return chat(model_folder(d, weights=safetensors_bytes(1000, truncate=100)), "model.safetensors")


@case
def checkpoint_no_weights(d):
    return chat(model_folder(d, weights=None), "no model.safetensors")


for _name, _text in {"not_json": "{not json", "unknown_key": '{"colour_space": 1}', "a_list": "[1, 2]",
                     "deeply_nested": "[" * 100000, "latin1": '{"x": "caf\xe9"}'}.items():
    def _proc(d, text=_text):
        folder = model_folder(d, processor=None)
        (folder / "processor_config.json").write_bytes(text.encode("latin-1"))
        return chat(folder, "processor_config.json")
    CASES[f"processor_config_{_name}"] = _proc


# -- score ---------------------------------------------------------------------------------------
def predictions(d: Path, *lines) -> Path:
    (d / "p.jsonl").write_text("".join(line + "\n" for line in lines))
    return d / "p.jsonl"


def _pred(id, pred="yes", ref="yes"):
    return json.dumps({"id": id, "pred": pred, "ref": ref})


@case
def score_100k_word_prediction(d):
    return Case(["score", "report", predictions(d, _pred(1, "effusion " * 100000))], ("p.jsonl:1", "'pred'", "characters"))


@case
def score_duplicate_ids(d):
    return Case(["score", "report", predictions(d, _pred("x"), _pred("y"), _pred("x"))], ("p.jsonl:3", '"x"', "duplicate"))


@case
def score_deeply_nested(d):
    return Case(["score", "report", predictions(d, "[" * 100000)], ("p.jsonl:1", "nested"))


@case
def score_nan_prediction(d):
    return Case(["score", "report", predictions(d, '{"id": 1, "pred": NaN, "ref": "x"}')], ("p.jsonl:1", "'pred'"))


@case
def score_latin1(d):
    (d / "p.jsonl").write_bytes('{"id": 1, "pred": "caf\xe9", "ref": "x"}\n'.encode("latin-1"))
    return Case(["score", "report", d / "p.jsonl"], ("p.jsonl", "UTF-8"))


@case
def score_fifo(d):
    os.mkfifo(d / "p.jsonl")
    return Case(["score", "vqa", d / "p.jsonl"], ("p.jsonl", "regular file"))


@case
def score_long_reference_list(d):
    return Case(["score", "report", predictions(d, json.dumps({"id": 1, "pred": "a", "ref": ["b", "c" * 200001]}))],
                ("p.jsonl:1", "'ref'"))


# -- data convert --------------------------------------------------------------------------------
def llava(d: Path, image: str) -> Path:
    rec = {"id": "r1", "image": image, "conversations": [{"from": "human", "value": "<image>\nWhat?"},
                                                         {"from": "gpt", "value": "A film."}]}
    (d / "src").mkdir()
    (d / "src" / "llava_med_instruct_10k.json").write_text(json.dumps([rec]))
    return d / "src" / "llava_med_instruct_10k.json"


def convert(src: Path, out: Path, *needles) -> Case:
    return Case(["data", "convert", "--format", "llava-med", src, out], needles)


@case
def convert_path_escape(d):
    escape = os.path.relpath("/etc/passwd", d / "src")  # ../../../../etc/passwd, as deep as needed to exist
    return convert(llava(d, escape), d / "new" / "sub" / "m.jsonl", "etc/passwd", "outside")


@case
def convert_absolute_path(d):
    return convert(llava(d, "/etc/hostname"), d / "out" / "m.jsonl", "etc/hostname", "outside")


@case
def convert_output_is_folder(d):
    (d / "m.jsonl").mkdir()
    return convert(llava(d, "a.png"), d / "m.jsonl", "m.jsonl", "folder")


@case
def label_output_is_folder(d):
    (d / "r.jsonl").write_text(json.dumps({"id": 1, "text": "No effusion."}) + "\n")
    (d / "out").mkdir()
    return Case(["label", d / "r.jsonl", "--out", d / "out"], (str(d / "out"), "folder"))
