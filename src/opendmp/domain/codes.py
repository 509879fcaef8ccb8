"""Code systems the DMP uses, as frozen data with French and English labels.

Codes and French labels come from the ANS value sets (NOS: TRE_G15, TRE_R38, JDV_J02,
JDV_J04, JDV_J07, JDV_J08, TRE_A03) as listed in docs/rules.md §1, §3.5 and §4; English labels
are ours. These are the subsets OpenDMP needs, not full copies of the terminologies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

from opendmp.domain.errors import InvalidInput

Lang = Literal["fr", "en"]


@dataclass(frozen=True)
class Code:
    """One concept: its code, the OID (or URI) of its system, and its labels."""

    code: str
    system: str
    fr: str
    en: str

    def label(self, lang: Lang = "fr") -> str:
        return self.fr if lang == "fr" else self.en


@dataclass(frozen=True)
class DocumentType(Code):
    """A document ``typeCode``, with the ``classCode`` it implies (TRE_A03)."""

    class_code: str


@dataclass(frozen=True)
class ClosureReason(Code):
    """Why a record was closed; some reasons are the operator's alone (fraud, duplicates)."""

    operator_only: bool


C = TypeVar("C", bound=Code)


def _index(*codes: C) -> dict[str, C]:
    index = {code.code: code for code in codes}
    assert len(index) == len(codes), "duplicate code in a code table"
    return index


# --- Professions: TRE_G15-ProfessionSante --------------------------------------------------
PROFESSION_SYSTEM = "1.2.250.1.71.1.2.7"
_P = PROFESSION_SYSTEM
PROFESSIONS: dict[str, Code] = _index(
    Code("10", _P, "Médecin", "Physician"),
    Code("21", _P, "Pharmacien", "Pharmacist"),
    Code("26", _P, "Audioprothésiste", "Hearing aid specialist"),
    Code("28", _P, "Opticien-Lunetier", "Optician"),
    Code("32", _P, "Physicien médical", "Medical physicist"),
    Code("40", _P, "Chirurgien-Dentiste", "Dentist"),
    Code("50", _P, "Sage-Femme", "Midwife"),
    Code("60", _P, "Infirmier", "Nurse"),
    Code("69", _P, "Infirmier psychiatrique", "Psychiatric nurse"),
    Code("70", _P, "Masseur-Kinésithérapeute", "Physiotherapist"),
    Code("80", _P, "Pédicure-Podologue", "Podiatrist"),
    Code("81", _P, "Orthoprothésiste", "Orthoprosthetist"),
    Code("82", _P, "Podo-Orthésiste", "Podo-orthotist"),
    Code("83", _P, "Orthopédiste-Orthésiste", "Orthotist"),
    Code("84", _P, "Oculariste", "Ocularist"),
    Code("85", _P, "Epithésiste", "Epithesist"),
    Code("86", _P, "Technicien de laboratoire médical", "Medical laboratory technician"),
    Code("91", _P, "Orthophoniste", "Speech therapist"),
    Code("92", _P, "Orthoptiste", "Orthoptist"),
    Code("94", _P, "Ergothérapeute", "Occupational therapist"),
    Code("95", _P, "Diététicien", "Dietitian"),
    Code("96", _P, "Psychomotricien", "Psychomotor therapist"),
    Code("98", _P, "Manipulateur ERM", "Radiographer"),
)

# --- Specialties ("savoir-faire"): TRE_R38, subset of JDV_J107 ----------------------------
SPECIALTY_SYSTEM = "1.2.250.1.213.2.28"
_S = SPECIALTY_SYSTEM
SPECIALTIES: dict[str, Code] = _index(
    Code("SM02", _S, "Anesthésie-réanimation", "Anaesthesiology and intensive care"),
    Code("SM03", _S, "Biologie médicale", "Medical biology"),
    Code("SM04", _S, "Cardiologie et maladies vasculaires", "Cardiology and vascular medicine"),
    Code("SM15", _S, "Dermatologie et vénéréologie", "Dermatology and venereology"),
    Code("SM26", _S, "Qualifié en médecine générale", "Qualified in general practice"),
    Code("SM32", _S, "Neurologie", "Neurology"),
    Code("SM33", _S, "Neuro-psychiatrie", "Neuropsychiatry"),
    Code("SM40", _S, "Pédiatrie", "Paediatrics"),
    Code("SM42", _S, "Psychiatrie", "Psychiatry"),
    Code("SM43", _S, "Psychiatrie, option enfant et adolescent", "Child and adolescent psychiatry"),
    Code("SM44", _S, "Radio-diagnostic", "Diagnostic radiology"),
    Code("SM53", _S, "Spécialiste en médecine générale", "Specialist in general practice"),
    Code("SM54", _S, "Médecine générale", "General practice"),
)

# --- Document classes: TRE_A03-ClasseDocument (J57) ----------------------------------------
CLASS_SYSTEM = "1.2.250.1.213.1.1.4.1"
_C = CLASS_SYSTEM
DOCUMENT_CLASSES: dict[str, Code] = _index(
    Code("10", _C, "Compte rendu", "Report"),
    Code("11", _C, "Synthèse", "Summary"),
    Code("31", _C, "Imagerie médicale", "Medical imaging"),
    Code("42", _C, "Prescription", "Prescription"),
    Code("43", _C, "Dispensation", "Dispensing"),
    Code("44", _C, "Plan de soins", "Care plan"),
    Code("52", _C, "Certificat", "Certificate"),
    Code("60", _C, "Remboursement", "Reimbursement"),
    Code("90", _C, "Documents du patient", "Patient's documents"),
    Code("95", _C, "Gestion", "Management"),
)

# --- Document types: LOINC and TRE_A05 (J07, DMP subset J66) -------------------------------
LOINC_URI = "http://loinc.org"
LOINC_OID = "2.16.840.1.113883.6.1"
PATIENT_TYPE_SYSTEM = "1.2.250.1.213.1.1.4.12"  # TRE_A05-TypeDocComplementaire
_L = LOINC_OID
_A05 = PATIENT_TYPE_SYSTEM
DOCUMENT_TYPES: dict[str, DocumentType] = _index(
    DocumentType(
        "11490-0",
        _L,
        "Lettre de liaison à la sortie d'un établissement de soins",
        "Discharge letter",
        "10",
    ),
    DocumentType("34874-8", _L, "CR opératoire", "Surgical operation note", "10"),
    DocumentType("34112-3", _L, "CR hospitalier (séjour)", "Hospital stay report", "10"),
    DocumentType("11502-2", _L, "CR d'examens biologiques", "Laboratory report", "10"),
    DocumentType("18748-4", _L, "CR d'imagerie médicale", "Diagnostic imaging report", "10"),
    DocumentType("11488-4", _L, "CR ou fiche de consultation ou de visite", "Consult note", "10"),
    DocumentType("60591-5", _L, "Synthèse médicale", "Patient summary", "11"),
    DocumentType("68599-0", _L, "Synthèse psychiatrique", "Psychiatric summary", "11"),
    DocumentType("51969-4", _L, "CR de génétique moléculaire", "Genetic analysis report", "10"),
    DocumentType(
        "57833-6", _L, "Prescription de produits de santé", "Prescription for medication", "42"
    ),
    DocumentType("57832-8", _L, "Prescription de soins", "Prescription for care", "42"),
    DocumentType("60593-1", _L, "Dispensation médicamenteuse", "Medication dispensed", "43"),
    DocumentType("87273-9", _L, "Note de vaccination", "Immunization note", "10"),
    DocumentType("11369-6", _L, "Historique des vaccinations", "Immunization history", "11"),
    DocumentType("15507-7", _L, "CR de passage aux urgences", "Emergency department note", "10"),
    DocumentType(
        "34749-2", _L, "CR de consultation pré-anesthésique", "Pre-anaesthesia consult note", "10"
    ),
    DocumentType("77436-4", _L, "CR d'anesthésie", "Anaesthesia record", "10"),
    DocumentType("96163-1", _L, "Bilan de soins infirmiers", "Nursing assessment", "10"),
    DocumentType("18776-5", _L, "Plan personnalisé de soins", "Plan of care", "44"),
    DocumentType("89601-9", _L, "Certificat médical", "Medical certificate", "52"),
    DocumentType("IMG-KOS", _A05, "Référence d'objets d'un examen d'imagerie", "Key images", "31"),
    DocumentType("ATTEST-RESID", _A05, "Attestation de résidence", "Residence certificate", "52"),
    DocumentType("REMB", _A05, "Données de remboursement", "Reimbursement data", "60"),
    DocumentType(
        "DOCPAT01", _A05, "Synthèse déposée par le patient", "Summary from the patient", "90"
    ),
    DocumentType(
        "DOCPAT02",
        _A05,
        "Traitement ou document de soins déposé par le patient",
        "Treatment or care document from the patient",
        "90",
    ),
    DocumentType("DOCPAT03", _A05, "CR déposé par le patient", "Report from the patient", "90"),
    DocumentType(
        "DOCPAT04", _A05, "Imagerie déposée par le patient", "Imaging from the patient", "90"
    ),
    DocumentType(
        "DOCPAT05",
        _A05,
        "CR de biologie déposé par le patient",
        "Laboratory report from the patient",
        "90",
    ),
    DocumentType(
        "DOCPAT06",
        _A05,
        "CR de prévention déposé par le patient",
        "Prevention report from the patient",
        "90",
    ),
    DocumentType(
        "DOCPAT07", _A05, "Certificat déposé par le patient", "Certificate from the patient", "90"
    ),
    DocumentType(
        "DOCPAT08",
        _A05,
        "Profil médical Mon espace santé",
        "Mon espace santé medical profile",
        "90",
    ),
    DocumentType(
        "DOCPAT09",
        _A05,
        "Document administratif déposé par le patient",
        "Administrative document from the patient",
        "90",
    ),
    DocumentType("EXPPAT_1", _A05, "Volontés et droits du patient", "Patient's wishes", "90"),
    DocumentType("EXPPAT_2", _A05, "Autre document du patient", "Other patient document", "90"),
    DocumentType("EXPPAT_3", _A05, "Directives anticipées", "Advance directives", "90"),
)

# --- Format codes (J60) ---------------------------------------------------------------------
IHE_FORMAT_SYSTEM = "1.3.6.1.4.1.19376.1.2.3"
ASIP_FORMAT_SYSTEM = "1.2.250.1.213.1.1.4.2.282"  # TRE_A06-FormatCodeComplementaire
_IHE = IHE_FORMAT_SYSTEM
_ASIP = ASIP_FORMAT_SYSTEM
FORMAT_CODES: dict[str, Code] = _index(
    Code("urn:ihe:iti:xds-sd:pdf:2008", _IHE, "Document à corps non structuré en PDF", "PDF"),
    Code("urn:ihe:iti:xds-sd:text:2008", _IHE, "Document à corps non structuré en texte", "Text"),
    Code("urn:ihe:lab:xd-lab:2008", _IHE, "CR d'examens biologiques", "Laboratory report"),
    Code("urn:asip:ci-sis:ldl-ses:2017", _ASIP, "Lettre de liaison à la sortie", "Discharge"),
    Code("urn:asip:ci-sis:vsm:2012", _ASIP, "Volet de synthèse médicale", "Medical summary"),
)
# CDA level 1 bodies: the document is a PDF or text wrapped in a CDA header.
LEVEL_1_FORMAT_CODES: frozenset[str] = frozenset(
    {"urn:ihe:iti:xds-sd:pdf:2008", "urn:ihe:iti:xds-sd:text:2008"}
)

# --- Practice settings (J04) and healthcare facility types (J02) ---------------------------
PRACTICE_SETTING_SYSTEM = "1.2.250.1.213.1.1.4.9"
PATIENT_EXPRESSION_SYSTEM = "1.2.250.1.213.1.1.4.6"
_PS = PRACTICE_SETTING_SYSTEM
_EXP = PATIENT_EXPRESSION_SYSTEM
PRACTICE_SETTINGS: dict[str, Code] = _index(
    Code("AMBULATOIRE", _PS, "Ambulatoire", "Outpatient"),
    Code("ETABLISSEMENT", _PS, "Etablissement de santé", "Healthcare establishment"),
    Code("SAMU_SMUR", _PS, "SAMU/SMUR", "Emergency medical service"),
    Code("HAD", _PS, "Hospitalisation à domicile", "Hospital at home"),
    Code("ESSMS", _PS, "Etablissement ou service social ou médico-social", "Social care"),
    Code("MAD", _PS, "Maintien à domicile", "Home support"),
    Code("SAD", _PS, "Soins à domicile", "Home care"),
    Code("PALLIATIF", _PS, "Soins palliatifs", "Palliative care"),
    Code("DEPISTAGE", _PS, "Dépistage", "Screening"),
    Code("AMO", _PS, "Organisme d'assurance maladie obligatoire", "Statutory health insurer"),
    Code("EXP_PATIENT", _EXP, "Expression personnelle du patient", "Patient's own expression"),
    Code("SNR", _EXP, "Service numérique référencé", "Referenced digital service"),
)

FACILITY_TYPE_SYSTEM = "1.2.250.1.71.4.2.4"  # TRE_R02-SecteurActivite
_F = FACILITY_TYPE_SYSTEM
HEALTHCARE_FACILITY_TYPES: dict[str, Code] = _index(
    Code("SA01", _F, "Etablissement public de santé", "Public hospital"),
    Code("SA03", _F, "Etablissement privé PSPH", "Private non-profit hospital"),
    Code("SA04", _F, "Etablissement privé non PSPH", "Private hospital"),
    Code("SA05", _F, "Centre de santé", "Health centre"),
    Code("SA07", _F, "Cabinet individuel", "Individual practice"),
    Code("SA08", _F, "Cabinet de groupe", "Group practice"),
    Code("SA17", _F, "Etablissement pour personnes âgées", "Care home for the elderly"),
    Code("SA25", _F, "Laboratoire de biologie médicale", "Medical laboratory"),
    Code("SA33", _F, "Pharmacie d'officine", "Community pharmacy"),
    Code("SA52", _F, "Maison de santé ou Pôle de santé", "Multi-professional health centre"),
    Code("EXP_PATIENT", _EXP, "Expression personnelle du patient", "Patient's own expression"),
    Code("SNR", _EXP, "Service numérique référencé", "Referenced digital service"),
)

# --- Confidentiality (J08, docs/rules.md §3.5) -------------------------------------------------
HL7_CONFIDENTIALITY_SYSTEM = "2.16.840.1.113883.5.25"
DMP_CONFIDENTIALITY_SYSTEM = "1.2.250.1.213.1.1.4.13"
CONFIDENTIALITY_CODES: dict[str, Code] = _index(
    Code("N", HL7_CONFIDENTIALITY_SYSTEM, "Normal", "Normal"),
    Code(
        "MASQUE_PS",
        DMP_CONFIDENTIALITY_SYSTEM,
        "Masqué aux professionnels de santé",
        "Hidden from professionals",
    ),
    Code(
        "INVISIBLE_PATIENT",
        DMP_CONFIDENTIALITY_SYSTEM,
        "Non visible par le patient",
        "Hidden from the patient",
    ),
    Code(
        "INVISIBLE_REPRESENTANTS_LEGAUX",
        DMP_CONFIDENTIALITY_SYSTEM,
        "Non visible par les représentants légaux du patient",
        "Hidden from legal representatives",
    ),
)

# --- Record closure reasons (docs/rules.md §2) -------------------------------------------------
# No public ANS system for these: the codes are the DMP's, the system is OpenDMP's own.
CLOSURE_REASON_SYSTEM = "urn:opendmp:closure-reason"
_R = CLOSURE_REASON_SYSTEM
CLOSURE_REASONS: dict[str, ClosureReason] = _index(
    ClosureReason(
        "FERMETURE_DEMANDE_PATIENT",
        _R,
        "Fermeture à la demande du patient",
        "Patient's request",
        False,
    ),
    ClosureReason("DECES", _R, "Décès du patient", "Death of the patient", False),
    ClosureReason("FERMETURE_FRAUDE", _R, "Fermeture pour fraude", "Fraud", True),
    ClosureReason("FERMETURE_DOUBLON", _R, "Fermeture d'un doublon", "Duplicate record", True),
)


# --- Look-ups -------------------------------------------------------------------------------


def is_known_type(code: str) -> bool:
    return code in DOCUMENT_TYPES


def class_for_type(type_code: str) -> str:
    """Return the ``classCode`` implied by a document ``typeCode`` (docs/rules.md §4)."""
    try:
        return DOCUMENT_TYPES[type_code].class_code
    except KeyError:
        raise InvalidInput(
            f"document type code {type_code!r} is not known", code="unknown-type-code"
        ) from None


def type_label(code: str, lang: Lang = "fr") -> str:
    try:
        return DOCUMENT_TYPES[code].label(lang)
    except KeyError:
        raise InvalidInput(
            f"document type code {code!r} is not known", code="unknown-type-code"
        ) from None


def profession_label(code: str, lang: Lang = "fr") -> str:
    try:
        return PROFESSIONS[code].label(lang)
    except KeyError:
        raise InvalidInput(
            f"profession code {code!r} is not known", code="unknown-profession-code"
        ) from None


# Relation of a legal representative to the patient (HL7 v3 RoleCode, the codes the DMP uses
# for a minor's representatives, docs/rules.md §2). Added by the access-management services.
REPRESENTATIVE_RELATIONS: dict[str, str] = {
    "FTH": "père",
    "MTH": "mère",
    "STPFTH": "beau-père",
    "STPMTH": "belle-mère",
    "GRFTH": "grand-père",
    "GRMTH": "grand-mère",
    "GRPRN": "grand-parent",
    "GUARD": "tuteur",
    "RESPRSN": "autre représentant légal",
}
