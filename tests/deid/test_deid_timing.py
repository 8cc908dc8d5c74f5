"""A crafted megabyte report through `medmllm deid` (the folder command), as through `deid-text`:
the scrubber's patterns run in RE2, so the extra CPU time over a one-line report stays under 5 s."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

MB = 1_000_000


def _cpu_seconds(args: list) -> float:
    """CPU seconds (user + system) of `medmllm ARGS` in a child; it must exit 0."""
    env = {**os.environ, "MEDMLLM_DEBUG": ""}
    proc = subprocess.Popen([sys.executable, "-m", "medmllm.cli", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0, err
    return usage.ru_utime + usage.ru_stime


@pytest.mark.parametrize("line", ["a@b." * (MB // 4), "Dr. " * (MB // 4), "a:" * (MB // 2)], ids=["email-like", "dr", "a-colon"])
def test_a_megabyte_line_through_deid_in_linear_time(tmp_path, line):
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "report.txt").write_text("Seen by Dr. Smith on 3/14.\n")
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "report.txt").write_text(line + "\n")
    base = _cpu_seconds(["deid", tmp_path / "small", tmp_path / "out-small", "--salt", "s"])
    big = _cpu_seconds(["deid", tmp_path / "big", tmp_path / "out-big", "--salt", "s"])
    assert big - base < 5.0, f"{big:.1f} s CPU against {base:.1f} s for a one-line report"
    written = [p for p in (tmp_path / "out-big").rglob("*.txt")]
    assert len(written) == 1 and written[0].stat().st_size > MB // 2  # scrubbed, not dropped
