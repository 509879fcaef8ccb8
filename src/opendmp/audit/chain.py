"""Canonical content and hashing of audit events.

Each event's hash is SHA-256 over a canonical JSON of every stored field except ``id`` and
``hash`` itself, including ``prev_hash``: changing any field of any event, deleting one or
reordering them breaks the chain at that point.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

GENESIS_HASH = "0" * 64
SYSTEM_CHAIN = "system"

HASHED_FIELDS = (
    "chain",
    "seq",
    "record_id",
    "time",
    "action",
    "outcome",
    "reason",
    "actor_kind",
    "actor_id",
    "actor_name",
    "actor_profession",
    "actor_organization",
    "access_mode",
    "target_document_id",
    "client_address",
    "details",
    "prev_hash",
)


def chain_of(record_id: uuid.UUID | None) -> str:
    return str(record_id) if record_id is not None else SYSTEM_CHAIN


def _canonical_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        # Normalised to UTC with microseconds: what both SQLite and PostgreSQL give back.
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def canonical_bytes(fields: Mapping[str, Any]) -> bytes:
    content = {name: _canonical_value(fields.get(name)) for name in HASHED_FIELDS}
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def event_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


def canonical_details(details: Mapping[str, Any] | None) -> str | None:
    """Details are stored as canonical JSON text so that their hash is stable."""
    if not details:
        return None
    return orjson.dumps(dict(details), option=orjson.OPT_SORT_KEYS).decode()
