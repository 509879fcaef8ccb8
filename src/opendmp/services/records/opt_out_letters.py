"""The opt-out letters (fpdf2 + DejaVu, like the desk's welcome letter): the notice sent by
post to a beneficiary without an e-mail address, and the proof of opposition.

French only: they go to people in France by post or are handed over at a desk. No health
data; the notice names the person and the address it is posted to.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from opendmp.cda.pdf import make_pdf
from opendmp.domain.local_time import french_stamp, paris_date

if TYPE_CHECKING:
    from opendmp.services.records.opt_out import Opposition
    from opendmp.services.records.opt_out_import import Beneficiary

_SERVICE = (
    "Le dossier médical partagé (DMP) est un carnet de santé numérique : il conserve vos "
    "documents de santé (comptes rendus, résultats d'examens, traitements) et permet aux "
    "professionnels de santé qui vous soignent de les consulter, avec votre accord et dans "
    "les limites fixées par la loi. Vous choisissez qui y accède, vous voyez chaque accès "
    "dans l'historique et vous pouvez le fermer à tout moment."
)


def _day(moment: dt.datetime) -> str:
    return f"{paris_date(moment):%d/%m/%Y}"


def notice_letter(
    person: Beneficiary, code: str, opens_at: dt.datetime, url: str, now: dt.datetime
) -> bytes:
    """The notice by post: the service, the code, the date of opening, how to object."""
    name = f"{' '.join(person.given_names)} {person.birth_name.upper()}"
    return make_pdf(
        "Votre dossier médical partagé (DMP) va être ouvert",
        [
            name,
            *person.postal_address,
            "",
            f"Le {_day(now)},",
            "",
            f"Bonjour {name},",
            _SERVICE,
            "",
            f"Sauf opposition de votre part, votre DMP sera ouvert le {_day(opens_at)}. "
            "Vous n'avez rien à faire si vous acceptez.",
            "",
            "Pour vous y opposer, avant ou après cette date :",
            f"- en ligne, à l'adresse {url}, avec le code ci-dessous et votre date de naissance ;",
            "- ou à l'accueil d'un établissement de santé, avec ce courrier.",
            "Vous recevrez une attestation d'opposition. Après l'ouverture, votre opposition "
            "ferme le DMP.",
            "",
            f"Votre code : {code}",
            "",
            "Personne ne vous demandera ce code par téléphone ou par courriel.",
        ],
        created=now,
    )


def proof_of_opposition(opposition: Opposition) -> bytes:
    """The proof handed to the person who objected (online or at a desk)."""
    where = "en ligne" if opposition.channel.value == "online" else "à l'accueil"
    effect = (
        "Votre DMP, qui avait été ouvert, a été fermé : il n'est plus consultable ni "
        "alimenté. Il est conservé dix ans puis détruit ; vous pouvez demander sa "
        "destruction anticipée."
        if opposition.record_closed
        else "Votre DMP ne sera pas ouvert."
    )
    return make_pdf(
        "Attestation d'opposition à l'ouverture du DMP",
        [
            f"Nom : {opposition.name}",
            f"Date de naissance : {opposition.birth_date:%d/%m/%Y}",
            f"Code du courrier d'information : {opposition.code}",
            f"Information envoyée le {_day(opposition.announced_at)}.",
            "",
            f"Votre opposition a été enregistrée {where} le {french_stamp(opposition.opposed_at)}.",
            effect,
            "",
            "Vous pourrez toujours ouvrir un DMP plus tard, avec votre consentement, en "
            "ligne ou à l'accueil d'un établissement de santé.",
            "",
            "Conservez cette attestation.",
        ],
        created=opposition.opposed_at,
    )
