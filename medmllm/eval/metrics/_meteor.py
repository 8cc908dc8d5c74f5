"""METEOR through pycocoevalcap's meteor-1.5.jar, with the stdin protocol pycocoevalcap uses.

The jar takes several seconds to start (the JVM and its 62 MB paraphrase table), so one process is
kept for the life of this one and reused by every call, as pycocoevalcap's `Meteor` object does
(an evaluation scores reports and reasoning, with real and blank inputs: four starts before). A
call that fails kills it; the next call starts a new one; it is killed at exit."""
from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import subprocess
import threading

from ...errors import MedMLLMError

UNAVAILABLE = "meteor: unavailable (needs Java and pycocoevalcap's meteor-1.5.jar)"
_LOCK = threading.Lock()
_PROC: subprocess.Popen | None = None


def meteor_jar() -> str | None:
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        return None
    jar = os.path.join(list(spec.submodule_search_locations)[0], "meteor", "meteor-1.5.jar")
    return jar if os.path.isfile(jar) else None


def available() -> bool:
    return shutil.which("java") is not None and meteor_jar() is not None


def _clean(text: str) -> str:
    # a newline would end the protocol line early and desynchronise the jar (pycocoevalcap breaks)
    return text.replace("\r", " ").replace("\n", " ")


def _process(jar: str) -> subprocess.Popen:
    """The running jar, started on first use (call with `_LOCK` held)."""
    global _PROC
    if _PROC is None or _PROC.poll() is not None:
        cmd = ["java", "-jar", "-Xmx2G", os.path.basename(jar), "-", "-", "-stdio", "-l", "en", "-norm"]
        try:
            _PROC = subprocess.Popen(cmd, cwd=os.path.dirname(jar), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError as e:
            raise MedMLLMError(f"{UNAVAILABLE}: {e}") from None
    return _PROC


@atexit.register
def _stop() -> None:
    """Kill the jar (at exit, or after a failed call, whose process may be out of step)."""
    global _PROC
    if _PROC is not None:
        for close in (_PROC.stdin.close, _PROC.kill, _PROC.wait):
            try:
                close()
            except OSError:
                pass
        _PROC = None


def meteor_scores(hyps: list[str], refs: list[list[str]]) -> tuple[float, list[float]]:
    """(corpus METEOR, per-sample METEOR) exactly as pycocoevalcap.meteor.Meteor computes them."""
    jar = meteor_jar()
    if shutil.which("java") is None or jar is None:
        raise MedMLLMError(UNAVAILABLE)
    with _LOCK:
        p = _process(jar)
        try:
            eval_line = "EVAL"
            for h, rs in zip(hyps, refs):
                h = _clean(h).replace("|||", "").replace("  ", " ")
                line = " ||| ".join(("SCORE", " ||| ".join(_clean(r) for r in rs), h))
                p.stdin.write(f"{line}\n".encode())
                p.stdin.flush()
                stat = p.stdout.readline().decode().strip()
                if not stat:
                    raise MedMLLMError("meteor: the jar returned no statistics")
                eval_line += f" ||| {stat}"
            p.stdin.write(f"{eval_line}\n".encode())
            p.stdin.flush()
            per = [float(p.stdout.readline().strip()) for _ in hyps]
            corpus = float(p.stdout.readline().strip())
        except (OSError, ValueError) as e:
            _stop()
            raise MedMLLMError(f"meteor: the jar failed: {e}") from None
        except BaseException:
            _stop()
            raise
    return corpus, per
