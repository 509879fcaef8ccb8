"""Patient accounts on a real database: one-time credentials, forced password change, TOTP,
lockout, password reset by e-mail (docs/rules.md §2, docs/architecture.md §9). Refusals first."""

from __future__ import annotations

import dataclasses
import datetime as dt

import orjson
import pyotp
import pytest
from sqlalchemy import func, select

from opendmp.domain.actors import Patient as PatientActor
from opendmp.domain.errors import (
    AccessDenied,
    AccountLocked,
    AuthenticationFailed,
    Conflict,
    InvalidInput,
)
from opendmp.services.accounts import patient_accounts as accounts
from opendmp.services.accounts.patient_accounts import lock_delay
from opendmp.services.accounts.sessions import (
    Stage,
    logout_everywhere,
    require_patient,
    resolve_session,
)
from opendmp.services.core.context import AuthRules, ServiceContext
from opendmp.services.operations.maintenance import verify_audit
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import make_professional, patient_actor
from tests.services.patient_accounts import (
    NEW_PASSWORD,
    account_row,
    code,
    enrolled,
    events,
    fast_hasher,
    full_login,
    with_credentials,
)

__all__ = ["fast_hasher"]  # the autouse fixture, imported to apply here

NO_RATE_LIMIT = AuthRules(login_rate_per_address=1000, login_rate_per_account=1000)


@pytest.fixture
def ctx(ctx: ServiceContext) -> ServiceContext:
    """Rate limits have their own tests (test_sessions_ratelimit): out of the way here."""
    return dataclasses.replace(ctx, auth=NO_RATE_LIMIT)


async def assert_audit_ok(ctx: ServiceContext) -> None:
    reports = await verify_audit(ctx)
    assert reports and all(r.ok for r in reports), reports


async def outbox(ctx: ServiceContext, kind: str | None = None) -> list[m.Outbox]:
    """The queued messages (of one kind), oldest first. Messages queued at one instant of the
    test clock come in no set order: pick them by kind, not by position."""
    query = select(m.Outbox).order_by(m.Outbox.created_at)
    if kind is not None:
        query = query.where(m.Outbox.kind == kind)
    async with ctx.sessions() as session:
        return list((await session.execute(query)).scalars())


# --- refusals: signing in ---------------------------------------------------------------------


async def test_a_wrong_password_is_refused_and_audited_as_denied_on_the_records_chain(
    ctx: ServiceContext,
) -> None:
    patient = await with_credentials(ctx)
    with pytest.raises(AuthenticationFailed) as caught:
        await accounts.login(
            ctx, login=patient.login, password="not-the-password", client_address="192.0.2.7"
        )
    assert caught.value.code == "invalid-credentials"
    assert caught.value.http_status == 401
    [event] = await events(ctx, "auth:session:login")
    account = await account_row(ctx, patient.login)
    assert event.outcome == "denied" and event.reason == "invalid-credentials"
    assert event.chain == str(account.record_id) and event.client_address == "192.0.2.7"
    assert account.failed_attempts == 1
    await assert_audit_ok(ctx)


async def test_an_unknown_login_gets_the_same_error_as_a_wrong_password(
    ctx: ServiceContext,
) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        await accounts.login(ctx, login="ZZZZZZZZZZ", password="whatever-it-is")
    assert caught.value.code == "invalid-credentials"
    assert caught.value.message == "wrong login or password"
    [event] = await events(ctx, "auth:session:login")
    assert event.chain == "system" and event.outcome == "denied"
    await assert_audit_ok(ctx)


async def test_an_expired_one_time_password_is_refused(ctx: ServiceContext, clock: Clock) -> None:
    patient = await with_credentials(ctx)
    clock.advance(days=30, seconds=1)
    with pytest.raises(AuthenticationFailed) as caught:
        await accounts.login(
            ctx, login=patient.login, password=patient.credentials.one_time_password
        )
    assert caught.value.code == "password-expired"
    [event] = await events(ctx, "auth:session:login")
    assert event.reason == "password-expired"


async def test_five_failures_lock_the_account_with_a_doubling_delay(
    ctx: ServiceContext, clock: Clock
) -> None:
    patient = await with_credentials(ctx)
    right = patient.credentials.one_time_password
    for _ in range(4):
        with pytest.raises(AuthenticationFailed) as caught:
            await accounts.login(ctx, login=patient.login, password="wrong-password")
        assert caught.value.code == "invalid-credentials"
    with pytest.raises(AuthenticationFailed):
        await accounts.login(ctx, login=patient.login, password="wrong-password")  # 5th
    # Locked for 1 minute: even the right password is refused, without being checked.
    with pytest.raises(AccountLocked) as locked:
        await accounts.login(ctx, login=patient.login, password=right)
    assert locked.value.code == "account-locked" and locked.value.http_status == 429
    assert locked.value.retry_after == 60
    clock.advance(seconds=61)
    with pytest.raises(AuthenticationFailed):
        await accounts.login(ctx, login=patient.login, password="wrong-password")  # 6th
    with pytest.raises(AccountLocked) as locked:
        await accounts.login(ctx, login=patient.login, password=right)
    assert locked.value.retry_after == 120
    clock.advance(seconds=121)
    with pytest.raises(AuthenticationFailed):
        await accounts.login(ctx, login=patient.login, password="wrong-password")  # 7th
    clock.advance(seconds=200)
    with pytest.raises(AccountLocked) as locked:
        await accounts.login(ctx, login=patient.login, password=right)
    assert locked.value.retry_after == 240 - 200
    clock.advance(seconds=41)
    # Unlocked: the right password works and resets the count.
    result = await accounts.login(ctx, login=patient.login, password=right)
    assert result.stage is Stage.PASSWORD_CHANGE
    assert (await account_row(ctx, patient.login)).failed_attempts == 0
    reasons = [e.reason for e in await events(ctx, "auth:session:login")]
    assert reasons.count("account-locked") == 3


def test_the_lock_delay_doubles_from_the_fifth_failure_and_stops_at_a_day() -> None:
    assert lock_delay(4) is None
    assert [lock_delay(n) for n in (5, 6, 7)] == [
        dt.timedelta(minutes=1),
        dt.timedelta(minutes=2),
        dt.timedelta(minutes=4),
    ]
    assert lock_delay(16) == dt.timedelta(hours=24)
    assert lock_delay(1000) == dt.timedelta(hours=24)


async def test_a_one_time_password_session_can_do_nothing_but_change_the_password(
    ctx: ServiceContext,
) -> None:
    patient = await with_credentials(ctx)
    first = await accounts.login(
        ctx, login=patient.login, password=patient.credentials.one_time_password
    )
    assert first.stage is Stage.PASSWORD_CHANGE
    token = first.session_token
    with pytest.raises(AccessDenied) as caught:
        await require_patient(ctx, session_token=token)
    assert caught.value.code == "password-change-required"
    with pytest.raises(AccessDenied):
        await accounts.start_totp_enrolment(ctx, session_token=token)
    with pytest.raises(AccessDenied):
        await accounts.confirm_totp(ctx, session_token=token, code="123456")
    with pytest.raises(AccessDenied):
        await accounts.verify_totp(ctx, session_token=token, code="123456")
    with pytest.raises(AccessDenied):
        await logout_everywhere(ctx, session_token=token)


async def test_a_weak_new_password_is_refused(ctx: ServiceContext) -> None:
    patient = await with_credentials(ctx)
    one_time = patient.credentials.one_time_password
    first = await accounts.login(ctx, login=patient.login, password=one_time)
    for weak in ("short-pw", patient.login.lower() + "", one_time, "aaaaaaaaaaaaaaaa"):
        with pytest.raises(InvalidInput) as caught:
            await accounts.change_password(
                ctx, session_token=first.session_token, old=one_time, new=weak
            )
        assert caught.value.code == "weak-password"
    assert (await account_row(ctx, patient.login)).must_change_password


async def test_a_wrong_old_password_does_not_change_the_password(ctx: ServiceContext) -> None:
    patient = await with_credentials(ctx)
    first = await accounts.login(
        ctx, login=patient.login, password=patient.credentials.one_time_password
    )
    with pytest.raises(AuthenticationFailed):
        await accounts.change_password(
            ctx, session_token=first.session_token, old="guess-guess-guess", new=NEW_PASSWORD
        )
    assert (await account_row(ctx, patient.login)).must_change_password


async def test_after_enrolment_a_password_alone_opens_no_full_session(
    ctx: ServiceContext, clock: Clock
) -> None:
    patient = await enrolled(ctx)
    clock.advance(seconds=30)
    half = await accounts.login(ctx, login=patient.login, password=NEW_PASSWORD)
    assert half.stage is Stage.TOTP
    with pytest.raises(AccessDenied) as caught:
        await require_patient(ctx, session_token=half.session_token)
    assert caught.value.code == "totp-required"


async def test_a_wrong_totp_code_is_refused(ctx: ServiceContext, clock: Clock) -> None:
    patient = await enrolled(ctx)
    clock.advance(seconds=30)
    assert patient.secret is not None
    wrong = f"{(int(code(patient.secret, ctx.now())) + 1) % 1_000_000:06d}"
    with pytest.raises(AuthenticationFailed) as caught:
        await accounts.login(ctx, login=patient.login, password=NEW_PASSWORD, totp_code=wrong)
    assert caught.value.code == "invalid-credentials"  # says nothing of the password
    half = await accounts.login(ctx, login=patient.login, password=NEW_PASSWORD)
    with pytest.raises(AuthenticationFailed) as second_step:
        await accounts.verify_totp(ctx, session_token=half.session_token, code=wrong)
    assert second_step.value.code == "invalid-totp"
    reasons = [e.reason for e in await events(ctx, "auth:session:login") if e.outcome == "denied"]
    assert reasons == ["invalid-totp"]
    assert (await account_row(ctx, patient.login)).failed_attempts == 2


async def test_a_totp_code_is_refused_the_second_time(ctx: ServiceContext, clock: Clock) -> None:
    patient = await enrolled(ctx)
    assert patient.secret is not None
    # The enrolment consumed the current step: its code cannot sign in, even at once.
    with pytest.raises(AuthenticationFailed):
        await full_login(ctx, patient)
    clock.advance(seconds=30)
    used = code(patient.secret, ctx.now())
    first = await accounts.login(ctx, login=patient.login, password=NEW_PASSWORD, totp_code=used)
    assert first.stage is Stage.FULL
    clock.advance(seconds=10)  # same or next step: the code is still "valid" for pyotp
    with pytest.raises(AuthenticationFailed):
        await accounts.login(ctx, login=patient.login, password=NEW_PASSWORD, totp_code=used)
    half = await accounts.login(ctx, login=patient.login, password=NEW_PASSWORD)
    with pytest.raises(AuthenticationFailed) as caught:
        await accounts.verify_totp(ctx, session_token=half.session_token, code=used)
    assert caught.value.code == "invalid-totp"
    denied = [e.reason for e in await events(ctx, "auth:session:verify-totp")]
    assert denied == ["totp-replayed"]


async def test_the_enrolment_code_must_come_from_the_drawn_secret(ctx: ServiceContext) -> None:
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
    with pytest.raises(Conflict):
        await accounts.confirm_totp(ctx, session_token=changed.session_token, code="000000")
    enrolment = await accounts.start_totp_enrolment(ctx, session_token=changed.session_token)
    other = pyotp.random_base32()
    assert other != enrolment.secret
    with pytest.raises(AuthenticationFailed) as caught:
        await accounts.confirm_totp(
            ctx, session_token=changed.session_token, code=code(other, ctx.now())
        )
    assert caught.value.code == "invalid-totp"
    assert (await account_row(ctx, patient.login)).totp_secret_encrypted is None


async def test_a_patient_cannot_reissue_their_own_credentials(ctx: ServiceContext) -> None:
    patient = await with_credentials(ctx)
    with pytest.raises(AccessDenied):
        await accounts.issue_credentials(ctx, actor=patient_actor(patient.ins), ins=patient.ins)
    [denied] = [
        e for e in await events(ctx, "auth:account:issue-credentials") if e.outcome == "denied"
    ]
    assert denied.reason == "actor-not-permitted"


# --- refusals: password reset -----------------------------------------------------------------


async def _reset_code(ctx: ServiceContext) -> str:
    message = (await outbox(ctx, "password-reset"))[-1]
    return str(orjson.loads(message.payload)["code"])


async def test_a_reset_code_typed_wrong_five_times_is_dead(ctx: ServiceContext) -> None:
    patient = await enrolled(ctx)
    await accounts.request_password_reset(ctx, login=patient.login)
    right = await _reset_code(ctx)
    wrong = f"{(int(right) + 1) % 10**8:08d}"
    for _ in range(5):
        with pytest.raises(AuthenticationFailed) as caught:
            await accounts.reset_password(
                ctx, login=patient.login, code=wrong, new_password="a brand new passphrase"
            )
        assert caught.value.code == "invalid-reset-code"
    with pytest.raises(AuthenticationFailed):
        await accounts.reset_password(
            ctx, login=patient.login, code=right, new_password="a brand new passphrase"
        )


async def test_a_reset_code_expires_after_fifteen_minutes(
    ctx: ServiceContext, clock: Clock
) -> None:
    patient = await enrolled(ctx)
    await accounts.request_password_reset(ctx, login=patient.login)
    right = await _reset_code(ctx)
    clock.advance(minutes=15)
    with pytest.raises(AuthenticationFailed) as caught:
        await accounts.reset_password(
            ctx, login=patient.login, code=right, new_password="a brand new passphrase"
        )
    assert caught.value.code == "invalid-reset-code"


async def test_a_new_reset_request_kills_the_previous_code(
    ctx: ServiceContext, clock: Clock
) -> None:
    patient = await enrolled(ctx)
    await accounts.request_password_reset(ctx, login=patient.login)
    first = await _reset_code(ctx)
    clock.advance(seconds=1)  # the newest message is then the second one
    await accounts.request_password_reset(ctx, login=patient.login)
    second = await _reset_code(ctx)
    if first != second:
        with pytest.raises(AuthenticationFailed):
            await accounts.reset_password(
                ctx, login=patient.login, code=first, new_password="a brand new passphrase"
            )
    await accounts.reset_password(
        ctx, login=patient.login, code=second, new_password="a brand new passphrase"
    )


async def test_a_reset_request_answers_the_same_for_an_unknown_login_and_sends_nothing(
    ctx: ServiceContext,
) -> None:
    await accounts.request_password_reset(ctx, login="ZZZZZZZZZZ")
    assert await outbox(ctx) == []
    [event] = await events(ctx, "auth:account:request-password-reset")
    assert event.chain == "system" and event.reason == "unknown-login"


async def test_the_reset_e_mail_carries_the_code_and_no_health_data(ctx: ServiceContext) -> None:
    patient = await enrolled(ctx)
    assert await outbox(ctx, "password-reset") == []
    await accounts.request_password_reset(ctx, login=patient.login)
    [message] = await outbox(ctx, "password-reset")
    assert message.recipient == "alex.fictif@example.org"
    payload = orjson.loads(message.payload)
    assert set(payload) == {"code", "at"}
    assert len(payload["code"]) == 8 and payload["code"].isdigit()
    for secret in (patient.ins.value, "FICTIF", "Alex", patient.login, str(message.record_id)):
        assert secret not in message.payload
    async with ctx.sessions() as session:
        stored = (await session.execute(select(m.OneTimeCode.code_hash))).scalar_one()
    assert payload["code"] not in stored


# --- successes --------------------------------------------------------------------------------


async def test_credentials_are_a_ten_character_login_and_a_twelve_character_password(
    ctx: ServiceContext,
) -> None:
    patient = await with_credentials(ctx)
    login, password = patient.credentials
    assert len(login) == 10 and not set(login) & set("01OIl")
    assert len(password) == 12 and not set(password) & set("01OIl")
    assert password not in repr(patient.credentials)
    row = await account_row(ctx, login)
    assert row.password_hash.startswith("$argon2id$") and password not in row.password_hash
    assert row.must_change_password
    assert row.password_expires_at == ctx.now() + dt.timedelta(days=30)
    [event] = await events(ctx, "auth:account:create")
    assert event.chain == str(row.record_id)


async def test_an_account_created_in_a_transaction_that_rolls_back_does_not_exist(
    ctx: ServiceContext,
) -> None:
    patient = await with_credentials(ctx)
    record_id = (await account_row(ctx, patient.login)).record_id
    async with ctx.uow() as uow:
        login, _ = await accounts.create_account(
            ctx, uow.session, record_id=record_id, now=ctx.now()
        )
        # no commit: the caller's transaction (e.g. create_record's) failed
    async with ctx.sessions() as session:
        count = await session.execute(
            select(func.count()).select_from(m.Account).where(m.Account.login == login)
        )
        assert count.scalar_one() == 0


async def test_first_sign_in_then_password_change_then_totp_enrolment_opens_the_record(
    ctx: ServiceContext, clock: Clock
) -> None:
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
    assert changed.stage is Stage.TOTP_ENROLMENT
    assert await resolve_session(ctx, first.session_token) is None  # replaced, not upgraded
    enrolment = await accounts.start_totp_enrolment(ctx, session_token=changed.session_token)
    assert enrolment.uri.startswith("otpauth://totp/OpenDMP:")
    assert f"secret={enrolment.secret}" in enrolment.uri and "issuer=OpenDMP" in enrolment.uri
    full = await accounts.confirm_totp(
        ctx, session_token=changed.session_token, code=code(enrolment.secret, ctx.now())
    )
    assert full.stage is Stage.FULL
    actor = await require_patient(ctx, session_token=full.session_token)
    assert actor == PatientActor(ins=str(patient.ins))
    row = await account_row(ctx, patient.login)
    assert row.totp_secret_encrypted is not None
    assert enrolment.secret.encode() not in row.totp_secret_encrypted
    # Later sign-ins: password and TOTP, in one step or two.
    clock.advance(seconds=30)
    again = await accounts.login(
        ctx,
        login=patient.login.lower()[:5] + "-" + patient.login.lower()[5:],  # as typed
        password=NEW_PASSWORD,
        totp_code=code(enrolment.secret, ctx.now()),
    )
    assert again.stage is Stage.FULL
    clock.advance(seconds=30)
    half = await accounts.login(ctx, login=patient.login, password=NEW_PASSWORD)
    full_again = await accounts.verify_totp(
        ctx, session_token=half.session_token, code=code(enrolment.secret, ctx.now())
    )
    assert full_again.stage is Stage.FULL
    assert await resolve_session(ctx, half.session_token) is None
    await assert_audit_ok(ctx)


async def test_a_reset_password_works_and_the_totp_is_still_asked(
    ctx: ServiceContext, clock: Clock
) -> None:
    patient = await enrolled(ctx)
    clock.advance(seconds=30)
    session = await full_login(ctx, patient)
    await accounts.request_password_reset(ctx, login=patient.login, client_address="192.0.2.9")
    await accounts.reset_password(
        ctx, login=patient.login, code=await _reset_code(ctx), new_password="a brand new passphrase"
    )
    assert await resolve_session(ctx, session.session_token) is None  # every session ended
    with pytest.raises(AuthenticationFailed):
        await accounts.login(ctx, login=patient.login, password=NEW_PASSWORD)
    half = await accounts.login(ctx, login=patient.login, password="a brand new passphrase")
    assert half.stage is Stage.TOTP
    await assert_audit_ok(ctx)


async def test_the_desk_reissues_a_one_time_password_and_clears_the_second_factor(
    ctx: ServiceContext, clock: Clock
) -> None:
    patient = await enrolled(ctx)
    clock.advance(seconds=30)
    session = await full_login(ctx, patient)
    desk = make_professional(3, profession="10")
    login, password = await accounts.issue_credentials(ctx, actor=desk, ins=patient.ins)
    assert login == patient.login
    assert await resolve_session(ctx, session.session_token) is None
    result = await accounts.login(ctx, login=login, password=password)
    assert result.stage is Stage.PASSWORD_CHANGE
    changed = await accounts.change_password(
        ctx, session_token=result.session_token, old=password, new="yet another passphrase"
    )
    assert changed.stage is Stage.TOTP_ENROLMENT
