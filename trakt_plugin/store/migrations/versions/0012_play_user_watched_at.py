"""Stats: an index on the ledger by person and time, so a range of one person's plays is read
in order without scanning their whole history (SPEC §10 Stats, 100,000 plays).

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_play_user_watched_at", "play", ["user_id", "watched_at"])


def downgrade() -> None:
    op.drop_index("ix_play_user_watched_at", table_name="play")
