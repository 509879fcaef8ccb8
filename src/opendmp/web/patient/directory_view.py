"""The search of the professional directory on the patient's "My professionals" page
(services/directory/search.py): the patient finds a professional by name, profession and
town, then authorises, blocks or names them treating doctor with one button — the forms
post the IdNat_PS the rules keep, which the patient never types (docs/portals.md)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from opendmp.domain.codes import PROFESSIONS
from opendmp.domain.errors import InvalidInput
from opendmp.domain.policy import DOCTOR
from opendmp.services.directory.search import DirectoryQuery, search_directory
from opendmp.web import i18n
from opendmp.web.common import ctx_of, language
from opendmp.web.patient.texts import profession_label, specialty_label

# The query parameters of the search form, and their longest accepted value.
PARAMETERS = {"nom": 80, "profession": 8, "ville": 80}


def _hit_row(hit: Any, lang: str, known: dict[str, dict[str, Any]]) -> dict[str, Any]:
    row = known.get(hit.idnat, {})
    return {
        "idnat": hit.idnat,
        "name": hit.name,
        "kind": "professional",
        "profession": profession_label(hit.profession, lang),
        "specialty": specialty_label(hit.specialty, lang),
        "place": " ".join(part for part in (hit.postal_code, hit.town) if part),
        "doctor": hit.profession == DOCTOR,
        "blocked": row.get("blocked", False),
        "treating": row.get("treating", False),
        "authorized": row.get("state") == "VALIDE",
    }


async def directory_search(
    request: Request, access_rows: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The search's context (None when nothing was asked): the values typed, the results
    with what the patient already decided about each (``access_rows``), or the problem."""
    values = {
        name: request.query_params.get(name, "").strip()[:longest]
        for name, longest in PARAMETERS.items()
    }
    lang = language(request)
    professions = sorted(
        ((code, profession_label(code, lang)) for code in PROFESSIONS), key=lambda p: p[1]
    )
    found: dict[str, Any] = {
        "typed": values,
        "professions": professions,
        "asked": False,
        "problem": None,
        "hits": [],
        "more": False,
    }
    if "nom" not in request.query_params:
        return found
    found["asked"] = True
    profession = values["profession"] if values["profession"] in PROFESSIONS else None
    query = DirectoryQuery(values["nom"], profession=profession, town=values["ville"] or None)
    try:
        results = await search_directory(ctx_of(request), query)
    except InvalidInput as error:
        found["problem"] = i18n.t(f"patient.find.{error.code}", lang)
        return found
    known = {row["idnat"]: row for row in access_rows if row["kind"] == "professional"}
    found["hits"] = [_hit_row(hit, lang, known) for hit in results.hits]
    found["more"] = results.more
    return found
