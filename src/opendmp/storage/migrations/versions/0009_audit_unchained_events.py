"""audit_unchained_events: a request inserts its audit event unchained, a sequencer chains it

Revision ID: 0009
Revises: 0008
Reviewed by hand (docs/security.md, "The audit trail"): no data to migrate, every existing
event is chained.

- ``audit_event.seq``, ``prev_hash``, ``hash`` become nullable: NULL until the sequencer
  (audit/sequencer.py) chains the event.
- ``audit_event.inserted_at`` (not hashed): the node's wall clock at insertion, so that
  ``opendmp audit verify`` can flag an event left unchained too long.
- ``ix_audit_event_unchained`` (chain, id) WHERE seq IS NULL: the sequencer's work list,
  empty but for the last fraction of a second.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNCHAINED = sa.text("seq IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inserted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=True)
        batch_op.create_index(
            "ix_audit_event_unchained",
            ["chain", "id"],
            unique=False,
            postgresql_where=UNCHAINED,
            sqlite_where=UNCHAINED,
        )


def downgrade() -> None:
    # Only a fully chained trail can go back: run the sequencer (the server, or
    # ``opendmp worker``) first; NOT NULL refuses the downgrade otherwise.
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_unchained")
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("inserted_at")
