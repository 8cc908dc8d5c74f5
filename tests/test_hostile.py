"""Hostile inputs through the command line: every crafted file (`hostile_files.py`, `hostile_text.py`:
decompression bombs, header claims, non-finite and non-positive values, FIFOs and devices, path
escapes, pickles, corrupt checkpoints, configs and manifests) must give

* the expected exit code (2 for user-caused failures; `data validate` reports bad records on stdout and exits 1),
* exactly one line naming the file, record or key (`error: ...` on stderr), and no traceback,
* no file or folder left behind (the case's folder is listed before and after),
* a peak RSS under 500 MB: the child's own high-water mark (`VmHWM` in /proc/self/status, written at
  exit by a small wrapper around the CLI). Not `ru_maxrss` from `wait4`: Linux keeps that across
  fork and exec, so a child forked from a pytest process that has grown to 900 MB in a full run
  reports 900 MB. The bound is on the whole process: `import torch` alone costs about 220 MB here
  and `medmllm --help` about 70 MB, both well under it, so the bound still catches any bomb (each
  would take 0.5-16 GB).

Cases run in parallel once per session (a module fixture); each test then checks one result. A FIFO
case that blocks is killed after 60 s and fails.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import hostile_text  # noqa: F401  (registers its cases)
from hostile_files import CASES

MAX_RSS_MB = 500
REPO = Path(__file__).resolve().parents[1]


def _listing(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.is_dir(), p.stat().st_size if p.is_file() else 0)
            for p in sorted(folder.rglob("*"))}


# `python -m medmllm.cli ARGS`, recording the process's own peak RSS (kB) in $HWM_FILE when it exits
_WRAPPER = """import atexit, os, runpy, sys
def _hwm():
    with open('/proc/self/status') as f, open(os.environ['HWM_FILE'], 'w') as out:
        out.write(next(line.split()[1] for line in f if line.startswith('VmHWM:')))
atexit.register(_hwm)
sys.argv = ['medmllm'] + sys.argv[1:]
runpy.run_module('medmllm.cli', run_name='__main__', alter_sys=True)
"""


def run_cli(args: list, env: dict | None = None, timeout: float = 60.0) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, peak RSS in MB; inf when the child did not exit normally)."""
    import tempfile

    fd, hwm_file = tempfile.mkstemp(prefix="hwm-")
    os.close(fd)
    full_env = {**os.environ, "MEDMLLM_DEBUG": "", "PYTHONPATH": str(REPO), "HWM_FILE": hwm_file, **(env or {})}
    proc = subprocess.Popen([sys.executable, "-c", _WRAPPER, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=full_env, cwd=REPO, text=True)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    out, err = [], []
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read())) for s, b in ((proc.stdout, out), (proc.stderr, err))]
    for t in readers:
        t.start()
    _, status, _ = os.wait4(proc.pid, 0)
    timer.cancel()
    for t in readers:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        rss = int(Path(hwm_file).read_text()) / 1024
    except ValueError:  # killed, or exited before atexit ran
        rss = float("inf")
    finally:
        os.unlink(hwm_file)
    return proc.returncode, out[0], err[0], rss


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    built = {}
    for name in CASES:  # built in turn (concurrent first imports of pydicom fail), run in parallel
        folder = tmp_path_factory.mktemp(name)
        try:
            built[name] = (CASES[name](folder), folder)
        except Exception as e:  # a broken builder fails its own case only
            built[name] = (e, folder)

    def one(name):
        spec, folder = built[name]
        if isinstance(spec, Exception):
            return spec, folder, {}, {}, None, "", "", 0.0
        before = _listing(folder)
        code, out, err, rss = run_cli(spec.args, spec.env)
        return spec, folder, before, _listing(folder), code, out, err, rss

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(CASES, pool.map(one, CASES)))


def test_enough_cases():
    assert len(CASES) >= 60, len(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input(results, name):
    spec, folder, before, after, code, out, err, rss = results[name]
    if isinstance(spec, Exception):
        raise spec
    where = f"{name}: exit {code}, rss {rss:.0f} MB\nstdout: {out[-600:]}\nstderr: {err[-600:]}"
    assert "Traceback" not in err + out, where
    assert code == spec.code, where
    if spec.stream == "stderr":
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), where
    else:
        lines = [line for line in out.splitlines() if any(n in line for n in spec.needles)][:1]
        assert lines, where
    for needle in spec.needles:
        assert str(needle) in lines[0], where
    assert after == before, f"{name}: left behind {set(after) - set(before)}"
    assert rss < MAX_RSS_MB, where
    assert not (folder / "UNPICKLED").exists(), "a pickle was unpickled"


def test_baseline_memory():
    """The floor the 500 MB bound sits on: the CLI's own start-up (see the module docstring)."""
    code, _, _, rss = run_cli(["--help"])
    assert code == 0 and rss < 200, rss


def test_peak_memory_summary(results, capsys):
    """The largest peak RSS over all cases (printed with -s; asserted per case above)."""
    peaks = {name: r[-1] for name, r in results.items()}
    worst = max(peaks, key=peaks.get)
    with capsys.disabled():
        print(f"\nhostile cases: {len(peaks)}, peak RSS max {peaks[worst]:.0f} MB ({worst})")
    assert peaks[worst] < MAX_RSS_MB
