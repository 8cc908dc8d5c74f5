"""Put the Open-i (IU X-ray) report XMLs where the real-report tests look for them.

The reports ship inside the torchxrayvision 1.5.7 wheel (data/NLMCXR_reports.tgz, 3,955 reports,
CC BY-NC-ND); they are never stored in this repository. `make test` runs this first: it
downloads the wheel from the package index without its dependencies (29 MB), unpacks only the
reports into ~/.cache/medmllm/nlmcxr (or $MEDMLLM_NLMCXR_DIR) and deletes the wheel. When the
folder is already there it does nothing; when the download fails it says so and exits 0, and
the tests that need the reports are skipped.

    python tests/fetch_openi.py
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "torchxrayvision==1.5.7"
MEMBER = "torchxrayvision/data/NLMCXR_reports.tgz"


def _candidates() -> list[Path]:
    return [Path(d) for d in (os.environ.get("MEDMLLM_NLMCXR_DIR"), Path.home() / ".cache" / "medmllm" / "nlmcxr") if d]


def reports_dir() -> Path | None:
    """The folder holding the report XMLs: $MEDMLLM_NLMCXR_DIR, then ~/.cache/medmllm/nlmcxr, each
    itself or its `ecgen-radiology` subfolder; None when none has them (the tests then skip)."""
    for d in _candidates():
        for cand in (d, d / "ecgen-radiology"):
            if any(cand.glob("*.xml")):
                return cand
    return None


def main() -> int:
    if reports_dir() is not None:
        return 0
    dest = _candidates()[0]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:  # beside dest, so the final rename is atomic
        got = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                              "-d", tmp, WHEEL], capture_output=True, text=True)
        wheels = list(Path(tmp).glob("torchxrayvision-*.whl"))
        if got.returncode != 0 or not wheels:
            last = (got.stderr.strip().splitlines() or ["no wheel"])[-1]
            print(f"fetch_openi: could not download {WHEEL} ({last}); the real-report tests will be skipped")
            return 0
        with zipfile.ZipFile(wheels[0]) as z:
            z.extract(MEMBER, tmp)
        with tarfile.open(Path(tmp) / MEMBER) as t:
            t.extractall(Path(tmp) / "xml", members=[m for m in t.getmembers() if m.isfile() and m.name.endswith(".xml")],
                         filter="data")
        found = list((Path(tmp) / "xml").rglob("*.xml"))
        if not found:
            print(f"fetch_openi: no report XMLs in {WHEEL}'s {MEMBER}; the real-report tests will be skipped")
            return 0
        if dest.exists():  # an empty folder left by hand or by an older layout
            shutil.rmtree(dest)
        found[0].parent.rename(dest)  # complete or not at all: the tests never see a half-written folder
    print(f"fetch_openi: {len(found)} Open-i reports in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
