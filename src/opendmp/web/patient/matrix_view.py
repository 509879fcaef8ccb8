"""The patient's own matrix in "Mes choix" (docs/rules.md §3.6, docs/portals.md): one
folded block per profession, one checkbox per document category the official matrix lets
it read (ticked: it still reads them). Shaping only; ``services.access.matrix_choices``
decides and stores."""

from __future__ import annotations

from typing import Any

from opendmp.services.access.matrix_choices import MatrixChoices
from opendmp.web import i18n
from opendmp.web.patient.texts import profession_label, specialty_label


def category_label(category: str, lang: str) -> str:
    return i18n.t(f"patient.matrix.category.{category}", lang)


def matrix_context(choices: MatrixChoices, lang: str) -> dict[str, Any]:
    """What ``patient/_matrix.html`` shows."""
    professions = [
        {
            "code": p.profession,
            "label": profession_label(p.profession, lang),
            "narrowed": len(p.narrowed),
            "categories": [
                {"code": c, "label": category_label(c, lang), "readable": c not in p.narrowed}
                for c in p.offered
            ],
        }
        for p in choices.professions
        if p.offered
    ]
    by_specialty = [
        {
            "profession": profession_label(n.profession, lang),
            "specialty": specialty_label(n.specialty, lang) or n.specialty,
            "category": category_label(n.category, lang),
        }
        for n in choices.narrowings
        if n.specialty is not None
    ]
    return {"matrix": professions, "matrix_by_specialty": by_specialty}
