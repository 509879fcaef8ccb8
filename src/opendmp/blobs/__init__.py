"""Encrypted document content: keys, authenticated encryption and blob storage.

Imports only the standard library, ``cryptography`` and ``opendmp.domain.errors``.
"""

from .crypto import BLOB_FORMAT_VERSION, decrypt_blob, encrypt_blob
from .keys import (
    MasterKey,
    load_or_create_master_key,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
    write_master_key,
)
from .store import BlobStore, EncryptedBlobs, FilesystemBlobStore, validate_blob_key

__all__ = [
    "BLOB_FORMAT_VERSION",
    "BlobStore",
    "EncryptedBlobs",
    "FilesystemBlobStore",
    "MasterKey",
    "decrypt_blob",
    "encrypt_blob",
    "load_or_create_master_key",
    "new_data_key",
    "unwrap_data_key",
    "validate_blob_key",
    "wrap_data_key",
    "write_master_key",
]
