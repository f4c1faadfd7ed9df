"""Everything a running service shares, built once by the composition root (``app.py``).

Holds the effective settings, the database engine, the secret box, the generated tokens and the
admin-password check. Routes and pages receive it explicitly; nothing else is global.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError
from sqlmodel import Session

from . import __version__, clock
from .config import ConfigError, LoadedSettings, Settings, load_settings, mask
from .crypto import (
    KEY_FILE_NAME,
    SecretBox,
    SecretDecryptError,
    generate_token,
    hash_password,
    load_key_material,
    same_secret,
    verify_password,
)
from .security.clients import Network, parse_networks
from .security.files import make_private
from .security.sessions import SessionStore
from .security.throttle import AttemptGuard
from .store import auth_repo, repo
from .store.engine import current_revision, make_engine, migrate
from .store.models import AppSetting

log = logging.getLogger(__name__)

ADMIN_HASH_KEY = "admin_password_hash"
# Bumped at every admin password change; sessions issued under an older epoch are invalid.
PASSWORD_EPOCH_KEY = "admin_password_epoch"
# scrypt hash of the password last given by the environment, to notice it changed.
ENV_PASSWORD_HASH_KEY = "admin_env_password_hash"
SAVED_SECRET_SETTINGS = ("client_secret",)


class PasswordAlreadySet(Exception):
    """Setup was submitted after the admin password had been set (a stale setup page)."""


def new_setup_code() -> str:
    """80 random bits as four groups of base32 letters, easy to copy from a log."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode("ascii")
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


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
    # Called (from the saving thread) after dashboard settings were saved: old, new.
    settings_listeners: list[Callable[[Settings, Settings], None]] = field(default_factory=list)
    guard: AttemptGuard = field(init=False)
    sessions: SessionStore = field(init=False)
    started_at: float = field(default_factory=clock.time)
    version: str = __version__
    services: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.guard = AttemptGuard(self.engine)
        self.sessions = SessionStore(self.engine, self.password_epoch)

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    @property
    def trusted_proxies(self) -> tuple[Network, ...]:
        return parse_networks(self.settings.trusted_proxies)

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

    def password_epoch(self) -> int:
        with self.session() as session:
            return int(repo.get_state(session, key=PASSWORD_EPOCH_KEY) or 0)

    def set_first_admin_password(self, password: str) -> None:
        """Set the admin password at first-run setup: the "none yet" check and the write are one
        atomic step (a unique key), so a second setup page can never replace it."""
        if self.settings.admin_password:
            raise PasswordAlreadySet
        try:
            with self.session() as session, session.begin():
                hashed = json.dumps(hash_password(password))
                session.add(AppSetting(key=ADMIN_HASH_KEY, value=hashed))
        except IntegrityError:
            raise PasswordAlreadySet from None
        self.setup_code = None

    def change_admin_password(self, password: str) -> None:
        """Replace the admin password (dashboard): every existing session ends."""
        with self.session() as session, session.begin():
            repo.put_state(session, key=ADMIN_HASH_KEY, value=hash_password(password))
            _bump_epoch(session)

    # ------------------------------------------------------------ saved settings

    def check_settings(self, values: Mapping[str, Any]) -> LoadedSettings:
        """The settings ``values`` would give; raises ConfigError (nothing is saved)."""
        return load_settings(self.environ, saved={**_saved_values(self.engine, self.box), **values})

    def save_settings(self, values: Mapping[str, Any]) -> None:
        """Validate, then persist dashboard values (secrets encrypted): a value that would not
        start the service is never saved."""
        loaded = self.check_settings(values)
        with self.session() as session, session.begin():
            for key, value in values.items():
                if key in SAVED_SECRET_SETTINGS:
                    if value:
                        repo.put_secret(session, name=key, ciphertext=self.box.encrypt(str(value)))
                else:
                    repo.save_setting(session, key=key, value=value)
        old, self.loaded = self.loaded, loaded
        for listener in self.settings_listeners:
            listener(old.settings, loaded.settings)


def _saved_values(engine: Engine, box: SecretBox | None) -> dict[str, Any]:
    with Session(engine) as session:
        saved = repo.saved_settings(session)
        for name in SAVED_SECRET_SETTINGS:
            ciphertext = repo.get_secret(session, name=name)
            if ciphertext and box is not None:
                try:
                    saved[name] = box.decrypt(ciphertext)
                except SecretDecryptError:
                    log.warning("ignoring the saved %s: it cannot be decrypted with this key", name)
    return saved


def _reload(engine: Engine, box: SecretBox | None, environ: Mapping[str, str]) -> LoadedSettings:
    loaded, ignored = settings_with_saved(environ, _saved_values(engine, box))
    for problem in ignored:
        log.warning("ignoring a saved setting that is no longer valid: %s", problem)
    return loaded


def settings_with_saved(
    environ: Mapping[str, str], saved: Mapping[str, Any]
) -> tuple[LoadedSettings, list[str]]:
    """Effective settings with the dashboard's saved values, and the saved values left out.

    A saved value can only be invalid if an older version saved it (values are validated before
    they are saved): it is ignored, never fatal, or the dashboard where it was set would be out
    of reach. Invalid environment or YAML values still stop startup (ConfigError).
    """
    try:
        return load_settings(environ, saved=saved), []
    except ConfigError:
        load_settings(environ)  # the fault is in the environment or YAML: let it stop startup
    usable: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in saved.items():
        try:
            load_settings(environ, saved={**usable, key: value})
        except ConfigError as exc:
            ignored.append(str(exc))
        else:
            usable[key] = value
    return load_settings(environ, saved=usable), ignored


def settings_for_check(loaded: LoadedSettings, environ: Mapping[str, str]) -> LoadedSettings:
    """``check-config``: the settings with the saved values of an existing store, read without
    creating or migrating anything. Values that would be ignored at startup are reported."""
    settings = loaded.settings
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return loaded
    engine = open_engine(settings.effective_database_url)
    try:
        if current_revision(engine) is None:
            return loaded
        key_file = settings.data_dir / KEY_FILE_NAME
        box = (
            SecretBox(load_key_material(settings.secret_key, settings.data_dir))
            if settings.secret_key or key_file.is_file()
            else None
        )
        return _reload(engine, box, environ)
    finally:
        engine.dispose()


def open_engine(database_url: str) -> Engine:
    """The engine, or one line naming the setting when the URL or its driver is unusable."""
    shown = mask("database_url", database_url)
    try:
        return make_engine(database_url)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"database_url = {shown}: not a usable database URL ({problem}); "
            "e.g. sqlite:///path/file.db or postgresql+psycopg://user:pass@host/db"
        ) from None


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
    make_private(settings.data_dir)
    box = SecretBox(load_key_material(settings.secret_key, settings.data_dir))
    engine = open_engine(settings.effective_database_url)
    try:
        migrate(engine)
    except OperationalError as exc:
        problem = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        shown = mask("database_url", settings.effective_database_url)
        raise ConfigError(f"database_url = {shown}: cannot open the database ({problem})") from None
    loaded = _reload(engine, box, environ)
    context = AppContext(
        loaded=loaded,
        engine=engine,
        box=box,
        api_token=_token(engine, box, "api_token", loaded.settings.api_token),
        webhook_token=_token(engine, box, "webhook_token", loaded.settings.webhook_token),
        environ=environ,
    )
    _follow_environment_password(context)
    if not context.admin_password_set():
        # Needed by every browser but one on this machine with no proxy in between (SPEC §11).
        context.setup_code = new_setup_code()
    return context


def _bump_epoch(session: Session) -> None:
    epoch = int(repo.get_state(session, key=PASSWORD_EPOCH_KEY) or 0)
    repo.put_state(session, key=PASSWORD_EPOCH_KEY, value=epoch + 1)
    auth_repo.delete_all_sessions(session)


def _follow_environment_password(context: AppContext) -> None:
    """A changed ``TRAKT_PLUGIN_ADMIN_PASSWORD`` (the "forgot password" path) signs everyone out."""
    password = context.settings.admin_password
    with context.session() as session, session.begin():
        stored = repo.get_state(session, key=ENV_PASSWORD_HASH_KEY)
        if password is None:
            if stored is not None:  # back to the dashboard's own password
                repo.put_state(session, key=ENV_PASSWORD_HASH_KEY, value=None)
                _bump_epoch(session)
            return
        if isinstance(stored, str) and verify_password(password, stored):
            return
        repo.put_state(session, key=ENV_PASSWORD_HASH_KEY, value=hash_password(password))
        _bump_epoch(session)
