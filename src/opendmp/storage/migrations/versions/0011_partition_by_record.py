"""per-record tables hash-partitioned by record id (PostgreSQL; docs/database.md)

Revision ID: 0011
Revises: 0010
Reviewed by hand. On PostgreSQL each per-record table becomes a table partitioned by
``HASH (record_id)`` into 16 partitions ``<table>_p00`` … ``<table>_p15``, in this one
transaction: create the partitioned table like the old one, its partitions, copy the rows,
drop the old table, take its name, then recreate its keys, indexes and foreign keys. A
partitioned table's primary key and unique constraints must include the partition key, so
they gain ``record_id`` (and the foreign keys to them name it too). ``audit_event`` keeps
its system events (no record id): its id is unique with NULLS NOT DISTINCT instead of a
primary key, and (chain, seq, record_id) unique with NULLs distinct (the events not chained
yet have no seq: migration 0009). On SQLite nothing changes (one file, no partitions; its
keys, stricter than PostgreSQL's, stay). The downgrade reverses all of it.

"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTITIONS = 16
RECORD_FK = ("record_id", "record", "id", "CASCADE")


class Keys(NamedTuple):
    """The keys of a table in one of the two shapes (plain or partitioned)."""

    primary: tuple[str, ...] | None
    # name suffix -> (columns, nulls not distinct)
    unique: dict[str, tuple[tuple[str, ...], bool]] = {}  # noqa: RUF012 (never mutated)
    # (columns, referred table, referred columns, on delete)
    foreign: tuple[tuple[str, str, str, str | None], ...] = ()


class Table(NamedTuple):
    name: str
    indexes: dict[str, tuple[str, ...]]
    plain: Keys
    partitioned: Keys
    sequence: str | None = None
    # name -> (columns, WHERE condition): partial indexes
    partial: dict[str, tuple[tuple[str, ...], str]] = {}  # noqa: RUF012 (never mutated)


def _fks(*extra: tuple[str, str, str, str | None]) -> tuple[tuple[str, str, str, str | None], ...]:
    return (RECORD_FK, *extra)


def _simple(name: str, *extra: tuple[str, str, str, str | None]) -> Table:
    """A table with an ``id`` key, an index on ``record_id`` and foreign keys only."""
    return Table(
        name,
        {f"ix_{name}_record_id": ("record_id",)},
        Keys(("id",), foreign=_fks(*extra)),
        Keys(("id", "record_id"), foreign=_fks(*extra)),
    )


PRO = ("professional_id", "professional", "id", None)
ORG = ("organization_id", "organization", "id", None)
# Order matters: submission_set before document (document refers to it).
TABLES = (
    _simple("consent"),
    _simple("representative", ("account_id", "account", "id", "SET NULL")),
    Table(
        "authorization",
        {"ix_authorization_record_id": ("record_id",)},
        Keys(
            ("id",),
            {
                "record_id_professional_id_organization_id": (
                    ("record_id", "professional_id", "organization_id"),
                    False,
                )
            },
            _fks(ORG, PRO),
        ),
        Keys(
            ("id", "record_id"),
            {
                "record_id_professional_id_organization_id": (
                    ("record_id", "professional_id", "organization_id"),
                    False,
                )
            },
            _fks(ORG, PRO),
        ),
    ),
    Table(
        "treating_doctor",
        {},
        Keys(("record_id", "professional_id"), foreign=_fks(PRO)),
        Keys(("record_id", "professional_id"), foreign=_fks(PRO)),
    ),
    _simple("emergency_access", PRO),
    Table(
        "submission_set",
        {"ix_submission_set_record_id": ("record_id",)},
        Keys(("id",), {"record_id_unique_id": (("record_id", "unique_id"), False)}, _fks()),
        Keys(
            ("id", "record_id"),
            {"record_id_unique_id": (("record_id", "unique_id"), False)},
            _fks(),
        ),
    ),
    Table(
        "document",
        {
            "ix_document_record_id": ("record_id",),
            "ix_document_record_listing": ("record_id", "status", "service_start"),
            "ix_document_record_deposited": ("record_id", "deposited_at", "id"),
            "ix_document_record_creation": ("record_id", "creation_time", "id"),
        },
        Keys(
            ("id",),
            {
                "record_id_unique_id": (("record_id", "unique_id"), False),
                "entry_uuid": (("entry_uuid",), False),
            },
            _fks(
                ("author_organization_id", "organization", "id", None),
                ("author_professional_id", "professional", "id", None),
                ("replaces_id", "document", "id", None),
                ("submission_set_id", "submission_set", "id", None),
            ),
        ),
        Keys(
            ("id", "record_id"),
            {
                "record_id_unique_id": (("record_id", "unique_id"), False),
                "entry_uuid_record_id": (("entry_uuid", "record_id"), False),
            },
            _fks(
                ("author_organization_id", "organization", "id", None),
                ("author_professional_id", "professional", "id", None),
                ("replaces_id,record_id", "document", "id,record_id", None),
                ("submission_set_id,record_id", "submission_set", "id,record_id", None),
            ),
        ),
    ),
    Table(
        "audit_event",
        {"ix_audit_event_record_time": ("record_id", "time")},
        Keys(("id",), {"chain_seq": (("chain", "seq"), False)}),
        Keys(
            None,
            {
                "id_record_id": (("id", "record_id"), True),
                "chain_seq_record_id": (("chain", "seq", "record_id"), False),
            },
        ),
        sequence="audit_event_id_seq",
        partial={"ix_audit_event_unchained": (("chain", "id"), "seq IS NULL")},
    ),
    Table(
        "matrix_narrowing",
        {},
        Keys(("record_id", "profession", "specialty", "category"), foreign=_fks()),
        Keys(("record_id", "profession", "specialty", "category"), foreign=_fks()),
    ),
)


def _columns(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _add_keys(table: Table, keys: Keys) -> None:
    name = table.name
    if keys.primary:
        op.execute(
            f'ALTER TABLE "{name}" ADD CONSTRAINT "pk_{name}" PRIMARY KEY ({_columns(keys.primary)})'
        )
    for suffix, (columns, nulls_not_distinct) in keys.unique.items():
        nulls = " NULLS NOT DISTINCT" if nulls_not_distinct else ""
        op.execute(
            f'ALTER TABLE "{name}" ADD CONSTRAINT "uq_{name}_{suffix}" '
            f"UNIQUE{nulls} ({_columns(columns)})"
        )
    for index, columns in table.indexes.items():
        op.execute(f'CREATE INDEX "{index}" ON "{name}" ({_columns(columns)})')
    for index, (columns, where) in table.partial.items():
        op.execute(f'CREATE INDEX "{index}" ON "{name}" ({_columns(columns)}) WHERE {where}')
    for local, referred, referred_columns, on_delete in keys.foreign:
        first = local.split(",")[0]
        action = f" ON DELETE {on_delete}" if on_delete else ""
        op.execute(
            f'ALTER TABLE "{name}" ADD CONSTRAINT "fk_{name}_{first}_{referred}" '
            f"FOREIGN KEY ({_columns(local.split(','))}) "
            f'REFERENCES "{referred}" ({_columns(referred_columns.split(","))}){action}'
        )


def _rebuild(table: Table, keys: Keys, *, partitioned: bool) -> None:
    """Recreate ``table`` (rows kept) plain or partitioned by record id, with ``keys``."""
    name, new = table.name, f"{table.name}_rebuilt"
    partition_by = " PARTITION BY HASH (record_id)" if partitioned else ""
    op.execute(
        f'CREATE TABLE "{new}" (LIKE "{name}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        f"{partition_by}"
    )
    if partitioned:
        for remainder in range(PARTITIONS):
            op.execute(
                f'CREATE TABLE "{name}_p{remainder:02d}" PARTITION OF "{new}" '
                f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {remainder})"
            )
    # Table names from TABLES above, never from input.
    op.execute(f'INSERT INTO "{new}" SELECT /* global: migration */ * FROM "{name}"')  # noqa: S608
    if table.sequence:
        op.execute(f'ALTER SEQUENCE "{table.sequence}" OWNED BY NONE')
    # CASCADE drops the foreign keys of other tables to this one; they are recreated with
    # their own table (document's, after submission_set's).
    op.execute(f'DROP TABLE "{name}" CASCADE')
    op.execute(f'ALTER TABLE "{new}" RENAME TO "{name}"')
    if table.sequence:
        op.execute(f'ALTER SEQUENCE "{table.sequence}" OWNED BY "{name}".id')
    _add_keys(table, keys)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        _rebuild(table, table.partitioned, partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        _rebuild(table, table.plain, partitioned=False)
