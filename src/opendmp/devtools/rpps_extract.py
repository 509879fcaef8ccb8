"""Synthetic extracts in the format of the public RPPS extract
(``PS_LibreAcces_Personne_activite``): the demo's (``data/rpps-demo.txt``) and the tests'.

Every identity is fake: test RPPS numbers (``8997…``, as the demo's cards), names prefixed
``DEMO-``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from opendmp.domain.identifiers import luhn_check_digit

# The extract's header, in its order (56 columns).
HEADER = (
    "Type d'identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Code civilité d'exercice",
    "Libellé civilité d'exercice",
    "Code civilité",
    "Libellé civilité",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Code profession",
    "Libellé profession",
    "Code catégorie professionnelle",
    "Libellé catégorie professionnelle",
    "Code type savoir-faire",
    "Libellé type savoir-faire",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Code mode exercice",
    "Libellé mode exercice",
    "Numéro SIRET site",
    "Numéro SIREN site",
    "Numéro FINESS site",
    "Numéro FINESS établissement juridique",
    "Identifiant technique de la structure",
    "Raison sociale site",
    "Enseigne commerciale site",
    "Complément destinataire (coord. structure)",
    "Complément point géographique (coord. structure)",
    "Numéro Voie (coord. structure)",
    "Indice répétition voie (coord. structure)",
    "Code type de voie (coord. structure)",
    "Libellé type de voie (coord. structure)",
    "Libellé Voie (coord. structure)",
    "Mention distribution (coord. structure)",
    "Bureau cedex (coord. structure)",
    "Code postal (coord. structure)",
    "Code commune (coord. structure)",
    "Libellé commune (coord. structure)",
    "Code pays (coord. structure)",
    "Libellé pays (coord. structure)",
    "Téléphone (coord. structure)",
    "Téléphone 2 (coord. structure)",
    "Télécopie (coord. structure)",
    "Adresse e-mail (coord. structure)",
    "Code Département (structure)",
    "Libellé Département (structure)",
    "Ancien identifiant de la structure",
    "Autorité d'enregistrement",
    "Code secteur d'activité",
    "Libellé secteur d'activité",
    "Code section tableau pharmaciens",
    "Libellé section tableau pharmaciens",
    "Code rôle",
    "Libellé rôle",
    "Code genre activité",
    "Libellé genre activité",
)
PROFESSION_LABELS = {
    "10": "Médecin",
    "21": "Pharmacien",
    "40": "Chirurgien-Dentiste",
    "50": "Sage-Femme",
    "60": "Infirmier",
    "70": "Masseur-Kinésithérapeute",
}


def synthetic_rpps(n: int) -> str:
    """The ``n``-th test RPPS number (11 digits, Luhn key): ``997…``, never a real one."""
    body = f"997{n:07d}"
    return body + str(luhn_check_digit(body))


@dataclass(frozen=True, slots=True)
class Activity:
    """One line: a professional at one site."""

    number: int  # synthetic_rpps(number)
    family: str
    given: str
    profession: str
    specialty: str = ""
    town: str = ""
    postal_code: str = ""
    site: str = ""


def extract_line(activity: Activity) -> str:
    rpps = synthetic_rpps(activity.number)
    cells = dict.fromkeys(HEADER, "")
    cells.update(
        {
            "Type d'identifiant PP": "8",
            "Identifiant PP": rpps,
            "Identification nationale PP": "8" + rpps,
            "Nom d'exercice": activity.family,
            "Prénom d'exercice": activity.given,
            "Code profession": activity.profession,
            "Libellé profession": PROFESSION_LABELS.get(activity.profession, ""),
            "Code catégorie professionnelle": "C",
            "Libellé catégorie professionnelle": "Civil",
            "Code type savoir-faire": "S" if activity.specialty else "",
            "Code savoir-faire": activity.specialty,
            "Raison sociale site": activity.site,
            "Code postal (coord. structure)": activity.postal_code,
            "Libellé commune (coord. structure)": activity.town,
            "Code pays (coord. structure)": "99000" if activity.town else "",
            "Libellé pays (coord. structure)": "France" if activity.town else "",
        }
    )
    return "|".join(cells[name] for name in HEADER) + "|"


def extract_lines(activities: Iterable[Activity]) -> Iterator[str]:
    yield "|".join(HEADER) + "|"
    for activity in activities:
        yield extract_line(activity)


def write_extract(path: Path, activities: Iterable[Activity]) -> Path:
    """Write an extract, one line at a time (the tests write large ones)."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for line in extract_lines(activities):
            out.write(line + "\n")
    return path


def _demo_activities() -> tuple[Activity, ...]:
    site = "Centre Hospitalier de Démonstration"
    # The demo's cards (devtools/demo.py, numbers 1 to 6), at the demo establishment.
    cards = (
        Activity(1, "DEMO-GENERALISTE", "Paul", "10", "SM54", "Paris", "75012", site),
        Activity(2, "DEMO-PSYCHIATRE", "Inès", "10", "SM42", "Paris", "75012", site),
        Activity(3, "DEMO-PHARMACIEN", "Luc", "21", "", "Paris", "75011", "Pharmacie Démo"),
        Activity(4, "DEMO-INFIRMIERE", "Rose", "60", "", "Paris", "75012", site),
        Activity(5, "DEMO-SAGEFEMME", "Anne", "50", "", "Paris", "75012", site),
        Activity(6, "DEMO-KINE", "Marc", "70", "", "Vincennes", "94300", "Cabinet Démo"),
    )
    towns = (
        ("Lyon", "69003"),
        ("Saint-Étienne", "42000"),
        ("Évry-Courcouronnes", "91000"),
        ("Marseille", "13005"),
        ("Lille", "59000"),
    )
    families = ("DEMO-LEFÈVRE", "DEMO-MÜLLER", "DEMO-D'ARC", "DEMO-NGUYEN", "DEMO-CÔTÉ")
    givens = ("Élodie", "Jérôme", "Chloé", "Noël", "Zoé", "Anaïs", "Loïc", "Maëlle")
    professions = (("10", "SM54"), ("10", "SM04"), ("21", ""), ("60", ""), ("40", ""))
    others = []
    for i in range(40):
        town, postal = towns[i % len(towns)]
        profession, specialty = professions[(i // 5) % len(professions)]
        family = families[i % len(families)] + ("" if i < 5 else f"-{chr(65 + i // 5)}")
        others.append(
            Activity(100 + i, family, givens[i % len(givens)], profession, specialty, town, postal)
        )
    # A doctor practising at two sites: two lines.
    second_site = Activity(100, families[0], givens[0], "10", "SM54", "Villeurbanne", "69100")
    return (*cards, *others, second_site)


DEMO_ACTIVITIES = _demo_activities()
