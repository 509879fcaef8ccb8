"""Encryption at rest (docs/architecture.md §7): master key, wrapped data keys,
authenticated blobs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendmp.blobs import (
    BLOB_FORMAT_VERSION,
    MasterKey,
    decrypt_blob,
    encrypt_blob,
    load_or_create_master_key,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
    write_master_key,
)
from opendmp.domain.errors import IntegrityFailure, KeyFailure

DOC_ID = b"2f0c8a1e-5b7d-4c1a-9e3f-0d6b8a7c5e41"
OTHER_DOC_ID = b"9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
DATA_KEY = bytes(range(32))
CONTENT = b"<ClinicalDocument>compte rendu fictif</ClinicalDocument>"
SEALED = encrypt_blob(DATA_KEY, CONTENT, associated_data=DOC_ID)


# --- refusals: blobs ----------------------------------------------------------------------


@given(position=st.integers(0, len(SEALED) - 1), mask=st.integers(1, 255))
def test_a_blob_with_any_single_byte_flipped_is_refused(position: int, mask: int) -> None:
    tampered = bytearray(SEALED)
    tampered[position] ^= mask
    with pytest.raises(IntegrityFailure) as caught:
        decrypt_blob(DATA_KEY, bytes(tampered), associated_data=DOC_ID)
    assert caught.value.code == "blob-integrity"


@given(length=st.integers(0, len(SEALED) - 1))
def test_a_truncated_blob_is_refused(length: int) -> None:
    with pytest.raises(IntegrityFailure) as caught:
        decrypt_blob(DATA_KEY, SEALED[:length], associated_data=DOC_ID)
    assert caught.value.code == "blob-integrity"


def test_a_blob_read_as_another_document_is_refused() -> None:
    with pytest.raises(IntegrityFailure) as caught:
        decrypt_blob(DATA_KEY, SEALED, associated_data=OTHER_DOC_ID)
    assert caught.value.code == "blob-integrity"


def test_a_blob_decrypted_with_another_records_data_key_is_refused() -> None:
    with pytest.raises(IntegrityFailure):
        decrypt_blob(new_data_key(), SEALED, associated_data=DOC_ID)


def test_a_blob_with_an_unknown_format_version_is_refused() -> None:
    with pytest.raises(IntegrityFailure, match="format version"):
        decrypt_blob(DATA_KEY, b"\x02" + SEALED[1:], associated_data=DOC_ID)


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33])
def test_a_data_key_that_is_not_256_bits_is_refused(size: int) -> None:
    with pytest.raises(KeyFailure) as caught:
        encrypt_blob(b"k" * size, CONTENT, associated_data=DOC_ID)
    assert caught.value.code == "data-key-invalid"


# --- refusals: keys -----------------------------------------------------------------------


def test_unwrapping_with_the_wrong_master_key_is_refused_as_a_mismatch() -> None:
    wrapped = wrap_data_key(MasterKey.generate(), new_data_key())
    with pytest.raises(KeyFailure) as caught:
        unwrap_data_key(MasterKey.generate(), wrapped)
    assert caught.value.code == "master-key-mismatch"
    assert caught.value.message == (
        "the master key does not unwrap this record's data key (wrong or rotated master key?)"
    )


def test_a_wrapped_key_of_the_wrong_length_is_refused() -> None:
    master = MasterKey.generate()
    wrapped = wrap_data_key(master, new_data_key())
    with pytest.raises(KeyFailure) as caught:
        unwrap_data_key(master, wrapped[:-8])
    assert caught.value.code == "wrapped-key-invalid"


def test_a_missing_master_key_file_without_create_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFailure) as caught:
        load_or_create_master_key(tmp_path / "keys", create=False)
    assert caught.value.code == "master-key-missing"
    assert not (tmp_path / "keys").exists()


@pytest.mark.parametrize("text", ["not base64!", "AAAA", ""])
def test_a_master_key_that_is_not_32_bytes_of_base64_is_refused(text: str) -> None:
    with pytest.raises(KeyFailure) as caught:
        MasterKey.from_base64(text)
    assert caught.value.code == "master-key-invalid"


def test_a_master_key_never_shows_its_bytes_in_repr_or_key_id() -> None:
    key = MasterKey.generate()
    for shown in (repr(key), str(key), key.key_id):
        assert key.raw.hex() not in shown
        assert key.to_base64() not in shown
        assert key.raw.hex()[:16] not in shown
    assert key.key_id in repr(key)


# --- successes ----------------------------------------------------------------------------


@given(content=st.binary(max_size=4096), document_id=st.text(max_size=64))
def test_a_blob_round_trips_to_the_same_content(content: bytes, document_id: str) -> None:
    aad = document_id.encode()
    assert (
        decrypt_blob(
            DATA_KEY, encrypt_blob(DATA_KEY, content, associated_data=aad), associated_data=aad
        )
        == content
    )


def test_a_blob_is_version_then_nonce_then_ciphertext_then_tag() -> None:
    assert SEALED[0] == BLOB_FORMAT_VERSION
    assert len(SEALED) == 1 + 12 + len(CONTENT) + 16
    assert CONTENT not in SEALED


def test_the_same_content_encrypts_differently_each_time() -> None:
    first = encrypt_blob(DATA_KEY, CONTENT, associated_data=DOC_ID)
    second = encrypt_blob(DATA_KEY, CONTENT, associated_data=DOC_ID)
    assert first[1:13] != second[1:13]
    assert first != second


def test_data_keys_are_random_256_bit_keys() -> None:
    assert len(new_data_key()) == 32
    assert new_data_key() != new_data_key()


def test_a_data_key_round_trips_through_wrap_and_unwrap() -> None:
    master, data_key = MasterKey.generate(), new_data_key()
    wrapped = wrap_data_key(master, data_key)
    assert data_key not in wrapped
    assert unwrap_data_key(master, wrapped) == data_key


def test_rotation_rewraps_only_the_data_key_and_the_same_blob_still_decrypts() -> None:
    old_master, new_master, data_key = MasterKey.generate(), MasterKey.generate(), new_data_key()
    blob = encrypt_blob(data_key, CONTENT, associated_data=DOC_ID)
    wrapped_old = wrap_data_key(old_master, data_key)

    wrapped_new = wrap_data_key(new_master, unwrap_data_key(old_master, wrapped_old))

    assert wrapped_new != wrapped_old
    assert (
        decrypt_blob(unwrap_data_key(new_master, wrapped_new), blob, associated_data=DOC_ID)
        == CONTENT
    )
    with pytest.raises(KeyFailure):
        unwrap_data_key(old_master, wrapped_new)


def test_the_key_id_is_stable_short_and_distinct_per_key() -> None:
    key = MasterKey.generate()
    assert key.key_id == MasterKey(key.raw).key_id
    assert len(key.key_id) == 16
    assert int(key.key_id, 16) >= 0
    assert key.key_id != MasterKey.generate().key_id


def test_a_master_key_round_trips_through_base64() -> None:
    key = MasterKey.generate()
    assert MasterKey.from_base64(key.to_base64()) == key


def test_a_created_master_key_file_is_private_and_reloads_identically(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    created = load_or_create_master_key(key_dir, create=True)

    assert stat.S_IMODE(os.stat(key_dir / "master.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(key_dir).st_mode) == 0o700
    assert os.listdir(key_dir) == ["master.key"]
    assert load_or_create_master_key(key_dir, create=False) == created
    assert load_or_create_master_key(key_dir, create=True) == created


def test_writing_a_new_master_key_keeps_the_previous_one(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    old = load_or_create_master_key(key_dir, create=True)
    new = MasterKey.generate()

    write_master_key(key_dir, new)

    assert load_or_create_master_key(key_dir, create=False) == new
    previous = MasterKey.from_base64((key_dir / "master.key.previous").read_text())
    assert previous == old
    assert sorted(os.listdir(key_dir)) == ["master.key", "master.key.previous"]
    for name in os.listdir(key_dir):
        assert stat.S_IMODE(os.stat(key_dir / name).st_mode) == 0o600
