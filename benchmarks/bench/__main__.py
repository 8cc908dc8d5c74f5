"""`make bench`: every section of `benchmarks/bench/`, quiet and with one core held busy, into
`benchmarks/RESULTS.md` and `benchmarks/RESULTS.json`.

    .venv/bin/python benchmarks/bench [--only data,threads] [--reps 3] [--no-busy] [--out benchmarks/RESULTS.md]

One MedSynth folder (x-ray, CT, ECG; fixed seed) is made first and handed to every section as
`--data`; the fp32 matmul peak is measured next and handed on as `MEDMLLM_BENCH_PEAK_GFLOPS` (so
MFU figures divide by the number in the report). Sections are the `*.py` files of the folder not
starting with "_", run in sorted order, each in a fresh process: once quiet, then again while
another process multiplies matrices on one thread (the "hog"). Of each run the runner keeps the
child's peak memory (`ru_maxrss` from `os.wait4`), its wall time, and the CPU the machine's other
processes used meanwhile (`/proc/stat` less the runner, the section and its children, and the hog),
so a noisy figure can be recognised. A failed or timed-out section is reported with its last
stderr line and the others go on.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]
from _common import ROOT
from _report import render

HERE = Path(__file__).resolve().parent
PEAK_ENV = "MEDMLLM_BENCH_PEAK_GFLOPS"
HOG = ("import sys, torch\ntorch.set_num_threads(1)\na = torch.randn(256, 256)\na @ a\n"
       "print('ready', flush=True)\nwhile True:\n    a @ a")
"""The busy core: another process multiplying 256 x 256 matrices on one thread."""


def options(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python benchmarks/bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated section names (default: all)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions per figure")
    ap.add_argument("--no-busy", action="store_true", help="skip the runs with one core held busy")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md",
                    help="the Markdown report; the JSON goes beside it (.json)")
    ap.add_argument("--sections", type=Path, default=HERE, help="the folder of section scripts")
    ap.add_argument("--data", type=Path, default=None, help="an existing MedSynth folder (default: made here)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds one section run may take")
    return ap.parse_args(argv)


def discover(folder: Path, only: str = "") -> list[Path]:
    """The section scripts of `folder` (sorted; "_" files are not sections), those named in `only` if given."""
    found = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    wanted = {s.strip() for s in only.split(",") if s.strip()}
    unknown = wanted - {p.stem for p in found}
    if unknown:
        raise SystemExit(f"unknown section(s) {', '.join(sorted(unknown))}; "
                         f"found: {', '.join(p.stem for p in found)}")
    return [p for p in found if not wanted or p.stem in wanted]


PEAK = """
import json, statistics, sys, time, torch
n, reps = 2048, max(3, int(sys.argv[1]))
a, b = torch.randn(n, n), torch.randn(n, n)
a @ b
rates = []
for _ in range(reps):
    t = time.perf_counter()
    a @ b
    rates.append(2 * n ** 3 / (time.perf_counter() - t) / 1e9)
print(json.dumps({"gflops": statistics.median(rates), "min": min(rates), "max": max(rates), "n": n,
                  "threads": torch.get_num_threads()}))
"""
"""GFLOP/s of a 2048 x 2048 fp32 matmul (2 n^3 flops), torch's default threads, median of the reps (at least 3)."""


def in_child(code: str, *argv: str) -> str:
    """The last stdout line of `python -c code argv...` run with this folder on the path. Heavy work (torch,
    MedSynth) runs in children so that the runner stays small: a child's `ru_maxrss` starts from the
    memory of the process it was forked from."""
    out = subprocess.run([sys.executable, "-c", code, *argv], check=False, cwd=HERE, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])})
    if out.returncode:
        raise SystemExit(f"{code.strip().splitlines()[0]}...: {last_line(out.stderr)}")
    return out.stdout.strip().splitlines()[-1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def start_hog() -> subprocess.Popen:
    """The busy core, returned once it is multiplying."""
    hog = subprocess.Popen([sys.executable, "-c", HOG], stdout=subprocess.PIPE, text=True)
    hog.stdout.readline()
    time.sleep(0.5)
    return hog


def stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()


def child_env(peak: float) -> dict:
    """The environment of a section: this checkout first on the path, the matmul peak, no fixed threads."""
    env = {k: v for k, v in os.environ.items() if k not in ("MEDMLLM_THREADS", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env[PEAK_ENV] = f"{peak:.3f}"
    return env


def last_line(text: str) -> str:
    """The last non-blank line of a process's stderr (progress bars' carriage returns split lines too)."""
    lines = [s.strip() for s in text.replace("\r", "\n").splitlines() if s.strip()]
    return lines[-1][:300] if lines else ""


def run_section(script: Path, reps: int, data: Path, env: dict, timeout: float,
                hog: subprocess.Popen | None = None) -> dict:
    """One run of a section in a fresh process: its figures, or its error, with wall time, peak
    memory (MB) and the cores the machine's other processes kept busy meanwhile."""
    from medmllm.threads import _sample, others_busy

    with tempfile.TemporaryDirectory(prefix="medmllm-bench-run-") as tmp:
        out, err = Path(tmp) / "out.json", Path(tmp) / "stderr.txt"
        cmd = [sys.executable, str(script), "--reps", str(reps), "--json", str(out), "--data", str(data)]
        before, hog_before = _sample(), cpu_seconds(hog.pid) if hog else 0.0
        with open(err, "w") as errf:
            child = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errf,
                                     start_new_session=True)
            status, usage, timed_out = wait(child, timeout)
        after, hog_after = _sample(), cpu_seconds(hog.pid) if hog else 0.0
        wall = max(after[0] - before[0], 1e-3) if before and after else 0.0
        child_cpu = usage.ru_utime + usage.ru_stime
        others = (others_busy(before, after) - child_cpu / wall - (hog_after - hog_before) / wall
                  if before and after else None)
        run = {"wall_s": round(wall, 2), "peak_mb": round(usage.ru_maxrss / 1024, 1),
               "cpu_s": round(child_cpu, 2), "others_cores": None if others is None else round(max(0.0, others), 3)}
        code = os.waitstatus_to_exitcode(status) if not timed_out else None
        if code == 0 and out.is_file():
            return {**run, "ok": True, "figures": json.loads(out.read_text())["figures"]}
        why = f"timed out after {timeout:.0f} s" if timed_out else f"exit status {code}"
        return {**run, "ok": False, "error": f"{why}: {last_line(err.read_text(errors='replace'))}"}


def wait(child: subprocess.Popen, timeout: float) -> tuple[int, object, bool]:
    """(wait status, rusage, timed out) of `child`; past `timeout` its whole process group is killed."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return status, usage, False
        if time.monotonic() > deadline:
            os.killpg(child.pid, signal.SIGKILL)
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = -9
            return status, usage, True
        time.sleep(0.1)


def machine() -> dict:
    """Cores, CPU model, library versions and the checkout's commit."""
    from importlib.metadata import PackageNotFoundError, version

    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    versions = {}
    for name in ("torch", "transformers"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "absent"
    git = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], check=False, cwd=ROOT,
                         capture_output=True, text=True)
    from medmllm.threads import cores

    return {"cores": cores(), "cpu": model or platform.processor(), "python": platform.python_version(),
            **versions, "commit": git.stdout.strip() or "unknown"}


def run_all(args: argparse.Namespace, scripts: list[Path], data: Path, env: dict) -> list[dict]:
    """Each section quiet, then (unless --no-busy) with the hog running."""
    sections = []
    for script in scripts:
        print(f"[bench] {script.stem}: quiet", flush=True)
        runs = {"quiet": run_section(script, args.reps, data, env, args.timeout)}
        if not args.no_busy:
            print(f"[bench] {script.stem}: one core busy", flush=True)
            hog = start_hog()
            try:
                runs["busy"] = run_section(script, args.reps, data, env, args.timeout, hog)
            finally:
                stop(hog)
        for mode, run in runs.items():
            state = f"{run['wall_s']:.0f} s" if run["ok"] else f"FAILED ({run['error']})"
            print(f"[bench] {script.stem} {mode}: {state}", flush=True)
        sections.append({"name": script.stem, "runs": runs})
    return sections


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    scripts = discover(args.sections, args.only)
    t0, started = time.perf_counter(), datetime.now(timezone.utc)
    made = args.data is None
    print("[bench] MedSynth data" + ("" if made else f": {args.data}"), flush=True)
    data = Path(in_child("from _common import synth_data; print(synth_data(None))")) if made else args.data
    try:
        peak = json.loads(in_child(PEAK, str(args.reps)))
        print(f"[bench] fp32 matmul peak {peak['gflops']:.1f} GFLOP/s", flush=True)
        sections = run_all(args, scripts, data, child_env(peak["gflops"]))
    finally:
        if made:
            shutil.rmtree(data, ignore_errors=True)
    command = "python benchmarks/bench" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    results = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "command": command, "machine": machine(),
               "reps": args.reps, "busy": not args.no_busy, "matmul_peak": peak,
               "wall_s": round(time.perf_counter() - t0, 1), "sections": sections}
    write(args.out, results)
    print(f"[bench] {results['wall_s']:.0f} s in all; {args.out} and {args.out.with_suffix('.json')}")
    return 0 if all(r["ok"] for s in sections for r in s["runs"].values()) else 1


def write(md: Path, results: dict) -> None:
    """RESULTS.json and RESULTS.md, each under a temporary name first, then renamed."""
    from medmllm.files import atomic_write

    atomic_write(md.with_suffix(".json"), json.dumps(results, indent=1))
    atomic_write(md, render(results))


if __name__ == "__main__":
    sys.exit(main())
