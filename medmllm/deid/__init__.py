"""De-identification: DICOM folders (PS3.15 Annex E Basic Profile, via dicognito) and report text.

``deid_folder(in_dir, out_dir, salt=...)`` writes a de-identified copy of a DICOM folder plus an audit
CSV; ``scrub_text(text, names=[...])`` replaces the HIPAA Safe Harbor identifiers that occur in free
text (names without a list, dates, ages over 89, addresses, institutions, contacts, IDs) with placeholders. The CLI commands are ``medmllm deid`` and ``medmllm deid-text``.
"""

from __future__ import annotations

from .dicom import AUDIT_NAME, deid_folder
from .text import Finding, load_names, scrub_text

__all__ = ["deid_folder", "scrub_text", "load_names", "Finding", "AUDIT_NAME"]
