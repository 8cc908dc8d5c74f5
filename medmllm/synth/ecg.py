"""12-lead ECG synthesis: rhythm/R-peak sampler, Gaussian-wave beat model and WFDB writer.

Beats are sums of Gaussian P, Q, R, S and T waves on the independent leads I, II and
V1-V6; III, aVR, aVL and aVF are derived (Einthoven/Goldberger), so ``III = II - I``.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import wfdb

from ..files import atomic_write

FS = 500
DURATION_S = 10
N_SAMPLES = FS * DURATION_S
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
RHYTHMS = {  # name -> (min HR, max HR) of the generated (measured) heart rate
    "normal sinus rhythm": (60, 100),
    "sinus bradycardia": (40, 59),
    "sinus tachycardia": (101, 150),
    "atrial fibrillation": (80, 140),
}
ADC_GAIN = 1000.0  # digital units per mV (1 uV resolution)

Findings = dict[str, Any]
_INDEPENDENT = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
#: amplitudes (mV) of the P, Q, R, S, T waves on the independent leads
_AMPS = np.array([
    [0.08, -0.05, 0.60, -0.10, 0.20],   # I
    [0.12, -0.08, 1.00, -0.20, 0.30],   # II
    [0.06, 0.00, 0.20, -0.90, -0.05],   # V1
    [0.08, 0.00, 0.40, -1.20, 0.35],    # V2
    [0.08, 0.00, 0.80, -0.80, 0.40],    # V3
    [0.08, -0.05, 1.30, -0.50, 0.40],   # V4
    [0.08, -0.08, 1.20, -0.30, 0.30],   # V5
    [0.08, -0.08, 0.90, -0.15, 0.25],   # V6
])
_F_WAVE_WEIGHT = np.array([0.4, 0.8, 1.0, 0.7, 0.4, 0.3, 0.3, 0.3])


def _rr_series(rng: np.random.Generator, rhythm: str, mean_rr: float) -> np.ndarray:
    """RR intervals (s) covering the record: near-constant for sinus, irregular for AF."""
    k = int(DURATION_S / mean_rr) + 3
    if rhythm == "atrial fibrillation":
        rr = mean_rr * rng.lognormal(0.0, float(rng.uniform(0.16, 0.24)), k)
        return np.clip(rr, 0.28, 2.0)
    resp = 0.025 * np.sin(2 * np.pi * np.cumsum(np.full(k, mean_rr)) / float(rng.uniform(3.5, 5.0)))
    return mean_rr * (1.0 + resp + rng.normal(0.0, 0.008, k))


def _r_peaks(rng: np.random.Generator, rhythm: str) -> tuple[np.ndarray, int, int]:
    """Sample R-peak sample indices until the measured HR is inside the rhythm's range."""
    lo, hi = RHYTHMS[rhythm]
    while True:
        mean_rr = 60.0 / float(rng.uniform(lo, hi + 1))
        times = float(rng.uniform(0.15, 0.6)) + np.concatenate([[0.0], np.cumsum(_rr_series(rng, rhythm, mean_rr))])
        peaks = np.round(times[times < DURATION_S - 0.35] * FS).astype(int)
        mean_rr_ms = int(round(float(np.diff(peaks).mean()) * 1000.0 / FS))
        hr = int(round(60000.0 / mean_rr_ms))
        if lo <= hr <= hi and len(peaks) >= 4:
            return peaks, mean_rr_ms, hr


def sample_findings(rng: np.random.Generator) -> Findings:
    """Sample rhythm (uniform over the four classes) and R-peak times; measure HR and RR."""
    rhythm = list(RHYTHMS)[int(rng.integers(len(RHYTHMS)))]
    peaks, mean_rr_ms, hr = _r_peaks(rng, rhythm)
    rr_ms = np.diff(peaks) * 1000.0 / FS
    return {
        "rhythm": rhythm, "heart_rate_bpm": hr, "mean_rr_ms": mean_rr_ms,
        "rr_sd_ms": int(round(float(rr_ms.std()))), "rr_cv": round(float(rr_ms.std() / rr_ms.mean()), 3),
        "min_rr_ms": int(rr_ms.min()), "max_rr_ms": int(rr_ms.max()), "n_beats": int(len(peaks)),
        "regular": rhythm != "atrial fibrillation", "p_waves": rhythm != "atrial fibrillation",
        "r_peak_samples": [int(p) for p in peaks], "fs": FS, "duration_s": DURATION_S, "leads": list(LEADS),
    }


def _beats(f: Findings, rng: np.random.Generator) -> np.ndarray:
    """Sum of Gaussian waves for every beat on the 8 independent leads, shape (8, N)."""
    sig = np.zeros((len(_INDEPENDENT), N_SAMPLES))
    amps = _AMPS * rng.uniform(0.8, 1.2, (len(_INDEPENDENT), 1)) * rng.uniform(0.9, 1.1, _AMPS.shape)
    if not f["p_waves"]:
        amps[:, 0] = 0.0
    peaks = np.asarray(f["r_peak_samples"])
    rr = np.diff(peaks, append=peaks[-1] + (peaks[-1] - peaks[-2])) / FS
    pr = float(rng.uniform(0.14, 0.18))
    for r_idx, beat_rr in zip(peaks, rr):
        qt = 0.26 * np.sqrt(min(max(beat_rr, 0.3), 1.5))
        mu = np.array([-pr, -0.028, 0.0, 0.03, qt])
        sd = np.array([0.022, 0.009, 0.011, 0.010, 0.045 + 0.02 * qt])
        lo, hi = max(0, r_idx - int(0.3 * FS)), min(N_SAMPLES, r_idx + int(0.75 * FS))
        t = (np.arange(lo, hi) - r_idx) / FS
        gauss = np.exp(-0.5 * ((t[None, :] - mu[:, None]) / sd[:, None]) ** 2)
        sig[:, lo:hi] += (amps * rng.uniform(0.95, 1.05)) @ gauss
    return sig


def _baseline(f: Findings, rng: np.random.Generator) -> np.ndarray:
    """Baseline wander, fibrillatory waves (AF only) and noise on the independent leads."""
    t = np.arange(N_SAMPLES) / FS
    n = len(_INDEPENDENT)
    wander = rng.uniform(0.03, 0.12, (n, 1)) * np.sin(
        2 * np.pi * rng.uniform(0.12, 0.4, (n, 1)) * t + rng.uniform(0, 2 * np.pi, (n, 1)))
    out = wander + rng.normal(0.0, float(rng.uniform(0.008, 0.02)), (n, N_SAMPLES))
    if f["rhythm"] == "atrial fibrillation":
        fw = np.zeros(N_SAMPLES)
        for _ in range(3):
            fw += np.sin(2 * np.pi * rng.uniform(4.5, 8.0) * t + rng.uniform(0, 2 * np.pi))
        fw *= float(rng.uniform(0.025, 0.045)) * (1 + 0.3 * np.sin(2 * np.pi * 0.3 * t))
        out += _F_WAVE_WEIGHT[:, None] * fw[None, :]
    return out


def render(f: Findings, rng: np.random.Generator) -> np.ndarray:
    """Return the 12-lead signal in mV, shape (N_SAMPLES, 12), leads in :data:`LEADS` order."""
    ind = np.round((_beats(f, rng) + _baseline(f, rng)) * ADC_GAIN)  # digital units (uV)
    lead_i, lead_ii = ind[0], ind[1]
    limb = np.stack([lead_i, lead_ii, lead_ii - lead_i, np.round(-(lead_i + lead_ii) / 2),
                     np.round(lead_i - lead_ii / 2), np.round(lead_ii - lead_i / 2)])
    return np.concatenate([limb, ind[2:]], axis=0).T / ADC_GAIN


def write_record(folder: Path, record: str, sig: np.ndarray) -> None:
    """Write ``folder/record.hea`` + ``.dat`` (format 16): wfdb writes both into a temporary folder
    (removed afterwards), then each is put in place atomically, the signal before its header."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{record}.", dir=folder) as tmp:
        with warnings.catch_warnings():  # wfdb's own pandas deprecation noise
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"wfdb(\.|$)")
            wfdb.wrsamp(record, fs=FS, units=["mV"] * len(LEADS), sig_name=list(LEADS), p_signal=sig,
                        fmt=["16"] * len(LEADS), adc_gain=[ADC_GAIN] * len(LEADS), baseline=[0] * len(LEADS),
                        write_dir=tmp)
        for suffix in (".dat", ".hea"):
            atomic_write(folder / f"{record}{suffix}", (Path(tmp) / f"{record}{suffix}").read_bytes())


def write_case(out_dir: Path, case_id: str, f: Findings, render_rng: np.random.Generator) -> dict[str, str]:
    """Render and write ``ecg/<case_id>.hea/.dat``; return the record path without extension."""
    folder = Path(out_dir) / "ecg"
    folder.mkdir(parents=True, exist_ok=True)
    write_record(folder, case_id, render(f, render_rng))
    return {"ecg": f"ecg/{case_id}"}
