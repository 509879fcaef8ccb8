"""Encrypted document content: keys, authenticated encryption and blob storage.

Imports only the standard library, ``cryptography`` and ``opendmp.domain.errors``.
"""

from .crypto import BLOB_FORMAT_VERSION, decrypt_blob, encrypt_blob
from .keyring import Keyring, erase_orphans
from .keys import (
    MasterKey,
    erase_previous_master_key,
    load_or_create_master_key,
    new_data_key,
    read_previous_master_key,
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
    "Keyring",
    "MasterKey",
    "decrypt_blob",
    "encrypt_blob",
    "erase_orphans",
    "erase_previous_master_key",
    "load_or_create_master_key",
    "new_data_key",
    "read_previous_master_key",
    "unwrap_data_key",
    "validate_blob_key",
    "wrap_data_key",
    "write_master_key",
]
