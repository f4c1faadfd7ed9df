"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(bind: Connection | Engine) -> Any:
    """The dialect's ``insert`` (both have ``on_conflict_do_nothing`` / ``_do_update``)."""
    return postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
