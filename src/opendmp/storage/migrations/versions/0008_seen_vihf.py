"""seen_vihf: the replay register of VIHF assertions (XDS.b)

Revision ID: 0008
Revises: 0007
Reviewed by hand: one table, its expiry index (expired rows are purged on insert).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seen_vihf",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("structure", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_seen_vihf")),
    )
    with op.batch_alter_table("seen_vihf", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_vihf_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("seen_vihf", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_vihf_expires_at"))
    op.drop_table("seen_vihf")
