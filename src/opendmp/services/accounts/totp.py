"""TOTP second factor (RFC 6238, 30 s steps, 6 digits) and the secret's encryption.

The secret is encrypted with AES-256-GCM under the *record's data key* (associated data:
the account id) rather than under a key derived from the master key: master-key rotation
re-wraps data keys only (docs/architecture.md §7), so the secret survives a rotation untouched, and
destroying the record shreds it with everything else.
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid

import pyotp

from opendmp.blobs import decrypt_blob, encrypt_blob

ISSUER = "OpenDMP"
STEP_SECONDS = 30
VALID_WINDOW = 1  # one step either side: tolerates 30 s of clock drift on the phone


def _associated(account_id: uuid.UUID) -> bytes:
    return b"opendmp totp:" + account_id.bytes


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, login: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=ISSUER)


def encrypt_secret(key: bytes, account_id: uuid.UUID, secret: str) -> bytes:
    """Seal ``secret`` under the record's data ``key``."""
    return encrypt_blob(key, secret.encode("ascii"), associated_data=_associated(account_id))


def decrypt_secret(key: bytes, account_id: uuid.UUID, sealed: bytes) -> str:
    return decrypt_blob(key, sealed, associated_data=_associated(account_id)).decode("ascii")


def matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step whose code is ``code`` (within ±``VALID_WINDOW``), or None.

    pyotp's ``verify(code, valid_window=1)`` answers only yes or no; the step is needed
    to refuse a code used before, so the same window is checked here step by step.
    """
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    found = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        # Check every step (no early exit) so the timing says nothing about which matched.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found
