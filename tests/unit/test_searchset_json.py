"""``searchset_json`` (fhir/searchset_json.py), which writes the ITI-67 searchset straight to
bytes, writes exactly what the dict path wrote: ``orjson.dumps`` of ``fhir.search.searchset``
(``mapping.document_reference`` per entry), byte for byte, on generated pages — every
optional column empty or set, codes known and unknown, instants in UTC and in other zones,
replaced versions found or not, and the metadata kept as given (``extra``) holding any
subset of the elements the mapping takes from it, with falsy values too."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opendmp.domain import codes
from opendmp.fhir.mapping import fhir_instant
from opendmp.fhir.search import searchset
from opendmp.fhir.searchset_json import _instant, searchset_json
from opendmp.services.documents import DocumentPage, DocumentView
from tests.factories import make_ins
from tests.xds.helpers import document_view

# UTC as the database gives it back (``dt.UTC``), and another zone (the fallback path).
ZONES = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=2))])
DAY = dt.timedelta(days=1)
MOMENTS = st.datetimes(
    min_value=dt.datetime.min + DAY,  # noqa: DTZ901 (hypothesis wants naive bounds)
    max_value=dt.datetime.max - DAY,  # noqa: DTZ901
    timezones=ZONES,
)
TEXT = st.text(max_size=12)
CODES = st.one_of(st.sampled_from(sorted(codes.DOCUMENT_TYPES)), TEXT)
# Any JSON value a producer may have given (falsy ones included: the mapping tests truth).
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
CONTEXT = st.fixed_dictionaries(
    {},
    optional={
        "event": JSON,
        "period": JSON,
        "facilityType": JSON,
        "practiceSetting": JSON,
        "related": JSON,
    },
)
EXTRA_KEYS = (
    "type",
    "category",
    "meta_profile",
    "contained",
    "author",
    "authenticator",
    "custodian",
    "description",
    "format",
    "sourcePatientInfo",
)
EXTRA = st.none() | st.builds(
    lambda given, context: orjson.dumps(given | context).decode(),
    st.fixed_dictionaries({}, optional={key: JSON for key in EXTRA_KEYS}),
    # A validated DocumentReference's context is an object (or absent).
    st.fixed_dictionaries({}, optional={"context": st.none() | CONTEXT}),
)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | st.just("") | strategy


VIEWS = st.builds(
    DocumentView,
    id=st.uuids(),
    unique_id=st.one_of(
        st.sampled_from(["1.2.250.1.1", "urn:oid:1.2.3", "1..2", ".1", "1.", "²", ""]), TEXT
    ),
    record_id=st.uuids(),
    title=TEXT,
    type_code=CODES,
    class_code=st.sampled_from(["10", "11", ""]),
    mime_type=st.sampled_from(["application/pdf", "text/xml"]),
    size=st.integers(0, 2**31),
    sha256=st.just("0" * 64),
    status=st.sampled_from(["current", "superseded"]),
    deposited_at=MOMENTS,
    entry_uuid=st.one_of(st.uuids().map(lambda u: f"urn:uuid:{u}"), TEXT),
    sha1=st.binary(max_size=20).map(bytes.hex),
    format_code=CODES,
    language=st.sampled_from(["fr-FR", "en"]),
    archived=st.booleans(),
    masked_by_patient=st.booleans(),
    invisible_to_patient=st.booleans(),
    invisible_to_representatives=st.booleans(),
    author_idnat=optional(st.sampled_from(["899700000013", "10003"])),
    author_name=optional(st.sampled_from(["DUPONT Jean", "MARTIN", "DE LA TOUR Anne Marie"])),
    author_organization_idnat=optional(st.just("1750000010")),
    practice_setting=optional(CODES),
    facility_type=optional(CODES),
    event_codes=st.lists(TEXT, max_size=3).map(tuple),
    service_start=st.none() | MOMENTS,
    service_stop=st.none() | MOMENTS,
    creation_time=st.none() | MOMENTS,
    replaces_id=st.none() | st.uuids(),
    version=st.integers(1, 50),
    updated_at=st.none() | MOMENTS,
    extra=EXTRA,
)


@st.composite
def pages(draw: st.DrawFn) -> DocumentPage:
    items = draw(st.lists(VIEWS, max_size=4))
    replaced = {
        view.replaces_id: draw(st.one_of(st.uuids().map(lambda u: f"urn:uuid:{u}"), TEXT))
        for view in items
        if view.replaces_id is not None and draw(st.booleans())
    }
    cursor = draw(st.none() | st.just("eyJ2IjoxfQ.c2ln"))
    return DocumentPage(items, draw(st.integers(0, 10_000)), cursor, replaced)


LINKS = st.lists(
    st.fixed_dictionaries({"relation": st.sampled_from(["self", "next"]), "url": TEXT}),
    max_size=2,
)


EXAMPLES = int(os.environ.get("OPENDMP_TEST_SEARCHSET_EXAMPLES", "300"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=pages(), links=LINKS, base_url=st.sampled_from(["https://dmp.example", "http://x"]))
def test_the_bytes_are_those_of_the_dict_path(
    page: DocumentPage, links: list[dict[str, str]], base_url: str
) -> None:
    ins = make_ins()
    expected = orjson.dumps(searchset(page, base_url=base_url, ins=ins, links=links))
    assert searchset_json(page, base_url=base_url, ins=ins, links=links) == expected


@given(moment=st.none() | MOMENTS)
def test_instants_are_written_as_fhir_instant_writes_them(moment: dt.datetime | None) -> None:
    assert orjson.loads(_instant(moment)) == fhir_instant(moment)


def test_a_page_of_the_usual_documents_is_written_alike() -> None:
    """The benchmark's shape: no ``extra``, every column set, twenty entries and a next link."""
    now = dt.datetime(2026, 12, 6, 14, 7, 23, 972605, tzinfo=dt.UTC)
    views = [
        document_view(b"x" * n, deposited_at=now, updated_at=now, event_codes=("GENE",))
        for n in range(20)
    ]
    page = DocumentPage(views, 100, "next", {})
    ins = make_ins()
    links = [{"relation": "self", "url": "https://dmp.example/fhir/DocumentReference?x=1"}]
    expected = orjson.dumps(searchset(page, base_url="https://dmp.example", ins=ins, links=links))
    assert searchset_json(page, base_url="https://dmp.example", ins=ins, links=links) == expected
