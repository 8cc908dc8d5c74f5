"""`medmllm synth` from the command line: deterministic output, clear error for a bad modality."""
import subprocess
import sys


def _synth(*args):
    return subprocess.run([sys.executable, "-m", "medmllm.cli", "synth", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def test_synth_cli(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _synth("--out", a, "--modalities", "xray,ecg", "--n", 6, "--seed", 777).returncode == 0
    assert _synth("--out", b, "--modalities", "xray,ecg", "--n", 6, "--seed", 777).returncode == 0
    assert (a / "xray_vqa_test.jsonl").read_bytes() == (b / "xray_vqa_test.jsonl").read_bytes()
    assert (a / "ecg" / "ecg-00000.dat").read_bytes() == (b / "ecg" / "ecg-00000.dat").read_bytes()
    bad = _synth("--out", tmp_path / "c", "--modalities", "xray,mri")
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1].startswith("error: unknown modality 'mri'")
