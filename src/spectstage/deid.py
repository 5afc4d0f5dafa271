"""De-identification: keyed pseudonyms for IDs, and redaction of messages that may name them.

Nothing derived ever copies a DICOM header's names, IDs, dates or institutions (readers
keep only geometry, pixel data, age in years and sex). Folder names are often medical
record numbers, so with `pseudonymise: true` patient and scan IDs become keyed hashes:
the key comes from the environment and is never written; without it the mapping cannot
be rebuilt, with it `spectstage pseudonyms` writes one where the user asks.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re

from spectstage.errors import InputError

KEY_VARIABLE = "SPECTSTAGE_PSEUDONYM_KEY"
PREFIX = "sub-"
MIN_KEY_LENGTH = 16


def _key() -> bytes:
    key = os.environ.get(KEY_VARIABLE, "")
    if len(key) < MIN_KEY_LENGTH:
        raise InputError(
            f"pseudonymise is on: set {KEY_VARIABLE} to a secret of at least "
            f"{MIN_KEY_LENGTH} characters "
            "(keep it: the same key gives the same pseudonyms)"
        )
    return key.encode()


def pseudonym(identifier: str) -> str:
    digest = hmac.new(_key(), identifier.encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:16]


class Redactor(logging.Filter):
    """Replace original IDs by their pseudonyms in every log record and error message."""

    def __init__(self, identifiers: list[str]):
        super().__init__()
        ordered = sorted({i for i in identifiers if i}, key=len, reverse=True)  # longest first
        self.mapping = {i: pseudonym(i) for i in ordered}
        # Whole IDs only: a short ID such as "12" must not rewrite every number.
        alternatives = "|".join(map(re.escape, ordered))
        self.pattern = (
            re.compile(f"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])") if ordered else None
        )

    def __call__(self, text: str) -> str:
        return self.pattern.sub(lambda m: self.mapping[m.group(0)], text) if self.pattern else text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self(record.getMessage()), None
        return True
