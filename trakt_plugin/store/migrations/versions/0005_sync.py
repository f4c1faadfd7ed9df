"""Sync: runs, per-item outcomes, last-activities markers, local watchlist and ratings;
``play`` gains its export state and the index that matches plays by item and time.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _user_fk() -> sa.ForeignKey:
    return sa.ForeignKey("user.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "syncrun",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), _user_fk(), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(12), nullable=False, server_default="queued"),
        sa.Column("trigger", sa.String(16), nullable=False, server_default="api"),
        sa.Column("undo_of", sa.String(36), nullable=True),
        sa.Column("steps", sa.Text(), nullable=False, server_default="[]"),
        *(
            sa.Column(name, sa.Integer(), nullable=False, server_default="0")
            for name in (
                "imported",
                "added",
                "removed",
                "skipped",
                "not_found",
                "requests",
                "progress_done",
                "progress_total",
            )
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("checkpoint", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_syncrun_status", "syncrun", ["status"])
    op.create_index("ix_syncrun_user_created", "syncrun", ["user_id", "created_at"])

    op.create_table(
        "syncrunitem",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "run_id",
            sa.String(36),
            sa.ForeignKey("syncrun.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("detail", sa.String(200), nullable=True),
        sa.Column("play_id", sa.Integer(), nullable=True),
        sa.Column("trakt_id", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_syncrunitem_run_id", "syncrunitem", ["run_id"])

    op.create_table(
        "syncmarker",
        sa.Column("user_id", sa.String(36), _user_fk(), primary_key=True),
        sa.Column("kind", sa.String(12), primary_key=True),
        sa.Column("marker", sa.Text(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
    )

    op.create_table(
        "watchlistentry",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(36), _user_fk(), nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("item_key", sa.String(400), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("trakt_list_id", sa.BigInteger(), nullable=True),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("hold", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_watchlistentry_user_key", "watchlistentry", ["user_id", "item_key"])

    op.create_table(
        "ratingentry",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(36), _user_fk(), nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("item_key", sa.String(400), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("rated_at", sa.DateTime(), nullable=False),
        sa.Column("synced", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_ratingentry_user_key", "ratingentry", ["user_id", "item_key"])

    # play: export state (None = still to export unless it has a Trakt history id), the run that
    # added it (for read-back and undo), and the indexes matching and de-duplication use.
    with op.batch_alter_table("play") as batch:
        batch.add_column(sa.Column("sync_state", sa.String(12), nullable=True))
        batch.add_column(sa.Column("sync_run_id", sa.String(36), nullable=True))
    op.create_index("ix_play_user_item_time", "play", ["user_id", "item_key", "watched_at"])
    op.create_index("ix_play_user_history", "play", ["user_id", "trakt_history_id"])
    op.create_index("ix_play_sync_run", "play", ["sync_run_id"])


def downgrade() -> None:
    for name in ("ix_play_sync_run", "ix_play_user_history", "ix_play_user_item_time"):
        op.drop_index(name, "play")
    with op.batch_alter_table("play") as batch:
        batch.drop_column("sync_run_id")
        batch.drop_column("sync_state")
    op.drop_index("ix_ratingentry_user_key", "ratingentry")
    op.drop_table("ratingentry")
    op.drop_index("ix_watchlistentry_user_key", "watchlistentry")
    op.drop_table("watchlistentry")
    op.drop_table("syncmarker")
    op.drop_index("ix_syncrunitem_run_id", "syncrunitem")
    op.drop_table("syncrunitem")
    op.drop_index("ix_syncrun_user_created", "syncrun")
    op.drop_index("ix_syncrun_status", "syncrun")
    op.drop_table("syncrun")
