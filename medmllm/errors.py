"""User-facing errors: the CLI prints these as one line and exits non-zero."""


class MedMLLMError(Exception):
    """A problem with the user's input (a file, a record, a config key), reported in one line."""


class FieldError(MedMLLMError):
    """A bad value found by a config dataclass's `__post_init__`, which does not know where it sits
    in the run config: `field` is its own field name (dotted below it, e.g. `trainable.llm`) and
    `why` the problem; `config.from_dict` re-raises it naming the full key (`train.trainable.llm`)."""

    def __init__(self, field: str, why: str):
        super().__init__(f"'{field}': {why}")
        self.field, self.why = field, why


def brief(error: BaseException | str, limit: int = 100) -> str:
    """The first line of an exception's message, cut at a word boundary (for one-line errors)."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else (type(error).__name__ if isinstance(error, BaseException) else "")
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0]
    return (cut if len(cut) > limit // 2 else line[:limit]) + "…"
