"""Helpers shared by the patient-account tests: a cheap argon2 hasher and sign-in paths."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from opendmp.domain.identifiers import Ins
from opendmp.services.accounts import patient_accounts as accounts
from opendmp.services.accounts.passwords import configure_password_hasher
from opendmp.services.accounts.patient_accounts import Credentials, LoginResult
from opendmp.services.core.context import ServiceContext
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from tests.factories import OPERATOR, make_ins, new_record
from tests.record_scope import whole_database

NEW_PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_hasher() -> Iterator[None]:
    """Tests only: argon2id with tiny costs (production keeps argon2-cffi's defaults)."""
    configure_password_hasher(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    yield
    configure_password_hasher(None)


@dataclass
class Patient:
    ins: Ins
    credentials: Credentials
    secret: str | None = None

    @property
    def login(self) -> str:
        return self.credentials.login


async def with_credentials(ctx: ServiceContext, **overrides: object) -> Patient:
    """A record and its one-time credentials, as printed at the desk."""
    ins = make_ins()
    await records.create_record(
        ctx, actor=OPERATOR, request=new_record(ins, ctx.now(), **overrides)
    )
    credentials = await accounts.issue_credentials(ctx, actor=OPERATOR, ins=ins)
    return Patient(ins, credentials)


def code(secret: str, at: dt.datetime) -> str:
    return pyotp.TOTP(secret).at(at)


async def enrolled(
    ctx: ServiceContext, clock_advance: object | None = None, *, step_back: bool = False
) -> Patient:
    """A patient who changed the one-time password and enrolled a TOTP app (confirmed with
    the previous step's code when ``step_back``: the current and next ones stay unused)."""
    patient = await with_credentials(ctx)
    first = await accounts.login(
        ctx, login=patient.login, password=patient.credentials.one_time_password
    )
    changed = await accounts.change_password(
        ctx,
        session_token=first.session_token,
        old=patient.credentials.one_time_password,
        new=NEW_PASSWORD,
    )
    enrolment = await accounts.start_totp_enrolment(ctx, session_token=changed.session_token)
    confirm_at = ctx.now() - dt.timedelta(seconds=30 if step_back else 0)
    await accounts.confirm_totp(
        ctx, session_token=changed.session_token, code=code(enrolment.secret, confirm_at)
    )
    patient.secret = enrolment.secret
    return patient


async def full_login(ctx: ServiceContext, patient: Patient) -> LoginResult:
    """Sign in with password and a fresh code (the caller moves the clock between uses)."""
    assert patient.secret is not None
    return await accounts.login(
        ctx, login=patient.login, password=NEW_PASSWORD, totp_code=code(patient.secret, ctx.now())
    )


async def account_row(ctx: ServiceContext, login: str) -> m.Account:
    async with ctx.sessions() as session:
        return (
            await session.execute(select(m.Account).where(m.Account.login == login))
        ).scalar_one()


async def events(ctx: ServiceContext, action: str) -> list[m.AuditEvent]:
    async with ctx.sessions() as session:
        rows = await session.execute(
            whole_database(
                select(m.AuditEvent).where(m.AuditEvent.action == action).order_by(m.AuditEvent.id)
            )
        )
        return list(rows.scalars())
