"""Media servers and Plex accounts' own tokens (SPEC §12): plain repository functions.

Token columns hold ciphertexts made by the caller (``ctx.box``); nothing here sees plaintext.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from .models import MediaServer, ServerAccountToken, utcnow


def list_servers(
    session: Session, *, after: str | None = None, limit: int = 100
) -> Sequence[MediaServer]:
    """Servers in id order, from after ``after`` (the cursor)."""
    query = select(MediaServer).order_by(col(MediaServer.id)).limit(limit)
    if after:
        query = query.where(MediaServer.id > after)
    return session.exec(query).all()


def get_server(session: Session, *, server_id: str) -> MediaServer | None:
    return session.get(MediaServer, server_id)


def create_server(
    session: Session,
    *,
    kind: str,
    name: str,
    url: str,
    token_ciphertext: str,
    live: str,
    source: str = "dashboard",
) -> MediaServer:
    server = MediaServer(
        kind=kind, name=name, url=url, token=token_ciphertext, live=live, source=source
    )
    session.add(server)
    session.flush()
    return server


def delete_server(session: Session, *, server: MediaServer) -> None:
    """The server and its account tokens (also by cascade where foreign keys are enforced)."""
    for row in session.exec(
        select(ServerAccountToken).where(ServerAccountToken.server_id == server.id)
    ):
        session.delete(row)
    session.delete(server)
    session.flush()


def record_check(
    session: Session,
    *,
    server: MediaServer,
    state: str,
    server_name: str | None = None,
    version: str | None = None,
    server_uid: str | None = None,
    error: str | None = None,
    at: datetime | None = None,
) -> MediaServer:
    """Store the outcome of a check: ``ok`` refreshes what the server said about itself; a
    failure keeps the last known name and version and records the reason."""
    server.state = state
    server.last_error = error[:400] if error else None
    server.checked_at = at or utcnow()
    if state == "ok":
        server.server_name = server_name
        server.version = version
        server.server_uid = server_uid
    session.add(server)
    session.flush()
    return server


def yaml_servers(session: Session) -> Sequence[MediaServer]:
    query = select(MediaServer).where(MediaServer.source == "yaml").order_by(col(MediaServer.id))
    return session.exec(query).all()


def account_tokens(session: Session, *, server_id: str) -> dict[str, str]:
    """Account id → token ciphertext for one server."""
    rows = session.exec(select(ServerAccountToken).where(ServerAccountToken.server_id == server_id))
    return {row.account_id: row.token for row in rows}


def put_account_token(
    session: Session, *, server_id: str, account_id: str, token_ciphertext: str
) -> ServerAccountToken:
    row = session.get(ServerAccountToken, (server_id, account_id))
    if row is None:
        row = ServerAccountToken(server_id=server_id, account_id=account_id, token="")
    row.token = token_ciphertext
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


def delete_account_tokens(session: Session, *, server_id: str) -> None:
    """Forget every account token of a server (its URL or owner token changed hands)."""
    for row in session.exec(
        select(ServerAccountToken).where(ServerAccountToken.server_id == server_id)
    ):
        session.delete(row)
    session.flush()
