"""The SQL filter lists exactly the documents ``decide`` lets the reader read
(docs/architecture.md §5).

A property-based test: hypothesis draws a set of documents and, for that one database, a
list of reading scenarios, each a reader (patient, representative, professional in any
mode, operator), record-level facts (the patient's narrowing of the matrix included) and a
matrix (the packaged one or a random one); the documents go into a real database (SQLite,
and PostgreSQL when ``OPENDMP_TEST_DATABASE_URL`` is set), and for every scenario the ids the
SQL filter selects must equal the ids for which
``decide(actor, READ_DOCUMENT, facts + document)`` allows.

``OPENDMP_TEST_POLICY_SCENARIOS=N`` asks for at least N scenarios per database
(``make policy-scale`` runs 100,000; docs/security.md); the suite's default is small.

Hypothesis drives a synchronous test; each database has its own async engine on an event
loop this module owns, so examples run with ``loop.run_until_complete``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.domain.actors import (
    AccessMode,
    Actor,
    CardKind,
    Caregiver,
    LegalRepresentative,
    Operator,
    Patient,
    Professional,
)
from opendmp.domain.delegations import Right
from opendmp.domain.matrix import AccessMatrix
from opendmp.domain.patient_matrix import category_of
from opendmp.domain.policy import Action, DocumentFacts, Facts, decide
from opendmp.domain.records import RecordStatus
from opendmp.services.core.matrix_loader import load_matrix
from opendmp.storage import models as m
from opendmp.storage.db import make_engine
from opendmp.storage.document_filter import bound_readable_documents, readable_documents
from opendmp.storage.migrate import upgrade
from tests.record_scope import whole_database

PG_URL = os.environ.get("OPENDMP_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
SCHEMA = f"opendmp_filter_{os.getpid()}"
# The scale run asks for N scenarios: N / SCALE_READERS databases of SCALE_READERS readers.
SCALE_SCENARIOS = int(os.environ.get("OPENDMP_TEST_POLICY_SCENARIOS", "0"))
SCALE_READERS = 25
EXAMPLES = -(-SCALE_SCENARIOS // SCALE_READERS) if SCALE_SCENARIOS else 200
READERS = (SCALE_READERS, SCALE_READERS) if SCALE_SCENARIOS else (1, 4)
CHECKED: dict[str, int] = {}  # scenarios checked per backend, reported at the end
NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
INS = "1.2.250.1.213.1.4.10|280017512300142"
DEFAULT_MATRIX = load_matrix()
T = TypeVar("T")


@dataclass
class Database:
    loop: asyncio.AbstractEventLoop
    engine: AsyncEngine

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)


async def _schema(url: str, *, drop: bool) -> None:
    admin = make_engine(url, pool_size=1)
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        if not drop:
            await conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    await admin.dispose()


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Database]]:
    loop = asyncio.new_event_loop()
    engines = {
        "sqlite": make_engine(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('filter')}/f.db")
    }
    if PG_URL:
        loop.run_until_complete(_schema(PG_URL, drop=False))
        engines["postgresql"] = make_engine(PG_URL, pool_size=2, schema=SCHEMA)
    for engine in engines.values():
        loop.run_until_complete(upgrade(engine))
    yield {name: Database(loop, engine) for name, engine in engines.items()}
    if SCALE_SCENARIOS:
        print(f"\npolicy scale: scenarios checked per database: {CHECKED}")
    for engine in engines.values():
        loop.run_until_complete(engine.dispose())
    if PG_URL:
        loop.run_until_complete(_schema(PG_URL, drop=True))
    loop.close()


# --- scenarios ---------------------------------------------------------------------------------

PROFESSION_CODES = ["10", "21", "40", "60", "86", "91", None]
SPECIALTY_CODES = [None, "SM42", "SM03"]
TYPE_CODES = ["11488-4", "68599-0", "51969-4", "60593-1", "DOCPAT01", "ATTEST-RESID", "ZZZ-1"]
WHO = ["actor", "other", "none"]


@dataclass(frozen=True)
class Doc:
    type_code: str
    status: str
    masked: bool
    invisible_to_patient: bool
    invisible_to_representatives: bool
    author: str  # actor | other | none
    author_organization: str  # actor | other | none
    deposited_by_patient: bool


@dataclass(frozen=True)
class Scenario:
    """One reading of the record: who reads, under which facts and matrix."""

    actor: Actor
    facts: Facts
    matrix: AccessMatrix
    actor_known: bool  # the actor has a professional row
    organization_known: bool  # the actor's organisation has a row


@dataclass(frozen=True)
class World:
    """One database: the record's documents, and the scenarios read against it."""

    documents: tuple[Doc, ...]
    scenarios: tuple[Scenario, ...]


professionals = st.builds(
    Professional,
    idnat=st.just("810000000017"),
    profession=st.sampled_from(PROFESSION_CODES),
    specialty=st.sampled_from(SPECIALTY_CODES),
    # A credential may name no structure (docs/security.md, "Facts from credentials"): the
    # reader then has no organisation row to match the author's structure with.
    organization=st.sampled_from(["1750000001", "1750000001", None]),
    card_kind=st.sampled_from([CardKind.CPS] * 5 + [CardKind.CPE]),
    access_mode=st.sampled_from(AccessMode),
    justification=st.sampled_from([None, "", "unconscious, vital risk"]),
)
_others: dict[str, Actor] = {
    "patient": Patient(ins=INS),
    "representative": LegalRepresentative("rep", INS, "MTH"),
    "caregiver": Caregiver("1.2.250.1.213.1.4.10|180017512300167", INS, "d-1", "a-1", "Aidant"),
    "operator": Operator("op"),
}
# Professionals carry most of the rules: draw them half of the time.
actors = st.sampled_from(["professional"] * 3 + list(_others)).flatmap(
    lambda kind: professionals if kind == "professional" else st.just(_others[kind])
)
# Every profession reads every type: the rules after the matrix get exercised more often.
PERMISSIVE_MATRIX = AccessMatrix(
    {(p, None, t): True for p in PROFESSION_CODES if p is not None for t in TYPE_CODES}
)
# The categories of TYPE_CODES (other: the unknown ZZZ-1), and one no type has.
NARROWABLE = [
    *sorted({category_of(t) for t in TYPE_CODES}),
    "care-plans",
]
# Facts are biased towards an open door, so that the document rules get exercised.
likely = st.sampled_from([True, True, True, False])
unlikely = st.sampled_from([False, False, False, True])
random_matrices = st.dictionaries(
    st.tuples(
        st.sampled_from([c for c in PROFESSION_CODES if c]),
        st.sampled_from(SPECIALTY_CODES),
        st.sampled_from(TYPE_CODES),
    ),
    st.booleans(),
    max_size=20,
).map(AccessMatrix)
record_facts = st.builds(
    Facts,
    record_status=st.sampled_from([RecordStatus.ACTIVE] * 6 + list(RecordStatus)),
    is_subject=likely,
    is_representative=likely,
    delegation_rights=st.frozensets(st.sampled_from(list(Right))),
    blocked=unlikely,
    authorized=st.booleans(),
    authorization_expired=unlikely,
    care_team=st.booleans(),
    treating_doctor=unlikely,
    emergency_open=st.booleans(),
    allow_regulation=likely,
    allow_break_glass=likely,
    allow_masked_in_emergency=st.booleans(),
    include_superseded=st.booleans(),
    # The patient's own matrix (docs/rules.md §3.6): the categories taken from the reader.
    narrowed_categories=st.frozensets(st.sampled_from(NARROWABLE), max_size=3),
)
documents = st.builds(
    Doc,
    type_code=st.sampled_from(TYPE_CODES),
    status=st.sampled_from(["current", "current", "superseded", "deleted"]),
    masked=st.booleans(),
    invisible_to_patient=unlikely,
    invisible_to_representatives=unlikely,
    author=st.sampled_from(WHO),
    author_organization=st.sampled_from(WHO),
    deposited_by_patient=st.booleans(),
)
scenarios = st.builds(
    Scenario,
    actor=actors,
    facts=record_facts,
    matrix=st.one_of(st.just(DEFAULT_MATRIX), st.just(PERMISSIVE_MATRIX), random_matrices),
    actor_known=likely,
    organization_known=likely,
)
worlds = st.builds(
    World,
    documents=st.lists(documents, min_size=1, max_size=8).map(tuple),
    scenarios=st.lists(scenarios, min_size=READERS[0], max_size=READERS[1]).map(tuple),
)


# --- database ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ids:
    record: uuid.UUID
    actor: uuid.UUID | None
    actor_organization: uuid.UUID | None
    other: uuid.UUID
    other_organization: uuid.UUID


async def _clean(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for table in (m.Document, m.Record, m.Patient, m.Professional, m.Organization):
            await conn.execute(whole_database(delete(table)))


async def _insert_record(conn: Any, ins_value: str) -> uuid.UUID:
    patient_id, record_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        insert(m.Patient).values(
            id=patient_id,
            ins_value=ins_value,
            ins_oid="1.2.250.1.213.1.4.10",
            birth_name="FICTIF",
            given_names="Alex",
            first_given_name="Alex",
            birth_date=dt.date(1980, 1, 15),
            sex="F",
        )
    )
    await conn.execute(
        insert(m.Record).values(
            id=record_id, patient_id=patient_id, status="active", created_at=NOW, created_by="t"
        )
    )
    return record_id


def _document_row(record_id: uuid.UUID, doc: Doc, ids: Ids, n: int) -> dict[str, Any]:
    authors = {"actor": ids.actor, "other": ids.other, "none": None}
    organizations = {"actor": ids.actor_organization, "other": ids.other_organization}
    return {
        "id": uuid.uuid4(),
        "entry_uuid": f"urn:uuid:{uuid.uuid4()}",
        "record_id": record_id,
        "unique_id": f"doc-{n}",
        "status": doc.status,
        "archived": False,
        "masked_by_patient": doc.masked,
        "invisible_to_patient": doc.invisible_to_patient,
        "invisible_to_representatives": doc.invisible_to_representatives,
        "class_code": "10",
        "type_code": doc.type_code,
        "type_system": "http://loinc.org",
        "format_code": "urn:ihe:iti:xds-sd:pdf:2008",
        "mime_type": "application/pdf",
        "title": f"Document {n}",
        "author_professional_id": authors[doc.author],
        "author_organization_id": organizations.get(doc.author_organization),
        "creation_time": NOW,
        "size": 1,
        "sha256": "0" * 64,
        "sha1": "0" * 40,
        "blob_key": f"blob-{n}",
        "deposited_at": NOW,
        "deposited_by_kind": "patient" if doc.deposited_by_patient else "professional",
        "deposited_by_id": "x",
        "updated_at": NOW,
    }


def _names_a_known_structure(scenario: Scenario) -> bool:
    actor = scenario.actor
    claims = not isinstance(actor, Professional) or actor.organization is not None
    return scenario.organization_known and claims


async def _load(engine: AsyncEngine, world: World) -> tuple[Ids, list[dict[str, Any]]]:
    """Write the world's documents; the ids name every row (the actor's included)."""
    await _clean(engine)
    async with engine.begin() as conn:
        pros = {"actor": uuid.uuid4(), "other": uuid.uuid4()}
        orgs = {"actor": uuid.uuid4(), "other": uuid.uuid4()}
        for who, pro_id in pros.items():
            idnat = "810000000017" if who == "actor" else "810000000025"
            await conn.execute(
                insert(m.Professional).values(
                    id=pro_id, idnat=idnat, family_name="TESTPRO", given_name=who, created_at=NOW
                )
            )
        for who, org_id in orgs.items():
            await conn.execute(
                insert(m.Organization).values(
                    id=org_id, struct_idnat=f"1{who}", name=who, created_at=NOW
                )
            )
        ids = Ids(
            record=await _insert_record(conn, "280017512300142"),
            actor=pros["actor"],
            actor_organization=orgs["actor"],
            other=pros["other"],
            other_organization=orgs["other"],
        )
        rows = [_document_row(ids.record, d, ids, n) for n, d in enumerate(world.documents)]
        # A document of another patient's record: it must never be listed.
        elsewhere = await _insert_record(conn, "180017512300199")
        plain = Doc("11488-4", "current", False, False, False, "actor", "actor", False)
        stray = [_document_row(elsewhere, plain, ids, len(rows))]
        for row in rows + stray:
            await conn.execute(insert(m.Document).values(**row))
    return ids, rows


def _as_seen_by(ids: Ids, scenario: Scenario) -> Ids:
    """The ids the services would pass: None for a row the actor does not have."""
    return replace(
        ids,
        actor=ids.actor if scenario.actor_known else None,
        actor_organization=ids.actor_organization if _names_a_known_structure(scenario) else None,
    )


async def _select(engine: AsyncEngine, scenario: Scenario, ids: Ids) -> set[uuid.UUID]:
    """The ids the filter selects; its bound form (built once per shape, the search's)
    must select the same ones."""
    inputs: dict[str, Any] = dict(
        record_id=ids.record,
        actor=scenario.actor,
        facts=scenario.facts,
        matrix=scenario.matrix,
        actor_professional_id=ids.actor,
        actor_organization_id=ids.actor_organization,
    )
    bound = bound_readable_documents(**inputs)
    async with engine.connect() as conn:
        found = await conn.execute(select(m.Document.id).where(readable_documents(**inputs)))
        selected = set(found.scalars())
        by_shape = await conn.execute(select(m.Document.id).where(bound.condition), bound.values)
        assert set(by_shape.scalars()) == selected
    return selected


def _decided(scenario: Scenario, ids: Ids, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    actor, allowed = scenario.actor, set()
    for row in rows:
        document = DocumentFacts(
            type_code=row["type_code"],
            deleted=row["status"] == "deleted",
            superseded=row["status"] == "superseded",
            masked=row["masked_by_patient"],
            invisible_to_patient=row["invisible_to_patient"],
            invisible_to_representatives=row["invisible_to_representatives"],
            author_is_actor=ids.actor is not None and row["author_professional_id"] == ids.actor,
            author_organization_is_actors=ids.actor_organization is not None
            and row["author_organization_id"] == ids.actor_organization,
            deposited_by_patient=row["deposited_by_kind"] == "patient",
        )
        matrix_allows = not isinstance(actor, Professional) or scenario.matrix.may_read(
            actor.profession, actor.specialty, row["type_code"]
        )
        facts = replace(scenario.facts, document=document, matrix_allows=matrix_allows)
        if decide(actor, Action.READ_DOCUMENT, facts).allowed:
            allowed.add(row["id"])
    return allowed


@pytest.mark.parametrize("backend", BACKENDS)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds)
def test_the_sql_filter_lists_exactly_what_decide_allows(
    databases: dict[str, Database], backend: str, world: World
) -> None:
    db = databases[backend]
    all_ids, rows = db.run(_load(db.engine, world))
    for scenario in world.scenarios:
        ids = _as_seen_by(all_ids, scenario)
        listed = db.run(_select(db.engine, scenario, ids))
        expected = _decided(scenario, ids, rows)
        record_level = decide(scenario.actor, Action.SEARCH_DOCUMENTS, scenario.facts)
        event(f"reader: {type(scenario.actor).__name__}")
        event(f"reader's structure known: {ids.actor_organization is not None}")
        event(f"record-level: {record_level.reason}")
        event(f"narrowed by the patient: {bool(scenario.facts.narrowed_categories)}")
        event(
            "some readable, some not"
            if expected and len(expected) < len(rows)
            else ("all readable" if expected else "none readable")
        )
        assert listed == expected, scenario
        CHECKED[backend] = CHECKED.get(backend, 0) + 1
