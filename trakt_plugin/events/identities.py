"""Whose event is it? SPEC §4: match a linked identity, else ``default_user``, else unlinked.

An event carries its sender's ids and name (``PlaybackEvent.user_external_ids``, id first).
A linked identity matching any of them (case-insensitively) names the user. Without one, the
configured ``default_user`` (a display name or a user id) takes the event; otherwise the identity
is recorded as unlinked (``identity.user_id`` NULL) so it can be listed and linked later. Every
matched or recorded identity counts the event (``events``, ``last_seen``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from ..store import repo
from ..store.models import Identity, User
from .model import PlaybackEvent


@dataclass(frozen=True)
class Owner:
    """The resolved owner of an event.

    ``key`` names the owner in session state and dedupe (the user id, or ``identity:<id>`` while
    the identity is unlinked, or ``anonymous:<source>`` for events naming no one).
    """

    key: str
    user_id: str | None
    identity_id: int | None


def lock_key(event: PlaybackEvent) -> str:
    """A key that is the same for every event of one sender, known before touching the store."""
    first = next(iter(event.user_external_ids), "")
    return f"{event.source}:{repo.match_key(first)}"


def _default_user(session: Session, default_user: str | None) -> User | None:
    if not default_user:
        return None
    user = session.get(User, default_user)
    if user is not None:
        return user
    wanted = default_user.strip().lower()
    query = select(User).where(func.lower(User.display_name) == wanted).order_by(col(User.id))
    return session.exec(query).first()


def _matching(session: Session, event: PlaybackEvent) -> list[Identity]:
    keys = [repo.match_key(value) for value in event.user_external_ids if value.strip()]
    if not keys:
        return []
    query = select(Identity).where(
        Identity.source == event.source, col(Identity.match_key).in_(keys)
    )
    found = {identity.match_key: identity for identity in session.exec(query).all()}
    return [found[key] for key in keys if key in found]


def resolve_owner(
    session: Session, event: PlaybackEvent, *, default_user: str | None, now: datetime
) -> Owner:
    """Resolve (and count) the event's sender inside the caller's write transaction."""
    matches = _matching(session, event)
    linked = next((identity for identity in matches if identity.user_id is not None), None)
    if linked is not None:
        _count(session, linked, event, now)
        assert linked.user_id is not None
        return Owner(linked.user_id, linked.user_id, linked.id)
    user = _default_user(session, default_user)
    if user is not None:
        return Owner(user.id, user.id, None)
    if not event.user_external_ids:
        return Owner(f"anonymous:{event.source}", None, None)
    identity = matches[0] if matches else _unlinked(session, event)
    _count(session, identity, event, now)
    return Owner(f"identity:{identity.id}", None, identity.id)


def _unlinked(session: Session, event: PlaybackEvent) -> Identity:
    external_id = event.user_external_ids[0].strip()
    identity = Identity(
        source=event.source,
        external_id=external_id[:200],
        match_key=repo.match_key(external_id)[:200],
        name=(event.user_name or None) and str(event.user_name)[:200],
    )
    session.add(identity)
    session.flush()
    return identity


def _count(session: Session, identity: Identity, event: PlaybackEvent, now: datetime) -> None:
    identity.events = (identity.events or 0) + 1
    identity.last_seen = now
    if not identity.name and event.user_name:
        identity.name = event.user_name[:200]
    session.add(identity)
