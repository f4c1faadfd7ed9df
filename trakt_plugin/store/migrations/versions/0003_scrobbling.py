"""Scrobbling: webhook events, playback sessions, the play ledger, the outbox, rejected bodies.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhookevent",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("identity_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("raw_kind", sa.String(60), nullable=False),
        sa.Column("media_type", sa.String(16), nullable=False),
        sa.Column("session_key", sa.String(400), nullable=False),
        sa.Column("item_key", sa.String(400), nullable=False),
        sa.Column("title", sa.String(400), nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
        sa.Column("event_json", sa.Text(), nullable=False),
    )
    op.create_index("ix_webhookevent_received_at", "webhookevent", ["received_at"])
    op.create_index("ix_webhookevent_user_id", "webhookevent", ["user_id"])
    op.create_index("ix_webhookevent_body_hash", "webhookevent", ["body_hash"])

    op.create_table(
        "playbacksession",
        sa.Column("owner", sa.String(60), primary_key=True),
        sa.Column("session_key", sa.String(400), primary_key=True),
        sa.Column("item_key", sa.String(400), nullable=False),
        sa.Column("state_json", sa.Text(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("title", sa.String(400), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("new_playback_at", sa.DateTime(), nullable=True),
        sa.Column("last_event_at", sa.DateTime(), nullable=True),
        sa.Column("open", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_index("ix_playbacksession_item_key", "playbacksession", ["item_key"])
    op.create_index("ix_playbacksession_last_event_at", "playbacksession", ["last_event_at"])
    op.create_index("ix_playbacksession_open", "playbacksession", ["open"])

    op.create_table(
        "play",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "user_id", sa.String(36), sa.ForeignKey("user.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("identity_id", sa.Integer(), nullable=True),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("item_key", sa.String(400), nullable=False),
        sa.Column("watched_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("trakt_history_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_play_user_id", "play", ["user_id"])
    op.create_index("ix_play_identity_id", "play", ["identity_id"])
    op.create_index("ix_play_item_key", "play", ["item_key"])

    op.create_table(
        "scrobble",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "user_id", sa.String(36), sa.ForeignKey("user.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, server_default="pending"),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("item_key", sa.String(400), nullable=False),
        sa.Column("session_key", sa.String(400), nullable=False),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("event_time", sa.DateTime(), nullable=False),
        sa.Column("watched_at", sa.DateTime(), nullable=True),
        sa.Column("completion", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("play_id", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("first_failed_at", sa.DateTime(), nullable=True),
        sa.Column("parked_at", sa.DateTime(), nullable=True),
        sa.Column("ambiguous", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("ident", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("trakt_history_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_scrobble_status", "scrobble", ["status"])
    op.create_index("ix_scrobble_user_status", "scrobble", ["user_id", "status", "id"])
    # A later event of a session supersedes its unsent start/pause calls: find them directly.
    op.create_index("ix_scrobble_session_status", "scrobble", ["session_key", "status"])

    op.create_table(
        "rejecteddelivery",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("content_type", sa.String(200), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rejecteddelivery")
    op.drop_index("ix_scrobble_session_status", "scrobble")
    op.drop_index("ix_scrobble_user_status", "scrobble")
    op.drop_index("ix_scrobble_status", "scrobble")
    op.drop_table("scrobble")
    for name in ("ix_play_item_key", "ix_play_identity_id", "ix_play_user_id"):
        op.drop_index(name, "play")
    op.drop_table("play")
    for name in (
        "ix_playbacksession_open",
        "ix_playbacksession_last_event_at",
        "ix_playbacksession_item_key",
    ):
        op.drop_index(name, "playbacksession")
    op.drop_table("playbacksession")
    for name in (
        "ix_webhookevent_body_hash",
        "ix_webhookevent_user_id",
        "ix_webhookevent_received_at",
    ):
        op.drop_index(name, "webhookevent")
    op.drop_table("webhookevent")
