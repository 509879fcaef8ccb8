"""The information notice shown before consent, with its version and hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Notice:
    version: str
    sha256: str
    text: str


@cache
def current_notice(language: str = "fr") -> Notice:
    text = (resources.files("opendmp.data") / f"information-notice.{language}.md").read_text(
        encoding="utf-8"
    )
    version = next(
        line.removeprefix("Version ").strip()
        for line in text.splitlines()
        if line.startswith("Version ")
    )
    return Notice(version, hashlib.sha256(text.encode()).hexdigest(), text)
