"""Everything a running service shares, built once by the composition root (``app.py``).

Holds the effective settings, the database engine, the secret box, the generated tokens and the
admin-password check. Routes and pages receive it explicitly; nothing else is global.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from . import __version__
from .config import LoadedSettings, Settings, load_settings
from .crypto import (
    SecretBox,
    generate_token,
    hash_password,
    load_key_material,
    same_secret,
    verify_password,
)
from .store import repo
from .store.engine import make_engine, migrate

log = logging.getLogger(__name__)

ADMIN_HASH_KEY = "admin_password_hash"
# Login throttling: this many failures per client inside the window locks it out for the rest.
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_SECONDS = 300.0
SAVED_SECRET_SETTINGS = ("client_secret",)


class LoginThrottle:
    """Counts failed logins per client address in a sliding window."""

    def __init__(
        self, max_failures: int = LOGIN_MAX_FAILURES, window: float = LOGIN_WINDOW_SECONDS
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures

    def retry_after(self, client: str) -> float:
        """Seconds the client must wait; 0 when it may try."""
        now = time.monotonic()
        failures = self._recent(client, now)
        if len(failures) < self.max_failures:
            return 0.0
        return max(0.0, self.window - (now - failures[0]))

    def attempts_left(self, client: str) -> int:
        return max(0, self.max_failures - len(self._recent(client, time.monotonic())))

    def failed(self, client: str) -> None:
        self._recent(client, time.monotonic()).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class AppContext:
    """The running service's shared state."""

    loaded: LoadedSettings
    engine: Engine
    box: SecretBox
    api_token: str
    webhook_token: str
    environ: Mapping[str, str]
    setup_code: str | None = None
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    started_at: float = field(default_factory=time.time)
    version: str = __version__
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------ admin password

    def admin_password_set(self) -> bool:
        if self.settings.admin_password:
            return True
        with self.session() as session:
            return repo.get_state(session, key=ADMIN_HASH_KEY) is not None

    def check_admin_password(self, password: str) -> bool:
        if self.settings.admin_password:
            return same_secret(password, self.settings.admin_password)
        with self.session() as session:
            stored = repo.get_state(session, key=ADMIN_HASH_KEY)
        return isinstance(stored, str) and verify_password(password, stored)

    def set_admin_password(self, password: str) -> None:
        with self.session() as session, session.begin():
            repo.put_state(session, key=ADMIN_HASH_KEY, value=hash_password(password))
        self.setup_code = None

    # ------------------------------------------------------------ saved settings

    def save_settings(self, values: Mapping[str, Any]) -> None:
        """Persist dashboard values (secrets encrypted) and reload the effective settings."""
        with self.session() as session, session.begin():
            for key, value in values.items():
                if key in SAVED_SECRET_SETTINGS:
                    if value:
                        repo.put_secret(session, name=key, ciphertext=self.box.encrypt(str(value)))
                else:
                    repo.save_setting(session, key=key, value=value)
        self.loaded = _reload(self.engine, self.box, self.environ)


def _saved_values(engine: Engine, box: SecretBox) -> dict[str, Any]:
    with Session(engine) as session:
        saved = repo.saved_settings(session)
        for name in SAVED_SECRET_SETTINGS:
            ciphertext = repo.get_secret(session, name=name)
            if ciphertext:
                saved[name] = box.decrypt(ciphertext)
    return saved


def _reload(engine: Engine, box: SecretBox, environ: Mapping[str, str]) -> LoadedSettings:
    return load_settings(environ, saved=_saved_values(engine, box))


def _token(engine: Engine, box: SecretBox, name: str, configured: str | None) -> str:
    """The configured token, else the stored generated one, else a new one (stored encrypted)."""
    if configured:
        return configured
    with Session(engine) as session, session.begin():
        ciphertext = repo.get_secret(session, name=name)
        if ciphertext:
            return box.decrypt(ciphertext)
        token = generate_token()
        repo.put_secret(session, name=name, ciphertext=box.encrypt(token))
        return token


def build_context(environ: Mapping[str, str], loaded: LoadedSettings | None = None) -> AppContext:
    """Open the store (migrating it), merge saved settings, and make sure tokens exist."""
    loaded = loaded or load_settings(environ)
    settings = loaded.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    box = SecretBox(load_key_material(settings.secret_key, settings.data_dir))
    engine = make_engine(settings.effective_database_url)
    migrate(engine)
    loaded = _reload(engine, box, environ)
    context = AppContext(
        loaded=loaded,
        engine=engine,
        box=box,
        api_token=_token(engine, box, "api_token", loaded.settings.api_token),
        webhook_token=_token(engine, box, "webhook_token", loaded.settings.webhook_token),
        environ=environ,
    )
    if not context.admin_password_set() and not is_loopback(loaded.settings.host):
        # Someone who merely finds the port must not become admin (SPEC §11).
        context.setup_code = secrets.token_hex(4)
    return context
