"""benchmarks/gpu.py runs only where a GPU is lent; its --smoke mode runs the same code on CPU here."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_script_smoke(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks/gpu.py"), "--out", str(tmp_path), "--smoke"],
                         check=False, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((tmp_path / "gpu.json").read_text())
    assert [t["attention"] for t in result["train"]][:2] == ["eager", "sdpa"]
    assert all(t["step_ms"] > 0 and 0 < t["mfu"] for t in result["train"])
    assert [d["batch"] for d in result["decode"]] == [1, 4] and all(d["ratio"] > 0 for d in result["decode"])
    assert "| decode batch |" in (tmp_path / "gpu.md").read_text()


def test_gpu_script_refuses_without_cuda(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks/gpu.py"), "--out", str(tmp_path)],
                         check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0 and "no CUDA device" in out.stderr
