"""User-facing errors: the CLI prints these as one line and exits non-zero."""


class MedMLLMError(Exception):
    """A problem with the user's input (a file, a record, a config key), reported in one line."""


def brief(error: BaseException | str, limit: int = 100) -> str:
    """The first line of an exception's message, cut at a word boundary (for one-line errors)."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else (type(error).__name__ if isinstance(error, BaseException) else "")
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0]
    return (cut if len(cut) > limit // 2 else line[:limit]) + "…"
