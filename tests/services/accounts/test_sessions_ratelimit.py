"""Portal sessions (timeouts, logout, CSRF, cookies) and database rate limits shared by
every app node. Refusals first."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.auth.sessions import clear_session_cookie, cookie_name, session_cookie
from opendmp.config import load_settings
from opendmp.domain.actors import Patient
from opendmp.domain.errors import (
    AccountLocked,
    AuthenticationFailed,
    ConfigurationError,
    RateLimited,
)
from opendmp.services.accounts import patient_accounts as accounts
from opendmp.services.accounts import ratelimit
from opendmp.services.accounts.sessions import (
    Stage,
    check_csrf,
    csrf_token_for,
    logout,
    logout_everywhere,
    require_patient,
    resolve_session,
)
from opendmp.services.core.context import AuthRules, ServiceContext
from opendmp.storage import models as m
from opendmp.storage.db import make_sessionmaker
from tests.conftest import Clock
from tests.services.patient_accounts import (
    NEW_PASSWORD,
    enrolled,
    events,
    fast_hasher,
    full_login,
    with_credentials,
)

__all__ = ["fast_hasher"]  # the autouse fixture, imported to apply here

MINUTE = dt.timedelta(minutes=1)


# --- refusals: sessions -----------------------------------------------------------------------


async def test_an_unknown_token_resolves_to_no_session(ctx: ServiceContext) -> None:
    assert await resolve_session(ctx, "not-a-token") is None
    assert await resolve_session(ctx, "") is None
    with pytest.raises(AuthenticationFailed) as caught:
        await require_patient(ctx, session_token="not-a-token")
    assert caught.value.code == "not-signed-in"


async def test_a_session_dies_after_fifteen_idle_minutes(ctx: ServiceContext, clock: Clock) -> None:
    patient = await enrolled(ctx)
    clock.advance(seconds=30)
    token = (await full_login(ctx, patient)).session_token
    clock.advance(minutes=10)
    seen = await resolve_session(ctx, token)  # activity pushes the idle deadline back
    assert seen is not None and seen.last_seen_at == ctx.now()
    clock.advance(minutes=14, seconds=59)
    assert await resolve_session(ctx, token) is not None
    clock.advance(minutes=15)
    assert await resolve_session(ctx, token) is None


async def test_a_session_dies_after_twelve_hours_however_active(
    ctx: ServiceContext, clock: Clock
) -> None:
    patient = await enrolled(ctx)
    clock.advance(seconds=30)
    token = (await full_login(ctx, patient)).session_token
    for _ in range(71):  # every 10 minutes for 11 h 50
        clock.advance(minutes=10)
        assert await resolve_session(ctx, token) is not None
    clock.advance(minutes=10)  # 12 h after sign-in
    assert await resolve_session(ctx, token) is None


async def test_timeouts_follow_the_settings(ctx: ServiceContext, clock: Clock) -> None:
    ctx = dataclasses.replace(
        ctx, auth=AuthRules(session_idle=dt.timedelta(minutes=2), login_rate_per_account=100)
    )
    patient = await enrolled(ctx)
    clock.advance(seconds=30)
    token = (await full_login(ctx, patient)).session_token
    clock.advance(minutes=2)
    assert await resolve_session(ctx, token) is None


async def test_logout_ends_this_session_only(ctx: ServiceContext, clock: Clock) -> None:
    patient = await enrolled(ctx)
    clock.advance(seconds=30)
    one = (await full_login(ctx, patient)).session_token
    clock.advance(seconds=30)
    two = (await full_login(ctx, patient)).session_token
    await logout(ctx, session_token=one)
    await logout(ctx, session_token=one)  # twice is harmless
    assert await resolve_session(ctx, one) is None
    assert await resolve_session(ctx, two) is not None
    [event] = await events(ctx, "auth:session:logout")
    assert event.outcome == "success"


async def test_logout_everywhere_kills_every_session_of_the_account_and_no_other(
    ctx: ServiceContext, clock: Clock
) -> None:
    alice = await enrolled(ctx)
    bob = await enrolled(ctx)
    clock.advance(seconds=30)
    alice_sessions = [(await full_login(ctx, alice)).session_token]
    bob_session = (await full_login(ctx, bob)).session_token
    clock.advance(seconds=30)
    alice_sessions.append((await full_login(ctx, alice)).session_token)
    half = await accounts.login(ctx, login=alice.login, password=NEW_PASSWORD)
    alice_sessions.append(half.session_token)
    ended = await logout_everywhere(ctx, session_token=alice_sessions[0])
    assert ended == 4  # with the one the TOTP enrolment opened
    for token in alice_sessions:
        assert await resolve_session(ctx, token) is None
    assert await resolve_session(ctx, bob_session) is not None


async def test_the_csrf_token_of_another_session_is_refused(
    ctx: ServiceContext, clock: Clock
) -> None:
    patient = await enrolled(ctx)
    clock.advance(seconds=30)
    first = await full_login(ctx, patient)
    clock.advance(seconds=30)
    second = await full_login(ctx, patient)
    one = await resolve_session(ctx, first.session_token)
    two = await resolve_session(ctx, second.session_token)
    assert one is not None and two is not None
    assert not check_csrf(one, second.csrf_token)
    assert not check_csrf(two, first.csrf_token)
    assert not check_csrf(one, "")
    assert not check_csrf(one, None)
    assert check_csrf(one, first.csrf_token)
    assert csrf_token_for(one) == first.csrf_token
    assert one.csrf_secret not in repr(one)


def test_the_session_cookie_is_httponly_secure_strict_and_host_only() -> None:
    settings = load_settings()
    assert settings.cookie_secure
    cookie = session_cookie(settings, "tok")
    assert cookie.startswith("__Host-opendmp_session=tok;")
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=43200"):
        assert attribute in cookie.split("; ")
    assert "Domain" not in cookie
    assert "Max-Age=0" in clear_session_cookie(settings)


def test_development_over_http_may_drop_secure_but_production_may_not() -> None:
    dev = load_settings(cookie_secure=False)
    cookie = session_cookie(dev, "tok")
    assert cookie_name(dev) == "opendmp_session" and "Secure" not in cookie.split("; ")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    with pytest.raises(ConfigurationError) as caught:
        load_settings(
            mode="production",
            cookie_secure=False,
            master_key="A" * 43 + "=",
            behind_tls_proxy=True,
            database_url="postgresql+asyncpg://db/opendmp",
        )
    assert "OPENDMP_COOKIE_SECURE" in str(caught.value)


# --- refusals: rate limits --------------------------------------------------------------------


async def test_the_attempt_past_the_limit_is_refused_until_the_next_window(
    ctx: ServiceContext, clock: Clock
) -> None:
    clock.now = clock.now.replace(second=10)
    for _ in range(3):
        assert await ratelimit.hit(ctx, "test:key", limit=3, window=MINUTE) == (True, 0)
    allowed, retry_after = await ratelimit.hit(ctx, "test:key", limit=3, window=MINUTE)
    assert not allowed and retry_after == 50
    clock.advance(seconds=50)
    assert await ratelimit.hit(ctx, "test:key", limit=3, window=MINUTE) == (True, 0)


async def test_sign_ins_from_one_address_are_limited_to_ten_a_minute(
    ctx: ServiceContext, clock: Clock
) -> None:
    clock.now = clock.now.replace(second=0)
    for n in range(10):
        with pytest.raises(AuthenticationFailed) as caught:
            await accounts.login(
                ctx, login=f"ZZZZZZZZ{n:02d}", password="guess-guess", client_address="192.0.2.1"
            )
        assert not isinstance(caught.value, RateLimited)
    with pytest.raises(RateLimited) as limited:
        await accounts.login(
            ctx, login="YYYYYYYYYY", password="guess-guess", client_address="192.0.2.1"
        )
    assert limited.value.http_status == 429 and limited.value.code == "rate-limited"
    assert limited.value.retry_after == 60
    # Another address is not affected, and the next minute starts afresh.
    with pytest.raises(AuthenticationFailed):
        await accounts.login(
            ctx, login="YYYYYYYYYY", password="guess-guess", client_address="192.0.2.2"
        )
    clock.advance(minutes=1)
    with pytest.raises(AuthenticationFailed) as caught:
        await accounts.login(
            ctx, login="YYYYYYYYYY", password="guess-guess", client_address="192.0.2.1"
        )
    assert not isinstance(caught.value, RateLimited)


async def test_sign_ins_on_one_login_are_limited_to_five_a_minute(
    ctx: ServiceContext, clock: Clock
) -> None:
    patient = await with_credentials(ctx)
    clock.now = clock.now.replace(second=0)
    for n in range(5):
        with pytest.raises(AuthenticationFailed) as caught:
            await accounts.login(
                ctx, login=patient.login, password="guess-guess", client_address=f"192.0.2.{n}"
            )
        assert not isinstance(caught.value, RateLimited)
    # The 5th failure locked the account, but the limit answers first, without a check.
    with pytest.raises(RateLimited) as limited:
        await accounts.login(ctx, login=patient.login, password="guess-guess")
    assert not isinstance(limited.value, AccountLocked)


async def test_rate_counters_are_shared_by_every_node_on_the_database(
    ctx: ServiceContext, engine: AsyncEngine, clock: Clock
) -> None:
    clock.now = clock.now.replace(second=0)
    other_node = dataclasses.replace(ctx, sessions=make_sessionmaker(engine))
    assert other_node.sessions is not ctx.sessions
    assert (await ratelimit.hit(ctx, "shared", limit=2, window=MINUTE))[0]
    assert (await ratelimit.hit(other_node, "shared", limit=2, window=MINUTE))[0]
    assert not (await ratelimit.hit(ctx, "shared", limit=2, window=MINUTE))[0]
    assert not (await ratelimit.hit(other_node, "shared", limit=2, window=MINUTE))[0]


async def test_concurrent_hits_are_counted_exactly(ctx: ServiceContext, clock: Clock) -> None:
    clock.now = clock.now.replace(second=0)
    results = await asyncio.gather(
        *(ratelimit.hit(ctx, "burst", limit=15, window=MINUTE) for _ in range(20))
    )
    assert sum(allowed for allowed, _ in results) == 15
    async with ctx.sessions() as session:
        row = (await session.execute(select(m.RateLimit).where(m.RateLimit.key == "burst"))).one()
    assert row[0].count == 20


async def test_old_counters_are_purged(ctx: ServiceContext, clock: Clock) -> None:
    await ratelimit.hit(ctx, "old", limit=1, window=MINUTE)
    clock.advance(hours=2)
    await ratelimit.hit(ctx, "new", limit=1, window=MINUTE)
    purged = await ratelimit.purge_rate_limits(ctx, older_than=ctx.now() - dt.timedelta(hours=1))
    assert purged == 1


# --- successes --------------------------------------------------------------------------------


async def test_a_full_session_resolves_to_the_patient_with_their_ins(
    ctx: ServiceContext, clock: Clock
) -> None:
    patient = await enrolled(ctx)
    clock.advance(seconds=30)
    result = await full_login(ctx, patient)
    info = await resolve_session(ctx, result.session_token)
    assert info is not None and info.stage is Stage.FULL
    assert isinstance(info.actor, Patient)
    assert info.actor.ins == str(patient.ins) == f"{patient.ins.oid}|{patient.ins.value}"
    assert info.expires_at == ctx.now() + dt.timedelta(hours=12)
    async with ctx.sessions() as session:
        hashes = (await session.execute(select(m.WebSession.token_hash))).scalars().all()
    assert result.session_token not in hashes  # only the SHA-256 is stored
    assert len(result.session_token) >= 43  # 32 random bytes
