"""Authenticated encryption of document content (docs/architecture.md §7).

Stored format, version 1::

    version (1 byte = 0x01) || nonce (12 bytes) || ciphertext || tag (16 bytes)

AES-256-GCM under the record's data key. The associated data is the document id, so a
blob copied under another document's key (same record, same data key) fails to decrypt
instead of silently showing the wrong document. The version byte is authenticated too
(it is prepended to the associated data), so it cannot be swapped without detection.

Nonces are random (96 bits). With one data key per record, a key encrypts at most a few
thousand documents, far below the 2**32 messages per key NIST SP 800-38D allows for
random nonces.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opendmp.domain.errors import IntegrityFailure, KeyFailure

__all__ = ["BLOB_FORMAT_VERSION", "BLOB_OVERHEAD", "decrypt_blob", "encrypt_blob"]

BLOB_FORMAT_VERSION = 1
_VERSION = bytes([BLOB_FORMAT_VERSION])
NONCE_BYTES = 12
TAG_BYTES = 16
BLOB_OVERHEAD = len(_VERSION) + NONCE_BYTES + TAG_BYTES
_DATA_KEY_BYTES = 32


def _cipher(data_key: bytes) -> AESGCM:
    # AESGCM would also accept 128- and 192-bit keys; the design says 256.
    if len(data_key) != _DATA_KEY_BYTES:
        raise KeyFailure(
            f"a data key must be exactly {_DATA_KEY_BYTES} bytes", code="data-key-invalid"
        )
    return AESGCM(data_key)


def encrypt_blob(data_key: bytes, plaintext: bytes, *, associated_data: bytes) -> bytes:
    """Encrypt ``plaintext``; ``associated_data`` is the document id as bytes."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher(data_key).encrypt(nonce, plaintext, _VERSION + associated_data)
    return _VERSION + nonce + sealed


def decrypt_blob(data_key: bytes, blob: bytes, *, associated_data: bytes) -> bytes:
    """Return the plaintext, or raise ``IntegrityFailure`` — never unauthenticated bytes."""
    cipher = _cipher(data_key)
    if len(blob) < BLOB_OVERHEAD:
        raise IntegrityFailure("the stored document is truncated", code="blob-integrity")
    if blob[:1] != _VERSION:
        # An unknown version is treated as damage: this code cannot vouch for the content.
        raise IntegrityFailure(
            "the stored document has an unknown format version", code="blob-integrity"
        )
    nonce = blob[1 : 1 + NONCE_BYTES]
    sealed = blob[1 + NONCE_BYTES :]
    try:
        return cipher.decrypt(nonce, sealed, _VERSION + associated_data)
    except InvalidTag:
        raise IntegrityFailure(
            "the stored document failed its integrity check (altered, or not this document)",
            code="blob-integrity",
        ) from None
