"""opt_out_announcement: the beneficiaries told that a DMP will open unless they object

Revision ID: 0012_optout
Revises: 0011
Reviewed by hand: one new table (not per-record: no record exists while announced), no data
to migrate.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_optout"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "opt_out_announcement",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ins_value", sa.String(length=15), nullable=False),
        sa.Column("ins_oid", sa.String(length=64), nullable=False),
        sa.Column("birth_name", sa.String(length=128), nullable=False),
        sa.Column("given_names", sa.String(length=255), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("notice_channel", sa.String(length=16), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opposition_channel", sa.String(length=16), nullable=True),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opt_out_announcement")),
        sa.UniqueConstraint("ins_value", name=op.f("uq_opt_out_announcement_ins_value")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_opt_out_announcement_code_digest")),
    )
    op.create_index(
        op.f("ix_opt_out_announcement_status"), "opt_out_announcement", ["status"], unique=False
    )
    op.create_index(
        op.f("ix_opt_out_announcement_opens_at"),
        "opt_out_announcement",
        ["opens_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_opt_out_announcement_opens_at"), table_name="opt_out_announcement")
    op.drop_index(op.f("ix_opt_out_announcement_status"), table_name="opt_out_announcement")
    op.drop_table("opt_out_announcement")
