"""One store, two views: generated OpenDMP metadata written as ebRIM (metadata_out) and read back
(metadata_in) keeps every field of the MHD <-> XDS mapping (docs/xds.md §13); what ITI-41
deposits, ITI-18 shows identically (a fixpoint), and the FHIR mapping (DocumentReference out,
ITI-65's reader in) gives the same values."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from opendmp.domain import codes
from opendmp.domain.identifiers import IDNAT_PS_OID, STRUCT_IDNAT_OID, Ins
from opendmp.fhir.mapping import document_reference, security_labels
from opendmp.fhir.metadata_in import document_input as fhir_document_input
from opendmp.services.documents.deposit import DocumentInput, canonical_json
from opendmp.services.documents.submission_sets import SubmissionSetView
from opendmp.services.documents.views import DocumentView
from opendmp.xds import ebrim
from opendmp.xds import fhir_shape as shape
from opendmp.xds.hl7v2 import Coded, Cx, SourcePatient, Xcn, Xon, Xtn
from opendmp.xds.metadata_in import entry_state, parse_submission
from opendmp.xds.metadata_out import (
    confidentiality_codes,
    document_authors,
    extrinsic_object,
    registry_package,
)
from tests.factories import make_ins
from tests.xds.helpers import (
    LCM_SCHEMA,
    REPOSITORY,
    document_view,
    submission_set_view,
    submit_request,
)

BASE = "https://dmp.example"
NAME = st.text(
    alphabet=st.characters(
        whitelist_categories=("Lu", "Ll"), max_codepoint=0x17F, blacklist_characters="^&|~\\"
    ),
    min_size=1,
    max_size=12,
)
WORDS = st.lists(NAME, min_size=1, max_size=3).map(" ".join)
DIGITS = st.text(alphabet="0123456789", min_size=6, max_size=11)
OID_TAIL = st.lists(st.integers(0, 9999), min_size=1, max_size=3).map(
    lambda parts: ".".join(map(str, parts))
)
# 1990-01-01 to 2030-12-31, to the second (XDS times have no fraction).
INSTANT = st.integers(631_152_000, 1_924_991_999).map(
    lambda seconds: dt.datetime.fromtimestamp(seconds, dt.UTC)
)
SOME_OID = OID_TAIL.map(lambda tail: f"1.2.250.1.999.{tail}")


def _coded(table: dict[str, codes.Code]) -> st.SearchStrategy[Coded]:
    return st.sampled_from(sorted(table)).map(lambda c: Coded(c, table[c].system, table[c].fr))


PERSON = st.builds(
    Xcn,
    id=DIGITS.map(lambda d: f"8{d}"),
    family=NAME,
    given=st.none() | NAME,
    prefix=st.none() | st.sampled_from(["Dr", "Pr"]),
    authority=st.just(IDNAT_PS_OID),
)
INSTITUTION = st.builds(
    Xon, name=WORDS, id=st.none() | DIGITS, authority=st.just(STRUCT_IDNAT_OID)
).map(lambda org: org if org.id else Xon(org.name))
AUTHOR = st.builds(
    shape.Author,
    person=st.none() | PERSON,
    institutions=st.lists(INSTITUTION, max_size=2).map(tuple),
    roles=st.lists(_coded(codes.PROFESSIONS), max_size=1).map(tuple),
    specialties=st.lists(_coded(codes.SPECIALTIES), max_size=2).map(tuple),
    telecoms=st.lists(
        st.builds(Xtn, system=st.just("email"), value=NAME.map(lambda n: f"{n}@mssante.fr")),
        max_size=1,
    ).map(tuple),
).filter(lambda a: a.person is not None or bool(a.institutions))
SOURCE_PATIENT = st.builds(
    SourcePatient,
    identifiers=st.tuples(st.builds(Cx, value=DIGITS, authority=SOME_OID)),
    family=st.none() | NAME,
    given=st.none() | NAME,
    birth_date=st.none() | st.dates(dt.date(1900, 1, 1)).map(lambda d: d.strftime("%Y%m%d")),
    gender=st.none() | st.sampled_from(["M", "F", "U", "O"]),
    address=st.just(()) | st.tuples(WORDS, WORDS, NAME, NAME, DIGITS, NAME),
)
REFERENCE_ID = st.builds(
    Cx,
    value=DIGITS,
    authority=SOME_OID,
    type_code=st.sampled_from(
        ["urn:ihe:iti:xds:2013:order", "urn:ihe:iti:xds:2013:accession", None]
    ),
)


@st.composite
def extras(draw: st.DrawFn) -> dict[str, Any] | None:
    """FHIR-shaped metadata a producer gave (ITI-65 as given, ITI-41 through fhir_shape)."""
    if draw(st.booleans()):
        return None
    extra: dict[str, Any] = {}
    contained: list[dict[str, Any]] = []
    context: dict[str, Any] = {}
    for i, author in enumerate(draw(st.lists(AUTHOR, max_size=2))):
        reference, resources = shape.author_resources(author, f"author-{i}")
        extra.setdefault("author", []).append(reference)
        contained += resources
    legal = draw(st.none() | PERSON)
    if legal is not None:
        contained.append(shape.practitioner(legal, "legal-authenticator"))
        extra["authenticator"] = {"reference": "#legal-authenticator"}
    source = draw(st.none() | SOURCE_PATIENT)
    if source is not None:
        contained.append(shape.source_patient_resource(source, "source-patient"))
        context["sourcePatientInfo"] = {"reference": "#source-patient"}
    related = draw(st.lists(REFERENCE_ID, max_size=2))
    if related:
        context["related"] = [shape.related_identifier(cx) for cx in related]
    given = {"description": draw(st.none() | WORDS), "contained": contained, "context": context}
    return extra | {key: value for key, value in given.items() if value}


@st.composite
def views(draw: st.DrawFn) -> tuple[DocumentView, bytes]:
    """A stored document's view and its content."""
    content = draw(st.binary(min_size=1, max_size=64))
    type_code = draw(st.sampled_from(sorted(codes.DOCUMENT_TYPES)))
    start = draw(st.none() | INSTANT)
    family, given_name = draw(NAME), draw(st.none() | NAME)
    extra = draw(extras())
    view = document_view(
        content,
        unique_id=f"1.2.250.1.999.1.{draw(OID_TAIL)}",
        title=draw(WORDS),
        type_code=type_code,
        class_code=codes.DOCUMENT_TYPES[type_code].class_code,
        mime_type=draw(st.sampled_from(["text/xml", "application/pdf", "application/xml"])),
        status=draw(st.sampled_from(["current", "superseded", "deleted"])),
        version=draw(st.integers(1, 9)),
        format_code=draw(st.sampled_from(sorted(codes.FORMAT_CODES))),
        language=draw(st.sampled_from(["fr-FR", "en-US", "de-DE"])),
        archived=draw(st.booleans()),
        masked_by_patient=draw(st.booleans()),
        invisible_to_patient=draw(st.booleans()),
        invisible_to_representatives=draw(st.booleans()),
        author_idnat=draw(DIGITS.map(lambda d: f"8{d}")),
        author_name=f"{family} {given_name}" if given_name else family,
        author_role=draw(st.none() | st.sampled_from(sorted(codes.PROFESSIONS))),
        author_specialty=draw(st.none() | st.sampled_from(sorted(codes.SPECIALTIES))),
        author_organization_idnat=draw(st.none() | DIGITS),
        practice_setting=draw(st.sampled_from(sorted(codes.PRACTICE_SETTINGS))),
        facility_type=draw(st.sampled_from(sorted(codes.HEALTHCARE_FACILITY_TYPES))),
        event_codes=tuple(
            draw(
                st.lists(
                    st.from_regex(r"[A-Z]{4}[0-9]{3}", fullmatch=True), max_size=3, unique=True
                )
            )
        ),
        creation_time=draw(INSTANT),
        service_start=start,
        service_stop=draw(st.none() | INSTANT) if start else None,
        extra=canonical_json(extra),
    )
    return view, content


@st.composite
def submission_sets(draw: st.DrawFn) -> SubmissionSetView:
    return submission_set_view(
        unique_id=f"1.2.250.1.999.2.{draw(OID_TAIL)}",
        source_id=f"1.2.250.1.71.4.2.2.{draw(DIGITS)}",
        submitted_at=draw(INSTANT),
        title=draw(st.none() | WORDS),
        content_type_code=draw(st.sampled_from(["04", "SYNTH", "11488-4"])),
        author_idnat=draw(DIGITS.map(lambda d: f"8{d}")),
        author_name=draw(NAME),
        author_organization=draw(st.none() | DIGITS),
    )


# Every field of the deposit input the mapping carries (docs/xds.md §13).
MAPPED = (
    "unique_id",
    "type_code",
    "type_system",
    "mime_type",
    "title",
    "format_code",
    "creation_time",
    "declared_size",
    "declared_sha1",
    "service_start",
    "service_stop",
    "practice_setting",
    "facility_type",
    "event_codes",
    "language",
    "invisible_to_patient",
    "invisible_to_representatives",
    "author_idnat",
)
EXTRA_KEYS = ("contained", "author", "authenticator", "description", "type", "category", "format")


def _mapped(doc: DocumentInput) -> dict[str, Any]:
    return {name: getattr(doc, name) for name in MAPPED}


def _xml(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n")


def _stored(view: DocumentView, read: DocumentInput) -> DocumentView:
    """The view of what the deposit stores from ``read`` (columns equal, ``extra`` as read)."""
    return dataclasses.replace(view, extra=canonical_json(read.extra))


def _fhir_read(view: DocumentView, ins: Ins, content: bytes) -> DocumentInput:
    resource = document_reference(view, base_url=BASE, ins_oid=ins.oid, ins_value=ins.value)
    resource["status"] = "current"  # a deposit's status; the view's is compared apart
    return fhir_document_input(
        resource, "DocumentReference", content=content, profiles=[], warnings=[]
    )


def _expected(view: DocumentView) -> dict[str, Any]:
    known = codes.DOCUMENT_TYPES[view.type_code]
    return {
        "unique_id": view.unique_id,
        "type_code": view.type_code,
        "type_system": codes.LOINC_URI
        if known.system == codes.LOINC_OID
        else f"urn:oid:{known.system}",
        "mime_type": view.mime_type,
        "title": view.title,
        "format_code": view.format_code,
        "creation_time": view.creation_time,
        "declared_size": view.size,
        "declared_sha1": view.sha1,
        "service_start": view.service_start,
        "service_stop": view.service_stop,
        "practice_setting": view.practice_setting,
        "facility_type": view.facility_type,
        "event_codes": view.event_codes,
        "language": view.language,
        "invisible_to_patient": view.invisible_to_patient,
        "invisible_to_representatives": view.invisible_to_representatives,
        "author_idnat": view.author_idnat,
    }


def _given_author_idnat(view: DocumentView) -> str | None:
    """The first IdNat_PS author the producer gave, else the depositor's."""
    for author in document_authors(view):
        if author.person is not None and author.person.authority == IDNAT_PS_OID:
            return author.person.id
    return None


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    pairs=st.lists(views(), min_size=1, max_size=3, unique_by=lambda pair: pair[0].unique_id),
    sub=submission_sets(),
    n=st.integers(0, 99),
)
def test_xds_round_trip_and_fhir_agree(
    pairs: list[tuple[DocumentView, bytes]], sub: SubmissionSetView, n: int
) -> None:
    ins = make_ins(n)
    docs = [view for view, _ in pairs]
    blobs = {view.entry_uuid: content for view, content in pairs}
    request = submit_request(ins, sub, docs)
    LCM_SCHEMA.assertValid(request)
    parsed = parse_submission(request, blobs)

    assert parsed.ins == ins
    submission = parsed.submission
    assert (
        submission.unique_id,
        submission.source_id,
        submission.entry_uuid,
        submission.submitted_at,
        submission.title,
        submission.content_type_code,
    ) == (
        sub.unique_id,
        sub.source_id,
        sub.entry_uuid,
        sub.submitted_at,
        sub.title,
        sub.content_type_code,
    )
    stored_set = dataclasses.replace(sub, extra=canonical_json(submission.extra))
    assert _xml(registry_package(stored_set, ins=ins)) == _xml(registry_package(sub, ins=ins))

    for view, read in zip(docs, parsed.documents, strict=True):
        expected = _expected(view) | {"author_idnat": _given_author_idnat(view)}
        assert _mapped(read) == expected
        assert read.content == blobs[view.entry_uuid]
        stored = _stored(view, read)
        # What ITI-41 stored, ITI-18 shows as it was written: every slot, code and author.
        written = extrinsic_object(view, ins=ins, repository_unique_id=REPOSITORY)
        shown = extrinsic_object(stored, ins=ins, repository_unique_id=REPOSITORY)
        assert _xml(shown) == _xml(written)
        _check_state(view, written)
        # The FHIR view of the same store reads back to the same deposit input.
        through_fhir = _fhir_read(stored, ins, read.content)
        assert _mapped(through_fhir) == _mapped(read)
        fhir_extra, xds_extra = through_fhir.extra or {}, read.extra or {}
        for key in EXTRA_KEYS:
            assert fhir_extra.get(key) == xds_extra.get(key), key
        context = dict(fhir_extra.get("context") or {})
        context.pop("period", None)
        assert context == xds_extra.get("context")
        # Straight from the columns, ITI-65's reader and ITI-41's agree too.
        if view.extra is None:
            assert _mapped(_fhir_read(view, ins, read.content)) == _mapped(read)


def _check_state(view: DocumentView, written: etree._Element) -> None:
    state = entry_state(written)
    assert state.entry_uuid == view.entry_uuid
    assert state.logical_id == str(view.id)
    assert state.version == str(view.version)
    assert state.status == view.status
    assert state.archived == (view.archived and view.status == "current")
    assert (state.masked, state.invisible_to_patient, state.invisible_to_representatives) == (
        view.masked_by_patient,
        view.invisible_to_patient,
        view.invisible_to_representatives,
    )
    # securityLabel (FHIR) and confidentialityCode (XDS) say the same.
    labels = [label["coding"][0]["code"] for label in security_labels(view)]
    assert labels == [c.code for c in confidentiality_codes(view)]
    if view.status != "deleted":
        fhir = document_reference(
            view, base_url=BASE, ins_oid="1.2.250.1.213.1.4.10", ins_value="x"
        )
        xds_status = written.get("status")
        assert (fhir["status"] == "superseded") == (xds_status == ebrim.DEPRECATED)
        assert fhir["extension"][0]["valueBoolean"] == view.archived
