"""Pure Trakt API v2 client: request funnel, OAuth, rate budget, models and errors.

Imports nothing from the rest of trakt_plugin; the app injects the HTTP client, the token saver
and the settings.
"""

from . import errors, models
from .auth import REFRESH_WHEN_LEFT, TokenManager, Tokens, TraktAuth
from .client import (
    DEFAULT_API_URL,
    DEFAULT_AUTH_URL,
    PAGE_LIMIT,
    TOR_PROXY,
    Page,
    Reply,
    TokenSource,
    TraktClient,
    describe_proxy,
    normalize_proxy,
    proxy_http_client,
)
from .ratelimit import Priority, RateBudget

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_AUTH_URL",
    "PAGE_LIMIT",
    "REFRESH_WHEN_LEFT",
    "TOR_PROXY",
    "Page",
    "Priority",
    "RateBudget",
    "Reply",
    "TokenManager",
    "TokenSource",
    "Tokens",
    "TraktAuth",
    "TraktClient",
    "describe_proxy",
    "errors",
    "models",
    "normalize_proxy",
    "proxy_http_client",
]
