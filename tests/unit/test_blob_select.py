"""``OPENDMP_BLOB_STORE`` and the S3 settings: validated at start with the other settings,
then turned into a store by ``blobs/select.py`` (docs/architecture.md §7)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from opendmp.blobs import FilesystemBlobStore
from opendmp.blobs.s3 import S3BlobStore
from opendmp.blobs.select import open_blob_store
from opendmp.config import load_settings
from opendmp.domain.errors import ConfigurationError


@pytest.fixture(autouse=True)
def _no_opendmp_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OPENDMP_"):
            monkeypatch.delenv(name)


def test_by_default_blobs_are_files_under_the_home(tmp_path: Path) -> None:
    store = open_blob_store(load_settings(home=tmp_path))
    assert isinstance(store, FilesystemBlobStore)
    assert store.root == tmp_path / "blobs"


def test_a_file_url_names_another_folder(tmp_path: Path) -> None:
    store = open_blob_store(load_settings(home=tmp_path, blob_store="file:///srv/opendmp%20blobs"))
    assert isinstance(store, FilesystemBlobStore)
    assert store.root == Path("/srv/opendmp blobs")


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://dmp-blobs/opendmp/prod", "dmp-blobs", "opendmp/prod/"),
        ("s3://dmp-blobs/opendmp/", "dmp-blobs", "opendmp/"),
        ("s3://dmp.blobs.example", "dmp.blobs.example", ""),
    ],
)
def test_an_s3_url_names_a_bucket_and_a_prefix_reached_as_the_settings_say(
    monkeypatch: pytest.MonkeyPatch, url: str, bucket: str, prefix: str
) -> None:
    monkeypatch.setenv("OPENDMP_BLOB_STORE", url)
    monkeypatch.setenv("OPENDMP_S3_ENDPOINT_URL", "https://s3.hds.example")
    monkeypatch.setenv("OPENDMP_S3_REGION", "fr-par")
    store = open_blob_store(load_settings())
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == (bucket, prefix)
    assert (store.endpoint_url, store.region) == ("https://s3.hds.example", "fr-par")


@pytest.mark.parametrize(
    "url",
    [
        "/var/lib/opendmp/blobs",  # a bare path: say file:///
        "file://relative/blobs",
        "ftp://example.org/blobs",
        "s3://",
        "s3://Upper_Case/blobs",
        "s3://ab/blobs",
        "s3://dmp-blobs/../escape",
        "s3://dmp-blobs/a b",
        "s3://dmp-blobs/blobs?versionId=1",
    ],
)
def test_a_blob_store_url_that_names_no_store_is_refused_at_start(url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings(blob_store=url)
    assert refused.value.code == "invalid-configuration"
    assert "blob_store" in refused.value.message


def test_the_blob_store_problem_is_told_with_the_others() -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings(blob_store="ftp://x/y", s3_endpoint_url="s3.example", log_level="LOUD")
    message = refused.value.message
    assert "blob_store" in message
    assert "s3_endpoint_url" in message
    assert "log_level" in message
