"""Abdominal CT phantoms: findings sampler, renderer and NIfTI writer.

Volumes are int16 Hounsfield units of shape (x, y, z) = (64, 64, 32) with voxel spacing
(6, 6, 8) mm and an RAS+ affine: index ``i`` increases toward the patient's RIGHT, ``j``
toward ANTERIOR, ``k`` toward SUPERIOR (``nibabel.aff2axcodes`` gives ('R', 'A', 'S')).
World coordinates (mm) are centred on the volume.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from ..files import atomic_write


SHAPE = (64, 64, 32)
SPACING = (6.0, 6.0, 8.0)
LESION_HU = 10.0
_AXES = [(np.arange(n, dtype=np.float32) - (n - 1) / 2) * s for n, s in zip(SHAPE, SPACING)]
_XS, _YS, _ZS = np.meshgrid(*_AXES, indexing="ij")
_VOXEL = min(SPACING)

Findings = dict[str, Any]
# organ name -> (HU, (cx, cy, cz) mm, (ax, ay, az) semi-axes mm); filled per case.
Organs = dict[str, tuple[float, list[float], list[float]]]
LOCATIONS = {"liver": ("right lobe of the liver", "left lobe of the liver"),
             "left kidney": ("left kidney",), "right kidney": ("right kidney",)}
_LOCATION_ORGAN = {"right lobe of the liver": "liver_right", "left lobe of the liver": "liver_left",
                   "left kidney": "kidney_left", "right kidney": "kidney_right"}


def affine() -> np.ndarray:
    """RAS+ voxel-to-world affine (mm) with the volume centred on the origin."""
    aff = np.diag([*SPACING, 1.0])
    aff[:3, 3] = [-(n - 1) / 2 * s for n, s in zip(SHAPE, SPACING)]
    return aff


def _ellipsoid_r(x: Any, y: Any, z: Any, centre: list[float], axes: list[float]) -> Any:
    """Normalised ellipsoid radius (<= 1 inside)."""
    return np.sqrt(sum(((c - m) / a) ** 2 for c, m, a in zip((x, y, z), centre, axes)))


def _sample_organs(rng: np.random.Generator) -> tuple[dict[str, float], Organs]:
    """Sample the body outline and the organ ellipsoids (all in mm)."""
    u = lambda lo, hi: round(float(rng.uniform(lo, hi)), 1)  # noqa: E731
    body = {"ax": u(140, 168), "ay": u(100, 122), "cx": u(-8, 8), "cy": u(-8, 4), "fat_mm": u(10, 24)}
    ax, ay, cx, cy = body["ax"], body["ay"], body["cx"], body["cy"]
    vb_y = cy - ay + u(38, 46)
    kz = u(-45, -25)
    organs: Organs = {
        "liver_right": (60.0, [cx + 0.48 * ax, cy + 0.08 * ay, u(25, 45)], [0.38 * ax, 0.52 * ay, u(80, 95)]),
        "liver_left": (60.0, [cx + 0.02 * ax, cy + 0.5 * ay, u(45, 65)], [0.28 * ax, 0.26 * ay, u(50, 60)]),
        "spleen": (50.0, [cx - 0.62 * ax, cy - 0.25 * ay, u(35, 55)], [0.2 * ax, 0.32 * ay, u(45, 60)]),
        "kidney_right": (150.0, [cx + 60, vb_y + 8, kz - 10], [25.0, 28.0, u(50, 58)]),
        "kidney_left": (150.0, [cx - 60, vb_y + 8, kz], [25.0, 28.0, u(50, 58)]),
        "aorta": (180.0, [cx - 12, vb_y + 30, 0.0], [11.0, 11.0, 400.0]),
        "ivc": (120.0, [cx + 22, vb_y + 28, 0.0], [10.0, 12.0, 400.0]),
        "vertebra": (700.0, [cx, vb_y, 0.0], [18.0, 16.0, 400.0]),
        "canal": (20.0, [cx, vb_y - 24, 0.0], [7.0, 7.0, 400.0]),
        "posterior_elements": (550.0, [cx, vb_y - 34, 0.0], [14.0, 9.0, 400.0]),
    }
    return body, organs


def _point_in(organs: Organs, name: str, p: np.ndarray, margin: float) -> bool:
    """True if every point of ``p`` (k, 3) lies inside organ ``name`` (scaled by ``margin``)."""
    _, c, a = organs[name]
    return bool((_ellipsoid_r(p[:, 0], p[:, 1], p[:, 2], c, a) <= margin).all())


def _place_lesion(rng: np.random.Generator, organs: Organs, location: str, size: int,
                  placed: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Rejection-sample a lesion centre fully inside its organ, not overlapping others."""
    name = _LOCATION_ORGAN[location]
    _, c, a = organs[name]
    r = size / 2.0
    offsets = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]) * r
    for _ in range(100):
        centre = np.array(c) + rng.uniform(-1, 1, 3) * np.array(a)
        pts = centre + offsets
        if not _point_in(organs, name, pts, 0.82):
            continue
        if name.startswith("liver") and any(_point_in(organs, k, pts[:1], 1.4) for k in ("kidney_right", "ivc")):
            continue
        if any(np.linalg.norm(centre - np.array(o["center_mm"])) < r + o["size_mm"] / 2 + 4 for o in placed):
            continue
        vox = [int(round((p - ax[0]) / s)) for p, ax, s in zip(centre, _AXES, SPACING)]
        return {"location": location, "organ": "liver" if name.startswith("liver") else location,
                "size_mm": int(size), "center_mm": [round(float(v), 1) for v in centre], "center_vox": vox}
    return None


def sample_findings(rng: np.random.Generator) -> Findings:
    """Sample one case: ~40% lesion-free, else 1-3 hypodense lesions in one organ."""
    body, organs = _sample_organs(rng)
    count = 0 if rng.random() < 0.4 else int(rng.choice([1, 2, 3], p=[0.45, 0.33, 0.22]))
    organ = str(rng.choice(list(LOCATIONS), p=[0.6, 0.2, 0.2])) if count else None
    lesions: list[dict[str, Any]] = []
    for _ in range(count):
        for _attempt in range(10):
            location = LOCATIONS[organ][0 if organ != "liver" or rng.random() < 0.7 else 1]
            hi = 40 if location == "right lobe of the liver" else 30
            sizes_used = {les["size_mm"] for les in lesions}
            size = int(rng.choice([s for s in range(12, hi + 1) if s not in sizes_used]))
            lesion = _place_lesion(rng, organs, location, size, lesions)
            if lesion is not None:
                lesions.append(lesion)
                break
    sizes = [les["size_mm"] for les in lesions]
    return {
        "normal": not lesions, "n_lesions": len(lesions), "lesion_organ": organ if lesions else None,
        "lesions": lesions, "largest_lesion_mm": max(sizes) if sizes else None,
        "total_lesion_diameter_mm": int(sum(sizes)), "lesion_hu": LESION_HU,
        "spacing_mm": list(SPACING), "shape": list(SHAPE), "orientation": "RAS",
        "geometry": {"body": body, "organs": {k: {"hu": v[0], "center_mm": [round(x, 1) for x in v[1]],
                                                  "axes_mm": [round(x, 1) for x in v[2]]} for k, v in organs.items()}},
    }


def _soft(r: np.ndarray, scale_mm: float) -> np.ndarray:
    """Partial-volume weight from a normalised radius ``r`` and the shape's size in mm."""
    return np.clip((1.0 - r) * scale_mm / _VOXEL + 0.5, 0.0, 1.0)


def _smooth_texture(rng: np.random.Generator) -> np.ndarray:
    """Smooth random field in about [-1, 1] (bowel/mesenteric fat pattern)."""
    field = np.kron(rng.standard_normal((16, 16, 8)).astype(np.float32), np.ones((4, 4, 4), np.float32))
    for _ in range(2):
        for axis in range(3):
            field = (np.roll(field, 1, axis) + 2 * field + np.roll(field, -1, axis)) / 4.0
    return field / (np.abs(field).max() + 1e-6)


def render(f: Findings, rng: np.random.Generator) -> np.ndarray:
    """Render the int16 HU volume of one case."""
    b = f["geometry"]["body"]
    r_body = np.sqrt(((_XS - b["cx"]) / b["ax"]) ** 2 + ((_YS - b["cy"]) / b["ay"]) ** 2)
    vol = np.full(SHAPE, -1000.0, dtype=np.float32)
    w = _soft(r_body, min(b["ax"], b["ay"]))
    vol = vol * (1 - w) + w * -100.0
    inner_scale = min(b["ax"], b["ay"]) - b["fat_mm"]
    r_inner = r_body * min(b["ax"], b["ay"]) / inner_scale
    w = _soft(r_inner, inner_scale)
    vol = vol * (1 - w) + w * (-30.0 + 45.0 * _smooth_texture(rng))
    for hu, c, a in ((o["hu"], o["center_mm"], o["axes_mm"]) for o in f["geometry"]["organs"].values()):
        w = _soft(_ellipsoid_r(_XS, _YS, _ZS, c, a), min(a))
        vol = vol * (1 - w) + w * hu
    for les in f["lesions"]:
        r = les["size_mm"] / 2.0
        d = np.sqrt(sum((g - c) ** 2 for g, c in zip((_XS, _YS, _ZS), les["center_mm"])))
        w = np.clip((r - d) / _VOXEL + 0.5, 0.0, 1.0)
        vol = vol * (1 - w) + w * LESION_HU
    vol += rng.normal(0.0, float(rng.uniform(6.0, 12.0)), SHAPE)
    return np.clip(np.round(vol), -1024, 3071).astype(np.int16)


def nifti_bytes(vol: np.ndarray) -> bytes:
    """Encode a volume as deterministic gzip-compressed NIfTI-1 bytes (mtime 0, no name)."""
    img = nib.Nifti1Image(vol, affine())
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = b"MedSynth CT phantom (HU)"
    img.set_qform(affine(), code=1)
    img.set_sform(affine(), code=1)
    return gzip.compress(img.to_bytes(), compresslevel=6, mtime=0)


def write_case(out_dir: Path, case_id: str, f: Findings, render_rng: np.random.Generator) -> dict[str, str]:
    """Render and write ``ct/<case_id>.nii.gz``; return its relative path."""
    folder = Path(out_dir) / "ct"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / f"{case_id}.nii.gz", nifti_bytes(render(f, render_rng)))
    return {"volume": f"ct/{case_id}.nii.gz"}
