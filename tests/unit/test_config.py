"""Settings are typed, read from ``OPENDMP_*`` and validated at start, every problem at once."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from opendmp.config import Mode, Settings, load_settings
from opendmp.domain.errors import ConfigurationError

GOOD_KEY = base64.b64encode(b"k" * 32).decode()
PG_URL = "postgresql+asyncpg://opendmp@db.example.org/opendmp"


@pytest.fixture(autouse=True)
def _no_opendmp_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' own environment (CI sets OPENDMP_TEST_DATABASE_URL…) must not leak in."""
    for name in list(os.environ):
        if name.startswith("OPENDMP_"):
            monkeypatch.delenv(name)


def refusal(**overrides: object) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as refused:
        load_settings(**overrides)
    assert refused.value.code == "invalid-configuration"
    return refused.value


# --- refusals -----------------------------------------------------------------------------


def test_an_unsafe_production_config_is_refused_with_every_problem_at_once() -> None:
    error = refusal(mode="production", debug=True)
    message = error.message
    assert "OPENDMP_MASTER_KEY" in message
    assert "OPENDMP_DEBUG" in message
    assert "TLS" in message
    assert "PostgreSQL" in message


def test_production_with_sqlite_is_refused() -> None:
    error = refusal(
        mode="production",
        master_key=GOOD_KEY,
        behind_tls_proxy=True,
        database_url="sqlite+aiosqlite:///x.db",
    )
    assert "PostgreSQL" in error.message
    assert "MASTER_KEY" not in error.message


def test_production_without_tls_is_refused() -> None:
    error = refusal(mode="production", master_key=GOOD_KEY, database_url=PG_URL)
    assert "TLS" in error.message


def test_production_without_a_master_key_is_refused() -> None:
    error = refusal(mode="production", behind_tls_proxy=True, database_url=PG_URL)
    assert "OPENDMP_MASTER_KEY" in error.message


def test_production_with_debug_is_refused() -> None:
    error = refusal(
        mode="production",
        master_key=GOOD_KEY,
        behind_tls_proxy=True,
        database_url=PG_URL,
        debug=True,
    )
    assert "OPENDMP_DEBUG" in error.message


def test_a_master_key_that_is_not_base64_is_refused() -> None:
    error = refusal(master_key="not base64 at all!")
    assert "master_key" in error.message
    assert "base64" in error.message


def test_a_master_key_that_is_not_32_bytes_is_refused() -> None:
    error = refusal(master_key=base64.b64encode(b"k" * 16).decode())
    assert "32 bytes" in error.message


def test_the_master_key_value_never_appears_in_the_error() -> None:
    secret = base64.b64encode(b"s" * 31).decode()
    assert secret not in refusal(master_key=secret).message


def test_a_tls_certificate_without_its_key_is_refused_in_every_mode(tmp_path: Path) -> None:
    error = refusal(tls_cert_file=tmp_path / "cert.pem")
    assert "go together" in error.message


def test_every_invalid_field_is_reported_together() -> None:
    error = refusal(port=0, log_level="loud", log_format="xml", master_key="@@@")
    for field in ("port", "log_level", "log_format", "master_key"):
        assert field in error.message


def test_a_bad_field_does_not_hide_the_production_problems() -> None:
    error = refusal(mode="production", debug=True, master_key="@@@")
    assert "master_key" in error.message
    assert "OPENDMP_DEBUG" in error.message
    assert "TLS" in error.message


def test_an_unknown_mode_is_refused() -> None:
    assert "mode" in refusal(mode="staging").message


def test_an_early_destruction_delay_above_three_months_is_refused() -> None:
    assert "early_destruction_days" in refusal(early_destruction_days=93).message


def test_a_bad_value_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDMP_MODE", "production")
    monkeypatch.setenv("OPENDMP_DEBUG", "true")
    error = refusal()
    assert "OPENDMP_DEBUG" in error.message
    assert "OPENDMP_MASTER_KEY" in error.message


# --- accepted -----------------------------------------------------------------------------


def test_the_defaults_are_a_valid_development_config() -> None:
    s = load_settings()
    assert isinstance(s, Settings)
    assert s.mode is Mode.DEVELOPMENT
    assert s.debug is False
    assert s.master_key is None
    assert s.retention_years == 10
    assert s.early_destruction_days == 90
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert s.effective_database_url.endswith("opendmp.db")
    assert s.base_url == "http://127.0.0.1:8080"


def test_the_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENDMP_HOME", str(tmp_path))
    monkeypatch.setenv("OPENDMP_PORT", "9443")
    monkeypatch.setenv("OPENDMP_LOG_LEVEL", "debug")
    monkeypatch.setenv("OPENDMP_RETENTION_YEARS", "20")
    monkeypatch.setenv("OPENDMP_MASTER_KEY", GOOD_KEY)
    s = load_settings()
    assert s.home == tmp_path
    assert s.port == 9443
    assert s.log_level == "DEBUG"
    assert s.retention_years == 20
    assert s.master_key == GOOD_KEY
    assert s.blob_dir == tmp_path / "blobs"
    assert s.key_dir == tmp_path / "keys"


def test_explicit_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDMP_PORT", "9443")
    assert load_settings(port=8000).port == 8000


def test_a_production_config_behind_a_tls_proxy_is_accepted() -> None:
    s = load_settings(
        mode="production", master_key=GOOD_KEY, behind_tls_proxy=True, database_url=PG_URL
    )
    assert s.mode is Mode.PRODUCTION
    assert s.effective_database_url == PG_URL


def test_a_production_config_with_tls_files_is_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENDMP_MODE", "production")
    monkeypatch.setenv("OPENDMP_MASTER_KEY", GOOD_KEY)
    monkeypatch.setenv("OPENDMP_DATABASE_URL", PG_URL)
    monkeypatch.setenv("OPENDMP_TLS_CERT_FILE", str(tmp_path / "cert.pem"))
    monkeypatch.setenv("OPENDMP_TLS_KEY_FILE", str(tmp_path / "key.pem"))
    monkeypatch.setenv("OPENDMP_PUBLIC_BASE_URL", "https://dmp.example.org/")
    s = load_settings()
    assert s.tls_cert_file == tmp_path / "cert.pem"
    assert s.base_url == "https://dmp.example.org"


def test_without_a_public_url_tls_gives_an_https_base_url(tmp_path: Path) -> None:
    s = load_settings(tls_cert_file=tmp_path / "c.pem", tls_key_file=tmp_path / "k.pem")
    assert s.base_url.startswith("https://")


@pytest.mark.parametrize(
    ("primary", "replica"),
    [
        (None, "postgresql+asyncpg://replica/db"),  # a replica of the SQLite default
        ("postgresql+asyncpg://primary/db", "sqlite+aiosqlite:///replica.db"),
    ],
)
def test_a_read_replica_is_a_postgresql_replica_of_postgresql(
    tmp_path: Path, primary: str | None, replica: str
) -> None:
    with pytest.raises(ConfigurationError, match="database_replica_url"):
        load_settings(home=tmp_path, database_url=primary, database_replica_url=replica)
    accepted = load_settings(
        home=tmp_path,
        database_url="postgresql+asyncpg://primary/db",
        database_replica_url="postgresql+asyncpg://replica/db",
    )
    assert accepted.database_replica_url == "postgresql+asyncpg://replica/db"


async def test_the_runtime_opens_the_replica_only_when_configured(tmp_path: Path) -> None:
    from opendmp.app import build_runtime

    primary = "postgresql+asyncpg://postgres@127.0.0.1:5432/primary"
    plain = build_runtime(load_settings(home=tmp_path, database_url=primary), create_key=True)
    assert plain.ctx.replica is None
    await plain.close()
    replica = "postgresql+asyncpg://postgres@127.0.0.1:5433/replica"
    both = build_runtime(
        load_settings(home=tmp_path, database_url=primary, database_replica_url=replica)
    )
    assert both.ctx.replica is not None
    assert str(both.ctx.replica.kw["bind"].url) == replica
    await both.close()
