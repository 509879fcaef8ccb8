"""What every use case needs, wired once by the composition root (app.py / cli/)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendmp.blobs import EncryptedBlobs, Keyring, MasterKey
from opendmp.domain.limits import RequestLimits
from opendmp.domain.matrix import AccessMatrix
from opendmp.domain.opt_out import OptOutRules
from opendmp.domain.records import RetentionRules
from opendmp.storage.uow import UnitOfWork


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class AuthRules:
    """Patient sign-in and portal session limits (from the settings; defaults = settings')."""

    session_idle: dt.timedelta = dt.timedelta(minutes=15)
    session_absolute: dt.timedelta = dt.timedelta(hours=12)
    login_rate_per_address: int = 10  # attempts per minute from one client address
    login_rate_per_account: int = 5  # attempts per minute on one login
    password_reset_rate: int = 3  # reset requests per hour for one login
    one_time_password_validity: dt.timedelta = dt.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class AccessRules:
    """Configurable parts of the access rules (docs/rules.md §3; values set by order)."""

    authorization_validity: dt.timedelta = dt.timedelta(days=365)
    emergency_access_duration: dt.timedelta = dt.timedelta(hours=24)
    delegation_invitation_validity: dt.timedelta = dt.timedelta(days=14)
    blocked_may_deposit: bool = True


@dataclass(frozen=True, slots=True)
class CredentialTrust:
    """What the auth layer trusts beyond the database (from the settings): the audience of
    assertions (``OPENDMP_TOKEN_AUDIENCE``) and the CAs of client and establishment
    certificates (``OPENDMP_CLIENT_CA_FILE``, ``OPENDMP_CLIENT_CRL_FILE``)."""

    audience: str = "opendmp"
    client_ca_file: Path | None = None
    client_crl_file: Path | None = None
    production: bool = False


def _default_matrix() -> AccessMatrix:
    from opendmp.services.core.matrix_loader import load_matrix

    return load_matrix()


@dataclass
class ServiceContext:
    sessions: async_sessionmaker[AsyncSession]
    blobs: EncryptedBlobs
    master_key: MasterKey
    # The key-encryption keys by epoch (docs/security.md, crypto-shredding).
    keyring: Keyring
    retention: RetentionRules = field(default_factory=RetentionRules)
    default_ins_oid: str = "1.2.250.1.213.1.4.8"
    accept_test_ins: bool = True
    clock: Callable[[], dt.datetime] = utcnow
    auth: AuthRules = field(default_factory=AuthRules)
    access: AccessRules = field(default_factory=AccessRules)
    matrix: AccessMatrix = field(default_factory=_default_matrix)
    base_url: str = "http://127.0.0.1:8080"
    # The master key an unfinished rotation replaced: still wraps some KEKs until it ends.
    previous_master_key: MasterKey | None = None
    limits: RequestLimits = field(default_factory=RequestLimits)
    trust: CredentialTrust = field(default_factory=CredentialTrust)
    opt_out: OptOutRules = field(default_factory=OptOutRules)
    # A PostgreSQL read replica for searches (storage/replica.py); None: the primary only.
    replica: async_sessionmaker[AsyncSession] | None = None

    def uow(self, *, read_only: bool = False, deferred_writes: bool = False) -> UnitOfWork:
        return UnitOfWork(self.sessions, read_only=read_only, deferred_writes=deferred_writes)

    def now(self) -> dt.datetime:
        return self.clock()
