"""The KEK files (docs/security.md, crypto-shredding): erasure overwrites the key's bytes
in place, a cached KEK dies with its file, and only its master key unwraps it."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from opendmp.blobs import Keyring, MasterKey, erase_orphans, new_data_key
from opendmp.domain.errors import KeyFailure


def test_erasing_a_kek_overwrites_its_bytes_in_place_before_removing_it(tmp_path: Path) -> None:
    keyring, master = Keyring(tmp_path), MasterKey.generate()
    keyring.create(1, master)
    path = keyring.path(1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keyring.directory.stat().st_mode) == 0o700
    # A second name for the same inode sees what erasure did to the bytes themselves.
    witness = tmp_path / "witness"
    os.link(path, witness)
    size = witness.stat().st_size

    keyring.erase(1)

    assert not path.exists()
    assert witness.read_bytes() == b"\0" * size
    assert keyring.epochs() == []


def test_a_cached_kek_is_not_used_once_another_process_erased_its_file(tmp_path: Path) -> None:
    master = MasterKey.generate()
    server, cli = Keyring(tmp_path), Keyring(tmp_path)
    server.create(1, master)
    wrapped = server.wrap(1, [master], new_data_key())
    server.unwrap(wrapped, epoch=1, master_key_id=None, masters=[master])  # now cached

    cli.erase(1)

    with pytest.raises(KeyFailure) as gone:
        server.unwrap(wrapped, epoch=1, master_key_id=None, masters=[master])
    assert gone.value.code == "kek-missing"


def test_only_the_master_key_named_in_the_file_unwraps_a_kek(tmp_path: Path) -> None:
    keyring, master, other = Keyring(tmp_path), MasterKey.generate(), MasterKey.generate()
    keyring.create(3, master)
    with pytest.raises(KeyFailure) as refused:
        keyring.kek(3, [other])
    assert refused.value.code == "master-key-mismatch"
    assert master.to_base64() not in refused.value.message
    assert keyring.kek(3, [other, master]) == keyring.kek(3, [master])


def test_rewrapping_a_kek_under_a_new_master_keeps_the_kek(tmp_path: Path) -> None:
    keyring, old, new = Keyring(tmp_path), MasterKey.generate(), MasterKey.generate()
    keyring.create(1, old)
    kek = keyring.kek(1, [old])
    keyring.rewrap(1, [old], new)
    assert keyring.master_key_id(1) == new.key_id
    assert keyring.kek(1, [new]) == kek
    with pytest.raises(KeyFailure):
        keyring.kek(1, [old])


def test_a_temp_file_left_by_a_killed_write_is_erased_once_old(tmp_path: Path) -> None:
    keyring, master = Keyring(tmp_path), MasterKey.generate()
    keyring.create(1, master)
    left = keyring.directory / ".key.killed.tmp"
    left.write_bytes(keyring.path(1).read_bytes())  # a KEK copy a killed write left behind
    young = keyring.directory / ".key.in-progress.tmp"
    young.write_bytes(b"a write in progress")
    old = time.time() - 3600
    os.utime(left, (old, old))

    assert erase_orphans(keyring, keep=[1]) == []

    assert not left.exists()
    assert young.exists()
    assert keyring.epochs() == [1]
