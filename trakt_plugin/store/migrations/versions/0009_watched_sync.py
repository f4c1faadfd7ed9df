"""The ``watched`` sync kind: the server a run is limited to, and its counts.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COUNTS = ("marked", "unmarked", "already", "not_in_library", "unmatched", "not_writable")


def upgrade() -> None:
    with op.batch_alter_table("syncrun") as batch:
        batch.add_column(sa.Column("server_id", sa.String(length=36), nullable=True))
        for name in COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("syncrun") as batch:
        for name in reversed(COUNTS):
            batch.drop_column(name)
        batch.drop_column("server_id")
