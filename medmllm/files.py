"""Writing files and folders so that nobody ever sees half of one (a leaf: imports only `errors`).

Everything medmllm writes (manifests, models, plots, results, de-identified files) is written under
a hidden temporary name beside its destination and renamed into place with `os.replace`, which is
atomic on one file system. A failure, or Ctrl-C, removes the temporary and leaves the destination
as it was, and removes the parent folders the write created. A file destination that is an existing
folder is refused in one line before anything is written. The temporary keeps the destination's
suffix, so writers that pick a format from the name (matplotlib's `savefig`) still work.

    with atomic_path(out / "loss.png") as tmp:     # any writer that takes a path
        fig.savefig(tmp)
    with atomic_open(out / "m.jsonl") as f:        # streamed text
        f.write(line)
    atomic_write(out / "results.json", text)       # text or bytes at once
    with atomic_folder(out / "model") as tmp:      # a whole folder, replacing the old one
        model.save_pretrained(tmp)
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import MedMLLMError


def _sibling(path: Path) -> Path:
    """A hidden temporary name beside `path`, unique to this process, with the same suffix."""
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write `path` through; it is renamed onto `path` when the block
    ends without an error, and removed otherwise. Parent folders are created."""
    path = Path(path)
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path)
    _remove(tmp)
    done = False
    try:
        yield tmp
        os.replace(tmp, path)
        done = True
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)
        for folder in created if not done else []:  # innermost first: only the ones left empty
            try:
                folder.rmdir()
            except OSError:
                break


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """`open(path, mode)` through `atomic_path`: the file appears whole when the block ends."""
    if Path(path).is_dir():
        raise MedMLLMError(f"{path}: is a folder; give a file name to write")
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if "b" in mode else encoding) as f:
        yield f


def atomic_write(path: str | Path, data: str | bytes, encoding: str = "utf-8") -> Path:
    """Write text or bytes to `path` atomically; returns `path`."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w", encoding) as f:
        f.write(data)
    return Path(path)


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder to fill; when the block ends without an error it replaces
    `path` (a folder already there is removed just before the rename); otherwise it is removed."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.mkdir()
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
