"""delegation: caregivers and a minor's second representative (docs/rules.md §3.7)

Revision ID: 0014_delegation
Revises: 0013_directory
Reviewed by hand: one per-record table keyed by (id, record_id), hash-partitioned by record
id on PostgreSQL into 16 partitions like the others (docs/database.md); plain on SQLite.

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_delegation"
down_revision: str | Sequence[str] | None = "0013_directory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTITIONS = 16


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "delegation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=True),
        sa.Column("rights", sa.String(length=64), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by_kind", sa.String(length=32), nullable=False),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invitation_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("caregiver_account_id", sa.Uuid(), nullable=True),
        sa.Column("caregiver_name", sa.String(length=255), nullable=True),
        sa.Column("representative_id", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["record.id"],
            name=op.f("fk_delegation_record_id_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["caregiver_account_id"],
            ["account.id"],
            name=op.f("fk_delegation_caregiver_account_id_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", "record_id", name=op.f("pk_delegation")),
        sa.UniqueConstraint(
            "code_hash", "record_id", name=op.f("uq_delegation_code_hash_record_id")
        ),
        postgresql_partition_by="HASH (record_id)",
    )
    if postgresql:
        for remainder in range(PARTITIONS):
            op.execute(
                f'CREATE TABLE "delegation_p{remainder:02d}" PARTITION OF "delegation" '
                f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {remainder})"
            )
    op.create_index(op.f("ix_delegation_record_id"), "delegation", ["record_id"])
    op.create_index(
        op.f("ix_delegation_caregiver_account_id"), "delegation", ["caregiver_account_id"]
    )


def downgrade() -> None:
    op.drop_table("delegation")
