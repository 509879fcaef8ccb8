"""Reading the portals' gettext catalogues, ``web/locale/<lang>/LC_MESSAGES/<domain>.po``.

The files are read as they are shipped, with Babel's PO reader, once per process: no compiled
``.mo`` file to build or to forget (docs/architecture.md, "Portal wording"). Every message id
is a wording key (``patient.menu.home``); the keys form one namespace across the domains.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from babel.messages.pofile import PoFileError, read_po

LANGUAGES = ("fr", "en")
SHIPPED: Traversable = files("opendmp.web").joinpath("locale")


@dataclass(frozen=True)
class Entry:
    """One translated message, with where it is written (``fr/LC_MESSAGES/pro.po:12``)."""

    text: str
    where: str
    fuzzy: bool


@dataclass(frozen=True)
class Catalogues:
    """Every catalogue of a locale directory: ``entries[(lang, domain)][key]``."""

    entries: dict[tuple[str, str], dict[str, Entry]]
    unreadable: tuple[str, ...]

    def domains(self) -> list[str]:
        return sorted({domain for _, domain in self.entries})

    def of(self, lang: str, domain: str) -> dict[str, Entry]:
        return self.entries.get((lang, domain), {})


def _po_files(root: Traversable, lang: str) -> list[Traversable]:
    folder = root.joinpath(lang, "LC_MESSAGES")
    if not folder.is_dir():
        return []
    return sorted(
        (item for item in folder.iterdir() if item.name.endswith(".po")), key=lambda i: i.name
    )


def _read_file(po: Traversable, label: str, lang: str) -> dict[str, Entry]:
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=lang, abort_invalid=True)
    return {
        str(message.id): Entry(str(message.string), f"{label}:{message.lineno}", message.fuzzy)
        for message in catalog
        if message.id
    }


def read(root: Traversable = SHIPPED) -> Catalogues:
    """Every ``.po`` file under ``root``; a file that does not parse is named in ``unreadable``."""
    entries: dict[tuple[str, str], dict[str, Entry]] = {}
    unreadable: list[str] = []
    for lang in LANGUAGES:
        for po in _po_files(root, lang):
            label = f"{lang}/LC_MESSAGES/{po.name}"
            try:
                entries[(lang, po.name.removesuffix(".po"))] = _read_file(po, label, lang)
            except (PoFileError, UnicodeDecodeError) as error:
                unreadable.append(f"{label}: unreadable: {error}")
    return Catalogues(entries, tuple(unreadable))


def wording(catalogues: Catalogues) -> dict[str, dict[str, str]]:
    """Key → language → text, as the lookup uses it; fuzzy and empty messages are left out,
    as gettext leaves them (the checker reports both)."""
    merged: dict[str, dict[str, str]] = {}
    for (lang, _domain), entries in sorted(catalogues.entries.items()):
        for key, entry in entries.items():
            if entry.text and not entry.fuzzy:
                merged.setdefault(key, {}).setdefault(lang, entry.text)
    return merged
