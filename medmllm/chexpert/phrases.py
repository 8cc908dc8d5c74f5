"""Mention and unmention phrases per observation, after stanfordmlgroup/chexpert-labeler.

The upstream lists (``phrases/mention/*.txt``, ``phrases/unmention/*.txt``) are plain regular
expressions matched against the lowercased sentence with ``re.finditer``, so ``"atelecta"``
matches inside ``"atelectasis"`` and ``"_"`` stands for a space (``"_mediastinum"`` keeps
``"pneumomediastinum"`` out).  A match is dropped when it overlaps a match of an unmention
phrase of the same observation.  Lists marked ``# added`` are ours: they remove substring
false positives that upstream has (``"tube"`` in ``"tuberculosis"``, ``" line "`` in
``"pleural line"``, ``"plate"`` in ``"plate-like atelectasis"``...).

The upstream phrase lists are from stanfordmlgroup/chexpert-labeler, MIT License,
Copyright (c) 2018 Stanford Machine Learning Group.
"""
from __future__ import annotations

NO_FINDING = "No Finding"
SUPPORT_DEVICES = "Support Devices"
CARDIOMEGALY = "Cardiomegaly"
ENLARGED_CM = "Enlarged Cardiomediastinum"

# The order of CheXbert and of this package's outputs (the original labeler's CSV has
# Lung Lesion before Lung Opacity).
OBSERVATIONS: tuple[str, ...] = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
    "Support Devices",
)
FIVE: tuple[str, ...] = ("Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Pleural Effusion")

# phrases/mention/*.txt ("No Finding" holds findings that rule a normal study out but are not
# one of the 13 observations; they are labeled, never reported).
MENTION: dict[str, list[str]] = {
    "No Finding": [
        "emphysema", "blunt", "density", "elevation", "eventration", "scoliosis", "degenera", "calcifi",
        "hyperinflation", "bronchospasm", "asthma", "hernia", "copd", "interstitial markings", "plaque",
        "osteophytosis", "aortic disease", "bronchiolitis", "airways disease", "thickening", "cephalization",
        "aspiration", "bullae", "hyperinflat", "contusion", "atherosclero", "osteopenia", "metastasis",
        "granuloma", "pneumomediastinum", "pneumoperitoneum", "osteodystrophy", "cuffing", "irregular lucency",
        "inflam", "fissure", "hypertension", "prominen", "kyphosis", "defib", "hyperexpansion", "bullet",
        "reticula", "thoracentesis", "bronchitis", "volume loss", "deformity", "hemorrhage", "hematoma",
        "radiopaque", "aerophagia", "arthropathy", "tracheostomy",
    ],
    "Enlarged Cardiomediastinum": [
        r"\bmediastinum",  # upstream "_mediastinum" (a leading space); \b also matches at the sentence start
        "cardiomediastinum", "contour", "mediastinal configuration", "mediastinal silhouette",
        "pericardial silhouette", "cardiac silhouette and vascularity",
    ],
    "Cardiomegaly": [
        "cardiomegaly", "the heart", "heart size", "cardiac enlargement", "cardiac size", "cardiac shadow",
        "cardiac contour", "cardiac silhouette", "enlarged heart",
    ],
    "Lung Opacity": [
        "opaci", "decreased translucency", "increased density", "airspace disease", "air-space disease",
        "air space disease", "infiltrate", "infiltration", "interstitial marking", "interstitial pattern",
        "interstitial lung", "reticular pattern", "reticular marking", "reticulation", "parenchymal scarring",
        "peribronchial thickening", "wall thickening", "scar",
    ],
    "Lung Lesion": [
        "mass", "nodular density", "nodular densities", "nodular opacity", "nodular opacities",
        "nodular opacification", "nodule", "lump", "cavitary lesion", "carcinoma", "neoplasm", "tumor",
    ],
    "Edema": [
        "edema", "heart failure", "chf", "vascular congestion", "pulmonary congestion", "indistinctness",
        "vascular prominence",
    ],
    "Consolidation": ["consolidat"],
    "Pneumonia": ["pneumonia", "infection", "infectious process", "infectious"],
    "Atelectasis": ["atelecta", "collapse"],
    "Pneumothorax": ["pneumothorax", "pneumothoraces"],
    "Pleural Effusion": ["pleural fluid", "effusion"],
    "Pleural Other": [
        "pleural thickening", "fibrosis", "fibrothorax", "pleural scar", "pleural parenchymal scar",
        "pleuro-parenchymal scar", "pleuro-pericardial scar",
    ],
    "Fracture": ["fracture"],
    "Support Devices": [
        "pacer", r"(?<![\w-])line\b", "lines", "picc", "tube", "valve", "catheter", "pacemaker", "hardware",
        "arthroplast", "marker", r"\bicd\b", "defib", "device", r"\bdrain\b", "plate", "screw", "cannula",
        "apparatus", "coil", "support", "equipment", "mediport",
    ],
}

UNMENTION: dict[str, list[str]] = {
    "Lung Opacity": ["pleural scar"],
    "Lung Lesion": ["calcified nodul", "massive", "massengale"],
    "Pleural Effusion": ["pericardial effusion"],
    "Enlarged Cardiomediastinum": [  # added (the positional unmentions of upstream are appended below)
        r"rib contour", r"contour (?:deformit|irregularit)", r"(?:hemi)?diaphragm\w* contour",
        r"contour of the (?:left |right )?(?:hemi)?diaphragm", r"(?:breast|soft tissue|skin) contour",
    ],
    "Support Devices": [  # added
        "tubercul", "tuberos", "tubular", r"plate[- ]?like", r"end[- ]?plate", "plateau",
        r"(pleural|septal|fissural|fissure|kerley b?|skin|azygoesophageal|paraspinal|paratracheal|junction|mach|"
        r"vertical|linear|horizontal|curvilinear|lung) lines?\b",
        r"lines? of", r"\bb lines?\b", "markers? of", "valvular",
        # "support" only as a device ("support devices", "life support"), not "supports the diagnosis"
        r"(?<!life )\bsupport(?:ive|s|ed|ing)?\b(?! (?:device|line|tube|apparatus|equipment|hardware|catheter)s?\b)",
    ],
}

# upstream Extractor.add_unmention_phrases: "over the heart", "in the left cardiac silhouette"...
_POSITIONAL = [a + b for a in ("over the", "overly the", "in the", "overlying the", "behind the")  # last 2 added
               for b in ("", " superior", " left", " right")]
UNMENTION["Cardiomegaly"] = [f"{p} {m.replace('the ', '')}" for p in _POSITIONAL for m in MENTION["Cardiomegaly"]
                             if m not in ("cardiomegaly", "cardiac enlargement")]
UNMENTION["Enlarged Cardiomediastinum"] += [f"{p} {m}".replace(r" \b", " ") for p in _POSITIONAL
                                            for m in MENTION["Enlarged Cardiomediastinum"]]

# Post-negation uncertainty rules of upstream that single out a phrase: these Edema mentions are
# uncertain unless negated.
ALWAYS_UNCERTAIN = {("Edema", p) for p in ("vascular congestion", "pulmonary congestion", "indistinctness",
                                           "vascular prominence")}
# upstream aggregate.py: a positive or uncertain "chf"/"heart failure" also adds Cardiomegaly -1.
HEART_FAILURE = ("heart failure", "chf")
# Mentions of a heart or mediastinal *structure* (not of an abnormality): upstream's post-negation
# uncertainty rules make these uncertain when stable/unchanged/similar to prior.
STRUCTURAL_EXCEPT = {"cardiomegaly", "cardiac enlargement", "enlarged heart"}
