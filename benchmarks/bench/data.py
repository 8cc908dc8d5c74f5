"""Data: decode + preprocess throughput of DICOM x-rays, NIfTI CT volumes and WFDB ECGs through
medmllm's readers and processor (`processor.load(modality, path)`), each against the few lines a
user would write with the format's own library; and start-up time (import + model load, a `medmllm
chat` one-shot), against `import torch` alone as the floor.

    .venv/bin/python benchmarks/bench/data.py --reps 3 --json /tmp/data.json [--data DIR]

Preprocessing is the demo model's (`_model.py`): x-ray to 1 x 96 x 96, CT to 1 x 32 x 64 x 64
(HU window -160..240), ECG to 12 leads x 5,000 samples at 500 Hz. The baselines produce tensors of
the same shapes and ranges but check nothing (medmllm validates headers, sizes and values, reorients
NIfTI to RAS and puts ECG leads in standard order).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _common import Figure, args, emit, interleave, synth_data, timed
from _model import demo_model
from torch.nn import functional as F

FILES = {"image": ("xray", "*.dcm", 24), "volume": ("ct", "*.nii.gz", 8), "ecg": ("ecg", "*.hea", 24)}
"""Modality -> (MedSynth folder, file pattern, files per repetition)."""


def files(data: Path, modality: str) -> list[Path]:
    folder, pattern, n = FILES[modality]
    found = sorted((data / folder).glob(pattern))[:n]
    return [p.with_suffix("") for p in found] if modality == "ecg" else found


def dicom_baseline(path: Path, size: int) -> torch.Tensor:
    """pydicom: pixels, modality LUT, the file's window (else its range), resize, normalise."""
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = pydicom.dcmread(path)
    arr = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype(np.float32)
    arr = (arr - arr.min()) / max(float(arr.max() - arr.min()), 1e-6)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        arr = 1.0 - arr
    t = F.interpolate(torch.from_numpy(arr)[None, None], size=(size, size), mode="bilinear", antialias=True)[0]
    return (t - 0.5) / 0.5


def nifti_baseline(path: Path, size: list[int], window: list[float]) -> torch.Tensor:
    """nibabel: canonical orientation, voxels as float32 (D, H, W), HU window to [0, 1], trilinear resize."""
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(str(path)))
    arr = np.asarray(img.dataobj, dtype=np.float32).transpose(2, 1, 0)
    arr = np.clip((arr - window[0]) / (window[1] - window[0]), 0.0, 1.0)
    return F.interpolate(torch.from_numpy(np.ascontiguousarray(arr))[None, None], size=tuple(size), mode="trilinear")[0]


def ecg_baseline(record: Path, samples: int) -> torch.Tensor:
    """wfdb.rdsamp: (samples, leads) in mV -> (leads, samples) float32, cropped or zero-padded."""
    import wfdb

    signal, _ = wfdb.rdsamp(str(record))
    t = torch.from_numpy(np.ascontiguousarray(signal.T, dtype=np.float32))[:, :samples]
    return F.pad(t, (0, samples - t.shape[1]))


def rate(fn, items: list[Path]):
    """A function returning items/s of `fn` over `items`."""
    def run() -> float:
        t = time.perf_counter()
        for item in items:
            fn(item)
        return len(items) / (time.perf_counter() - t)
    return run


def decode_figures(data: Path, model: Path, reps: int) -> list[Figure]:
    """Items/s, ours and the baseline interleaved, one figure per modality."""
    from medmllm.data.processor import MedMLLMProcessor

    proc = MedMLLMProcessor.from_pretrained(model)
    s = proc.settings
    base = {"image": lambda p: dicom_baseline(p, s.image_size),
            "volume": lambda p: nifti_baseline(p, s.volume_size, s.hu_window),
            "ecg": lambda p: ecg_baseline(p, s.ecg_samples)}
    named = {"image": ("DICOM x-ray", "pydicom.dcmread + LUTs + min-max + torch resize"),
             "volume": ("NIfTI CT volume", "nibabel (canonical) + HU window + torch trilinear resize"),
             "ecg": ("WFDB ECG", "wfdb.rdsamp + crop/pad")}
    figures = []
    for modality, (name, baseline) in named.items():
        items = files(data, modality)
        out = interleave({"ours": rate(lambda p, m=modality: proc.load(m, p), items),
                          "base": rate(base[modality], items)}, reps)
        shape = "x".join(str(d) for d in proc.load(modality, items[0]).shape)
        figures.append(Figure(f"{name} decode + preprocess", "items/s", out["ours"], out["base"], baseline,
                              note=f"{len(items)} files per repetition, to {shape}"))
    return figures


def startup_figures(data: Path, model: Path, reps: int) -> list[Figure]:
    """Seconds for fresh processes: import + load, a chat one-shot, and `import torch` (the floor)."""
    image = files(data, "image")[0]
    commands = {
        "load": [sys.executable, "-c", f"import medmllm; medmllm.load({str(model)!r})"],
        "chat": [sys.executable, "-m", "medmllm.cli", "chat", "--model", str(model), "--image", str(image),
                 "--max-new-tokens", "8", "Is there an effusion?"],
        "torch": [sys.executable, "-c", "import torch"],
    }
    out = interleave({k: timed(lambda c=c: subprocess.run(c, check=True, capture_output=True))
                      for k, c in commands.items()}, reps, warmup=0)  # the decode figures warmed the files
    return [
        Figure("start-up: import medmllm + load the demo model", "s", out["load"], higher_better=False,
               note="`python -c \"import medmllm; medmllm.load(DIR)\"`, a fresh process"),
        Figure("start-up: `medmllm chat` one-shot (DICOM x-ray, 8 tokens)", "s", out["chat"], higher_better=False,
               note="`python -m medmllm.cli chat --model DIR --image X.dcm --max-new-tokens 8 Q`"),
        Figure("start-up floor: `python -c \"import torch\"`", "s", out["torch"], higher_better=False,
               note="what any torch program pays before its own work"),
    ]


def main() -> None:
    a = args(__doc__)
    data = synth_data(a.data)
    model = demo_model(data)
    emit("data", decode_figures(data, model, a.reps) + startup_figures(data, model, a.reps), a.json)


if __name__ == "__main__":
    main()
