"""Dashboard security: sessions and login attempts live in the store (restarts keep them).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboardsession",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("password_epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "loginattempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_loginattempt_at", "loginattempt", ["at"])
    op.create_index("ix_loginattempt_client_at", "loginattempt", ["client", "at"])


def downgrade() -> None:
    op.drop_index("ix_loginattempt_client_at", "loginattempt")
    op.drop_index("ix_loginattempt_at", "loginattempt")
    op.drop_table("loginattempt")
    op.drop_table("dashboardsession")
