"""Posters: one index on (url, state) instead of url alone. With two single-column indexes SQLite
chose the state one for "this URL's pending rows", reading every pending row for each finished
download (a 15,000-item import's posters cost more CPU than the import).

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_poster_url", table_name="poster")
    op.create_index("ix_poster_url_state", "poster", ["url", "state"])


def downgrade() -> None:
    op.drop_index("ix_poster_url_state", table_name="poster")
    op.create_index("ix_poster_url", "poster", ["url"])
