"""Synthetic demo data: patients, professionals, an establishment with a care team, and
records holding CDA level-1 documents (each wrapping a small PDF).

Every identity is fake: test INS OID ``1.2.250.1.213.1.4.10``, test RPPS cards (``8997…``),
names that cannot be mistaken for real people. Seeding twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from opendmp.cda.level1 import AuthorHeader, OrgHeader, PatientHeader, wrap_level1
from opendmp.cda.pdf import make_pdf
from opendmp.devtools.rpps_extract import synthetic_rpps
from opendmp.domain.actors import CardKind, Professional, System
from opendmp.domain.codes import type_label
from opendmp.domain.consent import Consent, ConsentChannel, ConsentKind
from opendmp.domain.identifiers import INS_NIR_TEST_OID, luhn_check_digit, parse_ins, with_ins_key
from opendmp.domain.local_time import paris_date
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory.professionals import ensure_organization, ensure_professional
from opendmp.services.directory.rpps import import_rpps
from opendmp.services.documents import DocumentSubmission, deposit_document
from opendmp.services.records import lifecycle as records
from opendmp.services.records.identity_registry import ReferenceIdentity, register_identities
from opendmp.services.records.notice import current_notice
from opendmp.storage import models as m
from opendmp.storage.repositories import find_record

FINESS = "7500000" + "1" + str(luhn_check_digit("75000001"))  # 9 digits, Luhn-valid
ESTABLISHMENT = "1" + FINESS
ESTABLISHMENT_NAME = "Centre Hospitalier de Démonstration"
# A synthetic RPPS extract (devtools/rpps_extract.py): the professionals patients can find.
RPPS_EXTRACT = Path(__file__).resolve().parent.parent / "data" / "rpps-demo.txt"


def test_rpps(n: int) -> str:
    return "8" + synthetic_rpps(n)


@dataclass(frozen=True)
class DemoProfessional:
    key: str
    actor: Professional
    role: str
    care_team: bool = True


def _pro(
    key: str,
    n: int,
    profession: str,
    specialty: str | None,
    name: str,
    role: str,
    *,
    care_team: bool = True,
) -> DemoProfessional:
    return DemoProfessional(
        key,
        Professional(
            idnat=test_rpps(n),
            profession=profession,
            specialty=specialty,
            organization=ESTABLISHMENT,
            name=name,
        ),
        role,
        care_team,
    )


PROFESSIONALS = (
    _pro("gp", 1, "10", "SM54", "DEMO-GENERALISTE Paul", "médecin généraliste"),
    _pro("psychiatrist", 2, "10", "SM42", "DEMO-PSYCHIATRE Inès", "psychiatre"),
    _pro("pharmacist", 3, "21", None, "DEMO-PHARMACIEN Luc", "pharmacien", care_team=False),
    _pro("nurse", 4, "60", None, "DEMO-INFIRMIERE Rose", "infirmière"),
    _pro("midwife", 5, "50", None, "DEMO-SAGEFEMME Anne", "sage-femme"),
    _pro("physio", 6, "70", None, "DEMO-KINE Marc", "masseur-kinésithérapeute", care_team=False),
)
DESK = DemoProfessional(
    "desk",
    Professional(
        idnat=f"3{FINESS}/ACC0001",
        profession=None,
        organization=ESTABLISHMENT,
        card_kind=CardKind.CPE,
        name="DEMO-ACCUEIL Sam",
    ),
    "agent d'accueil (CPE)",
)


@dataclass(frozen=True)
class DemoPatient:
    nir13: str
    birth_name: str
    given: str
    birth_date: dt.date
    sex: str
    email: str

    @property
    def ins(self) -> str:
        return with_ins_key(self.nir13)


PATIENTS = (
    DemoPatient(
        "2800175123456",
        "FICTIVE",
        "Camille",
        dt.date(1980, 1, 15),
        "F",
        "camille.fictive@example.org",
    ),
    DemoPatient(
        "1750269234567", "ESSAI", "Jules", dt.date(1975, 2, 3), "M", "jules.essai@example.org"
    ),
    DemoPatient(
        "2920313345678",
        "DEMONSTRATION",
        "Léa",
        dt.date(1992, 3, 30),
        "F",
        "lea.demonstration@example.org",
    ),
)


@dataclass(frozen=True)
class DemoPerson:
    """Someone known to the identity registry (INSi stand-in) but without a DMP yet."""

    nir13: str
    birth_name: str
    given: tuple[str, ...]
    birth_date: dt.date
    sex: str

    @property
    def ins(self) -> str:
        return with_ins_key(self.nir13)


# People the desk or the online journey can open a record for (synthetic): adults, and a
# minor (online creation refuses them).
OTHER_PEOPLE = (
    DemoPerson("2850375112233", "DEMO-NOUVELLE", ("Alix", "Marie"), dt.date(1985, 3, 12), "F"),
    DemoPerson("1900569123321", "DEMO-ESSAI", ("Noé",), dt.date(1990, 5, 4), "M"),
    DemoPerson("1880813055111", "DEMO-ENLIGNE", ("Sacha",), dt.date(1988, 8, 21), "M"),
    DemoPerson("2120675056789", "DEMO-MINEURE", ("Lou",), dt.date(2012, 6, 21), "F"),
)


def vitale_serial_of(nir13: str) -> str:
    """A synthetic Carte Vitale serial number, stable for a person (demo only)."""
    return "9" + nir13[1:10]


def demo_identities() -> list[ReferenceIdentity]:
    people = [
        ReferenceIdentity(
            ins=parse_ins(p.ins, INS_NIR_TEST_OID),
            birth_name=p.birth_name,
            given_names=(p.given,),
            birth_date=p.birth_date,
            sex=p.sex,
            birth_place_code=p.nir13[5:10],
            vitale_serial=vitale_serial_of(p.nir13),
        )
        for p in PATIENTS
    ]
    people += [
        ReferenceIdentity(
            ins=parse_ins(p.ins, INS_NIR_TEST_OID),
            birth_name=p.birth_name,
            given_names=p.given,
            birth_date=p.birth_date,
            sex=p.sex,
            birth_place_code=p.nir13[5:10],
            vitale_serial=vitale_serial_of(p.nir13),
        )
        for p in OTHER_PEOPLE
    ]
    return people


async def seed_identity_registry(ctx: ServiceContext) -> int:
    """Fill the identity registry with every demo person (idempotent)."""
    return await register_identities(ctx, demo_identities())


# (patient index, author key, LOINC type, days ago)
DOCUMENTS = (
    (0, "gp", "11490-0", 400),
    (0, "gp", "34112-3", 380),
    (0, "gp", "34874-8", 200),
    (0, "gp", "11502-2", 60),
    (0, "psychiatrist", "68599-0", 45),
    (0, "gp", "18748-4", 30),
    (0, "pharmacist", "60593-1", 20),
    (0, "nurse", "87273-9", 10),
    (1, "gp", "11488-4", 90),
    (1, "gp", "57833-6", 15),
    (2, "midwife", "11488-4", 5),
)


@dataclass
class DemoSummary:
    created: bool
    identities: list[tuple[str, str, str]] = field(default_factory=list)
    # (name, INS "OID|VALUE", login, one-time password): only known when just created.
    patient_logins: list[tuple[str, str, str, str]] = field(default_factory=list)


def _identities() -> list[tuple[str, str, str]]:
    rows = [(p.actor.name or "", p.actor.idnat, p.role) for p in (*PROFESSIONALS, DESK)]
    rows += [
        (f"{p.birth_name} {p.given}", f"{INS_NIR_TEST_OID}|{p.ins}", "patient") for p in PATIENTS
    ]
    rows.append((ESTABLISHMENT_NAME, ESTABLISHMENT, "établissement (équipe de soins)"))
    return rows


async def seed_demo(ctx: ServiceContext) -> DemoSummary:
    first = parse_ins(PATIENTS[0].ins, INS_NIR_TEST_OID)
    await seed_identity_registry(ctx)
    async with ctx.uow() as uow:
        if await find_record(uow.session, first) is not None:
            return DemoSummary(False, _identities())
    now = ctx.now()
    await _seed_directory(ctx, now)
    await import_rpps(ctx, actor=System("demo"), path=RPPS_EXTRACT)
    notice = current_notice()
    logins: list[tuple[str, str, str, str]] = []
    for patient in PATIENTS:
        ins = parse_ins(patient.ins, INS_NIR_TEST_OID)
        consent = Consent(
            kind=ConsentKind.CREATION,
            channel=ConsentChannel.DESK,
            captured_by_kind=DESK.actor.kind.value,
            captured_by_id=DESK.actor.idnat,
            captured_by_name=DESK.actor.name,
            place=ESTABLISHMENT,
            notice_version=notice.version,
            notice_sha256=notice.sha256,
            captured_at=now,
            patient_confirmed=True,
        )
        created = await records.create_record(
            ctx,
            actor=DESK.actor,
            request=records.NewRecord(
                ins=ins,
                birth_name=patient.birth_name,
                given_names=(patient.given,),
                birth_date=patient.birth_date,
                sex=patient.sex,
                consent=consent,
                email=patient.email,
            ),
        )
        if created.credentials is not None:
            login, one_time = created.credentials
            logins.append((f"{patient.given} {patient.birth_name}", str(ins), login, one_time))
    await _seed_access(ctx, now)
    by_key = {p.key: p for p in PROFESSIONALS}
    for index, author_key, type_code, days_ago in DOCUMENTS:
        await _deposit(
            ctx, PATIENTS[index], by_key[author_key], type_code, now - dt.timedelta(days=days_ago)
        )
    return DemoSummary(True, _identities(), logins)


async def _seed_directory(ctx: ServiceContext, now: dt.datetime) -> None:
    async with ctx.uow() as uow:
        org = await ensure_organization(
            uow.session, ESTABLISHMENT, name=ESTABLISHMENT_NAME, now=now, facility_type="SA01"
        )
        for pro in (*PROFESSIONALS, DESK):
            row = await ensure_professional(uow.session, pro.actor, now=now)
            row.email = f"{pro.key}@demo.opendmp.example"
            uow.session.add(
                m.Membership(
                    professional_id=row.id, organization_id=org.id, care_team=pro.care_team
                )
            )
        await uow.commit()


async def _seed_access(ctx: ServiceContext, now: dt.datetime) -> None:
    """The establishment's care team follows the first two patients; the pharmacist and
    the GP hold the first patient's authorisation; the GP is her treating doctor."""
    async with ctx.uow() as uow:
        s = uow.session
        org_id = (
            await s.execute(
                select(m.Organization.id).where(m.Organization.struct_idnat == ESTABLISHMENT)
            )
        ).scalar_one()
        pro_ids = dict((await s.execute(select(m.Professional.idnat, m.Professional.id))).all())
        rec_ids = []
        for patient in PATIENTS[:2]:
            found = await find_record(s, parse_ins(patient.ins, INS_NIR_TEST_OID))
            assert found is not None
            rec_ids.append(found[1].id)
        grants: list[tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]] = [
            (rec_ids[0], None, org_id),
            (rec_ids[1], None, org_id),
            (rec_ids[0], pro_ids[by_key("gp").idnat], None),
            (rec_ids[0], pro_ids[by_key("pharmacist").idnat], None),
        ]
        for record_id, pro_id, grant_org in grants:
            s.add(
                m.Authorization(
                    id=uuid.uuid4(),
                    record_id=record_id,
                    professional_id=pro_id,
                    organization_id=grant_org,
                    state="authorized",
                    granted_by_kind="patient",
                    granted_by_id="demo",
                    granted_at=now,
                    expires_at=now + dt.timedelta(days=365),
                    updated_at=now,
                )
            )
        s.add(
            m.TreatingDoctor(
                record_id=rec_ids[0],
                professional_id=pro_ids[by_key("gp").idnat],
                since=now,
                named_by_kind="patient",
            )
        )
        await uow.commit()


def by_key(key: str) -> Professional:
    return next(p.actor for p in PROFESSIONALS if p.key == key)


async def _deposit(
    ctx: ServiceContext,
    patient: DemoPatient,
    author: DemoProfessional,
    type_code: str,
    when: dt.datetime,
) -> None:
    title = type_label(type_code)
    pdf = make_pdf(
        title,
        [
            "Document de démonstration — données fictives.",
            f"Patient : {patient.birth_name} {patient.given}",
            f"Auteur : {author.actor.name}",
            f"Date : {paris_date(when):%d/%m/%Y}",
        ],
    )
    doc_root = f"2.25.{uuid.uuid4().int}"
    org = OrgHeader(ESTABLISHMENT, ESTABLISHMENT_NAME)
    family, _, given = (author.actor.name or "").partition(" ")
    cda = wrap_level1(
        content=pdf,
        media_type="application/pdf",
        document_id=(doc_root, None),
        set_id=(f"2.25.{uuid.uuid4().int}", None),
        version=1,
        type_code=type_code,
        type_display=title,
        title=title,
        effective_time=when,
        patient=PatientHeader(
            patient.ins,
            INS_NIR_TEST_OID,
            patient.birth_name,
            patient.given,
            patient.birth_date,
            "F" if patient.sex == "F" else "M",
        ),
        author=AuthorHeader(
            author.actor.idnat,
            family,
            given,
            f"G15_{author.actor.profession or 10}",
            author.actor.specialty,
            org,
        ),
        custodian=org,
        service_start=when,
        service_stop=when,
        practice_setting="ETABLISSEMENT",
        facility_type="SA01",
    )
    await deposit_document(
        ctx,
        actor=author.actor,
        ins=parse_ins(patient.ins, INS_NIR_TEST_OID),
        submission=DocumentSubmission(
            unique_id=doc_root,
            title=title,
            type_code=type_code,
            mime_type="text/xml",
            format_code="urn:ihe:iti:xds-sd:pdf:2008",
            content=cda,
            creation_time=when,
            service_start=when,
            service_stop=when,
            practice_setting="ETABLISSEMENT",
            facility_type="SA01",
            author_organization_name=ESTABLISHMENT_NAME,
        ),
    )


def people_without_record() -> list[tuple[str, ...]]:
    """(name, INS, birth date, Carte Vitale serial) of the demo people the desk or online
    creation can open a DMP for (the landing page lists them in demo mode)."""
    return [
        (
            f"{p.birth_name} {' '.join(p.given)}",
            p.ins,
            p.birth_date.isoformat(),
            vitale_serial_of(p.nir13),
        )
        for p in OTHER_PEOPLE
    ]
