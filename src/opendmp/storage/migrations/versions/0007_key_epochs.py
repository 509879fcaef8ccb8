"""key_epochs: records' data keys wrapped by key-encryption keys by epoch

Revision ID: 0007
Revises: 0006
Reviewed by hand: one column (NULL = still wrapped by the master key directly; the
application moves those rows to epoch 1, see opendmp.services.core.keys), one table
with its single row.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kek_epoch", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_record_kek_epoch"), ["kek_epoch"], unique=False)
    key_state = op.create_table(
        "key_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("current_epoch", sa.Integer(), nullable=False),
        sa.Column("shredded_upto", sa.Integer(), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_state")),
    )
    op.bulk_insert(key_state, [{"id": 1, "current_epoch": 0, "shredded_upto": 0}])


def downgrade() -> None:
    op.drop_table("key_state")
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_kek_epoch"))
        batch_op.drop_column("kek_epoch")
