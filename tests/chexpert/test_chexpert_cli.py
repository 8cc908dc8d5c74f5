"""`medmllm label` through the real entry point: CSV, --json, --out, and a bad input line."""
import csv
import json
import subprocess
import sys

from medmllm.chexpert import OBSERVATIONS


def _run(*args):
    return subprocess.run([sys.executable, "-m", "medmllm.cli", "label", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_label_csv_and_json(tmp_path):
    reports = tmp_path / "reports.jsonl"
    reports.write_text(json.dumps({"id": "r1", "text": "No pneumothorax, but there is a small left effusion."}) + "\n"
                       + json.dumps({"id": "r2", "text": "Possible pneumonia. Endotracheal tube in place."}) + "\n")
    proc = _run(reports)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(proc.stdout.splitlines()))
    assert rows[0] == ["id", *OBSERVATIONS]
    r1 = dict(zip(rows[0], rows[1]))
    assert r1["id"] == "r1" and r1["Pneumothorax"] == "0.0" and r1["Pleural Effusion"] == "1.0"
    assert r1["Cardiomegaly"] == "" and r1["No Finding"] == ""
    r2 = dict(zip(rows[0], rows[2]))
    assert r2["Pneumonia"] == "-1.0" and r2["Support Devices"] == "1.0"

    out = tmp_path / "sub" / "labels.jsonl"
    proc = _run(reports, "--json", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and sorted(p.name for p in out.parent.iterdir()) == ["labels.jsonl"]
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert list(recs[0]) == ["id", *OBSERVATIONS]
    assert recs[0]["Pneumothorax"] == 0 and recs[0]["Pleural Effusion"] == 1 and recs[0]["Edema"] is None
    assert recs[1]["Pneumonia"] == -1 and recs[1]["id"] == "r2"


def test_label_bad_input(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "ok", "text": "Normal."}) + "\n" + json.dumps({"id": "x", "txt": "oops"}) + "\n")
    out = tmp_path / "labels.csv"
    proc = _run(bad, "--out", out)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"{bad}:2" in lines[0] and "text" in lines[0]
    assert "Traceback" not in proc.stderr and not out.exists()

    bad.write_text("{not json}\n")
    proc = _run(bad)
    assert proc.returncode == 2 and f"{bad}:1" in proc.stderr and "Traceback" not in proc.stderr

    proc = _run(tmp_path / "missing.jsonl")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "missing.jsonl" in proc.stderr
