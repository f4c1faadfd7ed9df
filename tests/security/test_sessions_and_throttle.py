"""Session lifetimes and the global attempt limit, on a real store (SPEC §11)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from trakt_plugin.security.sessions import SessionStore, _hash
from trakt_plugin.security.throttle import MAX_FAILURES_OVERALL, AttemptGuard
from trakt_plugin.store.models import DashboardSession, LoginAttempt, utcnow


@pytest.fixture
def engine(store_engine: Engine) -> Engine:
    return store_engine  # SQLite or PostgreSQL (TRAKT_PLUGIN_TEST_DB), migrated


def _age(engine: Engine, session_id: str, *, created: timedelta, seen: timedelta) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(DashboardSession, _hash(session_id))
        assert row is not None
        row.created_at = utcnow() - created
        row.last_seen_at = utcnow() - seen
        session.add(row)


def test_sessions_end_when_idle_too_long_or_too_old(engine: Engine) -> None:
    store = SessionStore(engine, lambda: 0)
    fresh, idle, old = (store.redeem_ticket(store.issue_ticket(0)) for _ in range(3))
    assert fresh and idle and old
    _age(engine, fresh, created=timedelta(days=6), seen=timedelta(hours=11))
    _age(engine, idle, created=timedelta(hours=13), seen=timedelta(hours=13))
    _age(engine, old, created=timedelta(days=8), seen=timedelta(minutes=1))
    assert store.is_valid(fresh)
    assert not store.is_valid(idle)
    assert not store.is_valid(old)
    store.end(fresh)
    assert not store.is_valid(fresh)


def test_tickets_are_single_use_and_bound_to_the_password_epoch(engine: Engine) -> None:
    epoch = [3]
    store = SessionStore(engine, lambda: epoch[0])
    ticket = store.issue_ticket(3)
    session_id = store.redeem_ticket(ticket)
    assert session_id and store.is_valid(session_id)
    assert store.redeem_ticket(ticket) is None
    stale = store.issue_ticket(3)
    epoch[0] = 4  # the password changed meanwhile
    assert store.redeem_ticket(stale) is None
    assert not store.is_valid(session_id)
    assert not store.is_valid("not-a-session") and not store.is_valid(None)


def test_failures_from_many_addresses_hit_the_overall_limit(engine: Engine) -> None:
    guard = AttemptGuard(engine)

    async def run() -> list[str]:
        outcomes = []
        for n in range(MAX_FAILURES_OVERALL + 2):
            verdict = await guard.check(f"192.0.2.{n}", lambda: False)
            outcomes.append(verdict.outcome)
        outcomes.append((await guard.check("198.51.100.1", lambda: True)).outcome)
        return outcomes

    outcomes = asyncio.run(run())
    assert outcomes[:MAX_FAILURES_OVERALL] == ["wrong"] * MAX_FAILURES_OVERALL
    assert set(outcomes[MAX_FAILURES_OVERALL:]) == {"throttled"}


def test_old_attempts_stop_counting_and_are_purged(engine: Engine) -> None:
    guard = AttemptGuard(engine)
    with Session(engine) as session, session.begin():
        for _ in range(5):
            session.add(
                LoginAttempt(
                    client="192.0.2.1", outcome="failed", at=utcnow() - timedelta(minutes=6)
                )
            )
    verdict = asyncio.run(guard.check("192.0.2.1", lambda: True))
    assert verdict.ok
    with Session(engine) as session:
        assert len(session.exec(select(LoginAttempt)).all()) == 1
