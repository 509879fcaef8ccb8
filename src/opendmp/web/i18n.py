"""The portals' wording, French first with an English variant: ``t(key, lang, **params)``.

Every string a person reads on a portal page comes from here; templates call ``t("key")``
(bound to the request's language). A missing English entry falls back to French, a
missing key shows the key itself (a test keeps both catalogues complete). Error pages map
an ``OpenDMPError`` code to ``errors.<code>`` and fall back to a generic sentence.

The language is chosen with a link that stores it in the ``opendmp_lang`` cookie; French is
the default (the service's language).
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["fr", "en"]
LANGUAGES: tuple[Lang, ...] = ("fr", "en")
DEFAULT: Lang = "fr"
COOKIE = "opendmp_lang"

CATALOGUE: dict[str, dict[str, str]] = {
    # --- layout ---------------------------------------------------------------------------
    "site.name": {"fr": "OpenDMP — dossier médical partagé", "en": "OpenDMP — shared record"},
    "skip": {"fr": "Aller au contenu", "en": "Skip to content"},
    "lang.other": {"fr": "English", "en": "Français"},
    "lang.other_label": {"fr": "Read in English", "en": "Lire en français"},
    "nav.signout": {"fr": "Se déconnecter", "en": "Sign out"},
    "nav.signed_in_as": {"fr": "Connecté(e) : {name}", "en": "Signed in: {name}"},
    "nav.desk": {"fr": "Accueil des patients", "en": "Admission desk"},
    "footer": {
        "fr": "OpenDMP — implémentation ouverte du DMP. Données de démonstration fictives.",
        "en": "OpenDMP — open implementation of the DMP. Demo data is synthetic.",
    },
    "form.required": {"fr": "obligatoire", "en": "required"},
    "form.optional": {"fr": "facultatif", "en": "optional"},
    "form.problem": {"fr": "Problème :", "en": "Problem:"},
    "form.done": {"fr": "Fait :", "en": "Done:"},
    # --- errors ---------------------------------------------------------------------------
    "error.title": {"fr": "Demande refusée", "en": "Request refused"},
    "error.code": {"fr": "Code de l'erreur : {code}", "en": "Error code: {code}"},
    "error.back": {"fr": "Revenir à la page d'accueil", "en": "Back to the home page"},
    "errors.generic": {
        "fr": "La demande n'a pas pu aboutir.",
        "en": "The request could not be completed.",
    },
    "errors.csrf-failed": {
        "fr": "Le formulaire a expiré ou ne vient pas de ce site. Rechargez la page et "
        "recommencez.",
        "en": "The form expired or does not come from this site. Reload the page and try again.",
    },
    "errors.not-signed-in": {"fr": "Veuillez vous connecter.", "en": "Please sign in."},
    "errors.consent-not-given": {
        "fr": "Le consentement exprès de la personne est nécessaire : cochez la case de "
        "consentement. Aucun dossier n'a été créé.",
        "en": "The person's express consent is required: tick the consent box. No record "
        "was created.",
    },
    "errors.identity-mismatch": {
        "fr": "L'identité ne correspond pas au référentiel national d'identité (INSi). "
        "Aucun dossier n'a été créé.",
        "en": "The identity does not match the national identity registry (INSi). No record "
        "was created.",
    },
    "errors.identity-differences": {
        "fr": "Différences avec le référentiel : {traits}.",
        "en": "Differences with the registry: {traits}.",
    },
    "errors.not-adult": {
        "fr": "La création en ligne est réservée aux personnes majeures. Le DMP d'un mineur "
        "s'ouvre avec son représentant légal à l'accueil d'un établissement.",
        "en": "Online creation is for adults. A minor's DMP is opened with their legal "
        "representative at an admission desk.",
    },
    "errors.contact-required": {
        "fr": "Indiquez au moins un moyen de contact : une adresse e-mail ou un numéro de mobile.",
        "en": "Give at least one contact channel: an e-mail address or a mobile number.",
    },
    "errors.invalid-email-code": {
        "fr": "Ce code est faux, expiré ou déjà utilisé. Aucun dossier n'a été créé.",
        "en": "This code is wrong, expired or already used. No record was created.",
    },
    "errors.invalid-email": {
        "fr": "L'adresse e-mail n'est pas valide.",
        "en": "The e-mail address is not valid.",
    },
    "errors.passwords-differ": {
        "fr": "Les deux mots de passe saisis sont différents.",
        "en": "The two passwords typed differ.",
    },
    "errors.weak-password": {
        "fr": "Mot de passe trop faible : 12 caractères au moins, variés.",
        "en": "Password too weak: at least 12 varied characters.",
    },
    "errors.invalid-record-request": {
        "fr": "La demande de création est incomplète ou invalide.",
        "en": "The creation request is incomplete or invalid.",
    },
    "errors.record-exists": {
        "fr": "Cette personne a déjà un DMP.",
        "en": "This person already has a DMP.",
    },
    "errors.record-exists-closed": {
        "fr": "Cette personne a un DMP fermé : il peut être réactivé.",
        "en": "This person has a closed DMP: it can be reactivated.",
    },
    "errors.invalid-vitale-card": {
        "fr": "Le fichier de la Carte Vitale n'a pas pu être lu.",
        "en": "The Carte Vitale file could not be read.",
    },
    "errors.invalid-input": {
        "fr": "Une donnée saisie n'est pas valide.",
        "en": "Some input is not valid.",
    },
    "errors.invalid-ins": {"fr": "L'INS saisi n'est pas valide.", "en": "The INS is not valid."},
    "errors.invalid-date": {
        "fr": "La date de naissance n'est pas valide.",
        "en": "The birth date is not valid.",
    },
    "errors.letter-already-downloaded": {
        "fr": "Le courrier de bienvenue ne peut être téléchargé qu'une seule fois, juste "
        "après la création. Pour en imprimer un autre, il faut émettre de nouveaux codes.",
        "en": "The welcome letter can be downloaded only once, just after the creation. To "
        "print another, new credentials must be issued.",
    },
    "errors.rate-limited": {
        "fr": "Trop de tentatives. Réessayez dans quelques minutes.",
        "en": "Too many attempts. Try again in a few minutes.",
    },
    "errors.notice-changed": {
        "fr": "La note d'information a changé : relisez-la avant de confirmer.",
        "en": "The information notice changed: read it again before confirming.",
    },
    "errors.not-found": {"fr": "Page introuvable.", "en": "Page not found."},
    "errors.authentication-required": {
        "fr": "Aucun certificat de carte n'a été présenté.",
        "en": "No card certificate was presented.",
    },
    "errors.dev-sign-in-off": {
        "fr": "La connexion de démonstration est désactivée sur ce serveur.",
        "en": "Demo sign-in is off on this server.",
    },
    "errors.journey-expired": {
        "fr": "Votre démarche a expiré. Recommencez depuis le début.",
        "en": "Your request expired. Start again from the beginning.",
    },
    "errors.access-denied": {"fr": "Accès refusé.", "en": "Access refused."},
    "errors.actor-not-permitted": {
        "fr": "Vous ne pouvez pas faire cette action.",
        "en": "You may not do this.",
    },
    "trait.birth-name": {"fr": "nom de naissance", "en": "birth name"},
    "trait.given-names": {"fr": "prénoms", "en": "given names"},
    "trait.birth-date": {"fr": "date de naissance", "en": "birth date"},
    "trait.sex": {"fr": "sexe", "en": "sex"},
    "trait.birth-place": {"fr": "lieu de naissance", "en": "birth place"},
    "trait.ins": {"fr": "INS", "en": "INS"},
    "trait.vitale-serial": {"fr": "numéro de Carte Vitale", "en": "Carte Vitale number"},
    # --- professional sign-in -------------------------------------------------------------
    "signin.title": {"fr": "Connexion des professionnels", "en": "Professional sign-in"},
    "signin.card_title": {"fr": "Carte CPS ou CPE", "en": "CPS or CPE card"},
    "signin.card_intro": {
        "fr": "Insérez votre carte dans le lecteur : votre navigateur présente son certificat.",
        "en": "Insert your card in the reader: your browser presents its certificate.",
    },
    "signin.card_button": {"fr": "Se connecter avec ma carte", "en": "Sign in with my card"},
    "signin.dev_title": {
        "fr": "Identités de démonstration",
        "en": "Demo identities",
    },
    "signin.dev_intro": {
        "fr": "Serveur de démonstration : choisissez une identité fictive. Cette connexion "
        "n'existe pas en production.",
        "en": "Demo server: pick a synthetic identity. This sign-in does not exist in production.",
    },
    "signin.as": {"fr": "Se connecter : {name}", "en": "Sign in: {name}"},
    "signin.none": {
        "fr": "Aucun moyen de connexion n'est configuré sur ce serveur.",
        "en": "No sign-in method is configured on this server.",
    },
    "pro.title": {"fr": "Espace professionnel", "en": "Professional portal"},
    "pro.card_kind": {"fr": "Carte : {kind}", "en": "Card: {kind}"},
    "pro.organization": {"fr": "Structure : {org}", "en": "Organisation: {org}"},
    # --- desk -----------------------------------------------------------------------------
    "desk.title": {"fr": "Accueil — création du DMP", "en": "Admission desk — DMP creation"},
    "desk.card_title": {"fr": "1. Lire la Carte Vitale", "en": "1. Read the Carte Vitale"},
    "desk.card_file": {
        "fr": "Fichier de la carte (produit par le logiciel du lecteur)",
        "en": "Card file (produced by the reader software)",
    },
    "desk.card_submit": {"fr": "Lire la carte", "en": "Read the card"},
    "desk.manual_title": {
        "fr": "ou saisir l'identité à la main",
        "en": "or type the identity",
    },
    "desk.pick_title": {"fr": "Choisir la personne", "en": "Choose the person"},
    "desk.pick_intro": {
        "fr": "La carte couvre plusieurs personnes. Le DMP est celui de la personne présente.",
        "en": "The card covers several people. The DMP is the person's who is present.",
    },
    "desk.pick": {"fr": "Choisir {name}", "en": "Choose {name}"},
    "desk.insured": {"fr": "assuré(e)", "en": "insured"},
    "desk.beneficiary": {"fr": "bénéficiaire", "en": "beneficiary"},
    "desk.rank": {"fr": "rang de naissance {rank}", "en": "birth rank {rank}"},
    "desk.no_ins": {"fr": "INS non connu de la carte", "en": "INS not on the card"},
    "desk.check": {"fr": "Vérifier l'identité", "en": "Check the identity"},
    "desk.identity_ok": {
        "fr": "Identité vérifiée auprès du référentiel : {name}, né(e) le {date}, INS {ins}.",
        "en": "Identity checked with the registry: {name}, born {date}, INS {ins}.",
    },
    "desk.exists_active": {
        "fr": "Cette personne a déjà un DMP actif : rien à créer.",
        "en": "This person already has an active DMP: nothing to create.",
    },
    "desk.exists_closed": {
        "fr": "Cette personne a un DMP fermé. Avec son accord, vous pouvez le réactiver : "
        "son contenu revient et ses choix d'accès en urgence lui sont redemandés.",
        "en": "This person has a closed DMP. With their agreement you can reactivate it: its "
        "content comes back and their emergency-access choices are asked again.",
    },
    "desk.reactivate": {"fr": "Réactiver le DMP", "en": "Reactivate the DMP"},
    "desk.reactivated": {
        "fr": "Le DMP a été réactivé.",
        "en": "The DMP was reactivated.",
    },
    "desk.consent_title": {"fr": "2. Information et consentement", "en": "2. Notice and consent"},
    "desk.consent_box": {
        "fr": "La personne a lu la note d'information ci-dessus et consent expressément à la "
        "création de son DMP.",
        "en": "The person has read the information notice above and expressly consents to "
        "the creation of their DMP.",
    },
    "desk.captured_by": {
        "fr": "Consentement recueilli par {who} ({org}), le {when}.",
        "en": "Consent captured by {who} ({org}), on {when}.",
    },
    "desk.create": {"fr": "Créer le DMP", "en": "Create the DMP"},
    "desk.created": {"fr": "Le DMP de {name} a été créé.", "en": "{name}'s DMP was created."},
    "desk.letter_intro": {
        "fr": "Imprimez le courrier de bienvenue et remettez-le à la personne. Il contient "
        "son identifiant et son mot de passe à usage unique (valable 30 jours) ; il ne peut "
        "être téléchargé qu'une seule fois.",
        "en": "Print the welcome letter and hand it to the person. It holds their login and "
        "one-time password (valid 30 days); it can be downloaded only once.",
    },
    "desk.letter_download": {
        "fr": "Télécharger le courrier de bienvenue (PDF)",
        "en": "Download the welcome letter (PDF)",
    },
    "desk.letter_gone": {
        "fr": "Le courrier a déjà été téléchargé.",
        "en": "The letter was already downloaded.",
    },
    "desk.next": {"fr": "Accueillir une autre personne", "en": "Admit another person"},
    # --- identity and contact fields -------------------------------------------------------
    "field.ins": {
        "fr": "INS (NIR de la personne, 15 caractères)",
        "en": "INS (the person's NIR, 15 characters)",
    },
    "field.ins_hint_desk": {
        "fr": "Laisser vide s'il n'est pas connu : le référentiel le retrouve.",
        "en": "Leave empty if unknown: the registry finds it.",
    },
    "field.birth_name": {"fr": "Nom de naissance", "en": "Birth name"},
    "field.given_names": {"fr": "Prénoms de naissance", "en": "Birth given names"},
    "field.given_names_hint": {
        "fr": "Dans l'ordre de l'état civil, séparés par des espaces.",
        "en": "In civil-status order, separated by spaces.",
    },
    "field.birth_date": {"fr": "Date de naissance", "en": "Birth date"},
    "field.sex": {"fr": "Sexe", "en": "Sex"},
    "sex.F": {"fr": "Féminin", "en": "Female"},
    "sex.M": {"fr": "Masculin", "en": "Male"},
    "field.birth_place": {
        "fr": "Lieu de naissance (code INSEE, 5 caractères)",
        "en": "Birth place (INSEE code, 5 characters)",
    },
    "field.vitale_serial": {"fr": "Numéro de la Carte Vitale", "en": "Carte Vitale number"},
    "field.vitale_serial_hint": {
        "fr": "Le numéro de série imprimé au dos de votre carte.",
        "en": "The serial number printed on the back of your card.",
    },
    "field.email": {"fr": "Adresse e-mail", "en": "E-mail address"},
    "field.mobile": {"fr": "Numéro de mobile", "en": "Mobile number"},
    "field.password": {"fr": "Mot de passe choisi", "en": "Chosen password"},
    "field.password_hint": {
        "fr": "12 caractères au moins, variés, différents de ceux d'autres sites.",
        "en": "At least 12 varied characters, not used on other sites.",
    },
    "field.password_confirm": {"fr": "Mot de passe (confirmation)", "en": "Password (again)"},
    "field.code": {"fr": "Code reçu par e-mail (8 chiffres)", "en": "Code received (8 digits)"},
    "contact.legend": {
        "fr": "Moyen de contact (au moins un)",
        "en": "Contact channel (at least one)",
    },
    # --- notice, consent, emergency ---------------------------------------------------------
    "notice.title": {"fr": "Note d'information", "en": "Information notice"},
    "notice.french_only": {
        "fr": "",
        "en": "The information notice exists in French only: its wording is the one the "
        "consent refers to.",
    },
    "notice.version": {
        "fr": "Version {version} — empreinte SHA-256 : {hash}",
        "en": "Version {version} — SHA-256: {hash}",
    },
    "emergency.legend": {
        "fr": "Accès en cas d'urgence (choix modifiables à tout moment)",
        "en": "Emergency access (can be changed at any time)",
    },
    "emergency.regulation": {
        "fr": "Le centre de régulation du SAMU (centre 15) peut consulter le DMP",
        "en": "The SAMU regulation centre (centre 15) may read the DMP",
    },
    "emergency.break_glass": {
        "fr": "Un professionnel peut accéder au DMP en urgence (« bris de glace »)",
        "en": "A professional may access the DMP in an emergency (break-glass)",
    },
    "emergency.masked": {
        "fr": "Les documents masqués restent lisibles lors d'un accès en urgence",
        "en": "Masked documents stay readable during an emergency access",
    },
    "choice.permit": {"fr": "Oui, autorisé", "en": "Yes, permitted"},
    "choice.deny": {"fr": "Non, refusé", "en": "No, refused"},
    # --- online creation -----------------------------------------------------------------
    "online.title": {"fr": "Créer mon DMP en ligne", "en": "Create my DMP online"},
    "online.intro": {
        "fr": "Réservé aux personnes majeures. Votre identité est vérifiée auprès du "
        "référentiel national d'identité, et votre adresse e-mail par un code.",
        "en": "For adults only. Your identity is checked with the national identity "
        "registry, and your e-mail address with a code.",
    },
    "online.step1": {"fr": "Étape 1 sur 2 : votre identité", "en": "Step 1 of 2: your identity"},
    "online.send_code": {"fr": "Recevoir un code par e-mail", "en": "Get a code by e-mail"},
    "online.step2": {
        "fr": "Étape 2 sur 2 : confirmation",
        "en": "Step 2 of 2: confirmation",
    },
    "online.code_sent": {
        "fr": "Un code de vérification a été envoyé à {email}.",
        "en": "A verification code was sent to {email}.",
    },
    "online.email_verified": {
        "fr": "Adresse e-mail vérifiée : {email}.",
        "en": "E-mail address checked: {email}.",
    },
    "online.consent_box": {
        "fr": "J'ai lu la note d'information ci-dessus et je consens expressément à la "
        "création de mon DMP.",
        "en": "I have read the information notice above and expressly consent to the "
        "creation of my DMP.",
    },
    "online.create": {"fr": "Créer mon DMP", "en": "Create my DMP"},
    "online.created": {"fr": "Votre DMP est créé.", "en": "Your DMP is created."},
    "online.login": {
        "fr": "Votre identifiant de connexion : {login}. Notez-le : il vous sera demandé à "
        "chaque connexion.",
        "en": "Your login: {login}. Write it down: you will be asked for it at every sign-in.",
    },
    "online.next": {
        "fr": "À votre première connexion, vous activerez un second facteur (application "
        "d'authentification sur votre téléphone).",
        "en": "At your first sign-in you will set up a second factor (an authenticator app "
        "on your phone).",
    },
    "online.portal_link": {"fr": "Aller à mon espace patient", "en": "Go to my patient portal"},
    "online.restart": {"fr": "Recommencer", "en": "Start again"},
}


def register(entries: dict[str, dict[str, str]]) -> None:
    """Add a portal's own wording (each portal keeps its catalogue beside its routes)."""
    clash = set(entries) & set(CATALOGUE)
    if clash:
        raise ValueError(f"wording keys defined twice: {sorted(clash)}")
    CATALOGUE.update(entries)


def language_of(value: str | None) -> Lang:
    """``en`` for English, French otherwise (the default)."""
    return "en" if (value or "").lower().startswith("en") else "fr"


def t(key: str, lang: str = DEFAULT, /, **params: object) -> str:
    """The wording of ``key`` in ``lang`` (French if missing), formatted with ``params``."""
    entry = CATALOGUE.get(key)
    if entry is None:
        return key
    text = entry.get(language_of(lang)) or entry.get(DEFAULT, key)
    return text.format(**params) if params else text
