"""Chest-radiograph phantoms: findings sampler, renderer and PNG/DICOM writer.

Image convention (PA view): the patient's RIGHT is on the image's LEFT (small x) and
the patient's LEFT is on the image's RIGHT.  All sides stored in the findings are the
patient's sides.  Lung coordinates ``(u, v)``: ``u`` runs from the medial (0) to the
lateral (1) lung edge, ``v`` from the apex (0) to the costophrenic angle (1).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..files import atomic_write
from .dicom import write_xray_dicom

SIZE = 256
SPACING_MM = 1.4
SIDES = ("right", "left")
LEVELS = ("upper", "middle", "lower")
_ZONE_V = {"upper": (0.14, 0.32), "middle": (0.38, 0.62), "lower": (0.66, 0.82)}
_Y, _X = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)

Findings = dict[str, Any]


# --------------------------------------------------------------------------- geometry
def _lung_frame(g: dict[str, float], side: str) -> tuple[float, float, float, float]:
    """Return (medial_x, lateral_x, apex_y, base_y) of the lung on the patient's ``side``."""
    half = g["thorax_px"] / 2.0
    if side == "right":  # patient's right lung is drawn on the image's left
        return g["cx"] - g["med_hw"], g["cx"] - half, g["apex_y"], g["base_y_right"]
    return g["cx"] + g["med_hw"], g["cx"] + half, g["apex_y"], g["base_y_left"]


def lung_uv(x: Any, y: Any, g: dict[str, float], side: str) -> tuple[Any, Any]:
    """Map image coordinates to normalised lung coordinates (u, v) for one side."""
    m, lat, a, b = _lung_frame(g, side)
    return (x - m) / (lat - m), (y - a) / (b - a)


def uv_to_xy(u: float, v: float, g: dict[str, float], side: str) -> tuple[float, float]:
    """Inverse of :func:`lung_uv`."""
    m, lat, a, b = _lung_frame(g, side)
    return m + u * (lat - m), a + v * (b - a)


def _dome(u: Any) -> Any:
    """Diaphragm contour (in v) as a function of u: dome peak, sharp costophrenic angle."""
    lateral = 0.14 * (np.clip(u - 0.4, 0.0, None) / 0.6) ** 2
    medial = 0.07 * (np.clip(0.4 - u, 0.0, None) / 0.4) ** 2
    return 0.86 + lateral + medial


def in_lung(u: Any, v: Any) -> Any:
    """Boolean lung mask in normalised coordinates (rounded apex, domed base)."""
    apex = ((u - 0.5) / 0.5) ** 2 + ((v - 0.45) / 0.45) ** 2 <= 1.0
    return (u >= 0) & (u <= 1) & (v >= 0) & (v <= _dome(u)) & ((v >= 0.45) | apex)


def heart_r(x: Any, y: Any, g: dict[str, float]) -> Any:
    """Normalised radius of the heart silhouette (<= 1 inside).

    Upper half: ellipse; lower half: a tall ellipse reaching below the diaphragm, so the
    widest point (``heart_px`` wide, at ``heart_cy``) defines the cardiothoracic ratio.
    """
    hp = g["heart_px"]
    dy = y - g["heart_cy"]
    ry = np.where(dy < 0, 0.4 * hp, 1.0 * hp)
    return np.sqrt(((x - g["heart_cx"]) / (hp / 2)) ** 2 + (dy / ry) ** 2)


def ptx_r(u: Any, v: Any, g: dict[str, float]) -> Any:
    """Radius w.r.t. the collapsed-lung ellipse; > 1 is pneumothorax (air, no markings)."""
    return np.sqrt((u / g["ptx_a"]) ** 2 + ((v - 1.0) / g["ptx_b"]) ** 2)


def effusion_depth(u: Any, v: Any, g: dict[str, float]) -> Any:
    """Depth (in v) below the meniscus; > 0 inside the fluid, which climbs laterally."""
    uc = np.clip(u, 0.0, 1.0)
    return v - (g["eff_level"] - g["eff_climb"] * uc * uc * np.sqrt(uc))


def effusion_in(u: Any, v: Any, g: dict[str, float]) -> Any:
    """Meniscus-shaped fluid region filling the lung base (blunts the costophrenic angle)."""
    return effusion_depth(u, v, g) > 0


# --------------------------------------------------------------------------- sampling
def _sample_geometry(rng: np.random.Generator, ctr_target: float) -> tuple[dict[str, float], float, float]:
    """Sample patient size/position; return (geometry, thorax_cm, heart_cm)."""
    thorax_cm = round(float(rng.uniform(25.0, 30.0)), 1)
    heart_cm = round(thorax_cm * ctr_target, 1)
    thorax_px = thorax_cm * 10.0 / SPACING_MM
    heart_px = heart_cm * 10.0 / SPACING_MM
    cx = SIZE / 2 + float(rng.uniform(-6, 6))
    apex_y = 40.0 + float(rng.uniform(-5, 5))
    lung_h = float(rng.uniform(150, 166))
    g = {
        "cx": cx, "apex_y": apex_y, "base_y_right": apex_y + lung_h, "base_y_left": apex_y + lung_h + 6.0,
        "thorax_px": thorax_px, "heart_px": heart_px, "med_hw": float(rng.uniform(12, 16)),
        "heart_cx": cx + 0.18 * heart_px, "heart_cy": apex_y + 0.74 * (lung_h + 6.0),
        "ptx_a": float(rng.uniform(0.45, 0.6)), "ptx_b": float(rng.uniform(0.55, 0.7)),
        "eff_level": float(rng.uniform(0.64, 0.74)), "eff_climb": float(rng.uniform(0.12, 0.2)),
    }
    return {k: round(v, 3) for k, v in g.items()}, thorax_cm, heart_cm


def _nodule_ok(x: float, y: float, rad: float, g: dict[str, float], f: Findings, side: str) -> bool:
    """True if a nodule of radius ``rad`` (px) at (x, y) lies in clear lung on ``side``."""
    ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    px = np.concatenate([[x], x + (rad + 2) * np.cos(ang)])
    py = np.concatenate([[y], y + (rad + 2) * np.sin(ang)])
    u, v = lung_uv(px, py, g, side)
    ok = in_lung(u, v) & (heart_r(px, py, g) > 1.05)
    if f["pneumothorax_side"] == side:
        ok &= ptx_r(u, v, g) < 0.97
    if f["effusion_side"] == side:
        ok &= ~effusion_in(u, v + 0.04, g)
    for other in f["nodules"]:
        ox, oy = other["center_px"]
        ok &= np.hypot(px - ox, py - oy) > other["size_mm"] / 2 / SPACING_MM + 3
    return bool(ok.all())


def _place_nodule(rng: np.random.Generator, g: dict[str, float], f: Findings, size: int) -> dict[str, Any] | None:
    """Try random zones/positions until a free spot is found; None if impossible."""
    rad = size / 2 / SPACING_MM
    for _ in range(200):
        side, level = SIDES[rng.integers(2)], LEVELS[rng.integers(3)]
        u, v = float(rng.uniform(0.3, 0.85)), float(rng.uniform(*_ZONE_V[level]))
        x, y = uv_to_xy(u, v, g, side)
        if _nodule_ok(x, y, rad, g, f, side):
            return {"zone": f"{side} {level} zone", "side": side, "level": level, "size_mm": int(size),
                    "center_px": [round(x, 1), round(y, 1)], "radius_px": round(rad, 2)}
    return None


def sample_findings(rng: np.random.Generator) -> Findings:
    """Sample one case: ~38% normal; each abnormal finding in ~20-30% of cases."""
    normal = bool(rng.random() < 0.38)
    flags = np.zeros(4, dtype=bool)
    while not normal and not flags.any():
        flags = rng.random(4) < 0.3
    cardio, effusion, nodule, ptx = (bool(x) for x in flags)
    ctr_target = float(rng.uniform(0.56, 0.64) if cardio else rng.uniform(0.39, 0.46))
    g, thorax_cm, heart_cm = _sample_geometry(rng, ctr_target)
    f: Findings = {
        "normal": normal, "cardiomegaly": cardio, "ctr": round(heart_cm / thorax_cm, 2),
        "heart_width_cm": heart_cm, "thorax_width_cm": thorax_cm,
        "effusion": effusion, "effusion_side": SIDES[rng.integers(2)] if effusion else None,
        "pneumothorax": ptx, "pneumothorax_side": SIDES[rng.integers(2)] if ptx else None,
        "nodules": [], "n_nodules": 0, "pixel_spacing_mm": SPACING_MM, "geometry": g,
    }
    if nodule:
        count = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
        sizes = rng.choice(np.arange(12, 31), size=count, replace=False)
        for size in sizes:
            placed = _place_nodule(rng, g, f, int(size))
            if placed is not None:
                f["nodules"].append(placed)
    f["n_nodules"] = len(f["nodules"])
    f["nodule"] = f["n_nodules"] > 0
    f["normal"] = not (f["cardiomegaly"] or f["effusion"] or f["pneumothorax"] or f["nodule"])
    return f


# --------------------------------------------------------------------------- rendering
def _blur(img: np.ndarray, passes: int = 1) -> np.ndarray:
    """Separable [1, 4, 6, 4, 1] / 16 smoothing with edge padding."""
    k = (1.0, 4.0, 6.0, 4.0, 1.0)
    for _ in range(passes):
        p = np.pad(img, ((0, 0), (2, 2)), mode="edge")
        img = sum(w * p[:, i:i + img.shape[1]] for i, w in enumerate(k)) / 16.0
        p = np.pad(img, ((2, 2), (0, 0)), mode="edge")
        img = sum(w * p[i:i + img.shape[0], :] for i, w in enumerate(k)) / 16.0
    return img


def _smooth_noise(rng: np.random.Generator, cells: int, passes: int) -> np.ndarray:
    """Low-frequency noise field in roughly [-1, 1]."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse).resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    if passes:
        field = _blur(field, passes)
    return field / (np.abs(field).max() + 1e-6)


def _segment_dist(x0: float, y0: float, x1: float, y1: float, rows: int) -> np.ndarray:
    """Distance of every pixel of the first ``rows`` rows to the segment (x0, y0)-(x1, y1)."""
    dx, dy = x1 - x0, y1 - y0
    xs, ys = _X[:rows], _Y[:rows]
    t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy))


def _chest_wall(g: dict[str, float], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (soft tissue of body/spine/trachea, rib pattern, clavicle overlay)."""
    cx, half, apex = g["cx"], g["thorax_px"] / 2, g["apex_y"]
    bw = half + float(rng.uniform(16, 24))
    t2 = np.square((_X - cx) / bw)
    s2 = np.square((_Y - 150) / 190.0)
    body = ((t2 * t2 + s2 * s2) <= 1).astype(np.float32)
    img = 0.03 + body * (0.44 + 0.12 * (1 - np.clip(t2, 0, 1)))
    img += 0.06 * (np.abs(_X - cx) < 10) * body
    img -= 0.16 * ((np.abs(_X - cx) < 5) & (_Y < apex + 55))
    lung_h = g["base_y_right"] - apex
    tl = np.clip(np.abs(_X - cx) / half, 0, 1.2)
    rib_y = (_Y - apex + 10 * tl - 34 * tl * tl) * (9.0 / lung_h)
    c = 0.5 + 0.5 * np.cos((2 * np.pi) * rib_y)
    c = c * c * c
    ribs = c * c * ((_Y > apex - 10) & (_Y < apex + lung_h) & (tl < 1.08))
    clav = np.zeros_like(img)
    rows = int(apex + 20)
    for sgn in (-1.0, 1.0):
        d = _segment_dist(cx + sgn * 12, apex + 10, cx + sgn * 0.5 * g["thorax_px"], apex - 14, rows)
        clav[:rows] += 0.13 * np.clip(1 - d / 4.0, 0, 1)
    return img, ribs * body, clav


def _draw_lung(img: np.ndarray, f: Findings, side: str, texture: np.ndarray) -> np.ndarray:
    """Draw one lung field (with pneumothorax/effusion if present), in place; return its mask."""
    g = f["geometry"]
    u, v = lung_uv(_X, _Y, g, side)
    lung = in_lung(u, v)
    m, _, a, b = _lung_frame(g, side)
    hilum = np.exp(-((_X - m) ** 2 + (_Y - (a + 0.45 * (b - a))) ** 2) / (2 * 26.0 ** 2))
    value = 0.18 + 0.05 * texture + 0.12 * hilum + 0.04 * v
    if f["pneumothorax_side"] == side:
        r = ptx_r(u, v, g)
        value = np.where(r > 1.0, 0.03, value + 0.08)  # air without markings; the collapsed lung is denser
        value = np.where((r >= 1.0) & (r < 1.025), 0.5, value)
    img[lung] = value[lung]
    if f["effusion_side"] == side:
        s = np.clip(effusion_depth(u, v, g) / 0.05, 0.0, 1.0)[lung]
        img[lung] = img[lung] * (1 - s) + s * (0.6 + 0.02 * texture[lung])
    return lung


def render(f: Findings, rng: np.random.Generator) -> np.ndarray:
    """Render a 256x256 12-bit (0..4095, uint16) chest radiograph for findings ``f``."""
    g = f["geometry"]
    img, ribs, clav = _chest_wall(g, rng)
    texture = _smooth_noise(rng, 24, 0) + 0.5 * _smooth_noise(rng, 64, 0)
    lungs = np.zeros(img.shape, dtype=bool)
    for side in SIDES:
        if f["effusion_side"] != side:
            lungs |= _draw_lung(img, f, side, texture)
    img[(heart_r(_X, _Y, g) <= 1.0) & (img < 0.45)] = 0.58  # silhouette where it overlaps the lungs
    for side in SIDES:  # effusion drawn last so it obscures heart border and dome
        if f["effusion_side"] == side:
            lungs |= _draw_lung(img, f, side, texture)
    for nod in f["nodules"]:
        x, y = nod["center_px"]
        disc = np.clip(nod["radius_px"] - np.hypot(_X - x, _Y - y) + 0.5, 0.0, 1.0)
        img += 0.45 * disc
    img = _blur(img + ribs * (0.025 + 0.05 * lungs) + clav, 1)
    gain, offset = float(rng.uniform(0.9, 1.1)), float(rng.uniform(-0.04, 0.04))
    img = gain * img + offset + rng.normal(0.0, float(rng.uniform(0.012, 0.025)), img.shape)
    return np.round(np.clip(img, 0.0, 1.0) * 4095).astype(np.uint16)


# --------------------------------------------------------------------------- writing
def png_bytes(pixels12: np.ndarray) -> bytes:
    """Encode a 12-bit image as an 8-bit grayscale PNG (``value >> 4``)."""
    buf = io.BytesIO()
    Image.fromarray((pixels12 >> 4).astype(np.uint8)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def write_case(out_dir: Path, case_id: str, f: Findings, seed: int, render_rng: np.random.Generator,
               identity_rng: np.random.Generator) -> dict[str, str]:
    """Render and write ``xray/<case_id>.png`` and ``.dcm``; return their relative paths."""
    folder = Path(out_dir) / "xray"
    folder.mkdir(parents=True, exist_ok=True)
    pixels = render(f, render_rng)
    atomic_write(folder / f"{case_id}.png", png_bytes(pixels))
    write_xray_dicom(folder / f"{case_id}.dcm", pixels, case_id, seed, identity_rng, SPACING_MM)
    return {"image": f"xray/{case_id}.png", "dicom": f"xray/{case_id}.dcm"}
