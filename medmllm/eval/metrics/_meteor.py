"""METEOR through pycocoevalcap's meteor-1.5.jar, with the stdin protocol pycocoevalcap uses."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import threading

from ...errors import MedMLLMError

UNAVAILABLE = "meteor: unavailable (needs Java and pycocoevalcap's meteor-1.5.jar)"
_LOCK = threading.Lock()


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


def meteor_scores(hyps: list[str], refs: list[list[str]]) -> tuple[float, list[float]]:
    """(corpus METEOR, per-sample METEOR) exactly as pycocoevalcap.meteor.Meteor computes them."""
    jar = meteor_jar()
    if shutil.which("java") is None or jar is None:
        raise MedMLLMError(UNAVAILABLE)
    cmd = ["java", "-jar", "-Xmx2G", os.path.basename(jar), "-", "-", "-stdio", "-l", "en", "-norm"]
    with _LOCK:
        try:
            p = subprocess.Popen(cmd, cwd=os.path.dirname(jar), stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError as e:
            raise MedMLLMError(f"{UNAVAILABLE}: {e}") from None
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
            raise MedMLLMError(f"meteor: the jar failed: {e}") from None
        finally:
            try:
                p.stdin.close()
            except OSError:
                pass
            p.kill()
            p.wait()
    return corpus, per
