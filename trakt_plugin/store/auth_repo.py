"""Dashboard sessions and login attempts (plain functions; callers own the transaction)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from .models import DashboardSession, LoginAttempt, utcnow

COUNTED = ("pending", "failed")  # an attempt counts as a failure until it is known to be right


# ---------------------------------------------------------------- login attempts


def count_failures(session: Session, *, since: datetime, client: str | None = None) -> int:
    query = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(col(LoginAttempt.outcome).in_(COUNTED), col(LoginAttempt.at) >= since)
    )
    if client is not None:
        query = query.where(LoginAttempt.client == client)
    return int(session.exec(query).one())


def oldest_failure(
    session: Session, *, since: datetime, client: str | None = None
) -> datetime | None:
    query = select(func.min(LoginAttempt.at)).where(
        col(LoginAttempt.outcome).in_(COUNTED), col(LoginAttempt.at) >= since
    )
    if client is not None:
        query = query.where(LoginAttempt.client == client)
    return session.exec(query).one()


def add_attempt(session: Session, *, client: str) -> int:
    attempt = LoginAttempt(client=client, outcome="pending")
    session.add(attempt)
    session.flush()
    assert attempt.id is not None
    return attempt.id


def settle_attempt(session: Session, *, attempt_id: int, ok: bool) -> None:
    attempt = session.get(LoginAttempt, attempt_id)
    if attempt is not None:
        attempt.outcome = "ok" if ok else "failed"
        session.add(attempt)


def purge_attempts(session: Session, *, before: datetime) -> None:
    session.exec(delete(LoginAttempt).where(col(LoginAttempt.at) < before))


# ---------------------------------------------------------------- sessions


def add_session(session: Session, *, id_hash: str, password_epoch: int) -> None:
    now = utcnow()
    session.add(
        DashboardSession(
            id_hash=id_hash, password_epoch=password_epoch, created_at=now, last_seen_at=now
        )
    )


def get_session(session: Session, *, id_hash: str) -> DashboardSession | None:
    return session.get(DashboardSession, id_hash)


def delete_session(session: Session, *, id_hash: str) -> None:
    session.exec(delete(DashboardSession).where(col(DashboardSession.id_hash) == id_hash))


def delete_all_sessions(session: Session) -> None:
    session.exec(delete(DashboardSession))


def purge_sessions(session: Session, *, created_before: datetime, seen_before: datetime) -> None:
    session.exec(
        delete(DashboardSession).where(
            (col(DashboardSession.created_at) < created_before)
            | (col(DashboardSession.last_seen_at) < seen_before)
        )
    )
