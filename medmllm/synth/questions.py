"""Closed/open VQA questions and multi-step reasoning questions (with rationales) per case.

Every question template has 2-3 phrasings chosen at random; closed answers are exactly
``yes``/``no``.  Numbers in rationales come from the stored findings, so they are
consistent with the image/volume/signal geometry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Findings = dict[str, Any]


@dataclass(frozen=True)
class QA:
    """One question with its answer (and rationale for reasoning questions)."""

    task: str  # "vqa" or "reason"
    question_type: str
    question: str
    answer: str
    answer_type: str  # "CLOSED" or "OPEN"
    rationale: str | None = None


def pick(rng: np.random.Generator, pool: Sequence[str]) -> str:
    """Choose one phrasing from a pool."""
    return pool[int(rng.integers(len(pool)))]


def yn(flag: bool) -> str:
    """Map a boolean to the exact closed answer text."""
    return "yes" if flag else "no"


def _closed(rng: np.random.Generator, qtype: str, pool: Sequence[str], flag: bool) -> QA:
    return QA("vqa", qtype, pick(rng, pool), yn(flag), "CLOSED")


def _open(rng: np.random.Generator, qtype: str, pool: Sequence[str], answer: str) -> QA:
    return QA("vqa", qtype, pick(rng, pool), answer, "OPEN")


def _reason(rng: np.random.Generator, qtype: str, pool: Sequence[str], rationale: str, answer: str,
            answer_type: str = "CLOSED") -> QA:
    return QA("reason", qtype, pick(rng, pool), answer, answer_type, rationale)


# --------------------------------------------------------------------------- x-ray
XRAY_MAIN_ORDER = ("pneumothorax", "pleural effusion", "pulmonary nodule", "cardiomegaly")


def xray_abnormalities(f: Findings) -> list[str]:
    """Abnormal findings present, in priority order (pneumothorax first)."""
    present = {"pneumothorax": f["pneumothorax"], "pleural effusion": f["effusion"],
               "pulmonary nodule": f["n_nodules"] > 0, "cardiomegaly": f["cardiomegaly"]}
    return [name for name in XRAY_MAIN_ORDER if present[name]]


def listing(items: list[dict[str, Any]], where: str) -> str:
    """Sizes with locations, largest first: '18 mm in the left upper zone, 12 mm in the ...'.

    When all items share one location it is named once: '30 mm, 20 mm and 14 mm in the right kidney'.
    """
    ordered = sorted(items, key=lambda it: -it["size_mm"])
    if len(ordered) > 1 and len({it[where] for it in ordered}) == 1:
        sizes = [f"{it['size_mm']} mm" for it in ordered]
        return f"{', '.join(sizes[:-1])} and {sizes[-1]} in the {ordered[0][where]}"
    return ", ".join(f"{it['size_mm']} mm in the {it[where]}" for it in ordered)


def largest(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The item with the largest ``size_mm`` (sizes are distinct within a case)."""
    return max(items, key=lambda it: it["size_mm"])


_XRAY_CLOSED: dict[str, tuple[str, ...]] = {
    "cardiomegaly": ("Is there cardiomegaly?", "Is the heart enlarged?", "Does this chest X-ray show cardiomegaly?"),
    "effusion": ("Is there a pleural effusion?", "Is any pleural effusion present?",
                 "Does the radiograph show a pleural effusion?"),
    "effusion_left": ("Is there a left pleural effusion?", "Is a pleural effusion present on the left side?",
                      "Does the left hemithorax contain a pleural effusion?"),
    "effusion_right": ("Is there a right pleural effusion?", "Is a pleural effusion present on the right side?",
                       "Does the right hemithorax contain a pleural effusion?"),
    "nodule": ("Is there a pulmonary nodule?", "Are any lung nodules visible?",
               "Does this image show a pulmonary nodule?"),
    "multiple_nodules": ("Is there more than one pulmonary nodule?", "Are multiple lung nodules present?",
                         "Does the image show two or more pulmonary nodules?"),
    "nodule_left": ("Is there a nodule in the left lung?", "Does the left lung contain a nodule?",
                    "Is a pulmonary nodule present on the left?"),
    "nodule_right": ("Is there a nodule in the right lung?", "Does the right lung contain a nodule?",
                     "Is a pulmonary nodule present on the right?"),
    "pneumothorax": ("Is there a pneumothorax?", "Is a pneumothorax present?",
                     "Does this chest X-ray show a pneumothorax?"),
    "pneumothorax_left": ("Is there a left pneumothorax?", "Is a pneumothorax present on the left side?",
                          "Does the left hemithorax show a pneumothorax?"),
    "pneumothorax_right": ("Is there a right pneumothorax?", "Is a pneumothorax present on the right side?",
                           "Does the right hemithorax show a pneumothorax?"),
    "normal": ("Is this chest X-ray normal?", "Is the study normal?", "Is this a normal chest radiograph?"),
}


def _xray_closed(f: Findings, rng: np.random.Generator) -> list[QA]:
    sides = [n["side"] for n in f["nodules"]]
    truth = {
        "cardiomegaly": f["cardiomegaly"], "effusion": f["effusion"],
        "effusion_left": f["effusion_side"] == "left", "effusion_right": f["effusion_side"] == "right",
        "nodule": f["n_nodules"] > 0, "multiple_nodules": f["n_nodules"] > 1,
        "nodule_left": "left" in sides, "nodule_right": "right" in sides, "pneumothorax": f["pneumothorax"],
        "pneumothorax_left": f["pneumothorax_side"] == "left", "pneumothorax_right": f["pneumothorax_side"] == "right",
        "normal": f["normal"],
    }
    return [_closed(rng, q, _XRAY_CLOSED[q], truth[q]) for q in _XRAY_CLOSED]


def _xray_open(f: Findings, rng: np.random.Generator) -> list[QA]:
    out: list[QA] = []
    if f["effusion"]:
        out.append(_open(rng, "effusion_side", ("On which side is the pleural effusion?",
                                                "Which side is the pleural effusion on?",
                                                "Is the pleural effusion on the left or the right?"),
                         f["effusion_side"]))
    if f["pneumothorax"]:
        out.append(_open(rng, "pneumothorax_side", ("On which side is the pneumothorax?",
                                                    "Which side is the pneumothorax on?",
                                                    "Is the pneumothorax on the left or the right?"),
                         f["pneumothorax_side"]))
    out.append(_open(rng, "nodule_count", ("How many pulmonary nodules are visible?",
                                           "How many lung nodules are there?",
                                           "What is the number of pulmonary nodules?"), str(f["n_nodules"])))
    if f["nodules"]:
        big = largest(f["nodules"])
        out.append(_open(rng, "nodule_zone", ("In which zone is the largest nodule?",
                                              "Where is the largest pulmonary nodule located?",
                                              "Which lung zone contains the largest nodule?"), big["zone"]))
        out.append(_open(rng, "nodule_size", ("What is the size of the largest nodule?",
                                              "How large is the largest pulmonary nodule?",
                                              "What does the largest nodule measure?"), f"{big['size_mm']} mm"))
    found = xray_abnormalities(f)
    if len(found) <= 1:
        out.append(_open(rng, "main_finding", ("What is the main finding?",
                                               "What is the main finding on this chest X-ray?",
                                               "Summarize the key finding in a few words."),
                         found[0] if found else "normal"))
    else:
        out.append(_open(rng, "findings_list", ("Which abnormalities are present?", "List the abnormal findings.",
                                                "What are the abnormal findings?"), ", ".join(found)))
    return out


def _xray_reason(f: Findings, rng: np.random.Generator) -> list[QA]:
    h, t, ctr = f["heart_width_cm"], f["thorax_width_cm"], f["ctr"]
    above = ctr > 0.5
    ctr_text = pick(rng, (
        f"The cardiac silhouette measures {h} cm and the internal thoracic diameter {t} cm, "
        f"so the cardiothoracic ratio is {h} / {t} = {ctr:.2f}",
        f"The maximal transverse cardiac diameter is {h} cm and the maximal internal thoracic width is {t} cm; "
        f"the cardiothoracic ratio is therefore {h} / {t} = {ctr:.2f}",
        f"Heart width {h} cm divided by thoracic width {t} cm gives a cardiothoracic ratio of {ctr:.2f}"))
    out = [
        _reason(rng, "ctr_above_0.5", ("Is the cardiothoracic ratio above 0.5?",
                                       "Is the cardiothoracic ratio greater than 0.5?",
                                       "Does the cardiothoracic ratio exceed 0.5?"),
                f"{ctr_text}, which is {'above' if above else 'not above'} 0.5"
                f"{', so the heart is enlarged' if above else ', so heart size is normal'}.", yn(above)),
        _reason(rng, "ctr_value", ("What is the cardiothoracic ratio?", "Calculate the cardiothoracic ratio.",
                                   "Measure the cardiothoracic ratio of this radiograph."),
                f"{ctr_text}.", f"{ctr:.2f}", "OPEN"),
    ]
    if not f["nodules"]:
        return out
    lst = listing(f["nodules"], "zone")
    count = f"There is one nodule ({lst})" if f["n_nodules"] == 1 else f"There are {f['n_nodules']} nodules ({lst})"
    big = largest(f["nodules"])["size_mm"]
    which = "It" if f["n_nodules"] == 1 else "The largest"
    out.append(_reason(rng, "nodule_gt_20mm", ("Is the largest nodule larger than 20 mm?",
                                               "Does the largest pulmonary nodule exceed 2 cm?",
                                               "Is the biggest nodule larger than 20 mm?"),
                       f"{count}. {which} measures {big} mm, which is "
                       f"{'larger' if big > 20 else 'not larger'} than 20 mm.", yn(big > 20)))
    n_left = sum(n["side"] == "left" for n in f["nodules"])
    n_right = f["n_nodules"] - n_left
    relation = "more than" if n_left > n_right else ("the same as" if n_left == n_right else "fewer than")
    out.append(_reason(rng, "nodules_left_gt_right", ("Are there more nodules in the left lung than in the right?",
                                                      "Does the left lung contain more nodules than the right lung?"),
                       f"{count}. The left lung has {n_left} and the right lung {n_right}; {n_left} is {relation} "
                       f"{n_right}.", yn(n_left > n_right)))
    return out


# --------------------------------------------------------------------------- CT
def _ct_questions(f: Findings, rng: np.random.Generator) -> list[QA]:
    organ = f["lesion_organ"] or ""
    out = [
        _closed(rng, "liver_lesion", ("Is there a lesion in the liver?", "Does the liver contain a focal lesion?",
                                      "Is a hepatic lesion present?"), organ == "liver"),
        _closed(rng, "kidney_lesion", ("Is there a lesion in a kidney?", "Does either kidney contain a lesion?",
                                       "Is a renal lesion present?"), organ.endswith("kidney")),
        _closed(rng, "multiple_lesions", ("Is there more than one lesion?", "Are multiple lesions present?",
                                          "Does the scan show two or more lesions?"), f["n_lesions"] > 1),
        _closed(rng, "normal", ("Is this scan normal?", "Is the CT normal?", "Is this abdominal CT free of lesions?"),
                f["normal"]),
        _open(rng, "lesion_count", ("How many lesions are there?", "How many focal lesions are visible?",
                                    "What is the number of lesions?"), str(f["n_lesions"])),
    ]
    if f["lesions"]:
        big = largest(f["lesions"])
        where = ("Where is the lesion located?", "In which organ is the lesion?", "Where is the lesion?") \
            if f["n_lesions"] == 1 else ("Where is the largest lesion located?", "Where is the largest lesion?")
        out.append(_open(rng, "lesion_location", where, big["location"]))
        out.append(_open(rng, "lesion_size", ("What is the size of the largest lesion?",
                                              "How large is the largest lesion?",
                                              "What does the largest lesion measure?"), f"{big['size_mm']} mm"))
    return out + _ct_reason(f, rng)


def _ct_reason(f: Findings, rng: np.random.Generator) -> list[QA]:
    if not f["lesions"]:
        return []
    sizes = sorted((les["size_mm"] for les in f["lesions"]), reverse=True)
    lst = listing(f["lesions"], "location")
    intro = f"There is one lesion ({lst})" if len(sizes) == 1 else f"There are {len(sizes)} lesions ({lst})"
    big, total = sizes[0], sum(sizes)
    n_big = sum(s > 20 for s in sizes)
    which = "It" if len(sizes) == 1 else "The largest"
    if len(sizes) == 1:
        count_text = f"It is {'larger' if n_big else 'not larger'} than 20 mm, so the count is {n_big}."
    else:
        count_text = f"Of these, {n_big} {'is' if n_big == 1 else 'are'} larger than 20 mm."
    out = [
        _reason(rng, "lesion_gt_3cm", ("Is the largest lesion larger than 3 cm?",
                                       "Does the largest lesion exceed 3 cm?",
                                       "Is the biggest lesion larger than 30 mm?"),
                f"{intro}. {which} measures {big} mm = {big / 10:.1f} cm, which is "
                f"{'larger' if big > 30 else 'not larger'} than 3 cm.", yn(big > 30)),
        _reason(rng, "lesions_gt_2cm_count", ("How many lesions are larger than 2 cm?",
                                              "Count the lesions measuring more than 20 mm."),
                f"{intro}. {count_text}", str(n_big), "OPEN"),
    ]
    if len(sizes) > 1:
        out.append(_reason(
            rng, "lesion_sum_gt_5cm", ("Does the sum of the lesion diameters exceed 5 cm?",
                                       "Is the total diameter of all lesions more than 5 cm?"),
            f"{intro}. The diameters add up to {' + '.join(map(str, sizes))} = {total} mm = {total / 10:.1f} cm, "
            f"which {'exceeds' if total > 50 else 'does not exceed'} 5 cm.", yn(total > 50)))
    return out


# --------------------------------------------------------------------------- ECG
def _ecg_questions(f: Findings, rng: np.random.Generator) -> list[QA]:
    hr, rhythm = f["heart_rate_bpm"], f["rhythm"]
    return [
        _closed(rng, "atrial_fibrillation", ("Is there atrial fibrillation?", "Does this ECG show atrial fibrillation?",
                                             "Is the rhythm atrial fibrillation?"), rhythm == "atrial fibrillation"),
        _closed(rng, "regular", ("Is the rhythm regular?", "Are the RR intervals regular?",
                                 "Is this a regular rhythm?"), f["regular"]),
        _closed(rng, "hr_above_100", ("Is the heart rate above 100 bpm?",
                                      "Is the ventricular rate faster than 100 bpm?",
                                      "Is the heart rate greater than 100 beats per minute?"), hr > 100),
        _closed(rng, "hr_below_60", ("Is the heart rate below 60 bpm?", "Is the ventricular rate slower than 60 bpm?",
                                     "Is the heart rate less than 60 beats per minute?"), hr < 60),
        _closed(rng, "normal_sinus_rhythm", ("Is this normal sinus rhythm?", "Does the ECG show normal sinus rhythm?",
                                             "Is the rhythm normal sinus rhythm?"), rhythm == "normal sinus rhythm"),
        _open(rng, "rhythm", ("What is the rhythm?", "What rhythm does this ECG show?", "Identify the cardiac rhythm."),
              rhythm),
        _open(rng, "heart_rate", ("What is the heart rate?", "What is the ventricular rate?",
                                  "How fast is the heart rate?"), f"{hr} bpm"),
    ] + _ecg_reason(f, rng)


def _ecg_reason(f: Findings, rng: np.random.Generator) -> list[QA]:
    hr, rr, n = f["heart_rate_bpm"], f["mean_rr_ms"], f["n_beats"]
    intro = pick(rng, (f"There are {n} R peaks in the 10 s strip with a mean RR interval of {rr} ms",
                       f"The mean interval between the {n} detected R peaks is {rr} ms"))
    rate = f"{intro}, so the heart rate is 60000 / {rr} = {hr} bpm"
    return [
        _reason(rng, "rr_below_600ms", ("Is the mean RR interval shorter than 600 ms?",
                                        "Is the average RR interval below 600 ms?"),
                f"{intro}, which is {'shorter' if rr < 600 else 'not shorter'} than 600 ms.", yn(rr < 600)),
        _reason(rng, "tachycardia_criterion", ("Does this ECG meet the heart-rate criterion for tachycardia?",
                                               "Is the rate fast enough to be called tachycardia?"),
                f"{rate}. Tachycardia requires a rate above 100 bpm; {hr} bpm "
                f"{'meets' if hr > 100 else 'does not meet'} this criterion.", yn(hr > 100)),
        _reason(rng, "bradycardia_criterion", ("Does this ECG meet the heart-rate criterion for bradycardia?",
                                               "Is the rate slow enough to be called bradycardia?"),
                f"{rate}. Bradycardia requires a rate below 60 bpm; {hr} bpm "
                f"{'meets' if hr < 60 else 'does not meet'} this criterion.", yn(hr < 60)),
        _reason(rng, "rate_from_rr", ("Compute the heart rate from the RR interval.",
                                      "What is the heart rate derived from the mean RR interval?"),
                f"{rate}.", f"{hr} bpm", "OPEN"),
    ]


def case_questions(modality: str, f: Findings, rng: np.random.Generator) -> list[QA]:
    """All VQA and reasoning questions for one case (before balancing)."""
    if modality == "xray":
        return _xray_closed(f, rng) + _xray_open(f, rng) + _xray_reason(f, rng)
    if modality == "ct":
        return _ct_questions(f, rng)
    if modality == "ecg":
        return _ecg_questions(f, rng)
    raise ValueError(f"unknown modality {modality!r}")
