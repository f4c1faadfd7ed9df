"""Posters found by a history import, staged with each page (one row per page) and turned into
``poster`` rows after the run: recording them row by row inside the import took a third of a
60,000-play import's time, and the downloads wait for the run's end anyway.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "posterfound",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("found", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("posterfound")
