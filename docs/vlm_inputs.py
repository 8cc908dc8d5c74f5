"""Draws docs/vlm_inputs.png: what a 2D model receives for a MedSynth CT (its slices, in order, with
MedGemma 1.5's three windows as RGB) and a MedSynth ECG (the paper plot), with the default
`model.vlm_inputs`.

    .venv/bin/python docs/vlm_inputs.py
"""
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from medmllm.data import flat, io  # noqa: E402
from medmllm.data.preprocess import VLMInputs  # noqa: E402
from medmllm.synth import synthesize  # noqa: E402

policy = VLMInputs()
with tempfile.TemporaryDirectory() as tmp:
    synthesize(tmp, ["ct", "ecg"], n=10, seed=0)
    volume, _ = io.read_volume(Path(tmp) / "ct" / "ct-00000.nii.gz")
    images, idx = flat.slices(volume, policy.slices, policy.volume_windows, None, policy.plane)
    signal, rate, leads = io.read_ecg(Path(tmp) / "ecg" / "ecg-00000")
    paper = flat.ecg_paper(signal, rate, leads)

fig = plt.figure(figsize=(12, 7.2))
for k, (image, i) in enumerate(zip(images, idx)):
    ax = fig.add_axes([k / len(idx) + 0.003, 0.62, 1 / len(idx) - 0.006, 0.33])
    ax.imshow(image.transpose(1, 2, 0)), ax.set_axis_off()
    ax.set_title(f"Slice {k + 1} of {len(idx)}\n(index {i} of {volume.shape[0]})", fontsize=8)
ax = fig.add_axes([0.0, 0.0, 1.0, 0.57])
ax.imshow(paper), ax.set_axis_off()
ax.set_title("ECG as 12-lead paper: I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6, lead II rhythm strip; "
             "25 mm/s, 10 mm/mV", fontsize=9)
fig.savefig(Path(__file__).parent / "vlm_inputs.png", dpi=90)
