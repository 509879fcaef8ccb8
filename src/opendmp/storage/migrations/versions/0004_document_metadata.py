"""document.version/extra, submission_set.entry_uuid/extra: FHIR metadata round trip

Revision ID: 0004
Revises: 0003
Reviewed by hand: nullable or defaulted columns, no data to migrate.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("extra", sa.Text(), nullable=True))
    with op.batch_alter_table("submission_set", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entry_uuid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("extra", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submission_set", schema=None) as batch_op:
        batch_op.drop_column("extra")
        batch_op.drop_column("entry_uuid")
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_column("extra")
        batch_op.drop_column("version")
