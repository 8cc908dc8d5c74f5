"""A user's name list (``--names``): every listed name wherever it appears, matched on word tokens.

A full name matches in any case and in either order ("Garcia, Maria", "MARIA GARCIA"), with any
spaces, commas or carets between its parts; a single part of a multi-word name (two letters or
more) matches when written capitalised or in capitals, so "Mark Bone" on the list does not eat the
words "mark" and "bone". Matching walks the text's words once and looks each up in a dict, so its
cost is linear in the text whatever the size of the list.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ...errors import MedMLLMError
from .linear import compile_re, spans

__all__ = ["load_names", "NameList"]

_WORD_RE = compile_re(r"(?P<v>[A-Za-z0-9][A-Za-z0-9'.-]*[A-Za-z0-9]|[A-Za-z0-9])")  # on the ASCII proxy


def load_names(path: str | Path) -> list[str]:
    """Read a names file: one name per line (``First Last``, ``Last, First`` or ``LAST^FIRST``); ``#`` comments."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise MedMLLMError(f"{p}: cannot read names file ({type(e).__name__}: {e})") from None
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


class NameList:
    """The listed names, indexed by their first word (lower case)."""

    def __init__(self, names: Iterable[str]):
        self.full: dict[str, set[tuple[str, ...]]] = {}
        self.parts: set[str] = set()
        for name in names:
            toks = tuple(str(name).replace(",", " ").replace("^", " ").lower().split())
            if not toks:
                continue
            for seq in {toks, tuple(reversed(toks))}:
                self.full.setdefault(seq[0], set()).add(seq)
            if len(toks) > 1:
                self.parts.update(t for t in toks if len(t.rstrip(".")) >= 2)
        self.longest = max((len(s) for seqs in self.full.values() for s in seqs), default=0)

    def __bool__(self) -> bool:
        return bool(self.full)

    def spans(self, text: str) -> list[tuple[int, int]]:
        words = list(spans(_WORD_RE, text, "v"))
        out = []
        for i, (a, b) in enumerate(words):
            if text[b - 2:b].lower() in ("'s", "’s"):  # a possessive: match the name, keep the 's
                b -= 2
                words[i] = (a, b)
            key = text[a:b].lower()
            best = None
            for seq in self.full.get(key, ()):
                j = i + len(seq) - 1
                if j < len(words) and all(text[words[i + k][0]:words[i + k][1]].lower() == seq[k]
                                          for k in range(len(seq))) \
                        and all(not text[words[i + k][1]:words[i + k + 1][0]].strip(" ,^\t")
                                for k in range(len(seq) - 1)):
                    best = max(best or 0, words[j][1])
            if best is not None:
                out.append((a, best))
            elif key in self.parts and (text[a:b][0].isupper()):
                out.append((a, b))
        return out
