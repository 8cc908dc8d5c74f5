"""User-facing errors: the CLI prints these as one line and exits non-zero."""


class MedMLLMError(Exception):
    """A problem with the user's input (a file, a record, a config key), reported in one line."""
