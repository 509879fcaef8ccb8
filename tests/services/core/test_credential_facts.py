"""Facts from credentials: leaving the structure out never gains anything
(docs/security.md, "Facts from credentials").

Every combination of directory link to structure ``NAMED`` (declared or not), earlier
sign-in with a credential naming it (``register_seen_professional``, as the authenticator
does, or none), block target (none, the professional, ``NAMED``, another structure) and
basis of access (an individual authorisation, or ``NAMED``'s authorisation with a
care-team membership) is built on the test database (SQLite, and PostgreSQL when
``OPENDMP_TEST_DATABASE_URL`` is set); the facts are then gathered for the same
professional with a credential naming ``NAMED`` and with one naming no structure:

- the ``blocked`` fact is exactly "the professional, the named structure, or a structure
  the directory links them to, is blocked";
- whatever the claim refuses at record level, the credential without a structure is
  refused too (it reads a subset of the documents).
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import delete, inspect

from opendmp.domain.actors import Professional
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action, Facts, decide
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.facts import actor_on_record
from opendmp.services.core.opening import KNOWN_RECORDS, open_for_read
from opendmp.services.core.records import get_record
from opendmp.services.directory import identity
from opendmp.services.directory.professionals import ensure_organization, ensure_professional
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from opendmp.storage.repositories import find_document
from tests.auth_support import finess_struct, idnat
from tests.factories import OPERATOR, make_ins, new_record
from tests.services.document_support import deposit

NAMED, OTHER = finess_struct(11), finess_struct(12)  # the structure a credential names; another


@dataclass(frozen=True)
class Case:
    declared: bool  # the directory links the professional to NAMED before any sign-in
    learnt: bool  # the professional signed in once with a credential naming NAMED
    block: str | None  # "professional", NAMED, OTHER or None
    basis: str  # "individual" or "care-team" (NAMED authorised, the pro in its care team)


CASES = [
    Case(*values)
    for values in itertools.product(
        [False, True],
        [False, True],
        [None, "professional", NAMED, OTHER],
        ["individual", "care-team"],
    )
]


def _row(
    record_id: uuid.UUID,
    state: str,
    *,
    pro: uuid.UUID | None,
    org: uuid.UUID | None,
    at: dt.datetime,
) -> m.Authorization:
    return m.Authorization(
        id=uuid.uuid4(),
        record_id=record_id,
        professional_id=pro,
        organization_id=org,
        state=state,
        granted_by_kind="patient",
        granted_by_id="test",
        granted_at=at,
        expires_at=None,
        updated_at=at,
    )


async def _arrange(ctx: ServiceContext, case: Case, actor: Professional) -> Ins:
    ins = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    now = ctx.now()
    async with ctx.sessions() as session, session.begin():
        _, record = await get_record(session, ins)
        pro = await ensure_professional(session, replace(actor, organization=None), now=now)
        orgs = {
            s: (await ensure_organization(session, s, name=None, now=now)).id
            for s in (NAMED, OTHER)
        }
        if case.declared or case.basis == "care-team":
            session.add(
                m.Membership(
                    professional_id=pro.id,
                    organization_id=orgs[NAMED],
                    care_team=case.basis == "care-team",
                )
            )
        if case.basis == "individual":
            session.add(_row(record.id, "authorized", pro=pro.id, org=None, at=now))
        else:
            session.add(_row(record.id, "authorized", pro=None, org=orgs[NAMED], at=now))
        if case.block == "professional":
            session.add(_row(record.id, "blocked", pro=pro.id, org=None, at=now))
        elif case.block is not None:
            session.add(_row(record.id, "blocked", pro=None, org=orgs[case.block], at=now))
    return ins


async def _facts(ctx: ServiceContext, ins: Ins, actor: Professional) -> Facts:
    async with ctx.sessions() as session:
        patient, record = await get_record(session, ins)
        return (
            await actor_on_record(
                session, actor=actor, patient=patient, record=record, now=ctx.now()
            )
        ).facts


async def test_omitting_the_structure_never_lifts_a_block_nor_gains_access(
    ctx: ServiceContext,
) -> None:
    for n, case in enumerate(CASES):
        bound = Professional(idnat(200 + n), "10", "SM54", organization=NAMED)
        bare = replace(bound, organization=None)
        ins = await _arrange(ctx, case, bound)
        if case.learnt:
            await identity.register_seen_professional(ctx, bound)
        knows_named = case.declared or case.learnt or case.basis == "care-team"
        expected = case.block == "professional" or (case.block == NAMED and knows_named)
        with_claim, without = await _facts(ctx, ins, bound), await _facts(ctx, ins, bare)
        assert without.blocked == expected, case
        # The claim adds its own structure to the blocks, linked or not.
        assert with_claim.blocked == (expected or case.block == NAMED), case
        claimed = decide(bound, Action.SEARCH_DOCUMENTS, with_claim)
        bare_decision = decide(bare, Action.SEARCH_DOCUMENTS, without)
        if knows_named and not claimed.allowed:
            assert not bare_decision.allowed, case
        if bare_decision.allowed:
            assert not expected, case


@pytest.mark.parametrize("declared", [False, True])
async def test_a_care_team_needs_the_directory_not_a_claim(
    ctx: ServiceContext, declared: bool
) -> None:
    """Claiming a structure the patient authorised gives no care-team access: only a
    membership the directory declares does (a learnt link never does)."""
    bound = Professional(idnat(300 + declared), "10", "SM54", organization=NAMED)
    case = Case(declared=False, learnt=True, block=None, basis="individual")
    ins = await _arrange(ctx, case, bound)
    async with ctx.sessions() as session, session.begin():
        _, record = await get_record(session, ins)
        await session.execute(delete(m.Authorization).where(m.Authorization.record_id == record.id))
        org = await ensure_organization(session, NAMED, name=None, now=ctx.now())
        session.add(_row(record.id, "authorized", pro=None, org=org.id, at=ctx.now()))
    await identity.register_seen_professional(ctx, bound)
    if declared:
        async with ctx.sessions() as session, session.begin():
            pro = await ensure_professional(session, bound, now=ctx.now())
            link = await session.get(m.Membership, (pro.id, org.id))
            assert link is not None and link.care_team is False
            link.care_team = True
    facts = await _facts(ctx, ins, bound)
    assert facts.care_team is declared
    assert decide(bound, Action.SEARCH_DOCUMENTS, facts).allowed is declared


async def test_the_consultations_single_statement_gathers_the_same_facts(
    ctx: ServiceContext,
) -> None:
    """``opening.open_for_read`` (record, patient and facts in one statement: a search's or
    a read's gate) gives what the entities loaded into a session and ``actor_on_record``
    give, for every case above, with and without the structure; its entities stay out of
    every session."""
    for n, case in enumerate(CASES):
        bound = Professional(idnat(400 + n), "10", "SM54", organization=NAMED)
        ins = await _arrange(ctx, case, bound)
        if case.learnt:
            await identity.register_seen_professional(ctx, bound)
        for actor in (bound, replace(bound, organization=None)):
            async with ctx.sessions() as session:
                opened = await open_for_read(session, ins=ins, actor=actor, now=ctx.now())
                assert opened is not None and opened.document is None
                assert opened.patient not in session and opened.record not in session
                assert inspect(opened.record).transient
            expected = await _facts(ctx, ins, actor)
            assert opened.who.facts == expected, case
            async with ctx.sessions() as session:
                patient, record = await get_record(session, ins)
                assert _values(opened.patient) == _values(patient)
                assert _values(opened.record) == _values(record)


async def test_the_single_statement_finds_the_named_document_of_this_record_only(
    ctx: ServiceContext,
) -> None:
    actor = Professional(idnat(500), "10", "SM54", organization=NAMED)
    case = Case(declared=False, learnt=False, block=None, basis="individual")
    ins, other = await _arrange(ctx, case, actor), await _arrange(ctx, case, actor)
    doc = await deposit(ctx, ins, actor=actor)
    async with ctx.sessions() as session:
        opened = await open_for_read(
            session, ins=ins, actor=actor, now=ctx.now(), document_id=doc.id
        )
        assert opened is not None and opened.document is not None
        loaded = await find_document(session, opened.record.id, doc.id)
        assert _values(opened.document) == _values(loaded)
        # Another record's id, or an unknown one, finds no document; an unknown INS nothing.
        elsewhere = await open_for_read(
            session, ins=other, actor=actor, now=ctx.now(), document_id=doc.id
        )
        assert elsewhere is not None and elsewhere.document is None
        unknown = await open_for_read(
            session, ins=ins, actor=actor, now=ctx.now(), document_id=uuid.uuid4()
        )
        assert unknown is not None and unknown.document is None
        assert await open_for_read(session, ins=make_ins(), actor=actor, now=ctx.now()) is None


def _values(entity: object) -> dict[str, object]:
    return {attr.key: getattr(entity, attr.key) for attr in inspect(entity).mapper.column_attrs}


async def test_a_record_id_hint_never_opens_another_record(ctx: ServiceContext) -> None:
    """The record id remembered for an INS (``opening.KNOWN_RECORDS``) is a hint: pointing
    at another patient's record, or at a record that no longer exists, it opens the INS's
    own record all the same, and is corrected."""
    actor = Professional(idnat(600), "10", "SM54", organization=NAMED)
    case = Case(declared=False, learnt=False, block=None, basis="individual")
    ins, other = await _arrange(ctx, case, actor), await _arrange(ctx, case, actor)
    doc = await deposit(ctx, ins, actor=actor)
    expected = await _facts(ctx, ins, actor)
    async with ctx.sessions() as session:
        theirs = await open_for_read(session, ins=other, actor=actor, now=ctx.now())
        assert theirs is not None
        for hint in (theirs.record.id, uuid.uuid4()):
            KNOWN_RECORDS.remember(ins, hint)
            opened = await open_for_read(
                session, ins=ins, actor=actor, now=ctx.now(), document_id=doc.id
            )
            assert opened is not None and opened.record.id != hint
            assert opened.document is not None and opened.document.id == doc.id
            assert opened.who.facts == expected
            assert KNOWN_RECORDS.get(ins) == opened.record.id
