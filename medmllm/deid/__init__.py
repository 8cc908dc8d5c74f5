"""De-identification: DICOM folders (PS3.15 Annex E, Table E.1-1 as data) and report text.

``deid_folder(in_dir, out_dir, salt=...)`` writes a de-identified copy of a folder under neutral names,
an audit CSV and a private input-to-output mapping; ``scrub_text(text, names=[...])`` replaces the
HIPAA Safe Harbor identifiers in free text (names without a list, dates, ages over 89, addresses,
institutions, contacts, IDs) with placeholders. The CLI commands are
``medmllm deid`` and ``medmllm deid-text``. Modules: ``profile`` (the table resolved to actions under
the options), ``rules`` (keyed UIDs and dummies, date shift, cleaning, the safe-private list),
``apply`` (one data set, every sequence depth), ``dataset`` (reading and writing one file),
``dicom`` (the folder), ``text`` (the report scrubber).
"""

from __future__ import annotations

from .dicom import AUDIT_NAME, MAPPING_SUFFIX, deid_folder
from .profile import Options, Profile
from .text import Finding, load_names, scrub_text

__all__ = ["deid_folder", "scrub_text", "load_names", "Finding", "AUDIT_NAME", "MAPPING_SUFFIX", "Options", "Profile"]
