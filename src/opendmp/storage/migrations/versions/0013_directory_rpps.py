"""professional: what the RPPS extract says (services/directory/rpps.py)

Revision ID: 0013_directory
Revises: 0012_optout
Reviewed by hand: columns added to ``professional`` (not partitioned: the directory), all
nullable or with a default, so existing rows stay valid; three indexes on the folded family
name from its first, second and third word, bytewise-ordered (``COLLATE "C"``) on PostgreSQL so that a prefix is a range of it.
Rows registered before this migration have empty search keys: only the rows an import lists
are searched, and the import writes their keys.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_directory"
down_revision: str | Sequence[str] | None = "0012_optout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_KEY = sa.String(length=128).with_variant(sa.String(length=128, collation="C"), "postgresql")

# The folded family name from its first, second and third word ("le gall" is found by "le"
# and by "gall").
KEYS = ("family_key", "family_key_2", "family_key_3")


def upgrade() -> None:
    with op.batch_alter_table("professional") as table:
        table.add_column(sa.Column("listing_id", sa.Uuid(), nullable=True))
        table.add_column(sa.Column("listed_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        table.add_column(sa.Column("town", sa.String(length=128), nullable=True))
        table.add_column(sa.Column("postal_code", sa.String(length=16), nullable=True))
        for key in KEYS:
            table.add_column(sa.Column(key, SEARCH_KEY, nullable=False, server_default=""))
        table.add_column(
            sa.Column("name_key", sa.String(length=255), nullable=False, server_default="")
        )
        table.add_column(
            sa.Column("place_key", sa.String(length=512), nullable=False, server_default="")
        )
    for key in KEYS:
        op.create_index(f"ix_professional_{key}", "professional", [key])


def downgrade() -> None:
    for key in KEYS:
        op.drop_index(f"ix_professional_{key}", table_name="professional")
    with op.batch_alter_table("professional") as table:
        for column in (
            "place_key",
            "name_key",
            *KEYS,
            "postal_code",
            "town",
            "active",
            "listed_at",
            "listing_id",
        ):
            table.drop_column(column)
