"""The patient's own matrix in "Mes choix" (docs/rules.md §3.6, docs/portals.md): the
professions grouped by kind under headings, one folded block per profession, one checkbox
per document category the official matrix lets it read (ticked: it still reads them), and a
filter that narrows the list (a GET form; ``static/matrix-filter.js`` narrows as one types).
Shaping only; ``services.access.matrix_choices`` decides and stores."""

from __future__ import annotations

import unicodedata
from typing import Any

from opendmp.services.access.matrix_choices import MatrixChoices, ProfessionChoice
from opendmp.web import i18n
from opendmp.web.patient.texts import profession_label, specialty_label

# Kinds of professions (TRE_G15 codes), in the order shown: after the Code de la santé
# publique's books (medical professions, pharmacy, auxiliaires médicaux), the auxiliaries
# split by what they do. A profession the matrix has and this table lacks goes to "other".
PROFESSION_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("doctors", ("10",)),
    ("medical", ("40", "50")),
    ("pharmacy", ("21",)),
    ("nursing", ("60", "69")),
    ("rehabilitation", ("70", "80", "91", "92", "94", "95", "96")),
    ("appliances", ("26", "28", "81", "82", "83", "84", "85")),
    ("technical", ("32", "86", "98")),
)
OTHER_KIND = "other"
FILTER_MAX = 100
_KIND_OF = {code: kind for kind, codes in PROFESSION_KINDS for code in codes}


def category_label(category: str, lang: str) -> str:
    return i18n.t(f"patient.matrix.category.{category}", lang)


def searchable(text: str) -> str:
    """Lower case, without accents or repeated spaces: what the filter compares (the script
    does the same)."""
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.lower().split())


def matches(haystack: str, query: str) -> bool:
    """Every word of ``query`` is in ``haystack`` (both :func:`searchable`)."""
    return all(word in haystack for word in query.split())


def matrix_context(choices: MatrixChoices, lang: str, query: str = "") -> dict[str, Any]:
    """What ``patient/_matrix.html`` shows: the groups of professions that match ``query``
    (all of them when it is empty)."""
    wanted = searchable(query[:FILTER_MAX])
    groups = []
    for kind in [k for k, _ in PROFESSION_KINDS] + [OTHER_KIND]:
        label = i18n.t(f"patient.matrix.kind.{kind}", lang)
        members = [
            _profession(p, label, lang)
            for p in choices.professions
            if p.offered and _KIND_OF.get(p.profession, OTHER_KIND) == kind
        ]
        shown = sorted(
            (p for p in members if matches(p["search"], wanted)),
            key=lambda p: searchable(p["label"]),
        )
        if shown:
            groups.append({"kind": kind, "label": label, "professions": shown})
    by_specialty = [
        {
            "profession": profession_label(n.profession, lang),
            "specialty": specialty_label(n.specialty, lang) or n.specialty,
            "category": category_label(n.category, lang),
        }
        for n in choices.narrowings
        if n.specialty is not None
    ]
    return {
        "matrix_groups": groups,
        "matrix_filter": query[:FILTER_MAX].strip(),
        "matrix_by_specialty": by_specialty,
    }


def _profession(choice: ProfessionChoice, kind_label: str, lang: str) -> dict[str, Any]:
    label = profession_label(choice.profession, lang)
    return {
        "code": choice.profession,
        "label": label,
        "search": searchable(f"{label} {kind_label}"),
        "narrowed": len(choice.narrowed),
        "categories": [
            {"code": c, "label": category_label(c, lang), "readable": c not in choice.narrowed}
            for c in choice.offered
        ],
    }
