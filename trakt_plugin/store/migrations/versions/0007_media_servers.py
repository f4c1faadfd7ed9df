"""Media servers (SPEC §12): servers reached by URL and token, and Plex accounts' own tokens.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mediaserver",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("live", sa.String(16), nullable=False, server_default="webhook"),
        sa.Column("state", sa.String(16), nullable=False, server_default="unreachable"),
        sa.Column("server_name", sa.String(200), nullable=True),
        sa.Column("version", sa.String(100), nullable=True),
        sa.Column("server_uid", sa.String(200), nullable=True),
        sa.Column("last_error", sa.String(400), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False, server_default="dashboard"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_mediaserver_source", "mediaserver", ["source"])
    op.create_table(
        "serveraccounttoken",
        sa.Column(
            "server_id",
            sa.String(36),
            sa.ForeignKey("mediaserver.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("account_id", sa.String(100), primary_key=True),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("serveraccounttoken")
    op.drop_index("ix_mediaserver_source", "mediaserver")
    op.drop_table("mediaserver")
