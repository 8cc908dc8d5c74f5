"""MedSynth chest X-ray ground truth as CheXpert labels (what a correct labeler reads in its reports)."""
from __future__ import annotations

from typing import Any, Optional

from .phrases import OBSERVATIONS


def medsynth_labels(findings: dict[str, Any]) -> dict[str, Optional[int]]:
    """Map ``meta.findings`` of a MedSynth x-ray to the 14 CheXpert observations.

    Every MedSynth report (``medmllm/synth/text.py``) states each of its four findings,
    present or absent, and always describes the mediastinum; so:

    * Cardiomegaly, Pleural Effusion, Pneumothorax: 1 when present, else 0 (the report negates
      them: "No cardiomegaly", "heart size is within normal limits", "no pleural fluid", ...);
    * Lung Lesion: 1 when there are nodules, else 0 ("No focal pulmonary nodule or mass.");
    * Enlarged Cardiomediastinum: always 0 ("mediastinal contours are unremarkable", "the
      mediastinum is not widened": the phantom's mediastinum is never widened);
    * No Finding: 1 for a normal case, else None (as CheXpert: never 0);
    * everything else None: MedSynth simulates no parenchymal opacity, edema, consolidation,
      pneumonia, atelectasis, pleural thickening, fracture or device, and its bone sentences
      ("no acute osseous abnormality") name no CheXpert observation.  Note that CheXpert's
      phrase list counts "opaci" (as in "dense opacity ... consistent with a pleural effusion"
      or "the effusion opacifies the lung base") as Lung Opacity, so a faithful labeler disagrees
      with this None on those effusion phrasings.
    """
    labels: dict[str, Optional[int]] = dict.fromkeys(OBSERVATIONS)
    labels["Cardiomegaly"] = int(bool(findings.get("cardiomegaly")))
    labels["Pleural Effusion"] = int(bool(findings.get("effusion") or findings.get("effusion_side")))
    labels["Pneumothorax"] = int(bool(findings.get("pneumothorax") or findings.get("pneumothorax_side")))
    labels["Lung Lesion"] = int(bool(findings.get("nodules") or findings.get("nodule")))
    labels["Enlarged Cardiomediastinum"] = 0
    abnormal = any(labels[k] == 1 for k in ("Cardiomegaly", "Pleural Effusion", "Pneumothorax", "Lung Lesion"))
    labels["No Finding"] = None if abnormal else 1
    return labels
