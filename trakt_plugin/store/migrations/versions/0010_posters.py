"""Posters: Trakt's image of each item, downloaded once and served by the service.

One row per key an item is known by in the ledger (its ``item_key`` and the keys its other ids
would give); rows with the same URL share one downloaded file.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poster",
        sa.Column("item_key", sa.String(length=400), primary_key=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False, server_default="pending"),
        sa.Column("path", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_poster_state", "poster", ["state"])
    op.create_index("ix_poster_url", "poster", ["url"])


def downgrade() -> None:
    op.drop_index("ix_poster_url", table_name="poster")
    op.drop_index("ix_poster_state", table_name="poster")
    op.drop_table("poster")
