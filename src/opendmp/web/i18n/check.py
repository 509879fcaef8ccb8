"""The catalogue checker: ``python -m opendmp.web.i18n check [LOCALE_DIR]``.

One line per problem, exit status 1 if there is any: a key in one language and not in the
other (per domain), a key in two domains, an empty or fuzzy ``msgstr``, placeholders
(``{name}``, ``%(name)s``) that differ between French and English or do not parse, a file that
does not read. Translators run it before committing (docs/architecture.md, "Portal wording").
"""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Iterator, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path

from opendmp.web.i18n.catalogues import LANGUAGES, SHIPPED, Catalogues, Entry, read

_PRINTF = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
FIRST, SECOND = LANGUAGES


def placeholders(text: str) -> set[str]:
    """``{name}`` fields (with their conversion and format) and ``%(name)s`` fields of a text;
    ``ValueError`` if the braces do not parse."""
    fields = {
        "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        for _, name, spec, conversion in string.Formatter().parse(text)
        if name is not None
    }
    return fields | {match.group(0) for match in _PRINTF.finditer(text)}


def _shown(fields: set[str]) -> str:
    return " ".join(sorted(fields)) or "none"


def _entry_problems(key: str, entry: Entry) -> Iterator[str]:
    if not entry.text:
        yield f'{entry.where}: "{key}" has an empty msgstr'
    if entry.fuzzy:
        yield f'{entry.where}: "{key}" is marked fuzzy (gettext would not use it)'
    try:
        placeholders(entry.text)
    except ValueError as error:
        yield f'{entry.where}: "{key}" has a malformed placeholder ({error})'


def _pair_problems(key: str, first: Entry, second: Entry) -> Iterator[str]:
    try:
        ours, theirs = placeholders(first.text), placeholders(second.text)
    except ValueError:
        return  # reported on the entry itself
    if ours != theirs:
        yield (
            f'{second.where}: "{key}" placeholders differ: {FIRST} {_shown(ours)} '
            f"({first.where}), {SECOND} {_shown(theirs)}"
        )


def _domain_problems(catalogues: Catalogues, domain: str) -> Iterator[str]:
    first, second = catalogues.of(FIRST, domain), catalogues.of(SECOND, domain)
    for key, entry in first.items():
        if key not in second:
            yield f'{entry.where}: "{key}" is missing from {SECOND}/LC_MESSAGES/{domain}.po'
    for key, entry in second.items():
        if key not in first:
            yield f'{entry.where}: "{key}" is missing from {FIRST}/LC_MESSAGES/{domain}.po'
    for lang_entries in (first, second):
        for key, entry in lang_entries.items():
            yield from _entry_problems(key, entry)
    for key in first.keys() & second.keys():
        yield from _pair_problems(key, first[key], second[key])


def _clashes(catalogues: Catalogues) -> Iterator[str]:
    seen: dict[tuple[str, str], Entry] = {}
    for (lang, _domain), entries in sorted(catalogues.entries.items()):
        for key, entry in entries.items():
            earlier = seen.setdefault((lang, key), entry)
            if earlier is not entry:
                yield f'{entry.where}: "{key}" is already defined in {earlier.where}'


def problems(root: Traversable = SHIPPED) -> list[str]:
    """Every problem of the catalogues under ``root``, sorted (empty when all is well)."""
    catalogues = read(root)
    found = list(catalogues.unreadable) + list(_clashes(catalogues))
    if not catalogues.entries:
        found.append(f"{root}: no catalogue (expected <lang>/LC_MESSAGES/<domain>.po)")
    for domain in catalogues.domains():
        found.extend(_domain_problems(catalogues, domain))
    return sorted(found, key=_natural)


def _natural(line: str) -> list[tuple[int, str]]:
    """Sort ``common.po:30`` before ``common.po:180``."""
    return [(int(part), "") if part.isdigit() else (0, part) for part in re.split(r"(\d+)", line)]


def main(argv: Sequence[str]) -> int:
    """``check [LOCALE_DIR]``: print the problems, 1 if any, 0 otherwise; 2 on a usage error."""
    if not argv or argv[0] != "check" or len(argv) > 2:
        print("usage: python -m opendmp.web.i18n check [LOCALE_DIR]", file=sys.stderr)
        return 2
    root: Traversable = Path(argv[1]) if len(argv) == 2 else SHIPPED
    found = problems(root)
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} problem(s) in {root}", file=sys.stderr)
        return 1
    print(f"catalogues OK: {root}", file=sys.stderr)
    return 0
