"""The portals' wording, French first with an English variant: ``t(key, lang, **params)``.

Every string a person reads on a portal page comes from here; templates call ``t("key")``
(bound to the request's language). The texts live in gettext catalogues,
``web/locale/<lang>/LC_MESSAGES/<domain>.po`` (``common``, ``patient``, ``pro``, ``site``),
whose message ids are the keys; they are read once, at the first lookup (``catalogues.py``).
A missing English entry falls back to French, a missing key shows the key itself (``python
-m opendmp.web.i18n check`` and the tests keep both catalogues complete). Error pages map an
``OpenDMPError`` code to ``errors.<code>`` and fall back to a generic sentence.

The language is chosen with a link that stores it in the ``opendmp_lang`` cookie; French is
the default (the service's language).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Literal

from opendmp.web.i18n import catalogues

Lang = Literal["fr", "en"]
LANGUAGES: tuple[Lang, ...] = ("fr", "en")
DEFAULT: Lang = "fr"
COOKIE = "opendmp_lang"


@functools.cache
def catalogue() -> Mapping[str, Mapping[str, str]]:
    """The shipped wording, key → language → text, read once per process."""
    return catalogues.wording(catalogues.read())


def has(key: str) -> bool:
    """Whether ``key`` is a wording key (some callers try a specific key, then a general one)."""
    return key in catalogue()


def language_of(value: str | None) -> Lang:
    """``en`` for English, French otherwise (the default)."""
    return "en" if (value or "").lower().startswith("en") else "fr"


def t(key: str, lang: str = DEFAULT, /, **params: object) -> str:
    """The wording of ``key`` in ``lang`` (French if missing), formatted with ``params``."""
    entry = catalogue().get(key)
    if entry is None:
        return key
    text = entry.get(language_of(lang)) or entry.get(DEFAULT, key)
    return text.format(**params) if params else text
