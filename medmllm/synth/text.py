"""Report text for MedSynth cases (phrasing pools) and the per-case text bundle.

Reports have ``FINDINGS:`` and ``IMPRESSION:`` sections (x-ray, CT) or the
``Rhythm: ... Rate: ... bpm. Interpretation: ...`` form (ECG).  Questions and
rationales live in :mod:`.questions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .questions import QA, case_questions, largest, listing, pick, xray_abnormalities

Findings = dict[str, Any]

REPORT_PROMPTS = {
    "xray": ("Write the radiology report for this chest X-ray.", "Describe the findings in this chest radiograph.",
             "Generate a report for this PA chest X-ray.", "Provide a radiology report with findings and impression."),
    "ct": ("Write the radiology report for this abdominal CT.", "Describe the findings in this CT volume.",
           "Generate a report for this abdominal CT scan.", "Provide a radiology report with findings and impression."),
    "ecg": ("Interpret this 12-lead ECG.", "Write the ECG report for this recording.",
            "Provide an interpretation of this electrocardiogram.", "Describe the rhythm and rate of this ECG."),
}


@dataclass(frozen=True)
class CaseText:
    """Report prompt, report and all questions of one case."""

    report_prompt: str
    report: str
    questions: list[QA]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- x-ray
def _xray_nodules(f: Findings, rng: np.random.Generator) -> str:
    if not f["nodules"]:
        return pick(rng, ("No focal pulmonary nodule or mass.", "The lungs are clear without focal nodules.",
                          "No pulmonary nodules are seen."))
    if f["n_nodules"] == 1:
        n = f["nodules"][0]
        return pick(rng, (f"There is a {n['size_mm']} mm pulmonary nodule in the {n['zone']}.",
                          f"A solitary {n['size_mm']} mm nodule is seen in the {n['zone']}.",
                          f"A well-defined {n['size_mm']} mm nodule projects over the {n['zone']}."))
    k, lst = f["n_nodules"], listing(f["nodules"], "zone")
    return pick(rng, (f"There are {k} pulmonary nodules: {lst}.",
                      f"{_cap(str(k))} well-defined nodules are seen: {lst}.",
                      f"Multiple ({k}) pulmonary nodules are present, measuring {lst}."))


def _xray_pleura(f: Findings, rng: np.random.Generator) -> list[str]:
    s = f["effusion_side"]
    eff = pick(rng, (
        f"There is a {s} pleural effusion with a meniscus at the {s} lung base and blunting of the {s} "
        "costophrenic angle.",
        f"A {s}-sided pleural effusion opacifies the {s} lung base and blunts the costophrenic angle.",
        f"Dense opacity with a meniscus at the {s} base, consistent with a {s} pleural effusion.",
    )) if s else pick(rng, ("No pleural effusion.", "The costophrenic angles are sharp; there is no pleural effusion.",
                            "There is no pleural fluid."))
    p = f["pneumothorax_side"]
    ptx = pick(rng, (
        f"There is a {p} pneumothorax with a visible pleural line and absent lung markings peripherally.",
        f"A {p} pneumothorax is present: the visceral pleural line is displaced and the {p} apex and lateral "
        "hemithorax are lucent without lung markings.",
        f"Lucent {p} apical and lateral pleural space without lung markings, consistent with a {p} pneumothorax.",
    )) if p else pick(rng, ("No pneumothorax.", "There is no pneumothorax.", "No evidence of pneumothorax."))
    return [eff, ptx]


def _xray_heart(f: Findings, rng: np.random.Generator) -> str:
    c = f"{f['ctr']:.2f}"
    if f["cardiomegaly"]:
        return pick(rng, (f"The cardiac silhouette is enlarged, with a cardiothoracic ratio of {c}.",
                          f"There is cardiomegaly (cardiothoracic ratio {c}).",
                          f"The heart is enlarged; the cardiothoracic ratio measures {c}."))
    return pick(rng, (f"The cardiac silhouette is normal in size (cardiothoracic ratio {c}).",
                      f"Heart size is within normal limits, with a cardiothoracic ratio of {c}.",
                      f"No cardiomegaly; the cardiothoracic ratio measures {c}."))


def _xray_impression(f: Findings, rng: np.random.Generator) -> str:
    found = xray_abnormalities(f)
    if not found:
        return pick(rng, ("No acute cardiopulmonary abnormality.", "Normal chest radiograph.",
                          "No acute cardiopulmonary process."))
    items = []
    for name in found:
        if name == "pneumothorax":
            s = f["pneumothorax_side"]
            items.append(pick(rng, (f"{_cap(s)} pneumothorax.", f"Pneumothorax on the {s}.",
                                    f"{_cap(s)}-sided pneumothorax.")))
        elif name == "pleural effusion":
            s = f["effusion_side"]
            items.append(pick(rng, (f"{_cap(s)} pleural effusion.", f"Pleural effusion on the {s}.",
                                    f"{_cap(s)}-sided pleural effusion.")))
        elif name == "pulmonary nodule":
            big, k = largest(f["nodules"]), f["n_nodules"]
            noun = "pulmonary nodule" if k == 1 else "pulmonary nodules"
            items.append(pick(rng, (f"{k} {noun}, the largest {big['size_mm']} mm in the {big['zone']}.",
                                    f"{_cap(noun)} ({k}); largest {big['size_mm']} mm, {big['zone']}.",
                                    f"{k} {noun} (largest: {big['size_mm']} mm, {big['zone']}); CT recommended.")))
        else:
            items.append(pick(rng, ("Cardiomegaly.", f"Enlarged cardiac silhouette (CTR {f['ctr']:.2f}).",
                                    f"Cardiomegaly with a cardiothoracic ratio of {f['ctr']:.2f}.")))
    return items[0] if len(items) == 1 else " ".join(f"{i}. {t}" for i, t in enumerate(items, 1))


def xray_report(f: Findings, rng: np.random.Generator) -> str:
    """Chest radiograph report."""
    lines = [_xray_nodules(f, rng), *_xray_pleura(f, rng), _xray_heart(f, rng),
             pick(rng, ("The mediastinal contours are unremarkable.",
                        "Mediastinal and hilar contours are within normal limits.", "The mediastinum is not widened.")),
             pick(rng, ("The visualized osseous structures are unremarkable.", "No acute osseous abnormality.",
                        "The bony thorax is intact."))]
    return f"FINDINGS: {' '.join(lines)}\nIMPRESSION: {_xray_impression(f, rng)}"


# --------------------------------------------------------------------------- CT
def _ct_organ_lines(f: Findings, rng: np.random.Generator) -> list[str]:
    organ, lesions = f["lesion_organ"], f["lesions"]
    liver = pick(rng, ("The liver is normal in size and attenuation without focal lesion.",
                       "Homogeneous hepatic parenchyma; no focal liver lesion.",
                       "No focal hepatic lesion is identified."))
    kidneys = pick(rng, ("Both kidneys enhance symmetrically without focal lesion.", "The kidneys are unremarkable.",
                         "No renal lesion is seen."))
    if lesions:
        where = organ
        if len(lesions) == 1:
            les = lesions[0]
            text = pick(rng, (f"There is a {les['size_mm']} mm hypodense lesion in the {les['location']}.",
                              f"A {les['size_mm']} mm low-attenuation lesion is seen in the {les['location']}.",
                              f"A hypoattenuating lesion measuring {les['size_mm']} mm is present in the "
                              f"{les['location']}."))
        else:
            lst, k = listing(lesions, "location" if organ == "liver" else "organ"), len(lesions)
            lst = lst.replace(f" in the {organ}", "") if organ != "liver" else lst
            text = pick(rng, (f"There are {k} hypodense lesions in the {where}: {lst}.",
                              f"{_cap(str(k))} low-attenuation lesions are seen in the {where}, measuring {lst}.",
                              f"Multiple ({k}) hypoattenuating lesions in the {where}: {lst}."))
        if organ == "liver":
            liver = text
        else:
            other = "right" if organ == "left kidney" else "left"
            kidneys = f"{text} The {other} kidney is unremarkable."
    spleen = pick(rng, ("The spleen is unremarkable.", "Normal spleen.", "The spleen is normal in size."))
    rest = pick(rng, ("The abdominal aorta is normal in caliber. No aggressive osseous lesion.",
                      "Normal caliber aorta and IVC. The visualized spine is unremarkable.",
                      "Vessels are patent and of normal caliber. No destructive bone lesion."))
    return [f"Liver: {liver}", f"Spleen: {spleen}", f"Kidneys: {kidneys}", f"Other: {rest}"]


def ct_report(f: Findings, rng: np.random.Generator) -> str:
    """Abdominal CT report."""
    if f["normal"]:
        impression = pick(rng, ("No focal abnormality of the liver, spleen or kidneys.", "Normal abdominal CT.",
                                "No focal hepatic or renal lesion."))
    else:
        big, k, where = largest(f["lesions"]), f["n_lesions"], f["lesion_organ"]
        noun = "lesion" if k == 1 else "lesions"
        loc = f" in the {big['location']}" if where == "liver" else ""
        impression = pick(rng, (
            f"{big['size_mm']} mm hypodense lesion in the {big['location']}.",
            f"Solitary hypodense lesion in the {big['location']} ({big['size_mm']} mm).",
            f"{big['size_mm']} mm low-attenuation lesion in the {big['location']}; further characterization "
            "recommended.")) if k == 1 else pick(rng, (
            f"{k} hypodense {noun} in the {where}, the largest {big['size_mm']} mm{loc}.",
            f"Hypodense {where} {noun} ({k}); largest {big['size_mm']} mm{loc}.",
            f"{_cap(where)}: {k} low-attenuation {noun}, largest {big['size_mm']} mm{loc}; "
            "further characterization recommended."))
    return "FINDINGS: " + " ".join(_ct_organ_lines(f, rng)) + f"\nIMPRESSION: {impression}"


# --------------------------------------------------------------------------- ECG
_ECG_RHYTHM_TEXT = {
    "normal sinus rhythm": ("Sinus rhythm with a P wave before every QRS complex and regular RR intervals",
                            "Regular sinus rhythm, normal P waves", "Sinus rhythm, regular"),
    "sinus bradycardia": ("Sinus bradycardia with a P wave before every QRS complex", "Regular sinus rhythm, slow rate",
                          "Sinus rhythm below 60 bpm, regular"),
    "sinus tachycardia": ("Sinus tachycardia with a P wave before every QRS complex", "Regular sinus rhythm, fast rate",
                          "Sinus rhythm above 100 bpm, regular"),
    "atrial fibrillation": ("Irregularly irregular rhythm without discernible P waves; fibrillatory baseline",
                            "Atrial fibrillation: no P waves, irregular RR intervals",
                            "Irregularly irregular ventricular response with fibrillatory waves"),
}
_ECG_INTERPRETATION = {
    "normal sinus rhythm": ("Normal sinus rhythm.", "Normal sinus rhythm; normal ECG.",
                            "Sinus rhythm within normal limits."),
    "sinus bradycardia": ("Sinus bradycardia.", "Sinus bradycardia; otherwise unremarkable.",
                          "Bradycardia of sinus origin."),
    "sinus tachycardia": ("Sinus tachycardia.", "Sinus tachycardia; otherwise unremarkable.",
                          "Tachycardia of sinus origin."),
    "atrial fibrillation": ("Atrial fibrillation.", "Atrial fibrillation with {resp} ventricular response.",
                            "Atrial fibrillation ({resp} ventricular rate)."),
}


def ecg_report(f: Findings, rng: np.random.Generator) -> str:
    """ECG interpretation: ``Rhythm: ... Rate: ... bpm. Interpretation: ...``."""
    rhythm, hr = f["rhythm"], f["heart_rate_bpm"]
    resp = "rapid" if hr > 100 else "controlled"
    interp = pick(rng, _ECG_INTERPRETATION[rhythm]).format(resp=resp)
    rr = pick(rng, (f" Mean RR interval {f['mean_rr_ms']} ms.", f" Average RR {f['mean_rr_ms']} ms.", ""))
    return f"Rhythm: {pick(rng, _ECG_RHYTHM_TEXT[rhythm])}. Rate: {hr} bpm.{rr} Interpretation: {interp}"


_REPORTERS = {"xray": xray_report, "ct": ct_report, "ecg": ecg_report}


def case_text(modality: str, f: Findings, rng: np.random.Generator) -> CaseText:
    """Build the report prompt, report and questions for one case."""
    if modality not in _REPORTERS:
        raise ValueError(f"unknown modality {modality!r}")
    prompt = pick(rng, REPORT_PROMPTS[modality])
    report = _REPORTERS[modality](f, rng)
    return CaseText(prompt, report, case_questions(modality, f, rng))
