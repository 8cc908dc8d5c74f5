"""`make bench`'s runner on a folder of fake sections: the report, a failing section, the ratios."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench"

OK = f"""
import sys
sys.path.insert(0, {str(BENCH)!r})
from _common import Figure, args, emit
a = args()
emit("a_ok", [Figure("rate", "items/s", [10.0, 12.0, 11.0], [5.0, 5.0, 6.0], "plain loop", True, 2.0),
              Figure("time", "ms", [2.0, 2.0, 3.0], [4.0, 4.0, 4.0], "plain loop", False, 3.0),
              Figure("absolute", "ms", [7.0] * a.reps)], a.json)
"""
FAIL = "import sys\nprint('working', file=sys.stderr)\nraise SystemExit('boom: broken on purpose')\n"


def test_runner_report(tmp_path: Path) -> None:
    sections = tmp_path / "sections"
    sections.mkdir()
    (sections / "a_ok.py").write_text(OK)
    (sections / "b_fail.py").write_text(FAIL)
    (sections / "_helper.py").write_text("raise SystemExit('a helper is not a section')\n")
    out = tmp_path / "out" / "RESULTS.md"
    run = subprocess.run([sys.executable, str(BENCH), "--sections", str(sections), "--data", str(tmp_path),
                          "--out", str(out), "--reps", "2"], check=False, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr  # a section failed: reported, the run still completes
    md, res = out.read_text(), json.loads(out.with_suffix(".json").read_text())
    assert [s["name"] for s in res["sections"]] == ["a_ok", "b_fail"]
    ok, fail = res["sections"]
    assert ok["runs"]["quiet"]["ok"] and ok["runs"]["busy"]["ok"]
    assert not fail["runs"]["quiet"]["ok"] and "boom: broken on purpose" in fail["runs"]["quiet"]["error"]
    assert res["matmul_peak"]["gflops"] > 0 and res["machine"]["cores"] >= 1
    assert ok["runs"]["quiet"]["peak_mb"] < 200  # the child's own memory, not the runner's
    assert "| figure | ours | baseline | ratio | target | met? | busy × (≤ 2.5) | note |" in md
    assert "| rate [items/s] | 11 (10–12) | 5 (5–6) plain loop | 2.20× | 2× | yes | 1.00× (yes) |" in md
    assert "| time [ms] | 2 (2–3) | 4 (4–4) plain loop | 2.00× | 3× | **no** | 1.00× (yes) |" in md  # base / ours
    assert "| absolute [ms] | 7 (7–7) | – | – | – | – | 1.00× (yes) |" in md
    assert "**failed**: exit status 1: boom: broken on purpose" in md
    assert "fp32 matmul peak" in md and "--sections" in md and "## How to read this" in md


def test_busy_factor() -> None:
    sys.path.insert(0, str(BENCH))
    from _report import busy_factor

    assert busy_factor({"ours": [100.0], "higher_better": False}, {"ours": [250.0]}) == 2.5  # times: busy / quiet
    assert busy_factor({"ours": [100.0], "higher_better": True}, {"ours": [40.0]}) == 2.5  # rates: quiet / busy
    assert busy_factor({"ours": [100.0]}, None) is None
