"""identity_registry: the local stand-in for the INSi identity service

Revision ID: 0006
Revises: 0005
Reviewed by hand: one new table, no data to migrate.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_registry",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ins_value", sa.String(length=15), nullable=False),
        sa.Column("ins_oid", sa.String(length=64), nullable=False),
        sa.Column("birth_name", sa.String(length=128), nullable=False),
        sa.Column("given_names", sa.String(length=255), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("birth_place_code", sa.String(length=5), nullable=True),
        sa.Column("vitale_serial", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_registry")),
        sa.UniqueConstraint("ins_value", name=op.f("uq_identity_registry_ins_value")),
    )


def downgrade() -> None:
    op.drop_table("identity_registry")
