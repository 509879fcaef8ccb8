"""The patient portal's wording (French first, English), registered in ``web.i18n``."""

from __future__ import annotations

from opendmp.web.i18n import register

# Confirmations a redirect may name with ``?fait=<key>`` (anything else is ignored).
DONE_KEYS = frozenset(
    {
        "password",
        "totp",
        "reset",
        "signed-out",
        "signed-out-all",
        "masked",
        "unmasked",
        "uploaded",
        "reported",
        "revoked",
        "blocked",
        "unblocked",
        "treating-on",
        "treating-off",
        "emergency",
        "notifications",
        "closed",
        "destruction",
        "reactivated",
    }
)

E = dict[str, dict[str, str]]

_LAYOUT: E = {
    "patient.menu.label": {"fr": "Mon DMP", "en": "My DMP"},
    "patient.menu.home": {"fr": "Accueil", "en": "Home"},
    "patient.menu.documents": {"fr": "Mes documents", "en": "My documents"},
    "patient.menu.history": {"fr": "Historique des accès", "en": "Access history"},
    "patient.menu.professionals": {"fr": "Mes professionnels", "en": "My professionals"},
    "patient.menu.choices": {"fr": "Mes choix", "en": "My choices"},
    "patient.menu.record": {"fr": "Mon dossier", "en": "My record"},
    "patient.menu.account": {"fr": "Mon compte", "en": "My account"},
}

_DONE: E = {
    "patient.done.password": {
        "fr": "votre mot de passe a été changé.",
        "en": "your password was changed.",
    },
    "patient.done.totp": {
        "fr": "la double authentification est activée. Bienvenue dans votre DMP.",
        "en": "two-step verification is on. Welcome to your DMP.",
    },
    "patient.done.reset": {
        "fr": "votre mot de passe a été changé. Connectez-vous avec le nouveau.",
        "en": "your password was changed. Sign in with the new one.",
    },
    "patient.done.signed-out": {"fr": "vous êtes déconnecté(e).", "en": "you are signed out."},
    "patient.done.signed-out-all": {
        "fr": "toutes vos sessions ont été fermées, sur tous vos appareils.",
        "en": "all your sessions were closed, on every device.",
    },
    "patient.done.masked": {
        "fr": "le document est masqué aux professionnels.",
        "en": "the document is hidden from professionals.",
    },
    "patient.done.unmasked": {
        "fr": "le document est de nouveau visible des professionnels autorisés.",
        "en": "the document is visible again to authorised professionals.",
    },
    "patient.done.uploaded": {
        "fr": "votre document a été ajouté.",
        "en": "your document was added.",
    },
    "patient.done.reported": {
        "fr": "votre signalement est enregistré dans votre dossier.",
        "en": "your report is recorded in your record.",
    },
    "patient.done.revoked": {
        "fr": "l'autorisation a été retirée.",
        "en": "the authorisation was removed.",
    },
    "patient.done.blocked": {
        "fr": (
            "ce professionnel ou cet établissement est bloqué : il ne peut plus lire votre DMP, "
            "même en urgence."
        ),
        "en": (
            "this professional or establishment is blocked: they can no longer read your DMP, "
            "even in an emergency."
        ),
    },
    "patient.done.unblocked": {"fr": "le blocage est levé.", "en": "the block was lifted."},
    "patient.done.treating-on": {
        "fr": "médecin traitant DMP désigné.",
        "en": "treating doctor named.",
    },
    "patient.done.treating-off": {
        "fr": "ce médecin n'est plus médecin traitant DMP.",
        "en": "this doctor is no longer a treating doctor.",
    },
    "patient.done.emergency": {
        "fr": "vos choix pour les urgences sont enregistrés.",
        "en": "your emergency choices are saved.",
    },
    "patient.done.notifications": {
        "fr": "vos préférences sont enregistrées.",
        "en": "your preferences are saved.",
    },
    "patient.done.closed": {"fr": "votre DMP est fermé.", "en": "your DMP is closed."},
    "patient.done.destruction": {
        "fr": "votre demande de destruction est enregistrée.",
        "en": "your destruction request is recorded.",
    },
    "patient.done.reactivated": {
        "fr": "votre DMP est de nouveau ouvert.",
        "en": "your DMP is open again.",
    },
}

_ERRORS: E = {
    "patient.errors.invalid-credentials": {
        "fr": (
            "Identifiant, mot de passe ou code incorrect. Vérifiez-les et recommencez ; après 5 "
            "échecs, le compte est bloqué quelques minutes."
        ),
        "en": (
            "Wrong login, password or code. Check them and try again; after 5 failures the "
            "account is locked for a few minutes."
        ),
    },
    "patient.errors.account-locked": {
        "fr": (
            "Trop d'échecs de connexion : votre compte est bloqué pendant {minutes} min. "
            "Réessayez après {time} (heure de Paris), ou réinitialisez votre mot de passe."
        ),
        "en": (
            "Too many failed sign-ins: your account is locked for {minutes} min. Try again after "
            "{time} (Paris time), or reset your password."
        ),
    },
    "patient.errors.rate-limited": {
        "fr": (
            "Trop de tentatives en peu de temps. Réessayez dans {minutes} min (après {time}, "
            "heure de Paris)."
        ),
        "en": (
            "Too many attempts in a short time. Try again in {minutes} min (after {time}, Paris "
            "time)."
        ),
    },
    "patient.errors.password-expired": {
        "fr": (
            "Ce mot de passe provisoire a expiré (validité 30 jours). Demandez de nouveaux "
            "identifiants à l'accueil d'un établissement ou réinitialisez votre mot de passe."
        ),
        "en": (
            "This one-time password has expired (valid 30 days). Ask for new credentials at an "
            "admission desk or reset your password."
        ),
    },
    "patient.errors.invalid-totp": {
        "fr": (
            "Code incorrect ou déjà utilisé. Tapez le code à 6 chiffres affiché maintenant par "
            "votre application."
        ),
        "en": "Wrong or already used code. Type the 6-digit code your app shows now.",
    },
    "patient.errors.totp-enrolment-not-started": {
        "fr": "Affichez d'abord le QR code, puis tapez le code.",
        "en": "Show the QR code first, then type the code.",
    },
    "patient.errors.invalid-reset-code": {
        "fr": "Ce code est faux, expiré (15 minutes) ou déjà utilisé. Demandez-en un nouveau.",
        "en": "This code is wrong, expired (15 minutes) or already used. Ask for a new one.",
    },
    "patient.errors.weak-password": {
        "fr": (
            "Mot de passe refusé : 12 caractères au moins, variés, différent de l'identifiant et "
            "de l'ancien."
        ),
        "en": "Password refused: at least 12 varied characters, not the login nor the old one.",
    },
    "patient.errors.passwords-differ": {
        "fr": "Les deux nouveaux mots de passe saisis sont différents.",
        "en": "The two new passwords typed differ.",
    },
    "patient.errors.invalid-password": {
        "fr": "Mot de passe incorrect : rien n'a été fait.",
        "en": "Wrong password: nothing was done.",
    },
    "patient.errors.close-not-confirmed": {
        "fr": "Cochez la case pour confirmer la fermeture : rien n'a été fait.",
        "en": "Tick the box to confirm the closure: nothing was done.",
    },
    "patient.errors.destruction-not-confirmed": {
        "fr": "Cochez la case pour confirmer la demande : rien n'a été fait.",
        "en": "Tick the box to confirm the request: nothing was done.",
    },
    "patient.errors.invalid-content": {
        "fr": (
            "Ce fichier n'est pas accepté : son contenu n'est pas un PDF, JPEG, PNG, TIFF, RTF ou"
            " texte (le contenu est vérifié, pas l'extension). Rien n'a été ajouté."
        ),
        "en": (
            "This file is not accepted: its content is not a PDF, JPEG, PNG, TIFF, RTF or text "
            "file (the content is checked, not the extension). Nothing was added."
        ),
    },
    "patient.errors.document-too-large": {
        "fr": "Ce fichier dépasse 20 Mo. Rien n'a été ajouté.",
        "en": "This file exceeds 20 MB. Nothing was added.",
    },
    "patient.errors.file-required": {
        "fr": "Choisissez un fichier (non vide). Rien n'a été ajouté.",
        "en": "Choose a (non-empty) file. Nothing was added.",
    },
    "patient.errors.title-required": {
        "fr": "Donnez un titre au document. Rien n'a été ajouté.",
        "en": "Give the document a title. Nothing was added.",
    },
    "patient.errors.invalid-type": {
        "fr": "Choisissez un type de document du patient. Rien n'a été ajouté.",
        "en": "Choose a patient document type. Nothing was added.",
    },
    "patient.errors.invalid-search": {
        "fr": "Un critère de recherche n'est pas valable.",
        "en": "A search criterion is not valid.",
    },
    "patient.errors.identifier-required": {
        "fr": "Indiquez l'identifiant du professionnel ou de l'établissement.",
        "en": "Give the identifier of the professional or establishment.",
    },
    "patient.errors.professional-not-found": {
        "fr": "Aucun professionnel connu du DMP avec cet identifiant.",
        "en": "No professional known to the DMP has this identifier.",
    },
    "patient.errors.not-a-doctor": {
        "fr": "Seul un médecin peut être médecin traitant DMP.",
        "en": "Only a doctor can be a treating doctor.",
    },
    "patient.errors.target-blocked-by-patient": {
        "fr": "Ce professionnel est bloqué : levez d'abord le blocage.",
        "en": "This professional is blocked: lift the block first.",
    },
    "patient.errors.invalid-identifier": {
        "fr": (
            "Cet identifiant n'est pas valable (RPPS : 8 suivi de 11 chiffres ; établissement : 1"
            " suivi du FINESS)."
        ),
        "en": (
            "This identifier is not valid (RPPS: 8 followed by 11 digits; establishment: 1 "
            "followed by the FINESS)."
        ),
    },
    "patient.errors.record-already-closed": {
        "fr": "Votre DMP est déjà fermé.",
        "en": "Your DMP is already closed.",
    },
    "patient.errors.record-not-closed": {
        "fr": "La destruction anticipée se demande une fois le DMP fermé.",
        "en": "Early destruction can be asked once the DMP is closed.",
    },
    "patient.errors.event-not-found": {
        "fr": "Cet événement n'existe pas dans votre historique.",
        "en": "This event is not in your history.",
    },
    "patient.errors.not-an-access": {
        "fr": "Seul l'accès d'un professionnel peut être signalé.",
        "en": "Only a professional's access can be reported.",
    },
    "patient.errors.invalid-report": {
        "fr": "Le commentaire dépasse 2 000 caractères.",
        "en": "The comment exceeds 2,000 characters.",
    },
    # Also read by the error pages of /patient (``web.error_response``).
    "patient.errors.record-closed": {
        "fr": (
            "Votre DMP est fermé : ses documents ne se consultent plus. Vous pouvez le réactiver "
            "depuis « Mon dossier » (/patient/dossier)."
        ),
        "en": (
            "Your DMP is closed: its documents can no longer be read. You can reactivate it from "
            "“My record” (/patient/dossier)."
        ),
    },
    "patient.errors.document-not-found": {
        "fr": "Ce document n'existe pas dans votre DMP.",
        "en": "This document is not in your DMP.",
    },
    "patient.errors.document-deleted": {
        "fr": "Ce document a été supprimé par son auteur.",
        "en": "This document was deleted by its author.",
    },
    "patient.errors.not-displayable": {
        "fr": "Ce document ne peut pas s'afficher dans le navigateur : téléchargez-le.",
        "en": "This document cannot be shown in the browser: download it.",
    },
    "patient.errors.invisible-to-patient": {
        "fr": "Ce document ne vous est pas encore accessible.",
        "en": "This document is not available to you yet.",
    },
    "patient.errors.already-signed-in": {
        "fr": "Vous êtes déjà connecté(e).",
        "en": "You are already signed in.",
    },
}

_SIGN_IN: E = {
    "patient.signin.title": {"fr": "Connexion à mon DMP", "en": "Sign in to my DMP"},
    "patient.signin.intro": {
        "fr": "Votre identifiant figure sur le courrier remis à la création de votre DMP.",
        "en": "Your login is on the letter you received when your DMP was created.",
    },
    "patient.signin.code_hint": {
        "fr": (
            "Le code à 6 chiffres de votre application d'authentification, si vous l'avez déjà "
            "activée. Sinon, laissez vide."
        ),
        "en": (
            "The 6-digit code of your authenticator app, if already set up. Otherwise leave empty."
        ),
    },
    "patient.signin.submit": {"fr": "Se connecter", "en": "Sign in"},
    "patient.signin.forgot": {"fr": "Mot de passe oublié ?", "en": "Forgot your password?"},
    "patient.signin.create": {"fr": "Créer mon DMP en ligne", "en": "Create my DMP online"},
    "patient.signin.first_time": {
        "fr": (
            "Première connexion : utilisez le mot de passe provisoire du courrier (valable 30 "
            "jours) ; vous choisirez ensuite votre mot de passe, puis activerez la double "
            "authentification."
        ),
        "en": (
            "First sign-in: use the one-time password of the letter (valid 30 days); you will "
            "then choose your password and set up two-step verification."
        ),
    },
    "patient.field.login": {"fr": "Identifiant", "en": "Login"},
    "patient.field.password": {"fr": "Mot de passe", "en": "Password"},
    "patient.field.password_again": {
        "fr": "Votre mot de passe (pour confirmer)",
        "en": "Your password (to confirm)",
    },
    "patient.field.totp_code_optional": {"fr": "Code de vérification", "en": "Verification code"},
    "patient.field.totp_code": {"fr": "Code à 6 chiffres", "en": "6-digit code"},
    "patient.field.old_password": {"fr": "Mot de passe actuel", "en": "Current password"},
    "patient.field.old_password_first": {
        "fr": "Mot de passe provisoire (celui du courrier)",
        "en": "One-time password (the one on the letter)",
    },
    "patient.field.new_password": {"fr": "Nouveau mot de passe", "en": "New password"},
    "patient.field.new_password_confirm": {
        "fr": "Nouveau mot de passe, à nouveau",
        "en": "New password, again",
    },
    "patient.field.reset_code": {"fr": "Code reçu par e-mail", "en": "Code received by e-mail"},
    "patient.password.title": {"fr": "Changer mon mot de passe", "en": "Change my password"},
    "patient.password.first_time": {
        "fr": (
            "Première connexion : remplacez le mot de passe provisoire par un mot de passe que "
            "vous seul(e) connaissez."
        ),
        "en": "First sign-in: replace the one-time password with a password only you know.",
    },
    "patient.password.rules": {
        "fr": (
            "Votre mot de passe protège des données de santé : choisissez une phrase facile à "
            "retenir pour vous, difficile à deviner pour les autres."
        ),
        "en": (
            "Your password protects health data: choose a phrase easy for you to remember and "
            "hard for others to guess."
        ),
    },
    "patient.password.rules_short": {
        "fr": "12 caractères au moins, variés ; différent de l'identifiant.",
        "en": "At least 12 varied characters; not your login.",
    },
    "patient.password.submit": {"fr": "Enregistrer le mot de passe", "en": "Save the password"},
    "patient.totp.enrol_title": {
        "fr": "Activer la double authentification",
        "en": "Set up two-step verification",
    },
    "patient.totp.enrol_intro": {
        "fr": (
            "À chaque connexion, en plus de votre mot de passe, vous taperez un code à 6 chiffres"
            " affiché par une application de votre téléphone."
        ),
        "en": (
            "At each sign-in, besides your password, you will type a 6-digit code shown by an app"
            " on your phone."
        ),
    },
    "patient.totp.step_app": {
        "fr": (
            "Installez une application d'authentification (par exemple FreeOTP, Aegis, Google "
            "Authenticator)."
        ),
        "en": "Install an authenticator app (for example FreeOTP, Aegis, Google Authenticator).",
    },
    "patient.totp.step_scan": {
        "fr": (
            "Dans l'application, ajoutez un compte en scannant le QR code ci-dessous (ou en "
            "tapant la clé affichée)."
        ),
        "en": "In the app, add an account by scanning the QR code below (or typing the key shown).",
    },
    "patient.totp.step_code": {
        "fr": "Tapez le code à 6 chiffres que l'application affiche.",
        "en": "Type the 6-digit code the app shows.",
    },
    "patient.totp.qr_title": {
        "fr": "QR code de la double authentification OpenDMP",
        "en": "OpenDMP two-step verification QR code",
    },
    "patient.totp.qr_caption": {
        "fr": "QR code à scanner avec votre application.",
        "en": "QR code to scan with your app.",
    },
    "patient.totp.manual": {
        "fr": (
            "Impossible de scanner ? Tapez cette clé dans l'application (type « basé sur le temps"
            " ») :"
        ),
        "en": 'Cannot scan? Type this key in the app ("time-based" type):',
    },
    "patient.totp.enrol_submit": {"fr": "Activer", "en": "Turn on"},
    "patient.totp.code_title": {"fr": "Code de vérification", "en": "Verification code"},
    "patient.totp.code_intro": {
        "fr": "Tapez le code à 6 chiffres affiché par votre application d'authentification.",
        "en": "Type the 6-digit code shown by your authenticator app.",
    },
    "patient.totp.code_submit": {"fr": "Valider", "en": "Confirm"},
    "patient.reset.title": {"fr": "Mot de passe oublié", "en": "Forgotten password"},
    "patient.reset.intro": {
        "fr": (
            "Indiquez votre identifiant : si une adresse e-mail est associée à votre DMP, un code"
            " valable 15 minutes y sera envoyé."
        ),
        "en": (
            "Give your login: if an e-mail address is linked to your DMP, a code valid 15 minutes"
            " will be sent to it."
        ),
    },
    "patient.reset.send": {"fr": "Recevoir un code", "en": "Send me a code"},
    "patient.reset.have_code": {"fr": "J'ai déjà un code", "en": "I already have a code"},
    "patient.reset.code_title": {
        "fr": "Choisir un nouveau mot de passe",
        "en": "Choose a new password",
    },
    "patient.reset.sent": {
        "fr": (
            "Si cet identifiant existe et qu'une adresse e-mail y est associée, un code vient d'y"
            " être envoyé."
        ),
        "en": "If this login exists and has an e-mail address, a code has just been sent to it.",
    },
    "patient.reset.submit": {"fr": "Changer le mot de passe", "en": "Change the password"},
    "patient.reset.totp_kept": {
        "fr": (
            "Votre double authentification reste active : une boîte e-mail seule n'ouvre jamais "
            "votre DMP."
        ),
        "en": "Your two-step verification stays on: an e-mail box alone never opens your DMP.",
    },
}

_HOME: E = {
    "patient.home.title": {"fr": "Mon DMP", "en": "My DMP"},
    "patient.home.hello": {"fr": "Bonjour {name}", "en": "Hello {name}"},
    "patient.home.record_of": {"fr": "Le DMP de {name}", "en": "The DMP of {name}"},
    "patient.representative.banner": {
        "fr": "Vous consultez ce DMP en tant que représentant légal. Les documents que les "
        "professionnels ont masqués aux représentants légaux n'y apparaissent pas.",
        "en": "You are viewing this DMP as a legal representative. Documents that health "
        "professionals hid from legal representatives do not appear.",
    },
    "patient.representative.no_export": {
        "fr": "L'export du DMP est réservé au patient lui-même.",
        "en": "Only the patient may export the DMP.",
    },
    "patient.home.intro": {
        "fr": "Votre dossier médical partagé, ouvert le {created}. Vous décidez qui le consulte.",
        "en": "Your shared medical record, opened on {created}. You decide who reads it.",
    },
    "patient.home.closed": {"fr": "Votre DMP est fermé.", "en": "Your DMP is closed."},
    "patient.home.documents": {
        "fr": "Consulter, masquer, télécharger.",
        "en": "Read, hide, download.",
    },
    "patient.home.history": {
        "fr": "Qui a consulté quoi, et quand.",
        "en": "Who read what, and when.",
    },
    "patient.home.professionals": {
        "fr": "Qui a accès, et pourquoi ; bloquer.",
        "en": "Who has access, and why; block.",
    },
    "patient.home.choices": {"fr": "Urgences, notifications.", "en": "Emergencies, notifications."},
    "patient.home.upload": {"fr": "Vos propres documents.", "en": "Your own documents."},
    "patient.home.record": {"fr": "Exporter, fermer, détruire.", "en": "Export, close, destroy."},
}

_DOCS: E = {
    "patient.docs.title": {"fr": "Mes documents", "en": "My documents"},
    "patient.docs.filters": {"fr": "Rechercher", "en": "Search"},
    "patient.docs.title_search": {"fr": "Titre contient", "en": "Title contains"},
    "patient.docs.type": {"fr": "Type de document", "en": "Document type"},
    "patient.docs.all_types": {"fr": "Tous les types", "en": "All types"},
    "patient.docs.from": {"fr": "Du (date de l'acte)", "en": "From (date of care)"},
    "patient.docs.to": {"fr": "Au (date de l'acte)", "en": "To (date of care)"},
    "patient.docs.author": {"fr": "Auteur", "en": "Author"},
    "patient.docs.author_hint": {
        "fr": "Début du nom de famille.",
        "en": "Start of the family name.",
    },
    "patient.docs.sort": {"fr": "Trier par", "en": "Sort by"},
    "patient.docs.sort.-date": {
        "fr": "Ajout au DMP, le plus récent d'abord",
        "en": "Added to the DMP, newest first",
    },
    "patient.docs.sort.date": {
        "fr": "Ajout au DMP, le plus ancien d'abord",
        "en": "Added to the DMP, oldest first",
    },
    "patient.docs.sort.-period": {
        "fr": "Date de l'acte, la plus récente d'abord",
        "en": "Date of care, newest first",
    },
    "patient.docs.sort.period": {
        "fr": "Date de l'acte, la plus ancienne d'abord",
        "en": "Date of care, oldest first",
    },
    "patient.docs.include_archived": {
        "fr": "Inclure les documents archivés",
        "en": "Include archived documents",
    },
    "patient.docs.apply": {"fr": "Appliquer", "en": "Apply"},
    "patient.docs.reset": {"fr": "Effacer les critères", "en": "Clear the criteria"},
    "patient.docs.count": {
        "fr": "{total} document(s) trouvé(s).",
        "en": "{total} document(s) found.",
    },
    "patient.docs.caption": {"fr": "Documents de mon DMP", "en": "Documents of my DMP"},
    "patient.docs.col.title": {"fr": "Titre", "en": "Title"},
    "patient.docs.col.type": {"fr": "Type", "en": "Type"},
    "patient.docs.col.date": {"fr": "Date de l'acte", "en": "Date of care"},
    "patient.docs.col.author": {"fr": "Auteur", "en": "Author"},
    "patient.docs.col.state": {"fr": "Visibilité", "en": "Visibility"},
    "patient.docs.col.actions": {"fr": "Actions", "en": "Actions"},
    "patient.docs.by_you": {"fr": "Vous", "en": "You"},
    "patient.docs.masked": {"fr": "Masqué aux professionnels", "en": "Hidden from professionals"},
    "patient.docs.archived": {"fr": "Archivé", "en": "Archived"},
    "patient.docs.visible": {
        "fr": "Visible des professionnels autorisés",
        "en": "Visible to authorised professionals",
    },
    "patient.docs.mask": {"fr": "Masquer", "en": "Hide"},
    "patient.docs.unmask": {"fr": "Ne plus masquer", "en": "Unhide"},
    "patient.docs.none": {"fr": "Aucun document ne correspond.", "en": "No document matches."},
    "patient.docs.first_page": {"fr": "Première page", "en": "First page"},
    "patient.docs.next_page": {"fr": "Page suivante", "en": "Next page"},
    "patient.doc.back": {"fr": "← Mes documents", "en": "← My documents"},
    "patient.doc.deposited": {"fr": "Ajouté au DMP le", "en": "Added to the DMP on"},
    "patient.doc.size": {"fr": "Taille", "en": "Size"},
    "patient.doc.masked_explained": {
        "fr": (
            "(seuls son auteur, vos médecins traitants DMP et, si vous l'avez permis, un accès "
            "d'urgence le voient)"
        ),
        "en": (
            "(only its author, your treating doctors and, if you allowed it, an emergency access "
            "see it)"
        ),
    },
    "patient.doc.download": {"fr": "Télécharger le document", "en": "Download the document"},
    "patient.doc.download_inner": {
        "fr": "Télécharger le fichier qu'il contient",
        "en": "Download the file it contains",
    },
    "patient.doc.content": {"fr": "Contenu", "en": "Content"},
    "patient.doc.frame_title": {"fr": "Document PDF : {title}", "en": "PDF document: {title}"},
    "patient.doc.pdf_hint": {
        "fr": (
            "Le PDF ne s'affiche pas ? Votre navigateur bloque peut-être les PDF dans un cadre "
            "protégé :"
        ),
        "en": "The PDF does not show? Your browser may block PDFs in a protected frame:",
    },
    "patient.doc.open_pdf": {
        "fr": "ouvrir le PDF dans un nouvel onglet",
        "en": "open the PDF in a new tab",
    },
    "patient.doc.image_alt": {
        "fr": "Image du document « {title} »",
        "en": "Image of the document “{title}”",
    },
    "patient.doc.unreadable": {
        "fr": "Ce document n'a pas pu être lu pour l'affichage : téléchargez-le.",
        "en": "This document could not be read for display: download it.",
    },
    "patient.doc.download_only": {
        "fr": "Ce format ne s'affiche pas dans le navigateur : téléchargez le document.",
        "en": "This format cannot be shown in the browser: download the document.",
    },
    "patient.upload.title": {"fr": "Ajouter un document", "en": "Add a document"},
    "patient.upload.intro": {
        "fr": (
            "Ajoutez vos propres documents (directives anticipées, résultats, photos "
            "d'ordonnance…). Ils seront visibles des professionnels autorisés, sauf si vous les "
            "masquez."
        ),
        "en": (
            "Add your own documents (advance directives, results, photos of prescriptions…). "
            "Authorised professionals will see them unless you hide them."
        ),
    },
    "patient.upload.doc_title": {"fr": "Titre du document", "en": "Document title"},
    "patient.upload.file": {"fr": "Fichier", "en": "File"},
    "patient.upload.formats": {
        "fr": (
            "PDF, JPEG, PNG, TIFF, RTF ou texte ; {max} au plus. Le contenu du fichier est vérifié."
        ),
        "en": "PDF, JPEG, PNG, TIFF, RTF or text; at most {max}. The file's content is checked.",
    },
    "patient.upload.submit": {"fr": "Ajouter", "en": "Add"},
}

_HISTORY: E = {
    "patient.history.title": {"fr": "Historique des accès", "en": "Access history"},
    "patient.history.intro": {
        "fr": (
            "Chaque action sur votre DMP est tracée : qui, quand, quoi et comment. Les accès en "
            "urgence sont signalés par « URGENCE »."
        ),
        "en": (
            "Every action on your DMP is traced: who, when, what and how. Emergency accesses are "
            "marked “EMERGENCY”."
        ),
    },
    "patient.history.professional": {"fr": "Professionnel", "en": "Professional"},
    "patient.history.from": {"fr": "Du", "en": "From"},
    "patient.history.to": {"fr": "Au", "en": "To"},
    "patient.history.system": {"fr": "OpenDMP (automatique)", "en": "OpenDMP (automatic)"},
    "patient.history.everyone": {"fr": "Tout le monde", "en": "Everyone"},
    "patient.history.count": {
        "fr": (
            "{count} événement(s) affiché(s) ({limit} au plus, les plus récents ; précisez les "
            "dates pour remonter plus loin)."
        ),
        "en": (
            "{count} event(s) shown (at most {limit}, newest first; narrow the dates to go "
            "further back)."
        ),
    },
    "patient.history.emergency_count": {
        "fr": "Dont {count} en urgence.",
        "en": "{count} in emergency mode.",
    },
    "patient.history.caption": {
        "fr": "Événements de mon DMP, du plus récent au plus ancien",
        "en": "Events of my DMP, newest first",
    },
    "patient.history.col.when": {"fr": "Quand", "en": "When"},
    "patient.history.col.who": {"fr": "Qui", "en": "Who"},
    "patient.history.col.profession": {"fr": "Profession", "en": "Profession"},
    "patient.history.col.organization": {"fr": "Structure", "en": "Organisation"},
    "patient.history.col.what": {"fr": "Quoi", "en": "What"},
    "patient.history.col.mode": {"fr": "Mode d'accès", "en": "Access mode"},
    "patient.history.you": {"fr": "Vous", "en": "You"},
    "patient.history.denied": {"fr": "(refusé)", "en": "(refused)"},
    "patient.history.mode.normal": {"fr": "normal", "en": "normal"},
    "patient.history.mode.break-glass": {
        "fr": "URGENCE — bris de glace",
        "en": "EMERGENCY — break-glass",
    },
    "patient.history.mode.regulation": {
        "fr": "URGENCE — centre 15 (SAMU)",
        "en": "EMERGENCY — SAMU regulation",
    },
    "patient.history.report": {"fr": "Signaler cet accès", "en": "Report this access"},
    "patient.history.report_comment": {
        "fr": "Pourquoi cet accès vous semble injustifié (facultatif)",
        "en": "Why this access seems unwarranted to you (optional)",
    },
    "patient.history.report_submit": {"fr": "Envoyer le signalement", "en": "Send the report"},
    "patient.history.none": {
        "fr": "Aucun événement pour ces critères.",
        "en": "No event for these criteria.",
    },
}

_PROS: E = {
    "patient.pros.title": {"fr": "Mes professionnels", "en": "My professionals"},
    "patient.pros.intro": {
        "fr": (
            "Les professionnels et établissements qui ont accès à votre DMP, et pourquoi. Un "
            "professionnel bloqué ne lit jamais votre DMP, même en urgence."
        ),
        "en": (
            "The professionals and establishments with access to your DMP, and why. A blocked "
            "professional never reads your DMP, even in an emergency."
        ),
    },
    "patient.pros.caption": {"fr": "Qui a accès à mon DMP", "en": "Who has access to my DMP"},
    "patient.pros.col.who": {
        "fr": "Professionnel ou établissement",
        "en": "Professional or establishment",
    },
    "patient.pros.col.why": {"fr": "Pourquoi", "en": "Why"},
    "patient.pros.col.state": {"fr": "État", "en": "State"},
    "patient.pros.establishment": {
        "fr": "Établissement (équipe de soins)",
        "en": "Establishment (care team)",
    },
    "patient.pros.basis.authorization": {"fr": "Votre autorisation", "en": "Your authorisation"},
    "patient.pros.basis.care-team": {
        "fr": "Équipe de soins de l'établissement",
        "en": "The establishment's care team",
    },
    "patient.pros.basis.treating-doctor": {"fr": "Médecin traitant DMP", "en": "Treating doctor"},
    "patient.pros.basis.emergency": {
        "fr": "Accès d'urgence en cours",
        "en": "Emergency access open",
    },
    "patient.pros.until": {"fr": "jusqu'au {date}", "en": "until {date}"},
    "patient.pros.state.VALIDE": {"fr": "Accès valide", "en": "Access valid"},
    "patient.pros.state.EXPIRE": {"fr": "Autorisation expirée", "en": "Authorisation expired"},
    "patient.pros.state.NON_EXISTE": {"fr": "Pas d'accès", "en": "No access"},
    "patient.pros.state.INTERDIT": {"fr": "BLOQUÉ", "en": "BLOCKED"},
    "patient.pros.blocked_since": {"fr": "depuis le {date}", "en": "since {date}"},
    "patient.pros.remove": {"fr": "Retirer l'autorisation", "en": "Remove the authorisation"},
    "patient.pros.block": {"fr": "Bloquer", "en": "Block"},
    "patient.pros.unblock": {"fr": "Débloquer", "en": "Unblock"},
    "patient.pros.treating_on": {
        "fr": "Désigner médecin traitant DMP",
        "en": "Name as treating doctor",
    },
    "patient.pros.treating_off": {
        "fr": "Retirer comme médecin traitant",
        "en": "Remove as treating doctor",
    },
    "patient.pros.none": {
        "fr": "Personne n'a d'accès particulier à votre DMP.",
        "en": "Nobody has a particular access to your DMP.",
    },
    "patient.pros.block_title": {
        "fr": "Bloquer un professionnel ou un établissement",
        "en": "Block a professional or an establishment",
    },
    "patient.pros.block_intro": {
        "fr": (
            "Même sans accès aujourd'hui, vous pouvez interdire à l'avance l'accès à un "
            "professionnel ou à tout un établissement."
        ),
        "en": (
            "Even without access today, you can forbid access in advance to a professional or a "
            "whole establishment."
        ),
    },
    "patient.pros.kind": {"fr": "Qui bloquer", "en": "Whom to block"},
    "patient.pros.kind.professional": {"fr": "Un professionnel", "en": "A professional"},
    "patient.pros.kind.organization": {"fr": "Un établissement", "en": "An establishment"},
    "patient.pros.identifier": {"fr": "Identifiant", "en": "Identifier"},
    "patient.pros.identifier_hint": {
        "fr": (
            "Professionnel : son identifiant RPPS précédé de 8 (12 chiffres, sur ses "
            "ordonnances). Établissement : 1 suivi de son numéro FINESS."
        ),
        "en": (
            "Professional: their RPPS number preceded by 8 (12 digits, on their prescriptions). "
            "Establishment: 1 followed by its FINESS number."
        ),
    },
    "patient.pros.treating_title": {
        "fr": "Désigner un médecin traitant DMP",
        "en": "Name a treating doctor",
    },
    "patient.pros.treating_intro": {
        "fr": (
            "Vos médecins traitants DMP (plusieurs possibles) lisent tout votre DMP, y compris "
            "les documents masqués, et sont prévenus des accès d'urgence."
        ),
        "en": (
            "Your treating doctors (several allowed) read your whole DMP, hidden documents "
            "included, and are told of emergency accesses."
        ),
    },
    "patient.pros.doctor_identifier": {
        "fr": "Identifiant du médecin (8 + RPPS)",
        "en": "Doctor's identifier (8 + RPPS)",
    },
}

_CHOICES: E = {
    "patient.choices.title": {"fr": "Mes choix", "en": "My choices"},
    "patient.choices.emergency_title": {"fr": "En cas d'urgence", "en": "In an emergency"},
    "patient.choices.emergency_intro": {
        "fr": (
            "Si vous ne pouvez pas exprimer votre volonté et que votre santé est en danger "
            "immédiat, des professionnels peuvent accéder à votre DMP. Vous et vos médecins "
            "traitants DMP êtes toujours prévenus."
        ),
        "en": (
            "If you cannot express your will and your health is in immediate danger, "
            "professionals may access your DMP. You and your treating doctors are always told."
        ),
    },
    "patient.choices.save": {"fr": "Enregistrer", "en": "Save"},
    "patient.choices.notify_title": {
        "fr": "Notifications et masquage",
        "en": "Notifications and hiding",
    },
    "patient.choices.notify_legend": {"fr": "Me prévenir par e-mail", "en": "Tell me by e-mail"},
    "patient.choices.on_access": {
        "fr": "à chaque accès d'un professionnel",
        "en": "on each access by a professional",
    },
    "patient.choices.on_new_document": {
        "fr": "à chaque nouveau document",
        "en": "on each new document",
    },
    "patient.choices.emergency_always": {
        "fr": "Un accès d'urgence vous est toujours signalé.",
        "en": "An emergency access is always reported to you.",
    },
    "patient.choices.mask_legend": {"fr": "Nouveaux documents", "en": "New documents"},
    "patient.choices.mask_new": {
        "fr": "Masquer par défaut les nouveaux documents aux professionnels",
        "en": "Hide new documents from professionals by default",
    },
    "patient.choices.mask_hint": {
        "fr": "Vous pourrez ensuite les rendre visibles un par un depuis « Mes documents ».",
        "en": "You can then make them visible one by one from “My documents”.",
    },
}

_ACCOUNT: E = {
    "patient.account.title": {"fr": "Mon compte", "en": "My account"},
    "patient.account.everywhere_title": {
        "fr": "Se déconnecter partout",
        "en": "Sign out everywhere",
    },
    "patient.account.everywhere_intro": {
        "fr": (
            "Ferme toutes vos sessions, sur tous vos appareils (celle-ci comprise) : utile si "
            "vous vous êtes connecté(e) sur un ordinateur partagé."
        ),
        "en": (
            "Closes all your sessions, on every device (this one included): useful if you signed "
            "in on a shared computer."
        ),
    },
    "patient.account.everywhere": {
        "fr": "Fermer toutes mes sessions",
        "en": "Close all my sessions",
    },
    "patient.record.title": {"fr": "Mon dossier", "en": "My record"},
    "patient.record.status": {
        "fr": "État de votre DMP : {status}.",
        "en": "State of your DMP: {status}.",
    },
    "patient.record.status.active": {"fr": "ouvert", "en": "open"},
    "patient.record.status.closed": {"fr": "fermé", "en": "closed"},
    "patient.record.status.destroyed": {"fr": "détruit", "en": "destroyed"},
    "patient.record.closed_label": {"fr": "DMP fermé :", "en": "DMP closed:"},
    "patient.record.export_title": {"fr": "Exporter mon DMP", "en": "Export my DMP"},
    "patient.record.export_intro": {
        "fr": "Une archive ZIP avec tous vos documents, leur description (un Bundle FHIR, "
        "documents.fhir.json) et l'historique des accès (history.csv).",
        "en": "A ZIP archive with all your documents, their description (a FHIR Bundle, "
        "documents.fhir.json) and the access history (history.csv).",
    },
    "patient.record.export": {"fr": "Télécharger l'archive", "en": "Download the archive"},
    "patient.record.close_title": {"fr": "Fermer mon DMP", "en": "Close my DMP"},
    "patient.record.close_intro": {
        "fr": (
            "Une fois fermé, plus personne ne peut consulter ni alimenter votre DMP. Il est "
            "conservé 10 ans puis détruit ; vous pouvez le réactiver pendant ce temps, ou "
            "demander sa destruction anticipée (sous 3 mois)."
        ),
        "en": (
            "Once closed, nobody can read or add to your DMP. It is kept 10 years then destroyed;"
            " you may reactivate it meanwhile, or ask for early destruction (within 3 months)."
        ),
    },
    "patient.record.close_reason": {"fr": "Pourquoi (facultatif)", "en": "Why (optional)"},
    "patient.record.close_confirm": {
        "fr": "Je veux fermer mon DMP.",
        "en": "I want to close my DMP.",
    },
    "patient.record.close": {"fr": "Fermer mon DMP", "en": "Close my DMP"},
    "patient.record.closed_on": {
        "fr": "Votre DMP est fermé depuis le {date}. Il sera détruit après le {until}.",
        "en": "Your DMP has been closed since {date}. It will be destroyed after {until}.",
    },
    "patient.record.reactivate_title": {"fr": "Réactiver mon DMP", "en": "Reactivate my DMP"},
    "patient.record.reactivate_intro": {
        "fr": "Son contenu revient tel qu'il était. Redites vos choix pour les urgences.",
        "en": "Its content comes back as it was. Give your emergency choices again.",
    },
    "patient.record.reactivate": {"fr": "Réactiver", "en": "Reactivate"},
    "patient.record.destroy_title": {
        "fr": "Demander la destruction anticipée",
        "en": "Ask for early destruction",
    },
    "patient.record.destroy_intro": {
        "fr": "Votre DMP sera détruit sous 3 mois au lieu de 10 ans. C'est définitif.",
        "en": "Your DMP will be destroyed within 3 months instead of 10 years. This is final.",
    },
    "patient.record.destroy_confirm": {
        "fr": "Je demande la destruction de mon DMP.",
        "en": "I ask for my DMP to be destroyed.",
    },
    "patient.record.destroy": {"fr": "Demander la destruction", "en": "Ask for destruction"},
    "patient.record.destroy_requested": {
        "fr": "Destruction demandée : votre DMP sera détruit après le {date}.",
        "en": "Destruction requested: your DMP will be destroyed after {date}.",
    },
}

for _part in (
    _LAYOUT,
    _DONE,
    _ERRORS,
    _SIGN_IN,
    _HOME,
    _DOCS,
    _HISTORY,
    _PROS,
    _CHOICES,
    _ACCOUNT,
):
    register(_part)
