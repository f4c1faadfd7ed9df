"""Enrichment: metadata cache (items + id aliases), per-user Trakt caches, VIP lists, play runtime.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("play", sa.Column("runtime", sa.Integer(), nullable=True))

    op.create_table(
        "metadataitem",
        sa.Column("key", sa.String(60), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("trakt_id", sa.BigInteger(), nullable=True),
        sa.Column("title", sa.String(400), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("ids", sa.Text(), nullable=False),
        sa.Column("runtime", sa.Integer(), nullable=True),
        sa.Column("show", sa.Text(), nullable=True),
        sa.Column("season", sa.Integer(), nullable=True),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("ids_fetched_at", sa.DateTime(), nullable=False),
        sa.Column("ratings", sa.Text(), nullable=True),
        sa.Column("ratings_fetched_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "metadataalias",
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("id_type", sa.String(8), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
        sa.Column(
            "item_key",
            sa.String(60),
            sa.ForeignKey("metadataitem.key", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_index("ix_metadataalias_item_key", "metadataalias", ["item_key"])

    op.create_table(
        "traktusercache",
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("user.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
    )

    op.create_table(
        "traktlist",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "user_id", sa.String(36), sa.ForeignKey("user.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("trakt_id", sa.BigInteger(), nullable=False),
        sa.Column("slug", sa.String(200), nullable=True),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("privacy", sa.String(20), nullable=True),
        sa.Column("item_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "trakt_id", name="uq_traktlist_user_trakt"),
    )
    op.create_index("ix_traktlist_user_id", "traktlist", ["user_id"])

    op.create_table(
        "traktlistitem",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "list_id",
            sa.Integer(),
            sa.ForeignKey("traktlist.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("rank", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("listed_at", sa.DateTime(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
    )
    op.create_index("ix_traktlistitem_list_id", "traktlistitem", ["list_id"])


def downgrade() -> None:
    op.drop_index("ix_traktlistitem_list_id", "traktlistitem")
    op.drop_table("traktlistitem")
    op.drop_index("ix_traktlist_user_id", "traktlist")
    op.drop_table("traktlist")
    op.drop_table("traktusercache")
    op.drop_index("ix_metadataalias_item_key", "metadataalias")
    op.drop_table("metadataalias")
    op.drop_table("metadataitem")
    with op.batch_alter_table("play") as batch:
        batch.drop_column("runtime")
