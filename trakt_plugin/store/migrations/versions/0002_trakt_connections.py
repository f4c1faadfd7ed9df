"""Trakt connections (encrypted tokens) and pending OAuth redirect states.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "traktconnection",
        sa.Column(
            "user_id", sa.String(36), sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("state", sa.String(20), nullable=False, server_default="disconnected"),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("token_created_at", sa.DateTime(), nullable=True),
        sa.Column("expires_in", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("username", sa.String(200), nullable=True),
        sa.Column("slug", sa.String(200), nullable=True),
        sa.Column("vip", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("vip_ep", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("vip_og", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("vip_checked_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "oauthstate",
        sa.Column("state", sa.String(100), primary_key=True),
        sa.Column(
            "user_id", sa.String(36), sa.ForeignKey("user.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("oauthstate")
    op.drop_table("traktconnection")
