"""ebRIM identifiers of XDS.b metadata (IHE ITI TF-3 §4.2.5; checked against the Open eHealth
IPF ``Vocabulary``): classification schemes, external identifiers, object types, slot names,
association types and status URNs. docs/xds.md §13 maps them to OpenDMP's store."""

from __future__ import annotations

from typing import Final

# --- object types --------------------------------------------------------------------------------
STABLE_DOCUMENT: Final = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
ON_DEMAND_DOCUMENT: Final = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
DOCUMENT_OBJECT_TYPES: Final = frozenset({STABLE_DOCUMENT, ON_DEMAND_DOCUMENT})
REGISTRY_PACKAGE_TYPE: Final = (
    "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
)
ASSOCIATION_TYPE_OBJECT: Final = (
    "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"
)
CLASSIFICATION_TYPE_OBJECT: Final = (
    "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
)
EXTERNAL_IDENTIFIER_TYPE_OBJECT: Final = (
    "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"
)

# --- DocumentEntry (rim:ExtrinsicObject) ---------------------------------------------------------
DE_AUTHOR: Final = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS_CODE: Final = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY_CODE: Final = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_EVENT_CODE: Final = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
DE_FORMAT_CODE: Final = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY_TYPE_CODE: Final = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE_SETTING_CODE: Final = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE_CODE: Final = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_LIMITED_METADATA: Final = "urn:uuid:ab9b591b-83ab-4d03-8f5d-f93b1fb92e85"
DE_PATIENT_ID: Final = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID: Final = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"

# --- SubmissionSet (rim:RegistryPackage) ---------------------------------------------------------
SUBMISSION_SET_NODE: Final = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_AUTHOR: Final = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE_CODE: Final = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_LIMITED_METADATA: Final = "urn:uuid:5003a9db-8d8d-49e6-bf0c-990e34ac7707"
SS_PATIENT_ID: Final = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_UNIQUE_ID: Final = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SS_SOURCE_ID: Final = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"

# --- Folder (rim:RegistryPackage) ----------------------------------------------------------------
FOLDER_NODE: Final = "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"
FOLDER_CODE_LIST: Final = "urn:uuid:1ba97051-7806-41a8-a48b-8fce7af683c5"
FOLDER_LIMITED_METADATA: Final = "urn:uuid:2c144a76-29a9-4b7c-af54-b25409fe7d03"
FOLDER_PATIENT_ID: Final = "urn:uuid:f64ffdf0-4b97-4e06-b79f-a52b38ec2f8a"
FOLDER_UNIQUE_ID: Final = "urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a"

ASSOCIATION_DOCUMENTATION: Final = "urn:uuid:abd807a3-4432-4053-87b4-fd82c643d1f3"

# --- slot names ----------------------------------------------------------------------------------
SLOT_CREATION_TIME: Final = "creationTime"
SLOT_HASH: Final = "hash"
SLOT_SIZE: Final = "size"
SLOT_LANGUAGE_CODE: Final = "languageCode"
SLOT_LEGAL_AUTHENTICATOR: Final = "legalAuthenticator"
SLOT_SERVICE_START_TIME: Final = "serviceStartTime"
SLOT_SERVICE_STOP_TIME: Final = "serviceStopTime"
SLOT_SOURCE_PATIENT_ID: Final = "sourcePatientId"
SLOT_SOURCE_PATIENT_INFO: Final = "sourcePatientInfo"
SLOT_REPOSITORY_UNIQUE_ID: Final = "repositoryUniqueId"
SLOT_URI: Final = "URI"
SLOT_REFERENCE_ID_LIST: Final = "urn:ihe:iti:xds:2013:referenceIdList"
SLOT_DOCUMENT_AVAILABILITY: Final = "documentAvailability"
SLOT_SUBMISSION_TIME: Final = "submissionTime"
SLOT_INTENDED_RECIPIENT: Final = "intendedRecipient"
SLOT_LAST_UPDATE_TIME: Final = "lastUpdateTime"
SLOT_CODING_SCHEME: Final = "codingScheme"
SLOT_AUTHOR_PERSON: Final = "authorPerson"
SLOT_AUTHOR_INSTITUTION: Final = "authorInstitution"
SLOT_AUTHOR_ROLE: Final = "authorRole"
SLOT_AUTHOR_SPECIALTY: Final = "authorSpecialty"
# The misspelling of early XDS examples (IPF's among them), read as authorSpecialty.
SLOT_AUTHOR_SPECIALITY_OLD: Final = "authorSpeciality"
SLOT_AUTHOR_TELECOM: Final = "authorTelecommunication"
SLOT_SUBMISSION_SET_STATUS: Final = "SubmissionSetStatus"
SLOT_PREVIOUS_VERSION: Final = "PreviousVersion"
SLOT_ORIGINAL_STATUS: Final = "OriginalStatus"
SLOT_NEW_STATUS: Final = "NewStatus"

# --- association types ---------------------------------------------------------------------------
HAS_MEMBER: Final = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC: Final = "urn:ihe:iti:2007:AssociationType:RPLC"
XFRM: Final = "urn:ihe:iti:2007:AssociationType:XFRM"
APND: Final = "urn:ihe:iti:2007:AssociationType:APND"
XFRM_RPLC: Final = "urn:ihe:iti:2007:AssociationType:XFRM_RPLC"
SIGNS: Final = "urn:ihe:iti:2007:AssociationType:signs"
IS_SNAPSHOT_OF: Final = "urn:ihe:iti:2010:AssociationType:IsSnapshotOf"
UPDATE_AVAILABILITY_STATUS: Final = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
SUBMIT_ASSOCIATION: Final = "urn:ihe:iti:2010:AssociationType:SubmitAssociation"
# Document-to-document relationships: the ones that replace the target (MHD relatesTo
# "replaces", ConceptMap AssociationTypeVsRelatesTo) and those only recorded.
REPLACING: Final = frozenset({RPLC, XFRM_RPLC})
RELATIONSHIPS: Final = frozenset({RPLC, XFRM, APND, XFRM_RPLC, SIGNS, IS_SNAPSHOT_OF})
SUBMISSION_SET_ORIGINAL: Final = "Original"
SUBMISSION_SET_REFERENCE: Final = "Reference"

# --- status --------------------------------------------------------------------------------------
APPROVED: Final = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED: Final = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
# The DMP's own statuses (CI-SIS, ITI-57 TD3.3c/d).
DMP_ARCHIVED: Final = "urn:asip:ci-sis:2010:StatusType:Archived"
DMP_DELETED: Final = "urn:asip:ci-sis:2010:StatusType:Deleted"
RESPONSE_SUCCESS: Final = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
RESPONSE_FAILURE: Final = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
RESPONSE_PARTIAL_SUCCESS: Final = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
SEVERITY_ERROR: Final = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
SEVERITY_WARNING: Final = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"

# --- HL7 v2 data types in slot values ------------------------------------------------------------
ISO: Final = "ISO"
