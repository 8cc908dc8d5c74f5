"""ECGs: WFDB records and lead order (DICOM waveforms are read in dicom.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import MedMLLMError, brief
from . import limits
from .base import Loaded

_UNIT_TO_MV = {"uV": 1e-3, "μV": 1e-3, "mV": 1.0, "V": 1e3}
STANDARD_LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
_BY_KEY = {name.lower(): name for name in STANDARD_LEADS}


def standard_lead(name: str) -> str | None:
    """'i', 'Lead I (Einthoven)', 'AVR', 'v1' -> the standard name; None for e.g. 'MLII'."""
    key = str(name).lower().replace("lead", "").split("(")[0].strip().replace(" ", "")
    return _BY_KEY.get(key)


def order_leads(signal: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Put leads in the standard 12-lead order (I, II, III, aVR, aVL, aVF, V1-V6) when every lead
    has a standard name; absent standard leads become zeros. Other records keep their order."""
    mapped = [standard_lead(n) for n in names]
    if not names or any(m is None for m in mapped) or len(set(mapped)) != len(mapped):
        return signal, list(names)
    out = np.zeros((len(STANDARD_LEADS), signal.shape[1]), dtype=signal.dtype)
    for row, name in zip(signal, mapped):
        out[STANDARD_LEADS.index(name)] = row
    return out, list(STANDARD_LEADS)


def resample_signal(signal: np.ndarray, rate: float, target: float) -> np.ndarray:
    """Polyphase resampling (anti-aliased) of (leads, samples) from `rate` to `target` Hz."""
    if abs(rate - target) < 1e-9:
        return signal
    from fractions import Fraction

    from scipy.signal import resample_poly

    f = Fraction(target / rate).limit_denominator(1000)
    return resample_poly(signal, f.numerator, f.denominator, axis=-1).astype(np.float32)


def load_wfdb(path: Path, header: Path) -> Loaded:
    import wfdb

    record = Path(str(header)[: -len(".hea")])
    try:
        head = wfdb.rdheader(str(record))
    except Exception as e:
        raise MedMLLMError(f"{header}: not a readable WFDB header ({brief(e)})") from None
    limits.check(header, "sig_len", int(head.sig_len or 0), "samples")
    limits.check(header, "n_sig", int(head.n_sig or 0), "leads")
    from .sniff import regular

    for name in dict.fromkeys(head.file_name or []):
        if (header.parent / name).exists():
            regular(header.parent / name)
    fs = float(head.fs or 0)
    if not np.isfinite(fs) or fs <= 0:
        raise MedMLLMError(f"{header}: sampling frequency must be a finite positive number, got {head.fs}")
    try:
        rec = wfdb.rdrecord(str(record))
    except FileNotFoundError as e:
        raise MedMLLMError(f"{header}: WFDB data file missing ({Path(e.filename or '').name or 'signal file'})") from None
    except Exception as e:  # wfdb raises ValueError/IndexError/... for malformed records
        raise MedMLLMError(f"{header}: not a readable WFDB record ({brief(e)})") from None
    if rec.p_signal is None or rec.p_signal.size == 0:
        raise MedMLLMError(f"{header}: WFDB record has no signal")
    units = [str(u) for u in (rec.units or ["mV"] * rec.p_signal.shape[1])]
    scale = np.asarray([_UNIT_TO_MV.get(u, 1.0) for u in units], dtype=np.float32)[:, None]
    signal = np.nan_to_num(rec.p_signal.T.astype(np.float32)) * scale  # each channel to mV
    return Loaded("signal", signal, "wfdb", sampling_rate=float(rec.fs), leads=list(rec.sig_name),
                  meta={"units": "mV", "file_units": sorted(set(units))})
