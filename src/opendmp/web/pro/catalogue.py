"""The professional portal's wording (French first, English), registered at import."""

from __future__ import annotations

from opendmp.web.i18n import register

ENTRIES: dict[str, dict[str, str]] = {
    # --- navigation --------------------------------------------------------------------------
    "pp.nav.label": {"fr": "Dossier du patient", "en": "Patient's record"},
    "pp.nav.dossier": {"fr": "Statut et accès", "en": "Status and access"},
    "pp.nav.documents": {"fr": "Documents", "en": "Documents"},
    "pp.nav.deposit": {"fr": "Ajouter un document", "en": "Add a document"},
    "pp.nav.search": {"fr": "Rechercher un patient", "en": "Find a patient"},
    "pp.nav.my_patients": {"fr": "Mes patients", "en": "My patients"},
    "pp.yes": {"fr": "oui", "en": "yes"},
    "pp.no": {"fr": "non", "en": "no"},
    # --- emergency banner ----------------------------------------------------------------------
    "pp.banner.title.break-glass": {
        "fr": "Accès en mode bris de glace.",
        "en": "Break-glass access.",
    },
    "pp.banner.title.regulation": {
        "fr": "Accès en mode centre de régulation (SAMU).",
        "en": "Regulation-centre access (SAMU).",
    },
    "pp.banner.until": {
        "fr": "Accès d'urgence tracé, notifié au patient et à ses médecins traitants, "
        "valable jusqu'au {until}.",
        "en": "Emergency access, traced and notified to the patient and their treating "
        "doctors, valid until {until}.",
    },
    # --- finding a patient ----------------------------------------------------------------------
    "pp.find.title": {"fr": "Rechercher un patient par son INS", "en": "Find a patient by INS"},
    "pp.find.ins_hint": {
        "fr": "Matricule INS à 15 caractères (espaces permis).",
        "en": "The 15-character INS (spaces allowed).",
    },
    "pp.find.button": {"fr": "Rechercher", "en": "Search"},
    "pp.card.title": {"fr": "Lire une carte Vitale", "en": "Read a Carte Vitale"},
    "pp.card.file": {"fr": "Fichier de la carte", "en": "Card file"},
    "pp.card.read": {"fr": "Lire la carte", "en": "Read the card"},
    "pp.card.pick": {"fr": "Personnes de la carte Vitale", "en": "People on the Carte Vitale"},
    "pp.card.insured": {"fr": "assuré(e)", "en": "insured person"},
    "pp.card.beneficiary": {"fr": "ayant droit", "en": "beneficiary"},
    "pp.card.choose": {"fr": "Ouvrir le dossier de {name}", "en": "Open the record of {name}"},
    "pp.card.no_ins": {
        "fr": "La carte ne porte pas l'INS de cette personne : saisissez-le.",
        "en": "The card carries no INS for this person: type it.",
    },
    # --- status ----------------------------------------------------------------------------------
    "pp.dossier.title": {"fr": "Dossier du patient", "en": "Patient's record"},
    "pp.dossier.heading": {"fr": "Dossier de {name}", "en": "Record of {name}"},
    "pp.dossier.heading_ins": {"fr": "Patient INS {ins}", "en": "Patient INS {ins}"},
    "pp.dossier.consult": {"fr": "Consulter les documents", "en": "See the documents"},
    "pp.status.title": {"fr": "Test d'existence et statut", "en": "Existence test and status"},
    "pp.status.identity": {"fr": "Identité", "en": "Identity"},
    "pp.status.record": {"fr": "DMP", "en": "DMP"},
    "pp.status.no_record": {
        "fr": "Aucun DMP n'existe pour cet INS.",
        "en": "No DMP exists for this INS.",
    },
    "pp.status.access": {"fr": "Votre autorisation", "en": "Your authorisation"},
    "pp.status.treating": {"fr": "Médecin traitant DMP", "en": "Treating doctor (DMP)"},
    "pp.record.active": {"fr": "ouvert", "en": "open"},
    "pp.record.closed": {"fr": "fermé", "en": "closed"},
    "pp.record.destroyed": {"fr": "détruit", "en": "destroyed"},
    "pp.state.NON_EXISTE": {"fr": "aucune", "en": "none"},
    "pp.state.VALIDE": {"fr": "valide", "en": "valid"},
    "pp.state.EXPIRE": {"fr": "expirée", "en": "expired"},
    "pp.state.INTERDIT": {
        "fr": "interdite : le patient vous a bloqué(e)",
        "en": "forbidden: the patient blocked you",
    },
    # --- consent -------------------------------------------------------------------------------
    "pp.consent.title": {"fr": "Déclarer le consentement du patient", "en": "Declare consent"},
    "pp.consent.title_renew": {
        "fr": "Renouveler le consentement du patient",
        "en": "Renew the patient's consent",
    },
    "pp.consent.intro": {
        "fr": "Hors équipe de soins, l'accès au DMP demande le consentement du patient, que "
        "vous déclarez ici. La déclaration est tracée dans l'historique du patient.",
        "en": "Outside the care team, access needs the patient's consent, which you declare "
        "here. The declaration is traced in the patient's history.",
    },
    "pp.consent.box": {
        "fr": "Le patient m'a donné son consentement pour accéder à son DMP",
        "en": "The patient gave me their consent to access their DMP",
    },
    "pp.consent.treating": {
        "fr": "Le patient me désigne aussi comme médecin traitant DMP",
        "en": "The patient also names me treating doctor of the DMP",
    },
    "pp.consent.button": {"fr": "Déclarer le consentement", "en": "Declare consent"},
    # --- emergency -----------------------------------------------------------------------------
    "pp.emergency.title": {"fr": "Accès d'urgence", "en": "Emergency access"},
    "pp.emergency.intro": {
        "fr": "Seulement si le patient ne peut exprimer sa volonté et que sa santé est en "
        "danger immédiat. L'accès est limité dans le temps, tracé, et notifié au patient et "
        "à ses médecins traitants.",
        "en": "Only when the patient cannot express their will and their health is at "
        "immediate risk. The access is time-boxed, traced and notified to the patient and "
        "their treating doctors.",
    },
    "pp.emergency.mode": {"fr": "Mode d'accès", "en": "Access mode"},
    "pp.emergency.break_glass": {"fr": "Bris de glace", "en": "Break-glass"},
    "pp.emergency.regulation": {
        "fr": "Centre de régulation (SAMU – centre 15)",
        "en": "Regulation centre (SAMU)",
    },
    "pp.emergency.justification": {"fr": "Justification", "en": "Justification"},
    "pp.emergency.justification_hint": {
        "fr": "Obligatoire en bris de glace : pourquoi l'urgence justifie cet accès.",
        "en": "Required for break-glass: why the emergency justifies this access.",
    },
    "pp.emergency.button": {"fr": "Ouvrir l'accès d'urgence", "en": "Open emergency access"},
    # --- documents -----------------------------------------------------------------------------
    "pp.docs.title": {"fr": "Documents du DMP", "en": "DMP documents"},
    "pp.docs.filters": {"fr": "Filtrer", "en": "Filter"},
    "pp.docs.type": {"fr": "Type de document", "en": "Document type"},
    "pp.docs.class": {"fr": "Catégorie", "en": "Category"},
    "pp.docs.any": {"fr": "Tous", "en": "Any"},
    "pp.docs.from": {"fr": "Date de l'acte, du", "en": "Date of the act, from"},
    "pp.docs.to": {"fr": "au", "en": "to"},
    "pp.docs.author": {"fr": "Auteur (nom de famille)", "en": "Author (family name)"},
    "pp.docs.superseded": {
        "fr": "Montrer aussi les versions remplacées",
        "en": "Also show replaced versions",
    },
    "pp.docs.everything": {
        "fr": "Toutes les dates, documents archivés compris",
        "en": "Every date, archived documents included",
    },
    "pp.docs.apply": {"fr": "Appliquer", "en": "Apply"},
    "pp.docs.first_view": {
        "fr": "{count} document(s) validé(s) des deux dernières années.",
        "en": "{count} approved document(s) from the last two years.",
    },
    "pp.docs.widen": {
        "fr": "Voir tous les documents, archivés compris",
        "en": "See every document, archived ones included",
    },
    "pp.docs.widened": {
        "fr": "{count} document(s), toutes dates, archivés compris.",
        "en": "{count} document(s), every date, archived ones included.",
    },
    "pp.docs.filtered": {"fr": "{count} document(s) trouvé(s).", "en": "{count} document(s)."},
    "pp.docs.caption": {
        "fr": "Documents, l'acte le plus récent d'abord",
        "en": "Documents, most recent act first",
    },
    "pp.docs.col_title": {"fr": "Document", "en": "Document"},
    "pp.docs.col_act": {"fr": "Date de l'acte", "en": "Date of the act"},
    "pp.docs.col_author": {"fr": "Auteur", "en": "Author"},
    "pp.docs.col_flags": {"fr": "Visibilité et état", "en": "Visibility and state"},
    "pp.docs.none": {"fr": "Aucun document.", "en": "No document."},
    "pp.docs.next": {"fr": "Documents suivants", "en": "Next documents"},
    "pp.flag.masked": {
        "fr": "Masqué aux professionnels (visible pour vous selon les règles)",
        "en": "Hidden from professionals (visible to you under the rules)",
    },
    "pp.flag.superseded": {"fr": "Version remplacée", "en": "Replaced version"},
    "pp.flag.archived": {"fr": "Archivé", "en": "Archived"},
    "pp.flag.hidden_patient": {"fr": "Non visible par le patient", "en": "Hidden from the patient"},
    "pp.flag.hidden_representatives": {
        "fr": "Non visible par les représentants légaux",
        "en": "Hidden from legal representatives",
    },
    "pp.flag.normal": {"fr": "Normale", "en": "Normal"},
    "pp.doc.deposited": {"fr": "Déposé le", "en": "Deposited on"},
    "pp.doc.setting": {"fr": "Cadre d'exercice", "en": "Practice setting"},
    "pp.doc.facility": {"fr": "Type de structure", "en": "Facility type"},
    "pp.doc.version": {"fr": "Version", "en": "Version"},
    "pp.doc.download": {"fr": "Télécharger le document", "en": "Download the document"},
    "pp.doc.open": {"fr": "Ouvrir le PDF dans un onglet", "en": "Open the PDF in a tab"},
    "pp.doc.frame": {"fr": "Contenu du document : {title}", "en": "Document content: {title}"},
    "pp.doc.no_view": {
        "fr": "Ce document ne peut pas être affiché ici : téléchargez-le.",
        "en": "This document cannot be shown here: download it.",
    },
    "pp.own.title": {"fr": "Votre document", "en": "Your document"},
    "pp.own.replace": {
        "fr": "Remplacer par une nouvelle version",
        "en": "Replace with a new version",
    },
    "pp.own.archive": {"fr": "Archiver", "en": "Archive"},
    "pp.own.unarchive": {"fr": "Désarchiver", "en": "Unarchive"},
    "pp.own.visibility": {"fr": "Changer la visibilité", "en": "Change the visibility"},
    "pp.own.confirm_delete": {
        "fr": "Je confirme la suppression de ce document",
        "en": "I confirm deleting this document",
    },
    "pp.own.delete": {"fr": "Supprimer", "en": "Delete"},
    "pp.visibility.legend": {"fr": "Visibilité", "en": "Visibility"},
    "pp.visibility.normal": {"fr": "Normale", "en": "Normal"},
    "pp.visibility.hidden-from-patient": {
        "fr": "Non visible par le patient (avant consultation d'annonce)",
        "en": "Hidden from the patient (until the announcement consultation)",
    },
    "pp.visibility.hidden-from-representatives": {
        "fr": "Non visible par les représentants légaux",
        "en": "Hidden from legal representatives",
    },
    # --- deposit -------------------------------------------------------------------------------
    "pp.deposit.title": {"fr": "Ajouter un document", "en": "Add a document"},
    "pp.deposit.replace_title": {
        "fr": "Remplacer un document par une nouvelle version",
        "en": "Replace a document with a new version",
    },
    "pp.deposit.intro": {
        "fr": "Un PDF est placé dans un document CDA de niveau 1 à votre nom ; un document "
        "CDA est déposé tel quel s'il concerne ce patient. Taille maximale : {mb} Mo.",
        "en": "A PDF is wrapped in a CDA level-1 document in your name; a CDA document is "
        "stored as is if it is about this patient. Maximum size: {mb} MB.",
    },
    "pp.deposit.file": {"fr": "Fichier (PDF ou CDA)", "en": "File (PDF or CDA)"},
    "pp.deposit.file_hint": {
        "fr": "Un vrai PDF, ou un document CDA R2 (XML).",
        "en": "A real PDF, or a CDA R2 document (XML).",
    },
    "pp.deposit.doc_title": {"fr": "Titre", "en": "Title"},
    "pp.deposit.doc_title_hint": {
        "fr": "Par défaut, le libellé du type de document.",
        "en": "By default, the document type's label.",
    },
    "pp.deposit.service_date": {"fr": "Date de l'acte", "en": "Date of the act"},
    "pp.deposit.button": {"fr": "Déposer le document", "en": "Deposit the document"},
    "pp.deposit.done": {
        "fr": "Le document a été déposé dans le DMP.",
        "en": "The document was stored in the DMP.",
    },
    # --- my patients ---------------------------------------------------------------------------
    "pp.mine.title": {"fr": "Mes patients", "en": "My patients"},
    "pp.mine.intro": {
        "fr": "Les DMP ouverts où vous êtes autorisé(e) ou médecin traitant.",
        "en": "The open DMPs where you are authorised or treating doctor.",
    },
    "pp.mine.caption": {"fr": "{count} patient(s)", "en": "{count} patient(s)"},
    "pp.mine.patient": {"fr": "Patient", "en": "Patient"},
    "pp.mine.basis": {"fr": "Accès", "en": "Access"},
    "pp.mine.last": {"fr": "Dernier document", "en": "Last document"},
    "pp.mine.open": {"fr": "Dossier", "en": "Record"},
    "pp.mine.open_button": {"fr": "Ouvrir : {name}", "en": "Open: {name}"},
    "pp.mine.treating": {"fr": "Médecin traitant", "en": "Treating doctor"},
    "pp.mine.until": {"fr": "Autorisé(e) jusqu'au {until}", "en": "Authorised until {until}"},
    "pp.mine.none": {"fr": "aucun", "en": "none"},
    "pp.mine.empty": {"fr": "Aucun patient pour l'instant.", "en": "No patient yet."},
    # --- errors of this portal -----------------------------------------------------------------
    "errors.cpe-never-reads": {
        "fr": "Une carte d'établissement (CPE) ne permet jamais de lire les documents du DMP. "
        "Vous pouvez en déposer.",
        "en": "An establishment staff card (CPE) never reads DMP documents. You may deposit.",
    },
    "errors.blocked-by-patient": {
        "fr": "Le patient vous a bloqué(e) : vous ne pouvez pas accéder à son DMP, même en "
        "urgence.",
        "en": "The patient blocked you: you cannot access their DMP, not even in an emergency.",
    },
    "errors.not-authorized": {
        "fr": "Vous n'êtes pas autorisé(e) sur ce DMP : déclarez le consentement du patient.",
        "en": "You are not authorised on this DMP: declare the patient's consent.",
    },
    "errors.authorization-expired": {
        "fr": "Votre autorisation a expiré : déclarez à nouveau le consentement du patient.",
        "en": "Your authorisation expired: declare the patient's consent again.",
    },
    "errors.justification-required": {
        "fr": "Le bris de glace exige une justification écrite. Aucun accès n'a été ouvert.",
        "en": "Break-glass needs a written justification. No access was opened.",
    },
    "errors.emergency-opposed-by-patient": {
        "fr": "Le patient s'est opposé à ce mode d'accès d'urgence.",
        "en": "The patient refused this kind of emergency access.",
    },
    "errors.regulation-doctors-only": {
        "fr": "Le mode centre de régulation est réservé aux médecins régulateurs du SAMU.",
        "en": "The regulation-centre mode is for SAMU regulating doctors.",
    },
    "errors.invalid-access-mode": {
        "fr": "Choisissez un mode d'accès d'urgence.",
        "en": "Choose an emergency access mode.",
    },
    "errors.invalid-justification": {
        "fr": "La justification est trop longue.",
        "en": "The justification is too long.",
    },
    "errors.type-not-allowed-for-profession": {
        "fr": "Votre profession ne peut pas lire ce type de document.",
        "en": "Your profession may not read this type of document.",
    },
    "errors.masked-by-patient": {
        "fr": "Le patient a masqué ce document aux professionnels.",
        "en": "The patient hid this document from professionals.",
    },
    "errors.not-author": {
        "fr": "Seul l'auteur du document, ou sa structure, peut faire cela.",
        "en": "Only the document's author, or their organisation, may do this.",
    },
    "errors.record-not-found": {
        "fr": "Aucun DMP n'existe pour cet INS.",
        "en": "No DMP exists for this INS.",
    },
    "errors.record-closed": {
        "fr": "Ce DMP est fermé : il ne peut être ni consulté ni alimenté.",
        "en": "This DMP is closed: it can be neither read nor fed.",
    },
    "errors.document-not-found": {"fr": "Document introuvable.", "en": "No such document."},
    "errors.document-deleted": {"fr": "Ce document a été supprimé.", "en": "Deleted document."},
    "errors.dossier-not-found": {
        "fr": "Ce patient n'est pas ouvert dans votre session : recherchez-le à nouveau.",
        "en": "This patient is not open in your session: find them again.",
    },
    "errors.no-pdf-rendering": {
        "fr": "Ce document n'a pas de PDF à afficher : téléchargez-le.",
        "en": "This document has no PDF to show: download it.",
    },
    "errors.not-a-pdf": {
        "fr": "Le fichier porte l'extension .pdf mais n'est pas un PDF. Rien n'a été déposé.",
        "en": "The file is named .pdf but is not a PDF. Nothing was stored.",
    },
    "errors.invalid-content": {
        "fr": "Envoyez un PDF ou un document CDA (XML). Rien n'a été déposé.",
        "en": "Send a PDF or a CDA document (XML). Nothing was stored.",
    },
    "errors.patient-mismatch": {
        "fr": "L'INS du document CDA n'est pas celui de ce patient. Rien n'a été déposé.",
        "en": "The INS in the CDA document is not this patient's. Nothing was stored.",
    },
    "errors.service-date-in-future": {
        "fr": "La date de l'acte est dans le futur. Rien n'a été déposé.",
        "en": "The date of the act is in the future. Nothing was stored.",
    },
    "errors.invalid-type": {
        "fr": "Choisissez un type de document de la liste du DMP.",
        "en": "Choose a document type from the DMP list.",
    },
    "errors.invalid-cda": {
        "fr": "Ce document CDA est invalide. Rien n'a été déposé.",
        "en": "This CDA document is not valid. Nothing was stored.",
    },
    "errors.file-required": {"fr": "Choisissez le fichier.", "en": "Choose the file."},
    "errors.too-large": {
        "fr": "Le fichier est trop volumineux. Rien n'a été déposé.",
        "en": "The file is too large. Nothing was stored.",
    },
    "errors.author-profession-required": {
        "fr": "Sans profession (carte CPE), déposez le document CDA rédigé par le "
        "professionnel : un PDF serait placé à votre nom.",
        "en": "Without a profession (CPE card), deposit the CDA document the professional "
        "wrote: a PDF would be wrapped in your name.",
    },
    "errors.replaced-document-not-current": {
        "fr": "Ce document a déjà été remplacé ou supprimé.",
        "en": "This document was already replaced or deleted.",
    },
    "errors.duplicate-unique-id": {
        "fr": "Ce document est déjà dans le DMP.",
        "en": "This document is already in the DMP.",
    },
    "errors.patient-consent-required": {
        "fr": "Cochez la case : le patient doit avoir donné son consentement.",
        "en": "Tick the box: the patient must have given their consent.",
    },
    "errors.confirmation-required": {
        "fr": "Cochez la case pour confirmer.",
        "en": "Tick the box to confirm.",
    },
    "errors.not-a-doctor": {
        "fr": "Seul un médecin peut être médecin traitant.",
        "en": "Only a doctor can be a treating doctor.",
    },
}

register(ENTRIES)
