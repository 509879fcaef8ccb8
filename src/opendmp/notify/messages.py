"""Notification wording: ``render(kind, language, payload) -> Rendered(subject, body)``.

docs/rules.md §5: the patient is told of each access by a professional, of a new document, of
a creation by someone else, and always of an emergency access (also sent to the treating
doctors, with their own wording). An e-mail travels in clear through servers we do not
control, so a message says *who* accessed (name, profession, organisation), *when* and *in
which mode*, and nothing else: no INS, no patient name, no document title or type, no
emergency justification. The subject never carries a payload value (no header injection,
nothing readable in a mailbox listing).

The templates are plain Python strings rather than Jinja2 files: the output is text/plain
(nothing to escape), the wording stays next to the code that checks it, and no package
data has to be shipped. French is the reference wording; English is the variant.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Literal, NamedTuple

Language = Literal["fr", "en"]
KINDS = (
    "record-created",
    "access",
    "emergency-access",
    "new-document",
    "password-reset",
    "email-proof",
    "login-reminder",
    "email-change",
    "opt-out-notice",
    "delegation-invitation",
    "delegation-accepted",
    "delegation-refused",
    "email-changed",
)
AUDIENCES = ("patient", "treating-doctor")

try:  # the wall-clock time the patient lives in; UTC if the system has no tz database
    from zoneinfo import ZoneInfo

    _PARIS: dt.tzinfo = ZoneInfo("Europe/Paris")
    _ZONE_NAME = {"fr": "heure de Paris", "en": "Paris time"}
except Exception:  # pragma: no cover - depends on the host's tzdata
    _PARIS = dt.UTC
    _ZONE_NAME = {"fr": "UTC", "en": "UTC"}


class Rendered(NamedTuple):
    subject: str
    body: str


_MONTHS = {
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}

_MODES: dict[str, dict[str, str]] = {
    "normal": {"fr": "accès normal", "en": "normal access"},
    "break-glass": {
        "fr": "urgence, « bris de glace »",
        "en": "emergency (break-glass)",
    },
    "regulation": {
        "fr": "urgence, centre de régulation (SAMU – Centre 15)",
        "en": "emergency, medical regulation centre (SAMU – Centre 15)",
    },
}

_CHANNELS: dict[str, dict[str, str]] = {
    "desk": {"fr": " à l'accueil d'un établissement", "en": " at an admission desk"},
    "pharmacy": {"fr": " en pharmacie", "en": " at a pharmacy"},
    "professional": {"fr": " par un professionnel de santé", "en": " by a health professional"},
    "operator": {"fr": " par un opérateur du service", "en": " by a service operator"},
    "online": {"fr": " en ligne", "en": " online"},
    "opt-out": {
        "fr": ", sans opposition de votre part après l'information qui vous a été envoyée. "
        "Pour vous connecter, demandez votre identifiant (« Identifiant oublié ») puis un "
        "nouveau mot de passe sur la page de connexion, ou vos codes à l'accueil d'un "
        "établissement de santé",
        "en": ", as you did not object after the notice you were sent. To sign in, ask for "
        'your login ("Forgotten login") then a new password on the sign-in page, or for '
        "your credentials at a healthcare admission desk",
    },
}

_LABELS = {
    "fr": {
        "who": "Qui",
        "profession": "Profession",
        "organization": "Structure",
        "at": "Quand",
        "mode": "Mode d'accès",
    },
    "en": {
        "who": "Who",
        "profession": "Profession",
        "organization": "Organisation",
        "at": "When",
        "mode": "Access mode",
    },
}

_FOOTER = {
    "fr": (
        "Ce message automatique ne contient aucune donnée de santé. "
        "Merci de ne pas y répondre.\n\n"
        "— OpenDMP, dossier médical partagé\n"
    ),
    "en": (
        "This automatic message contains no health data. Please do not reply to it.\n\n"
        "— OpenDMP, shared medical record (DMP)\n"
    ),
}

# (kind, audience) -> language -> (subject, body). Bodies are ``str.format`` templates
# over the prepared fields: {at} (a human date), {channel} (a phrase or ""), {details}
# (the who/when/mode lines).
_TEMPLATES: dict[tuple[str, str], dict[str, tuple[str, str]]] = {
    ("record-created", "patient"): {
        "fr": (
            "Votre dossier médical partagé (DMP) a été créé",
            "Bonjour,\n\n"
            "Votre dossier médical partagé (DMP) a été créé le {at}{channel}.\n\n"
            "Vous pouvez le consulter, choisir les professionnels qui y accèdent et voir "
            "l'historique des accès depuis votre espace patient. Si vous n'avez pas demandé "
            "sa création, vous pouvez demander sa fermeture.\n\n",
        ),
        "en": (
            "Your shared medical record (DMP) has been created",
            "Hello,\n\n"
            "Your shared medical record (DMP) was created on {at}{channel}.\n\n"
            "You can view it, choose which professionals may access it and see the access "
            "history in your patient portal. If you did not ask for it, you can ask for it "
            "to be closed.\n\n",
        ),
    },
    ("access", "patient"): {
        "fr": (
            "Un professionnel a accédé à votre DMP",
            "Bonjour,\n\n"
            "Un professionnel de santé a accédé à votre dossier médical partagé (DMP).\n\n"
            "{details}\n"
            "Si vous ne connaissez pas ce professionnel, vous pouvez le bloquer et consulter "
            "l'historique des accès depuis votre espace patient.\n\n",
        ),
        "en": (
            "A professional accessed your DMP",
            "Hello,\n\n"
            "A health professional accessed your shared medical record (DMP).\n\n"
            "{details}\n"
            "If you do not know this professional, you can block them and see the access "
            "history in your patient portal.\n\n",
        ),
    },
    ("emergency-access", "patient"): {
        "fr": (
            "Accès en urgence à votre DMP",
            "Bonjour,\n\n"
            "Un professionnel de santé a accédé en urgence à votre dossier médical partagé "
            "(DMP). Vous êtes toujours informé(e) d'un accès en urgence.\n\n"
            "{details}\n"
            "Vous pouvez consulter l'historique des accès et, si vous le souhaitez, vous "
            "opposer aux accès en urgence depuis votre espace patient.\n\n",
        ),
        "en": (
            "Emergency access to your DMP",
            "Hello,\n\n"
            "A health professional accessed your shared medical record (DMP) in an "
            "emergency. You are always told of an emergency access.\n\n"
            "{details}\n"
            "You can see the access history and, if you wish, refuse emergency access in "
            "your patient portal.\n\n",
        ),
    },
    ("emergency-access", "treating-doctor"): {
        "fr": (
            "Accès en urgence au DMP d'un de vos patients",
            "Bonjour,\n\n"
            "En tant que médecin traitant DMP, vous êtes informé(e) qu'un professionnel de "
            "santé a accédé en urgence au dossier médical partagé d'un de vos patients.\n\n"
            "{details}\n"
            "Le dossier concerné et le détail de l'accès figurent dans votre espace "
            "professionnel.\n\n",
        ),
        "en": (
            "Emergency access to the DMP of one of your patients",
            "Hello,\n\n"
            "As treating doctor (médecin traitant DMP), you are informed that a health "
            "professional accessed the shared medical record of one of your patients in an "
            "emergency.\n\n"
            "{details}\n"
            "The record concerned and the details of the access are in your professional "
            "portal.\n\n",
        ),
    },
    ("new-document", "patient"): {
        "fr": (
            "Nouveau document dans votre DMP",
            "Bonjour,\n\n"
            "Un nouveau document a été ajouté à votre dossier médical partagé (DMP) le "
            "{at}.\n\n"
            "Vous pouvez le consulter depuis votre espace patient.\n\n",
        ),
        "en": (
            "New document in your DMP",
            "Hello,\n\n"
            "A new document was added to your shared medical record (DMP) on {at}.\n\n"
            "You can read it in your patient portal.\n\n",
        ),
    },
    ("password-reset", "patient"): {
        "fr": (
            "Code de réinitialisation de votre mot de passe DMP",
            "Bonjour,\n\n"
            "Une réinitialisation du mot de passe de votre espace patient a été demandée le "
            "{at}.\n\n"
            "Votre code, valable 15 minutes : {code}\n\n"
            "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre mot "
            "de passe reste inchangé.\n\n",
        ),
        "en": (
            "Your DMP password reset code",
            "Hello,\n\n"
            "A password reset for your patient portal was requested on {at}.\n\n"
            "Your code, valid for 15 minutes: {code}\n\n"
            "If you did not ask for it, ignore this message: your password is unchanged.\n\n",
        ),
    },
    ("email-proof", "patient"): {
        "fr": (
            "Code de vérification de votre adresse e-mail",
            "Bonjour,\n\n"
            "Pour créer votre dossier médical partagé (DMP) en ligne, le {at}, vous avez "
            "indiqué cette adresse e-mail.\n\n"
            "Votre code de vérification, valable 15 minutes : {code}\n\n"
            "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : aucun "
            "dossier ne sera créé.\n\n",
        ),
        "en": (
            "Your e-mail verification code",
            "Hello,\n\n"
            "To create your shared medical record (DMP) online, on {at}, you gave this "
            "e-mail address.\n\n"
            "Your verification code, valid for 15 minutes: {code}\n\n"
            "If you did not ask for it, ignore this message: no record will be created.\n\n",
        ),
    },
    ("login-reminder", "patient"): {
        "fr": (
            "Votre identifiant DMP",
            "Bonjour,\n\n"
            "Le {at}, un rappel de l'identifiant de l'espace patient lié à cette adresse a "
            "été demandé.\n\n"
            "Votre identifiant : {login}\n\n"
            "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : rien n'a "
            "changé.\n\n",
        ),
        "en": (
            "Your DMP login",
            "Hello,\n\n"
            "On {at}, a reminder of the patient portal login linked to this address was "
            "requested.\n\n"
            "Your login: {login}\n\n"
            "If you did not ask for it, ignore this message: nothing changed.\n\n",
        ),
    },
    ("email-change", "patient"): {
        "fr": (
            "Code de confirmation de votre nouvelle adresse e-mail",
            "Bonjour,\n\n"
            "Le {at}, cette adresse a été indiquée comme nouvelle adresse e-mail d'un espace "
            "patient DMP.\n\n"
            "Votre code de confirmation, valable 15 minutes : {code}\n\n"
            "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : l'adresse "
            "ne sera pas changée.\n\n",
        ),
        "en": (
            "Your new e-mail address confirmation code",
            "Hello,\n\n"
            "On {at}, this address was given as the new e-mail address of a DMP patient "
            "portal.\n\n"
            "Your confirmation code, valid for 15 minutes: {code}\n\n"
            "If you did not ask for it, ignore this message: the address will not change.\n\n",
        ),
    },
    ("opt-out-notice", "patient"): {
        "fr": (
            "Votre dossier médical partagé (DMP) va être ouvert",
            "Bonjour,\n\n"
            "Le dossier médical partagé (DMP) est un carnet de santé numérique : il conserve "
            "vos documents de santé et permet aux professionnels qui vous soignent de les "
            "consulter, dans les limites fixées par la loi. Vous choisissez qui y accède et "
            "vous voyez chaque accès.\n\n"
            "Sauf opposition de votre part, votre DMP sera ouvert le {at}. Vous n'avez rien "
            "à faire si vous acceptez.\n\n"
            "Pour vous y opposer, avant ou après cette date, rendez-vous sur {url} avec "
            "votre date de naissance et ce code : {code}\n"
            "Vous pouvez aussi vous opposer à l'accueil d'un établissement de santé. Après "
            "l'ouverture, votre opposition ferme le DMP.\n\n",
        ),
        "en": (
            "Your shared medical record (DMP) is about to be opened",
            "Hello,\n\n"
            "The shared medical record (DMP) is a digital health record: it keeps your "
            "health documents and lets the professionals who treat you read them, within "
            "the limits set by law. You choose who may access it and you see every "
            "access.\n\n"
            "Unless you object, your DMP will be opened on {at}. You need do nothing if you "
            "agree.\n\n"
            "To object, before or after that date, go to {url} with your birth date and this "
            "code: {code}\n"
            "You may also object at a healthcare admission desk. After the opening, your "
            "objection closes the DMP.\n\n",
        ),
    },
    # docs/rules.md §3.7: who invites is told only after the invited person signs in (no
    # name, no health data in a mailbox); the link carries the one-time code.
    ("delegation-invitation", "patient"): {
        "fr": (
            "Invitation à aider un proche avec son DMP",
            "Bonjour,\n\n"
            "Le {at}, une personne vous a invité(e) à {role} pour son dossier médical "
            "partagé (DMP).\n\n"
            "Pour voir qui vous invite, avec quels droits, et répondre, ouvrez ce lien et "
            "connectez-vous à votre propre espace patient (ou créez-le) :\n\n"
            "  {link}\n\n"
            "L'invitation est valable jusqu'au {until}. Si vous ne connaissez pas cette "
            "invitation, ignorez ce message : rien ne se passera.\n\n",
        ),
        "en": (
            "Invitation to help a relative with their DMP",
            "Hello,\n\n"
            "On {at}, someone invited you to {role} for their shared medical record "
            "(DMP).\n\n"
            "To see who invites you, with which rights, and answer, open this link and sign "
            "in to your own patient portal (or create it):\n\n"
            "  {link}\n\n"
            "The invitation is valid until {until}. If you do not know of it, ignore this "
            "message: nothing will happen.\n\n",
        ),
    },
    # docs/rules.md §3.7: the inviting side is told of the answer, naming the invitation by
    # its date and role only (no name, no address of the relative, no health data).
    ("delegation-accepted", "patient"): {
        "fr": (
            "Votre invitation a été acceptée",
            "Bonjour,\n\n"
            "L'invitation à {role} que vous avez envoyée le {invited_at} a été acceptée le "
            "{at}.\n\n"
            "Cette personne peut désormais agir sur votre dossier médical partagé (DMP) avec "
            "les droits et aux dates que vous avez choisis ; chacune de ses actions figure "
            "dans votre historique. Vous pouvez mettre fin à tout moment à cette délégation "
            "depuis « Mes aidants » dans votre espace patient.\n\n",
        ),
        "en": (
            "Your invitation was accepted",
            "Hello,\n\n"
            "The invitation to {role} that you sent on {invited_at} was accepted on {at}.\n\n"
            "This person may now act on your shared medical record (DMP) with the rights and "
            "within the dates you chose; each of their actions appears in your history. You "
            'can end this delegation at any time from "My caregivers" in your patient '
            "portal.\n\n",
        ),
    },
    ("delegation-refused", "patient"): {
        "fr": (
            "Votre invitation a été refusée",
            "Bonjour,\n\n"
            "L'invitation à {role} que vous avez envoyée le {invited_at} a été refusée le "
            "{at}.\n\n"
            "Personne n'a reçu de droit sur votre dossier médical partagé (DMP). Vous pouvez "
            "envoyer une nouvelle invitation depuis « Mes aidants » dans votre espace "
            "patient.\n\n",
        ),
        "en": (
            "Your invitation was refused",
            "Hello,\n\n"
            "The invitation to {role} that you sent on {invited_at} was refused on {at}.\n\n"
            "Nobody was given any right on your shared medical record (DMP). You can send a "
            'new invitation from "My caregivers" in your patient portal.\n\n',
        ),
    },
    # Sent to the address an account held before a change, so that its holder learns of a
    # change they did not make (the new address got the confirmation code).
    ("email-changed", "patient"): {
        "fr": (
            "L'adresse e-mail de votre espace patient DMP a été changée",
            "Bonjour,\n\n"
            "Le {at}, l'adresse e-mail de l'espace patient DMP lié à cette adresse a été "
            "remplacée par une autre. Les messages du service n'arriveront plus ici.\n\n"
            "Si c'est vous, vous n'avez rien à faire.\n\n"
            "Si ce n'est pas vous, quelqu'un utilise peut-être votre compte : demandez sans "
            "attendre un nouveau mot de passe (« Mot de passe oublié » sur la page de "
            "connexion ; le code sera envoyé à la nouvelle adresse, donc si vous ne le "
            "recevez pas, présentez-vous à l'accueil d'un établissement de santé avec une "
            "pièce d'identité pour obtenir de nouveaux codes), puis vérifiez l'historique des "
            "accès et remettez votre adresse sous « Mon compte ».\n\n",
        ),
        "en": (
            "The e-mail address of your DMP patient portal was changed",
            "Hello,\n\n"
            "On {at}, the e-mail address of the DMP patient portal linked to this address "
            "was replaced by another one. The service's messages will no longer come "
            "here.\n\n"
            "If it was you, you need do nothing.\n\n"
            "If it was not you, someone may be using your account: at once, ask for a new "
            'password ("Forgotten password" on the sign-in page; the code goes to the new '
            "address, so if you do not receive it, go to a healthcare admission desk with an "
            "identity document to get new credentials), then check the access history and "
            'put your address back under "My account".\n\n',
        ),
    },
}

_ROLES = {
    "caregiver": {"fr": "devenir son aidant", "en": "become their caregiver"},
    "representative": {
        "fr": "devenir représentant légal d'un mineur",
        "en": "become a minor's legal representative",
    },
}

# The same roles, as the inviting side reads them in an answer.
_ANSWER_ROLES = {
    "caregiver": {"fr": "devenir votre aidant", "en": "become your caregiver"},
    "representative": {
        "fr": "devenir représentant légal du mineur",
        "en": "become the minor's legal representative",
    },
}

_ACCESS_KINDS = {"access", "emergency-access"}
_CODE_KINDS = {"password-reset", "email-proof", "email-change", "opt-out-notice"}
_ANSWER_KINDS = {"delegation-accepted", "delegation-refused"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def language_of(language: str | None) -> Language:
    """``fr``, ``en``, ``en-GB`` … -> a language we write; French when unknown (the service's)."""
    base = (language or "").split("-")[0].split("_")[0].lower()
    return "en" if base == "en" else "fr"


def render(kind: str, language: str, payload: Mapping[str, str]) -> Rendered:
    """Subject and text body of one notification.

    Raises ``ValueError`` for an unknown kind, audience or access mode, or a missing or
    malformed field: such a row can never be sent and must not be retried.
    """
    lang = language_of(language)
    audience = payload.get("audience") or "patient"
    templates = _TEMPLATES.get((kind, audience))
    if templates is None:
        if kind not in KINDS:
            raise ValueError(f"unknown notification kind {kind!r}")
        raise ValueError(f"notification kind {kind!r} has no wording for audience {audience!r}")
    subject, body = templates[lang]
    fields = {
        "at": format_time(_required(payload, "at"), lang),
        "channel": _CHANNELS.get(payload.get("channel", ""), {}).get(lang, ""),
        "details": _details(kind, payload, lang) if kind in _ACCESS_KINDS else "",
        "code": _required(payload, "code") if kind in _CODE_KINDS else "",
        "login": _required(payload, "login") if kind == "login-reminder" else "",
        "url": _required(payload, "url") if kind == "opt-out-notice" else "",
        **(_invitation_fields(payload, lang) if kind == "delegation-invitation" else {}),
        **(_answer_fields(payload, lang) if kind in _ANSWER_KINDS else {}),
    }
    return Rendered(subject, body.format_map(fields) + _FOOTER[lang])


def _invitation_fields(payload: Mapping[str, str], lang: Language) -> dict[str, str]:
    link = _clean(_required(payload, "link"))
    if not link.startswith(("http://", "https://")):
        raise ValueError("the invitation link is not a URL")
    return {
        "role": _role(payload, lang),
        "link": link,
        "until": format_time(_required(payload, "until"), lang),
    }


def _answer_fields(payload: Mapping[str, str], lang: Language) -> dict[str, str]:
    """The invitation an answer is about: its role, and when it was sent."""
    return {
        "role": _role(payload, lang, _ANSWER_ROLES),
        "invited_at": format_time(_required(payload, "invited_at"), lang),
    }


def _role(
    payload: Mapping[str, str], lang: Language, roles: dict[str, dict[str, str]] | None = None
) -> str:
    role = (roles or _ROLES).get(_required(payload, "role"))
    if role is None:
        raise ValueError("unknown invitation role")
    return role[lang]


def format_time(iso: str, lang: Language) -> str:
    """``2026-03-01T09:05:00+00:00`` -> ``1er mars 2026 à 10 h 05 (heure de Paris)``."""
    try:
        when = dt.datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError("notification time is not ISO 8601") from None
    if when.tzinfo is None:
        raise ValueError("notification time has no time zone")
    local = when.astimezone(_PARIS)
    month = _MONTHS[lang][local.month - 1]
    zone = _ZONE_NAME[lang]
    if lang == "fr":
        day = "1er" if local.day == 1 else str(local.day)
        return f"{day} {month} {local.year} à {local:%H} h {local:%M} ({zone})"
    return f"{local.day} {month} {local.year} at {local:%H:%M} ({zone})"


def mode_label(mode: str, lang: Language) -> str:
    try:
        return _MODES[mode][lang]
    except KeyError:
        raise ValueError(f"unknown access mode {mode!r}") from None


def _details(kind: str, payload: Mapping[str, str], lang: Language) -> str:
    labels = _LABELS[lang]
    # An emergency access without its mode would be told as a normal one: refuse it.
    mode = _required(payload, "mode") if kind == "emergency-access" else payload.get("mode")
    lines = [
        (labels["who"], _clean(_required(payload, "who"))),
        (labels["profession"], _clean(payload.get("profession", ""))),
        (labels["organization"], _clean(payload.get("organization", ""))),
        (labels["at"], format_time(_required(payload, "at"), lang)),
        (labels["mode"], mode_label(mode or "normal", lang)),
    ]
    sep = " : " if lang == "fr" else ": "
    return "".join(f"  {label}{sep}{value}\n" for label, value in lines if value)


def _required(payload: Mapping[str, str], key: str) -> str:
    value = payload.get(key)
    if not value:
        raise ValueError(f"notification payload lacks {key!r}")
    return value


def _clean(value: str) -> str:
    """One line of text: names come from certificates and directories, not from us."""
    return " ".join(_CONTROL.sub(" ", str(value)).split())[:200]
