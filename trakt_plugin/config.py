"""The one settings object.

Sources, highest first: environment variables, the YAML file, values saved from the dashboard,
defaults. This module is the only place that reads ``os.environ``. Every loaded value remembers
its source so the dashboard can show environment/YAML values read-only with where they came from.

Key paths are the YAML paths below ``integrations.trakt`` (``scrobble.dedupe_window``); the same
path is settable as ``TRAKT_PLUGIN_`` + upper-cased path with ``__`` between levels. The
integration's documented names (``TRAKT_CLIENT_ID`` …) win over that generic form.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

Source = Literal["environment", "yaml", "saved", "default"]

# The integration's documented variable names (SPEC §3); they beat the generic TRAKT_PLUGIN_ form.
DOCUMENTED_ENV = {
    "TRAKT_CLIENT_ID": "client_id",
    "TRAKT_CLIENT_SECRET": "client_secret",
    "TRAKT_REDIRECT_URI": "redirect_uri",
    "TRAKT_AUTO_SCROBBLE": "auto_scrobble",
    "TRAKT_SCROBBLE_THRESHOLD": "scrobble_threshold",
    "TRAKT_API_URL": "api_url",
    "TRAKT_AUTH_URL": "auth_url",
    "TRAKT_PROXY": "proxy",
}
GENERIC_ENV_PREFIX = "TRAKT_PLUGIN_"
CONFIG_FILE_ENV = "TRAKT_PLUGIN_CONFIG"
DEFAULT_CONFIG_FILE = "config.yaml"

# Keys whose values are secrets: masked when printed, encrypted when saved.
SECRET_KEYS = frozenset(
    {"client_secret", "admin_password", "api_token", "webhook_token", "secret_key"}
)
# Values people leave in from examples; refusing them beats a confusing 401 from Trakt later.
PLACEHOLDER = re.compile(
    r"^(your[_\- ].*|changeme|change[_\-]me|xxx+|placeholder|example|secret|todo|<.*>|\$\{.*\})$",
    re.IGNORECASE,
)
TOR_PROXY = "socks5h://127.0.0.1:9050"
PROXY_SCHEMES = ("socks5h", "socks5", "http", "https")
MIN_TOKEN_LENGTH = 16
MIN_SECRET_KEY_LENGTH = 32
MIN_PASSWORD_LENGTH = 8


class ConfigError(Exception):
    """Invalid configuration; the message is one line naming key, value and what is allowed."""


def _refuse_placeholder(value: str | None, what: str) -> str | None:
    if value is not None and PLACEHOLDER.match(value.strip()):
        raise ValueError(f"{what} looks like a placeholder; use the real value")
    return value


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class Section(BaseModel):
    """Base for nested sections: unknown keys are errors, so typos are caught."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ScrobbleSettings(Section):
    dedupe_window: int = Field(
        21600, ge=0, description="Seconds in which a second completion is the same play"
    )
    idle_finalise: int = Field(
        14400, ge=60, description="Seconds idle before a session without a stop is finalised"
    )
    stale_start: int = Field(
        1800, ge=0, description="Start/pause calls older than this are skipped"
    )
    live_window: int = Field(
        60, ge=0, description="Completions later than this go through /sync/history"
    )
    give_up_after: int = Field(
        604800, ge=60, description="Seconds of failures before a call is dead"
    )
    http_timeout: float = Field(
        10, gt=0, le=300, description="Seconds before a Trakt call times out"
    )


class SyncSettings(Section):
    auto_import_history: bool = True
    auto_export_plays: bool = True
    bidirectional_watchlist: bool = True
    sync_interval: int = Field(3600, ge=60, description="Seconds between scheduled syncs")
    propagate_unwatched: bool = False
    # SPEC §12: watched state with media servers in scheduled runs; Plex ratings both ways.
    server_watched: bool = True
    server_ratings: bool = True
    full_import_every: int = Field(604800, ge=3600, description="Seconds between full re-reads")


class MetadataSettings(Section):
    use_for_enrichment: bool = True
    fetch_ratings: bool = True
    fetch_ids: bool = True
    ids_ttl: int = Field(2592000, ge=0)
    ratings_ttl: int = Field(86400, ge=0)


class VipSettings(Section):
    check_interval: int = Field(2592000, ge=60)
    enable_lists: bool = True
    enable_recommendations: bool = True


class RateSettings(Section):
    get_per_5min: int = Field(1000, ge=1, le=1000)
    post_interval: float = Field(1.0, ge=0)


class EventsSettings(Section):
    retention_days: int = Field(30, ge=1)


ServerKind = Literal["plex", "jellyfin", "emby"]
LiveMode = Literal["webhook", "watch", "off"]
MAX_SERVER_NAME = 100
MAX_SERVER_TOKEN = 500
# What check-config and the dashboard may print of a media-server entry (``servers.<n>.<key>``);
# everything else, the token first, is masked (SPEC §11).
SERVER_PUBLIC_FIELDS = frozenset({"kind", "name", "url", "live"})
# Keys never taken from the dashboard's saved values: servers live in their own table, with
# their tokens encrypted (a saved setting is plain JSON); plex_tv_url decides where the Plex
# owner's token is sent, so only the environment or the YAML file may change it.
NOT_SAVED_KEYS = frozenset({"servers", "plex_tv_url"})


def check_server_url(value: str) -> str:
    """A media server's base URL: http(s) with a host; no credentials, query or fragment (the
    token has its own field, so no URL is ever a secret)."""
    text = value.strip()
    parts = urlsplit(text)
    try:
        host = parts.hostname
        parts.port  # noqa: B018  (raises for a port that is not a number)
    except ValueError:
        raise ValueError("must be an http:// or https:// URL with a host") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("must be an http:// or https:// URL with a host")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            host.encode("idna")  # empty or over-long labels cannot be looked up
        except UnicodeError:
            raise ValueError("must have a valid host name") from None
    if parts.username or parts.password or "@" in parts.netloc:
        raise ValueError("must not hold a user name or password (the token has its own field)")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError("must not hold a query or fragment (the token has its own field)")
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise ValueError("must not contain spaces or control characters")
    return text.rstrip("/")


class ServerSettings(Section):
    """A media server of SPEC §12 (``integrations.trakt.servers`` entries)."""

    kind: ServerKind
    name: str = Field(min_length=1, max_length=MAX_SERVER_NAME)
    url: str
    token: str = Field(min_length=1, max_length=MAX_SERVER_TOKEN)
    live: LiveMode = "webhook"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_server_url(value)

    @field_validator("token")
    @classmethod
    def _token(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        _refuse_placeholder(value, "token")
        return value


class Settings(BaseSettings):
    """Effective configuration. Build it with :func:`load_settings`, not directly."""

    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    client_id: str | None = None
    client_secret: str | None = None
    redirect_uri: str = "http://127.0.0.1:8765/oauth/trakt/callback"
    auto_scrobble: bool = True
    scrobble_threshold: float = Field(90, description="Percent watched that makes a play (1-100)")
    api_url: str = "https://api.trakt.tv"
    auth_url: str = "https://auth.trakt.tv"
    proxy: str | None = None
    default_user: str | None = None
    # SPEC §11: proxies whose forwarded headers name the client; extra Host names served on a
    # loopback bind; Secure cookies when a reverse proxy serves the dashboard over HTTPS.
    trusted_proxies: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=list)
    secure_cookies: bool = False
    # SPEC §12: media servers (tokens usually ``${VAR}``) and the session poll interval.
    servers: list[ServerSettings] = Field(default_factory=list)
    watch_interval: int = Field(
        5, ge=1, description="Seconds between session polls of a watched Jellyfin/Emby server"
    )
    # Advanced: where the Plex owner's token asks for other accounts' tokens (tests: a fake).
    plex_tv_url: str = Field(
        "https://plex.tv",
        description="plex.tv base URL, asked for the server tokens of shared and Home accounts",
    )

    data_dir: Path = Path("./data")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    admin_password: str | None = None
    api_token: str | None = None
    webhook_token: str | None = None
    secret_key: str | None = None

    scrobble: ScrobbleSettings = ScrobbleSettings()
    sync: SyncSettings = SyncSettings()
    metadata: MetadataSettings = MetadataSettings()
    vip: VipSettings = VipSettings()
    rate: RateSettings = RateSettings()
    events: EventsSettings = EventsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Layering is done by load_settings (it must also record each value's source).
        return (init_settings,)

    @field_validator("scrobble_threshold")
    @classmethod
    def _threshold(cls, value: float) -> float:
        if not 1 <= value <= 100:
            raise ValueError("must be between 1 and 100")
        return value

    @field_validator("client_id", "client_secret")
    @classmethod
    def _credentials(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return _refuse_placeholder(value, "value")

    @field_validator("redirect_uri", "api_url", "auth_url", "plex_tv_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if value.strip().lower() == "tor":
            return TOR_PROXY
        parts = urlsplit(value)
        if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
            raise ValueError("must be tor or a socks5h://, socks5://, http:// or https:// URL")
        return value

    @field_validator("servers", mode="before")
    @classmethod
    def _servers_json(cls, value: Any) -> Any:
        """The environment gives the list as JSON (``TRAKT_PLUGIN_SERVERS='[{…}]'``)."""
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else []
            except ValueError:
                raise ValueError("must be a JSON list of {kind, name, url, token, live}") from None
        return value

    @field_validator("servers")
    @classmethod
    def _server_names(cls, value: list[ServerSettings]) -> list[ServerSettings]:
        seen: set[str] = set()
        for server in value:
            if server.name.lower() in seen:
                raise ValueError(f"server name {server.name!r} is used twice")
            seen.add(server.name.lower())
        return value

    @field_validator("trusted_proxies", "allowed_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """Environment variables give lists as ``a, b``."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @field_validator("api_token", "webhook_token")
    @classmethod
    def _tokens(cls, value: str | None) -> str | None:
        if value is not None and len(value) < MIN_TOKEN_LENGTH:
            raise ValueError(f"must be at least {MIN_TOKEN_LENGTH} characters")
        return _refuse_placeholder(value, "token")

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: str | None) -> str | None:
        if value is not None and len(value) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_LENGTH} characters")
        return _refuse_placeholder(value, "secret key")

    @field_validator("admin_password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        if value is not None and len(value) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"must be at least {MIN_PASSWORD_LENGTH} characters")
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'trakt-plugin.db').resolve()}"


class LoadedSettings(BaseModel):
    """Settings plus where each value came from (dotted key → source)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: Settings
    sources: dict[str, Source]
    config_file: Path | None = None

    def source_of(self, key: str) -> Source:
        return self.sources.get(key, "default")

    def locked(self, key: str) -> bool:
        """True when the dashboard must show the key read-only (set by env or YAML)."""
        return self.source_of(key) in ("environment", "yaml")


# ---------------------------------------------------------------- loading


def setting_paths() -> list[str]:
    """Every dotted key a user can set."""
    paths: list[str] = []
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            paths.extend(f"{name}.{sub}" for sub in annotation.model_fields)
        else:
            paths.append(name)
    return paths


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_UNSET = object()


def _expand(value: Any, environ: Mapping[str, str]) -> Any:
    """Expand ``${VAR}``; a whole value that names an unset variable counts as absent."""
    if isinstance(value, dict):
        expanded = {k: _expand(v, environ) for k, v in value.items()}
        return {k: v for k, v in expanded.items() if v is not _UNSET}
    if isinstance(value, list):
        return [_expand(v, environ) for v in value]
    if not isinstance(value, str):
        return value
    whole = _ENV_REF.fullmatch(value.strip())
    if whole:
        return environ.get(whole.group(1), _UNSET)
    return _ENV_REF.sub(lambda m: environ.get(m.group(1), ""), value)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def _read_yaml(path: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"config file {path}: unreadable YAML ({problem})") from None
    if not isinstance(document, dict):
        raise ConfigError(f"config file {path}: must be a YAML mapping")
    block = document.get("integrations", {}) or {}
    block = block.get("trakt", {}) if isinstance(block, dict) else None
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise ConfigError(f"config file {path}: integrations.trakt must be a mapping")
    flat = _flatten(_expand(block, environ))
    known = set(setting_paths())
    for key in flat:
        if key not in known:
            raise ConfigError(f"integrations.trakt.{key} (in {path}): unknown key")
    return flat


def _read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    known = set(setting_paths())
    flat: dict[str, Any] = {}
    for name, value in environ.items():
        if name.startswith(GENERIC_ENV_PREFIX) and name != CONFIG_FILE_ENV:
            path = name[len(GENERIC_ENV_PREFIX) :].lower().replace("__", ".")
            if path in known:
                flat[path] = value
    for name, path in DOCUMENTED_ENV.items():
        if name in environ:
            flat[path] = environ[name]
    return flat


def _origin(key: str, source: Source, config_file: Path | None) -> str:
    if source == "environment":
        for name, path in DOCUMENTED_ENV.items():
            if path == key:
                return f"from {name} or {GENERIC_ENV_PREFIX}{key.upper().replace('.', '__')}"
        return f"from {GENERIC_ENV_PREFIX}{key.upper().replace('.', '__')}"
    if source == "yaml":
        return f"from {config_file}"
    return f"from {source} settings"


def load_settings(
    environ: Mapping[str, str] | None = None,
    saved: Mapping[str, Any] | None = None,
) -> LoadedSettings:
    """Layer env > YAML > saved > defaults and validate; raise ConfigError with one clear line."""
    environ = os.environ if environ is None else environ
    config_file: Path | None = None
    if environ.get(CONFIG_FILE_ENV):
        config_file = Path(environ[CONFIG_FILE_ENV])
        if not config_file.is_file():
            raise ConfigError(f"{CONFIG_FILE_ENV} = {config_file}: no such file")
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        config_file = Path(DEFAULT_CONFIG_FILE)

    layers: list[tuple[Source, dict[str, Any]]] = [
        (
            "saved",
            {
                k: v
                for k, v in (saved or {}).items()
                if k in set(setting_paths()) and k not in NOT_SAVED_KEYS
            },
        ),
        ("yaml", _read_yaml(config_file, environ) if config_file else {}),
        ("environment", _read_env(environ)),
    ]
    merged: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for source, values in layers:
        for key, value in values.items():
            merged[key] = value
            sources[key] = source
    try:
        settings = Settings(**_nest(merged))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        shown = mask(key, merged.get(key, error.get("input")))
        # An entry of a list (servers.0.url) comes from wherever the list came from.
        origin = key.split(".", 1)[0] if key.startswith("servers.") else key
        where = _origin(origin, sources.get(origin, "default"), config_file)
        raise ConfigError(f"{key} = {shown!s} ({where}): {message}") from None
    return LoadedSettings(settings=settings, sources=sources, config_file=config_file)


def dashboard_url_problem(key: str, value: Any) -> str | None:
    """Why a Trakt URL entered in the dashboard is refused: tokens must not travel in clear
    text to another machine, so ``api_url``/``auth_url`` need https:// unless the host is a
    loopback address. (The environment and YAML are the operator's and may point anywhere.)"""
    if key not in ("api_url", "auth_url") or not isinstance(value, str):
        return None
    parts = urlsplit(value.strip())
    host = (parts.hostname or "").lower()
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if parts.scheme == "https" or (parts.scheme == "http" and loopback):
        return None
    return f"{key} = {value}: must be an https:// URL (http:// only for a loopback address)"


# ---------------------------------------------------------------- display


def _mask_url_credentials(value: str) -> str:
    parts = urlsplit(value)
    if parts.password or parts.username:
        netloc = f"***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return value


def mask(key: str, value: Any) -> Any:
    """A value safe to print: secrets become ``****``, URL credentials are hidden."""
    if value is None:
        return None
    leaf = key.rsplit(".", 1)[-1]
    if leaf in SECRET_KEYS:
        return "****"
    if key == "servers" or key.startswith("servers."):
        return _mask_servers(key, value)
    if leaf in ("proxy", "database_url") and isinstance(value, str):
        return _mask_url_credentials(value)
    return value


def _mask_servers(key: str, value: Any) -> Any:
    """Media-server entries with their tokens masked, however deep ``key`` points."""
    if isinstance(value, list):
        return [_mask_servers(f"{key}.{index}", entry) for index, entry in enumerate(value)]
    if isinstance(value, dict):
        return {name: _mask_servers(f"{key}.{name}", entry) for name, entry in value.items()}
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "url" and isinstance(value, str):
        parts = urlsplit(value)  # a refused URL may carry a token in its query
        shown = _mask_url_credentials(value) if "@" in parts.netloc else value
        return urlunsplit(urlsplit(shown)._replace(query="", fragment=""))
    if value is None or leaf in SERVER_PUBLIC_FIELDS:
        return value
    return "****"  # a token, or anything else that might hold one (a JSON string, garbage)


def effective_items(loaded: LoadedSettings) -> list[tuple[str, Any, Source]]:
    """(key, masked value, source) for every setting, in a stable order."""
    flat = _flatten(loaded.settings.model_dump(mode="json"))
    return [(key, mask(key, flat.get(key)), loaded.source_of(key)) for key in setting_paths()]


def settings_schema() -> dict[str, Any]:
    """JSON schema of the YAML block under ``integrations.trakt`` (used by plugin.json)."""
    return Settings.model_json_schema()
