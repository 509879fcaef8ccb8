"""patient_matrix: the patient's own narrowing of the access matrix (docs/rules.md §3.6)

Revision ID: 0010
Revises: 0008
Reviewed by hand: one per-record table keyed by (record_id, profession, specialty, category).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "matrix_narrowing",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("profession", sa.String(length=8), nullable=False),
        sa.Column("specialty", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("narrowed_by_kind", sa.String(length=32), nullable=False),
        sa.Column("narrowed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["record.id"],
            name=op.f("fk_matrix_narrowing_record_id_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "record_id", "profession", "specialty", "category", name=op.f("pk_matrix_narrowing")
        ),
    )


def downgrade() -> None:
    op.drop_table("matrix_narrowing")
