"""Indexes for document search paging and the daily access-notification check

Revision ID: 0005
Revises: 0004
Reviewed by hand: indexes only, no data to migrate.

- ``ix_document_record_deposited`` (record_id, deposited_at, id): the default ITI-67 order
  (``-date``) and its keyset condition, plus the snapshot bound on ``deposited_at``.
- ``ix_document_record_creation`` (record_id, creation_time, id): the ``creation`` order.
- ``ix_outbox_record_kind_created`` (record_id, kind, created_at): "was this patient already
  told of this professional's access today?", asked on every read by a professional.

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.create_index(
            "ix_document_record_deposited", ["record_id", "deposited_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_document_record_creation", ["record_id", "creation_time", "id"], unique=False
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_record_kind_created", ["record_id", "kind", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_record_kind_created")
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_index("ix_document_record_creation")
        batch_op.drop_index("ix_document_record_deposited")
