"""Local ratings: a tombstone for a rating deleted here (the next ratings sync removes it from
Trakt when Trakt has it), and when Trakt answered that it does not know the item (not sent again
until re-rated).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ratingentry") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("not_found_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ratingentry") as batch:
        batch.drop_column("not_found_at")
        batch.drop_column("deleted_at")
