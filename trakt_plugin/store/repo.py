"""Plain repository functions: keyword-only, each takes an open session and does one thing.

Callers own the transaction (``with Session(engine) as s, s.begin(): ...``) so that several
writes can be committed together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from .models import AppSecret, AppSetting, Identity, Play, TraktConnection, User, utcnow

# ---------------------------------------------------------------- users


def create_user(session: Session, *, display_name: str) -> User:
    user = User(display_name=display_name)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session, *, after: str | None = None, limit: int = 100) -> Sequence[User]:
    query = select(User).order_by(col(User.id))
    if after:
        query = query.where(col(User.id) > after)
    return session.exec(query.limit(limit)).all()


def get_user(session: Session, *, user_id: str) -> User | None:
    return session.get(User, user_id)


def delete_user(session: Session, *, user: User) -> None:
    for identity in identities_of(session, user_id=user.id):
        session.delete(identity)
    connection = session.get(TraktConnection, user.id)
    if connection is not None:
        session.delete(connection)
    session.delete(user)


# ---------------------------------------------------------------- identities


def match_key(external_id: str) -> str:
    return external_id.strip().lower()


def identities_of(session: Session, *, user_id: str) -> Sequence[Identity]:
    query = select(Identity).where(Identity.user_id == user_id).order_by(col(Identity.id))
    return session.exec(query).all()


def find_identity(session: Session, *, source: str, external_id: str) -> Identity | None:
    query = select(Identity).where(
        Identity.source == source, Identity.match_key == match_key(external_id)
    )
    return session.exec(query).first()


def link_identity(
    session: Session, *, user_id: str, source: str, external_id: str, name: str | None = None
) -> Identity:
    """Link (or re-link) ``(source, external_id)`` to a user; an unlinked row is adopted.

    Servers that send both an id and a name (Jellyfin, Emby) record an unknown sender under its
    id, with the name beside it. Linking by that name adopts those unlinked rows too, so the
    plays they collected become the user's history as well.
    """
    identity = find_identity(session, source=source, external_id=external_id)
    if identity is None:
        identity = Identity(
            source=source, external_id=external_id.strip(), match_key=match_key(external_id)
        )
    identity.user_id = user_id
    identity.name = name or identity.name
    session.add(identity)
    session.flush()
    same_name = select(Identity).where(
        Identity.source == source,
        col(Identity.user_id).is_(None),
        func.lower(Identity.name) == match_key(external_id),
    )
    adopted = [identity, *session.exec(same_name).all()]
    for row in adopted[1:]:
        row.user_id = user_id
        session.add(row)
    # Plays recorded while an identity was unlinked become this user's history (SPEC §4);
    # the next sync exports them.
    session.execute(
        update(Play)
        .where(
            col(Play.identity_id).in_([row.id for row in adopted]),
            col(Play.user_id).is_(None),
        )
        .values(user_id=user_id)
    )
    return identity


def unlinked_identities(
    session: Session, *, limit: int = 100, offset: int = 0
) -> Sequence[Identity]:
    query = (
        select(Identity)
        .where(col(Identity.user_id).is_(None))
        .order_by(col(Identity.last_seen).desc(), col(Identity.id))
        .offset(offset)
        .limit(limit)
    )
    return session.exec(query).all()


# ---------------------------------------------------------------- settings and secrets


def saved_settings(session: Session) -> dict[str, Any]:
    rows = session.exec(select(AppSetting).where(col(AppSetting.key).startswith("setting:"))).all()
    return {row.key.removeprefix("setting:"): json.loads(row.value) for row in rows}


def save_setting(session: Session, *, key: str, value: Any) -> None:
    put_state(session, key=f"setting:{key}", value=value)


def get_state(session: Session, *, key: str) -> Any:
    row = session.get(AppSetting, key)
    return None if row is None else json.loads(row.value)


def put_state(session: Session, *, key: str, value: Any) -> None:
    row = session.get(AppSetting, key) or AppSetting(key=key, value="null")
    row.value = json.dumps(value)
    row.updated_at = utcnow()
    session.add(row)


def get_secret(session: Session, *, name: str) -> str | None:
    """The stored ciphertext (decrypt with the SecretBox)."""
    row = session.get(AppSecret, name)
    return None if row is None else row.ciphertext


def put_secret(session: Session, *, name: str, ciphertext: str) -> None:
    row = session.get(AppSecret, name) or AppSecret(name=name, ciphertext=ciphertext)
    row.ciphertext = ciphertext
    row.updated_at = utcnow()
    session.add(row)
