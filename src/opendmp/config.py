"""Settings: one typed object, read from ``OPENDMP_*`` variables, validated at start.

Every problem is reported at once (pydantic collects them all), and production refuses the
unsafe combinations: no master key, debug on, or plain HTTP without TLS.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from opendmp.blobs.select import parse_blob_store_url
from opendmp.domain.errors import ConfigurationError
from opendmp.domain.limits import RequestLimits

_LIMITS = RequestLimits()  # the defaults of the OPENDMP_MAX_* bounds


class CreationMode(StrEnum):
    """How records are opened (docs/rules.md §2): on express consent only, or also by
    opt-out (announced, opened unless the person objects within the objection period)."""

    CONSENT = "consent"
    OPT_OUT = "opt-out"


class Mode(StrEnum):
    DEVELOPMENT = "development"
    DEMO = "demo"
    PRODUCTION = "production"


class OidcIssuerConfig(BaseModel):
    """One trusted OpenID Connect issuer (Pro Santé Connect-like) of professional tokens."""

    issuer: str
    audience: str
    jwks_file: Path | None = None
    jwks_url: str | None = None


class Settings(BaseSettings):
    """OpenDMP configuration. Each field is ``OPENDMP_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="OPENDMP_", extra="ignore")

    mode: Mode = Mode.DEVELOPMENT
    home: Path = Field(default=Path("./var"), description="data folder: database, blobs, keys")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<home>/opendmp.db",
    )
    database_replica_url: str | None = Field(
        default=None,
        description="PostgreSQL read replica for document searches (docs/database.md)",
    )
    master_key: str | None = Field(
        default=None,
        description="base64 of the 32-byte master key; default: read <home>/keys/master.key",
    )
    debug: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_base_url: str | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    behind_tls_proxy: bool = Field(
        default=False, description="TLS is terminated by a reverse proxy in front of OpenDMP"
    )
    retention_years: int = Field(default=10, ge=1, le=100)
    access_matrix_file: Path | None = Field(
        default=None, description="official access matrix (CSV or JSON); default: OpenDMP's"
    )
    authorization_validity_days: int = Field(default=365, ge=1, le=3650)
    emergency_access_hours: int = Field(default=24, ge=1, le=168)
    delegation_invitation_days: int = Field(
        default=14, ge=1, le=90, description="how long a caregiver's invitation can be accepted"
    )
    blocked_may_deposit: bool = True
    max_request_bytes: int = Field(
        default=_LIMITS.max_request_bytes, ge=1024, description="largest request body (413 above)"
    )
    max_bundle_entries: int = Field(
        default=_LIMITS.max_bundle_entries, ge=3, description="entries of one ITI-65 Bundle"
    )
    max_documents_per_submission: int = Field(
        default=_LIMITS.max_documents, ge=1, description="documents of one submission"
    )
    max_document_bytes: int = Field(
        default=_LIMITS.max_document_bytes, ge=1024, description="one document, decoded (413)"
    )
    max_search_values: int = Field(
        default=_LIMITS.max_search_values, ge=1, description="values of one search parameter"
    )
    max_patch_operations: int = Field(
        default=_LIMITS.max_patch_operations, ge=1, description="operations of one PATCH"
    )
    default_source_id: str = Field(
        default="1.2.250.1.213.1.1.9",
        pattern=r"^[0-2](\.(0|[1-9][0-9]*))+$",
        description="SubmissionSet sourceId (OID) for ITI-105 when the actor has no structure",
    )
    xds_repository_unique_id: str = Field(
        default="2.25.207034460579154002476695028633456281945",
        pattern=r"^[0-2](\.(0|[1-9][0-9]*))+$",
        description="the XDS.b repositoryUniqueId OpenDMP answers to (ITI-43, ITI-18 metadata)",
    )
    early_destruction_days: int = Field(default=90, ge=0, le=92)
    creation_mode: CreationMode = CreationMode.CONSENT
    opt_out_objection_days: int = Field(
        default=42, ge=1, le=365, description="days to object before an announced DMP opens"
    )
    blob_grace_seconds: int = Field(default=3600, ge=0)
    # Where blobs live (blobs/select.py): file:///path or s3://bucket/prefix; default <home>/blobs.
    blob_store: str | None = None
    s3_endpoint_url: str | None = Field(default=None, pattern=r"^https?://")
    s3_region: str | None = None
    key_rotation_batch: int = Field(
        default=500, ge=1, le=100_000, description="data keys re-wrapped per transaction"
    )
    run_worker_in_process: bool = True
    db_pool_size: int = Field(default=10, ge=1, le=200)
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = Field(
        default="json", description="log lines: one JSON object each, or text for a terminal"
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP relay for notifications")
    smtp_port: int = Field(default=8025, ge=1, le=65535)
    smtp_sender: str = Field(
        default="OpenDMP <no-reply@opendmp.localhost>", description="From: of notifications"
    )
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    worker_interval_seconds: float = Field(default=5, gt=0, le=3600)
    outbox_lease_seconds: int = Field(
        default=300, ge=2, le=3600, description="how long a worker holds the messages it sends"
    )
    # How often the worker chains the audit events requests inserted (docs/security.md,
    # "The audit trail"); ``opendmp audit verify`` fails on one left unchained over 60 s.
    audit_sequencer_interval_seconds: float = Field(default=0.2, gt=0, le=10)
    session_idle_minutes: int = Field(default=15, ge=1, le=240)
    session_absolute_hours: int = Field(default=12, ge=1, le=168)
    cookie_secure: bool = Field(
        default=True,
        description="portal cookies carry Secure; false only for development over plain http",
    )
    login_rate_per_minute: int = Field(
        default=10, ge=1, description="sign-in attempts per minute from one client address"
    )
    login_rate_per_account_per_minute: int = Field(
        default=5, ge=1, description="sign-in attempts per minute on one login"
    )
    password_reset_rate_per_hour: int = Field(
        default=3, ge=1, description="password-reset e-mails per hour for one login"
    )
    # Authentication of professionals and establishments (auth/).
    client_ca_file: Path | None = Field(
        default=None, description="PEM bundle of the CAs trusted for client certificates"
    )
    client_crl_file: Path | None = Field(
        default=None, description="CRL(s) of those CAs, PEM or DER, re-read when it changes"
    )
    client_cert_header: str | None = Field(
        default=None,
        description="header carrying the proxy-verified client certificate (URL-encoded PEM)",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "addresses/CIDRs of the reverse proxies (comma separated): the only peers whose "
            "client_cert_header and X-Forwarded-For/-Proto are believed"
        ),
    )
    oidc_issuers: list[OidcIssuerConfig] = Field(
        default_factory=list, description="JSON list of {issuer, audience, jwks_file|jwks_url}"
    )
    dev_issuer: bool = Field(
        default=False, description="built-in development token issuer (always on in demo)"
    )
    token_audience: str = Field(
        default="opendmp", description="audience of dev-issuer tokens and establishment assertions"
    )
    assertion_header: str = "X-DMP-Assertion"

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        # "10.0.0.1, 10.1.0.0/16" from the environment; a JSON list is accepted too.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def dev_issuer_enabled(self) -> bool:
        """The development issuer runs in demo mode, or on request outside production."""
        if self.mode is Mode.PRODUCTION:
            return False
        return self.dev_issuer or self.mode is Mode.DEMO

    @model_validator(mode="after")
    def _production_is_safe(self) -> Self:
        # Field checks live here too, not in field validators: pydantic skips "after"
        # validators when any field fails, which would hide the production problems.
        self.log_level = self.log_level.upper()
        problems = self._field_problems()
        if self.mode is Mode.PRODUCTION:
            problems += self._production_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _master_key_problems(self) -> list[str]:
        if self.master_key is None:
            return []
        try:
            raw = base64.b64decode(self.master_key, validate=True)
        except (binascii.Error, ValueError):
            return ["master_key must be base64"]
        if len(raw) != 32:
            return [f"master_key must decode to 32 bytes, got {len(raw)}"]
        return []

    def _field_problems(self) -> list[str]:
        """What is wrong with the settings in any mode."""
        problems = self._master_key_problems()
        if self.blob_store is not None:
            try:
                parse_blob_store_url(self.blob_store)
            except ValueError as exc:
                problems.append(f"blob_store: {exc}")
        if self.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            problems.append("log_level must be DEBUG, INFO, WARNING or ERROR")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            problems.append("tls_cert_file and tls_key_file go together")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                problems.append(f"trusted_proxies: {proxy!r} is not an IP address or CIDR")
        problems += self.request_limits.problems()
        if self.database_replica_url and not (
            self.database_replica_url.startswith("postgresql")
            and (self.database_url or "").startswith("postgresql")
        ):
            problems.append("database_replica_url: a PostgreSQL replica of a PostgreSQL database")
        if self.client_cert_header and not self.trusted_proxies:
            problems.append("client_cert_header needs OPENDMP_TRUSTED_PROXIES")
        for entry in self.oidc_issuers:
            if (entry.jwks_file is None) == (entry.jwks_url is None):
                problems.append(f"oidc issuer {entry.issuer}: give one of jwks_file or jwks_url")
        return problems

    def _production_problems(self) -> list[str]:
        """What production refuses on top of :meth:`_field_problems`."""
        refusals = {
            "production refuses OPENDMP_DEV_ISSUER=true": self.dev_issuer,
            "production needs OPENDMP_MASTER_KEY (no key file in production)": (
                self.master_key is None
            ),
            "production refuses OPENDMP_DEBUG=true": self.debug,
            "production refuses OPENDMP_COOKIE_SECURE=false": not self.cookie_secure,
            "production needs TLS: OPENDMP_TLS_CERT_FILE/OPENDMP_TLS_KEY_FILE "
            "or OPENDMP_BEHIND_TLS_PROXY=true": (
                self.tls_cert_file is None and not self.behind_tls_proxy
            ),
            "production needs a PostgreSQL OPENDMP_DATABASE_URL": (
                self.database_url is None or self.database_url.startswith("sqlite")
            ),
        }
        return [problem for problem, refused in refusals.items() if refused]

    @property
    def request_limits(self) -> RequestLimits:
        return RequestLimits(
            max_request_bytes=self.max_request_bytes,
            max_bundle_entries=self.max_bundle_entries,
            max_documents=self.max_documents_per_submission,
            max_document_bytes=self.max_document_bytes,
            max_search_values=self.max_search_values,
            max_patch_operations=self.max_patch_operations,
        )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home.resolve() / 'opendmp.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def key_dir(self) -> Path:
        return self.home / "keys"

    @property
    def base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        scheme = "https" if self.tls_cert_file else "http"
        return f"{scheme}://{self.host}:{self.port}"


def _describe(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {msg}" if where != "settings" else msg)
    return lines


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning every problem into one readable error.

    Field errors stop pydantic before the cross-field (production) checks, so on failure a
    second pass replaces the bad fields by their defaults to collect those problems too.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = _describe(exc)
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        if bad:
            defaults = {name: Settings.model_fields[name].default for name in bad}
            try:
                Settings(**{**overrides, **defaults})
            except ValidationError as second:
                lines += [line for line in _describe(second) if line not in lines]
        raise ConfigurationError(
            "invalid configuration: " + " | ".join(lines), code="invalid-configuration"
        ) from None
