"""Patient credentials: generation, argon2id hashing, strength rules, one-time codes.

argon2id costs ~220 ms per hash with argon2-cffi's defaults (docs/architecture.md §2):
every hash and
verification runs in a worker thread so the event loop keeps serving other requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from opendmp.blobs import MasterKey
from opendmp.domain.errors import InvalidInput

# Human-friendly alphabets: no 0/O, 1/I/l, so a printed letter can be typed back.
# Login: 32 symbols, 10 chars = 50 bits. One-time password: 55 symbols, 12 chars ≈ 69 bits.
LOGIN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105
LOGIN_LENGTH = 10
ONE_TIME_PASSWORD_LENGTH = 12
MIN_PASSWORD_LENGTH = 12
# argon2 hashes any length, but an unbounded input is a cheap way to burn our CPU.
MAX_PASSWORD_LENGTH = 128
RESET_CODE_DIGITS = 8

# Production parameters are argon2-cffi's defaults (RFC 9106 "low memory" profile).
_hasher = PasswordHasher()
_dummy_hash: str | None = None


def configure_password_hasher(hasher: PasswordHasher | None) -> None:
    """Replace the hasher (tests use tiny parameters); ``None`` restores the defaults.

    Deliberately not a setting: a configuration typo must never weaken production hashes.
    """
    global _hasher, _dummy_hash
    _hasher = hasher or PasswordHasher()
    _dummy_hash = None


def _dummy() -> str:
    # A hash with the current parameters, verified for unknown logins so that they cost
    # the same time as a wrong password (no login enumeration by timing).
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hash


def new_login() -> str:
    return "".join(secrets.choice(LOGIN_ALPHABET) for _ in range(LOGIN_LENGTH))


def normalize_login(login: str) -> str:
    """What the patient typed, as stored: upper case, without spaces or dashes."""
    return "".join(c for c in login.upper() if c not in " -\t")[:64]


def new_one_time_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(ONE_TIME_PASSWORD_LENGTH))


def new_reset_code() -> str:
    return f"{secrets.randbelow(10**RESET_CODE_DIGITS):0{RESET_CODE_DIGITS}d}"


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Check ``password``; with ``stored=None`` (unknown login) verify a dummy, then fail."""
    if len(password) > MAX_PASSWORD_LENGTH:
        password = password[:MAX_PASSWORD_LENGTH]  # still verified: same cost, same answer
    return await asyncio.to_thread(_verify, stored, password)


def needs_rehash(stored: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def check_new_password(new: str, *, login: str, old: str | None = None) -> None:
    """The rules for a password the patient chooses; refusals name every problem."""
    problems: list[str] = []
    if len(new) < MIN_PASSWORD_LENGTH:
        problems.append(f"at least {MIN_PASSWORD_LENGTH} characters")
    if len(new) > MAX_PASSWORD_LENGTH:
        problems.append(f"at most {MAX_PASSWORD_LENGTH} characters")
    if normalize_login(new) == normalize_login(login):
        problems.append("different from the login")
    if old is not None and hmac.compare_digest(new.encode(), old.encode()):
        problems.append("different from the current password")
    if len(set(new)) < 4:
        problems.append("not one or two characters repeated")
    if problems:
        raise InvalidInput("the new password must be: " + ", ".join(problems), code="weak-password")


def _code_key(master: MasterKey) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"opendmp one-time code"
    ).derive(master.raw)


def hash_code(master: MasterKey, code_id: str, code: str) -> str:
    """Keyed hash of a short one-time code: 10^8 codes would be brute-forced in seconds
    from a plain SHA-256 found in a database dump; without the master key they cannot."""
    message = f"{code_id}:{code}".encode()
    return hmac.new(_code_key(master), message, hashlib.sha256).hexdigest()


def code_matches(master: MasterKey, code_id: str, code: str, stored: str) -> bool:
    return hmac.compare_digest(hash_code(master, code_id, code), stored)
