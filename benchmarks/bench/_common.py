"""What every `make bench` section shares: the figure it reports, interleaved timing, and output.

A section is a script `benchmarks/bench/<name>.py` (files starting with "_" are not sections); the
runner (`python benchmarks/bench`) finds them by folder, runs each in a fresh process (so its peak
memory and thread pool are its own), quiet and again with one core held busy, and writes
`benchmarks/RESULTS.md` and `RESULTS.json`. A section can also be run alone:

    .venv/bin/python benchmarks/bench/<name>.py --reps 3 --json /tmp/out.json [--data DIR]

and must then write `{"section": name, "figures": [Figure, ...]}` to `--json`. Every figure is a
comparison measured in the same process: `ours` against `base` (the baseline named in `baseline`),
repetitions interleaved (`interleave`), so the ratio of medians is what to read.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Figure:
    """One measured comparison: repetitions of ours and of the baseline, same data and dimensions."""

    name: str
    """What is measured, e.g. "decode tokens/s, batch 16, greedy"."""
    unit: str
    """Unit of the values, e.g. "tokens/s", "ms", "MB", "items/s"."""
    ours: list[float]
    """One value per repetition for medmllm's path."""
    base: list[float] | None = None
    """One value per repetition for the baseline, or None where the figure has none (an absolute figure)."""
    baseline: str = ""
    """The baseline in words, e.g. "transformers generate()", "HF Trainer default (no packing)"."""
    higher_better: bool = True
    """True for rates (tokens/s), False for times and memory: the ratio is then base / ours."""
    target: float | None = None
    """The issue's target for the ratio (e.g. 3.0), or None."""
    note: str = ""
    """Anything a reader needs: dimensions, batch, what the baseline lacks."""

    def ratio(self) -> float | None:
        """How many times better ours is than the baseline (median over median); None without one."""
        if not self.base:
            return None
        o, b = statistics.median(self.ours), statistics.median(self.base)
        return (o / b) if self.higher_better else (b / o)


def interleave(fns: dict[str, Callable[[], float]], reps: int, warmup: int = 1) -> dict[str, list[float]]:
    """Run each function `warmup` times, then `reps` rounds of all of them in turn (A B A B ...), so a
    change in the machine's load hits both sides alike. Each call returns its own measured value."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            out[k].append(f())
    return out


def timed(f: Callable[[], object]) -> Callable[[], float]:
    """A function returning the seconds `f()` took."""
    def run() -> float:
        t = time.perf_counter()
        f()
        return time.perf_counter() - t
    return run


def args(doc: str | None = None) -> argparse.Namespace:
    """The arguments every section takes."""
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions per figure")
    ap.add_argument("--json", type=Path, required=True, help="where to write the section's figures")
    ap.add_argument("--data", type=Path, default=None,
                    help="a MedSynth folder made by the runner (xray, ct, ecg); a section makes its own if absent")
    return ap.parse_args()


def emit(section: str, figures: list[Figure], path: Path, extra: dict | None = None) -> None:
    """Write the section's figures (temporary name, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"section": section, "figures": [asdict(f) for f in figures], **(extra or {})}, indent=1))
    os.replace(tmp, path)


def synth_data(path: Path | None, n: int = 200, seed: int = 5) -> Path:
    """The runner's MedSynth folder, or a small one made here (x-ray, CT and ECG; fixed seed)."""
    if path is not None:
        return path
    import tempfile

    from medmllm.synth import synthesize
    out = Path(tempfile.mkdtemp(prefix="medmllm-bench-"))
    synthesize(out, ["xray", "ct", "ecg"], n=n, seed=seed)
    return out
