"""Every audit event OpenDMP writes: its code, its IHE BALP meaning, its French and English label.

One name per event (docs/architecture.md §3): services write ``AuditAction`` members,
the FHIR ``AuditEvent`` view (fhir/audit.py, ITI-81) maps them with ``balp``, the patient
portal's history words them with ``label``. A member's value is the code stored in
``audit_event.action`` and hashed into the record's chain (``area:subject:action``), so it
never changes once written. An event that is not in ``MEANINGS`` is a bug (tests check every
member has a mapping and both labels); a row stored with a code this version does not know
still gets a visible generic label (``label``) and a generic BALP type (``balp``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"

Coding = tuple[str, str, str]  # (system, code, display)
CrudAction = Literal["C", "R", "U", "D", "E"]  # AuditEvent.action
Lang = Literal["fr", "en"]

REST: Coding = (EVENT_TYPE, "rest", "Restful Operation")
IMPORT: Coding = (DCM, "110107", "Import")
EXPORT: Coding = (DCM, "110106", "Export")
RECORD: Coding = (DCM, "110110", "Patient Record")
LOGIN: Coding = (DCM, "110114", "User Authenticated")
SECURITY_ATTRIBUTES: Coding = (DCM, "110137", "User Security Attributes Changed")
SECURITY_ALERT: Coding = (DCM, "110113", "Security Alert")


class AuditAction(StrEnum):
    """The audit events, by the code they are stored under."""

    DOCUMENT_DEPOSIT = "document:document:deposit"
    DOCUMENT_REPLACE = "document:document:replace"
    DOCUMENT_SEARCH = "document:document:search"
    DOCUMENT_READ = "document:document:read"
    DOCUMENT_MASK = "document:document:mask"
    DOCUMENT_ARCHIVE = "document:document:archive"
    DOCUMENT_SET_VISIBILITY = "document:document:set-visibility"
    DOCUMENT_DELETE = "document:document:delete"
    SUBMISSION_SET_SEARCH = "document:submission-set:search"
    RECORD_CHECK_EXISTENCE = "record:record:check-existence"
    RECORD_READ_STATUS = "record:record:read-status"
    RECORD_CREATE = "record:record:create"
    RECORD_CLOSE = "record:record:close"
    RECORD_REACTIVATE = "record:record:reactivate"
    RECORD_REQUEST_DESTRUCTION = "record:record:request-destruction"
    RECORD_DESTROY = "record:record:destroy"
    RECORD_EXPORT = "record:record:export"
    # Opt-out opening (docs/rules.md §2): announced, objected to, or found already open.
    RECORD_ANNOUNCE = "record:opt-out:announce"
    RECORD_OPPOSE = "record:opt-out:oppose"
    RECORD_OPT_OUT_SETTLED = "record:opt-out:settled"
    HISTORY_READ = "record:history:read"
    ACCESS_REPORTED = "record:access:reported"
    ACCESS_LIST_READ = "access:access-list:read"
    AUTHORIZATION_DECLARE = "access:authorization:declare"
    AUTHORIZATION_EXTEND = "access:authorization:extend"
    AUTHORIZATION_GRANT = "access:authorization:grant"
    AUTHORIZATION_REVOKE = "access:authorization:revoke"
    PROFESSIONAL_BLOCK = "access:professional:block"
    PROFESSIONAL_UNBLOCK = "access:professional:unblock"
    ORGANIZATION_BLOCK = "access:organization:block"
    ORGANIZATION_UNBLOCK = "access:organization:unblock"
    TREATING_DOCTOR_SET = "access:treating-doctor:set"
    TREATING_DOCTOR_UNSET = "access:treating-doctor:unset"
    EMERGENCY_CHOICES_SET = "access:emergency-choices:set"
    NOTIFICATION_PREFERENCES_SET = "access:notification-preferences:set"
    PREFERENCES_READ = "access:preferences:read"
    MATRIX_READ = "access:matrix:read"  # the patient's own matrix (docs/rules.md §3.6)
    MATRIX_SET = "access:matrix:set"
    EMERGENCY_OPEN = "access:emergency:open"
    EMERGENCY_ACKNOWLEDGED = "access:emergency:acknowledged"  # the holder saw the notice
    MY_PATIENTS_LIST = "access:my-patients:list"
    REPRESENTATIVE_ADD = "access:representative:add"
    REPRESENTATIVE_REMOVE = "access:representative:remove"
    # Delegations (docs/rules.md §3.7): caregivers and a minor's second representative.
    DELEGATION_INVITE = "access:delegation:invite"
    DELEGATION_LIST = "access:delegation:list"
    DELEGATION_ACCEPT = "access:delegation:accept"
    DELEGATION_REFUSE = "access:delegation:refuse"
    DELEGATION_REVOKE = "access:delegation:revoke"
    DELEGATION_ACT = "access:delegation:act"  # the caregiver opened the record to act on it
    SESSION_LOGIN = "auth:session:login"
    SESSION_LOGOUT = "auth:session:logout"
    SESSION_LOGOUT_EVERYWHERE = "auth:session:logout-everywhere"
    SESSION_VERIFY_TOTP = "auth:session:verify-totp"
    ACCOUNT_CREATE = "auth:account:create"
    ACCOUNT_CHANGE_PASSWORD = "auth:account:change-password"  # noqa: S105 - an event name
    ACCOUNT_CONFIRM_PASSWORD = "auth:account:confirm-password"  # noqa: S105 - an event name
    ACCOUNT_SET_PASSWORD = "auth:account:set-password"  # noqa: S105 - an event name
    ACCOUNT_REQUEST_PASSWORD_RESET = "auth:account:request-password-reset"  # noqa: S105 - an event name
    ACCOUNT_RESET_PASSWORD = "auth:account:reset-password"  # noqa: S105 - an event name
    ACCOUNT_START_TOTP_ENROLMENT = "auth:account:start-totp-enrolment"
    ACCOUNT_REQUEST_LOGIN_REMINDER = "auth:account:request-login-reminder"
    ACCOUNT_REQUEST_EMAIL_CHANGE = "auth:account:request-email-change"
    ACCOUNT_CHANGE_EMAIL = "auth:account:change-email"
    ACCOUNT_ENROL_TOTP = "auth:account:enrol-totp"
    ACCOUNT_ISSUE_CREDENTIALS = "auth:account:issue-credentials"
    ACCOUNT_ISSUE_REPRESENTATIVE_CREDENTIALS = "auth:account:issue-representative-credentials"
    ACCOUNT_PRINT_WELCOME_LETTER = "auth:account:print-welcome-letter"
    ESTABLISHMENT_KEY_REGISTER = "auth:establishment-key:register"
    DIRECTORY_IMPORT = "directory:rpps:import"
    ESTABLISHMENT_KEY_REVOKE = "auth:establishment-key:revoke"
    KEK_ROTATE = "keys:kek:rotate"
    MASTER_KEY_ROTATE = "keys:master-key:rotate"

    @classmethod
    def parse(cls, code: str) -> AuditAction | None:
        """The member stored as ``code``, None for a code this version does not know."""
        try:
            return cls(code)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Balp:
    """An event as an IHE BALP ``AuditEvent``: ``type``, the RESTful interaction and IHE
    transaction added as ``subtype`` codings (when there is one), and ``action``."""

    type: Coding
    interaction: str | None
    transaction: str | None
    action: CrudAction


@dataclass(frozen=True, slots=True)
class Meaning:
    balp: Balp
    fr: str
    en: str


def _m(
    kind: Coding,
    interaction: str | None,
    transaction: str | None,
    action: CrudAction,
    fr: str,
    en: str,
) -> Meaning:
    return Meaning(Balp(kind, interaction, transaction, action), fr, en)


A = AuditAction
# Labels complete "<who> …" in the portal's history (web/patient/manage.py).
MEANINGS: dict[AuditAction, Meaning] = {
    A.DOCUMENT_DEPOSIT: _m(
        IMPORT, "create", "ITI-65", "C", "a ajouté un document", "added a document"
    ),
    A.DOCUMENT_REPLACE: _m(
        IMPORT, "create", "ITI-65", "C", "a remplacé un document", "replaced a document"
    ),
    A.DOCUMENT_SEARCH: _m(
        REST,
        "search-type",
        "ITI-67",
        "E",
        "a consulté la liste des documents",
        "listed the documents",
    ),
    A.DOCUMENT_READ: _m(REST, "read", "ITI-68", "R", "a consulté un document", "read a document"),
    A.DOCUMENT_MASK: _m(
        REST, "patch", None, "U", "a masqué ou démasqué un document", "hid or unhid a document"
    ),
    A.DOCUMENT_ARCHIVE: _m(
        REST, "patch", None, "U", "a archivé un document", "archived a document"
    ),
    A.DOCUMENT_SET_VISIBILITY: _m(
        REST,
        "patch",
        None,
        "U",
        "a changé la visibilité d'un document",
        "changed a document's visibility",
    ),
    A.DOCUMENT_DELETE: _m(REST, "patch", None, "D", "a supprimé un document", "deleted a document"),
    A.SUBMISSION_SET_SEARCH: _m(
        REST,
        "search-type",
        "ITI-66",
        "E",
        "a consulté les lots de documents",
        "listed the submission sets",
    ),
    A.RECORD_CHECK_EXISTENCE: _m(
        REST,
        "search-type",
        "ITI-78",
        "E",
        "a vérifié l'existence du DMP",
        "checked the DMP exists",
    ),
    A.RECORD_READ_STATUS: _m(
        REST, "read", "ITI-78", "R", "a consulté l'état du DMP", "read the DMP's status"
    ),
    A.RECORD_CREATE: _m(RECORD, None, None, "C", "a créé le DMP", "created the DMP"),
    A.RECORD_CLOSE: _m(RECORD, None, None, "U", "a fermé le DMP", "closed the DMP"),
    A.RECORD_REACTIVATE: _m(RECORD, None, None, "U", "a réactivé le DMP", "reactivated the DMP"),
    A.RECORD_REQUEST_DESTRUCTION: _m(
        RECORD,
        None,
        None,
        "U",
        "a demandé la destruction du DMP",
        "asked for the DMP's destruction",
    ),
    A.RECORD_DESTROY: _m(RECORD, None, None, "D", "a détruit le DMP", "destroyed the DMP"),
    A.RECORD_ANNOUNCE: _m(
        RECORD,
        None,
        None,
        "C",
        "a annoncé l'ouverture du DMP",
        "announced the DMP's opening",
    ),
    A.RECORD_OPPOSE: _m(
        RECORD,
        None,
        None,
        "U",
        "s'est opposé à l'ouverture du DMP",
        "objected to the DMP's opening",
    ),
    A.RECORD_OPT_OUT_SETTLED: _m(
        RECORD,
        None,
        None,
        "U",
        "a constaté que le DMP annoncé était déjà ouvert",
        "found the announced DMP already open",
    ),
    A.RECORD_EXPORT: _m(EXPORT, None, None, "R", "a exporté le DMP", "exported the DMP"),
    A.HISTORY_READ: _m(
        REST, "search-type", "ITI-81", "E", "a consulté l'historique", "read the history"
    ),
    A.ACCESS_REPORTED: _m(RECORD, None, None, "C", "a signalé un accès", "reported an access"),
    A.ACCESS_LIST_READ: _m(
        REST,
        "search-type",
        "ITI-108",
        "E",
        "a consulté la liste des professionnels",
        "read the list of professionals",
    ),
    A.AUTHORIZATION_DECLARE: _m(
        REST,
        "create",
        "ITI-108",
        "C",
        "a déclaré votre autorisation d'accès",
        "declared your access authorisation",
    ),
    A.AUTHORIZATION_EXTEND: _m(
        REST,
        "create",
        "ITI-108",
        "C",
        "a étendu une autorisation à un confrère",
        "extended an authorisation to a colleague",
    ),
    A.AUTHORIZATION_GRANT: _m(
        REST,
        "create",
        "ITI-108",
        "C",
        "a autorisé un professionnel",
        "authorised a professional",
    ),
    A.AUTHORIZATION_REVOKE: _m(
        REST, "delete", "ITI-108", "D", "a retiré une autorisation", "removed an authorisation"
    ),
    A.PROFESSIONAL_BLOCK: _m(
        REST, "create", "ITI-108", "C", "a bloqué un professionnel", "blocked a professional"
    ),
    A.PROFESSIONAL_UNBLOCK: _m(
        REST, "delete", "ITI-108", "D", "a débloqué un professionnel", "unblocked a professional"
    ),
    A.ORGANIZATION_BLOCK: _m(
        REST, "create", "ITI-108", "C", "a bloqué un établissement", "blocked an establishment"
    ),
    A.ORGANIZATION_UNBLOCK: _m(
        REST,
        "delete",
        "ITI-108",
        "D",
        "a débloqué un établissement",
        "unblocked an establishment",
    ),
    A.TREATING_DOCTOR_SET: _m(
        REST,
        "update",
        "ITI-108",
        "U",
        "a désigné un médecin traitant DMP",
        "named a treating doctor",
    ),
    A.TREATING_DOCTOR_UNSET: _m(
        REST,
        "update",
        "ITI-108",
        "U",
        "a retiré un médecin traitant DMP",
        "removed a treating doctor",
    ),
    A.EMERGENCY_CHOICES_SET: _m(
        REST,
        "update",
        "ITI-108",
        "U",
        "a changé les choix pour les urgences",
        "changed the emergency choices",
    ),
    A.NOTIFICATION_PREFERENCES_SET: _m(
        RECORD, None, None, "U", "a changé les préférences", "changed the preferences"
    ),
    A.PREFERENCES_READ: _m(
        RECORD, None, None, "R", "a consulté les préférences", "read the preferences"
    ),
    A.MATRIX_READ: _m(
        RECORD,
        None,
        None,
        "R",
        "a consulté les catégories de documents lisibles par profession",
        "read the document categories each profession may read",
    ),
    A.MATRIX_SET: _m(
        RECORD,
        None,
        None,
        "U",
        "a changé les catégories de documents lisibles par profession",
        "changed the document categories each profession may read",
    ),
    A.EMERGENCY_OPEN: _m(
        RECORD, None, None, "E", "a ouvert un accès d'urgence", "opened an emergency access"
    ),
    A.EMERGENCY_ACKNOWLEDGED: _m(
        RECORD,
        None,
        None,
        "R",
        "a pris connaissance d'accès d'urgence",
        "acknowledged emergency accesses",
    ),
    A.MY_PATIENTS_LIST: _m(
        REST,
        "search-type",
        None,
        "E",
        "a consulté la liste de ses patients",
        "listed their patients",
    ),
    A.REPRESENTATIVE_ADD: _m(
        RECORD, None, None, "C", "a ajouté un représentant légal", "added a legal representative"
    ),
    A.REPRESENTATIVE_REMOVE: _m(
        RECORD,
        None,
        None,
        "D",
        "a retiré un représentant légal",
        "removed a legal representative",
    ),
    A.DELEGATION_INVITE: _m(
        RECORD,
        None,
        None,
        "C",
        "a invité un aidant ou un représentant",
        "invited a caregiver or representative",
    ),
    A.DELEGATION_LIST: _m(
        RECORD, None, None, "R", "a consulté les délégations", "read the delegations"
    ),
    A.DELEGATION_ACCEPT: _m(
        RECORD, None, None, "U", "a accepté une délégation", "accepted a delegation"
    ),
    A.DELEGATION_REFUSE: _m(
        RECORD, None, None, "U", "a refusé une délégation", "refused a delegation"
    ),
    A.DELEGATION_REVOKE: _m(
        RECORD, None, None, "D", "a révoqué une délégation", "revoked a delegation"
    ),
    A.DELEGATION_ACT: _m(
        RECORD,
        None,
        None,
        "E",
        "a ouvert le dossier pour agir en votre nom",
        "opened the record to act on your behalf",
    ),
    A.SESSION_LOGIN: _m(LOGIN, None, None, "E", "s'est connecté(e)", "signed in"),
    A.SESSION_LOGOUT: _m(LOGIN, None, None, "E", "s'est déconnecté(e)", "signed out"),
    A.SESSION_LOGOUT_EVERYWHERE: _m(
        LOGIN, None, None, "E", "a fermé toutes ses sessions", "signed out everywhere"
    ),
    A.SESSION_VERIFY_TOTP: _m(
        LOGIN, None, None, "E", "a saisi son code de vérification", "typed the verification code"
    ),
    A.ACCOUNT_CREATE: _m(
        SECURITY_ATTRIBUTES, None, None, "C", "a créé le compte", "created the account"
    ),
    A.ACCOUNT_CHANGE_PASSWORD: _m(
        SECURITY_ATTRIBUTES, None, None, "U", "a changé le mot de passe", "changed the password"
    ),
    A.ACCOUNT_CONFIRM_PASSWORD: _m(
        LOGIN, None, None, "E", "a confirmé son mot de passe", "confirmed the password"
    ),
    A.ACCOUNT_SET_PASSWORD: _m(
        SECURITY_ATTRIBUTES,
        None,
        None,
        "U",
        "a choisi son mot de passe",
        "chose the password",
    ),
    A.ACCOUNT_REQUEST_PASSWORD_RESET: _m(
        SECURITY_ATTRIBUTES,
        None,
        None,
        "E",
        "a demandé un code de réinitialisation",
        "asked for a reset code",
    ),
    A.ACCOUNT_RESET_PASSWORD: _m(
        SECURITY_ATTRIBUTES,
        None,
        None,
        "U",
        "a réinitialisé le mot de passe",
        "reset the password",
    ),
    A.ACCOUNT_REQUEST_LOGIN_REMINDER: _m(
        SECURITY_ATTRIBUTES,
        None,
        None,
        "E",
        "a demandé un rappel de son identifiant",
        "asked for a reminder of the login",
    ),
    A.ACCOUNT_REQUEST_EMAIL_CHANGE: _m(
        SECURITY_ATTRIBUTES,
        None,
        None,
        "E",
        "a demandé à changer d'adresse e-mail",
        "asked to change the e-mail address",
    ),
    A.ACCOUNT_CHANGE_EMAIL: _m(
        SECURITY_ATTRIBUTES,
        None,
        None,
        "U",
        "a changé d'adresse e-mail",
        "changed the e-mail address",
    ),
    A.ACCOUNT_START_TOTP_ENROLMENT: _m(
        SECURITY_ATTRIBUTES,
        None,
        None,
        "U",
        "a commencé l'activation de la double authentification",
        "started setting up two-step verification",
    ),
    A.ACCOUNT_ENROL_TOTP: _m(
        SECURITY_ATTRIBUTES,
        None,
        None,
        "U",
        "a activé la double authentification",
        "set up two-step verification",
    ),
    A.ACCOUNT_ISSUE_CREDENTIALS: _m(
        SECURITY_ATTRIBUTES,
        None,
        None,
        "U",
        "a remis de nouveaux identifiants",
        "issued new credentials",
    ),
    A.ACCOUNT_ISSUE_REPRESENTATIVE_CREDENTIALS: _m(
        SECURITY_ATTRIBUTES,
        None,
        None,
        "C",
        "a remis des identifiants à un représentant légal",
        "issued credentials to a legal representative",
    ),
    A.ACCOUNT_PRINT_WELCOME_LETTER: _m(
        SECURITY_ATTRIBUTES,
        None,
        None,
        "E",
        "a imprimé le courrier de bienvenue",
        "printed the welcome letter",
    ),
    A.DIRECTORY_IMPORT: _m(
        IMPORT,
        None,
        None,
        "U",
        "a importé l'annuaire des professionnels (RPPS)",
        "imported the professional directory (RPPS)",
    ),
    A.ESTABLISHMENT_KEY_REGISTER: _m(
        SECURITY_ALERT,
        None,
        None,
        "C",
        "a enregistré une clé d'établissement",
        "registered an establishment key",
    ),
    A.ESTABLISHMENT_KEY_REVOKE: _m(
        SECURITY_ALERT,
        None,
        None,
        "D",
        "a révoqué une clé d'établissement",
        "revoked an establishment key",
    ),
    A.KEK_ROTATE: _m(
        SECURITY_ALERT,
        None,
        None,
        "U",
        "a renouvelé les clés de chiffrement des clés",
        "rotated the key-encryption keys",
    ),
    A.MASTER_KEY_ROTATE: _m(
        SECURITY_ALERT,
        None,
        None,
        "U",
        "a renouvelé la clé maîtresse",
        "rotated the master key",
    ),
}

# A stored code this version does not know (an older or newer OpenDMP wrote it): shown, not
# hidden, and never a crash.
UNKNOWN = Meaning(
    Balp(RECORD, None, None, "E"),
    "a fait une action non répertoriée ({code})",
    "did an unlisted action ({code})",
)


def meaning(code: str) -> Meaning:
    """What the stored ``code`` means; ``UNKNOWN`` (labels to format) when it is not ours."""
    known = AuditAction.parse(code)
    return UNKNOWN if known is None else MEANINGS[known]


def balp(code: str) -> Balp:
    return meaning(code).balp


def label(code: str, lang: Lang) -> str:
    """How the patient's history words the stored ``code`` in ``lang``."""
    found = meaning(code)
    text = found.en if lang == "en" else found.fr
    return text.format(code=code) if found is UNKNOWN else text
