"""Every failure the Trakt client can raise, as one tree.

::

    TraktError                      message, status, retry_after, body_text
    ├── InvalidRequest              refused before sending (e.g. an id `..` that would change
    │                               the request path): nothing left, asking again cannot help
    ├── TraktHTTPError              Trakt (or Cloudflare in front of it) answered with an error
    │   ├── BadRequest              400  unparseable request
    │   ├── Unauthorized            401  token missing, invalid or expired
    │   ├── Forbidden               403  bad API key / unapproved app
    │   │   └── CloudflareBlocked   403  HTML "you have been blocked" page (User-Agent, IP)
    │   ├── NotFound                404  record not found (e.g. scrobble item not matched)
    │   ├── MethodNotFound          405
    │   ├── Conflict                409  already done (scrobble: watched_at / expires_at)
    │   ├── PreconditionFailed      412  Content-Type must be application/json
    │   ├── AccountLimitExceeded    420  free-account limit (account_limit, vip, upgrade_url)
    │   ├── ValidationFailed        422  e.g. scrobble progress under 1 %
    │   ├── AccountLocked           423  locked or deactivated account
    │   ├── VipOnly                 426  needs VIP (upgrade_url)
    │   ├── RateLimited             429  retry_after seconds, limit_name (X-Ratelimit)
    │   ├── ServerError             5xx, 52x  AMBIGUOUS: the request may have been processed
    │   └── UnexpectedStatus        anything else
    ├── TraktTransportError         no HTTP answer
    │   ├── TraktUnreachable        connection refused / DNS: provably never sent
    │   │   └── ProxyError          the configured proxy failed (named without credentials)
    │   ├── TraktTimeout            AMBIGUOUS: sent, no answer in time
    │   └── TraktConnectionLost     AMBIGUOUS: connection dropped after the request was sent
    └── OAuthError                  the OAuth endpoints said no
        ├── DeviceFlowError         device-code polling outcomes (docs §2.5)
        │   ├── DeviceCodePending   400  user has not acted yet: keep polling
        │   ├── DeviceCodeInvalid   404  unknown device code: restart
        │   ├── DeviceCodeUsed      409  already approved/used: stop
        │   ├── DeviceCodeExpired   410  expired: restart
        │   ├── DeviceCodeDenied    418  the user said no
        │   └── DeviceSlowDown      429  polling too fast: double the interval
        └── ReauthRequired          refresh answered 400/401: the user must connect again

Messages are meant for people and never contain tokens, client secrets or headers: they name
the request (method and path), the status and Trakt's own short error text.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

__all__ = [
    "AccountLimitExceeded",
    "AccountLocked",
    "BadRequest",
    "CloudflareBlocked",
    "Conflict",
    "DeviceCodeDenied",
    "DeviceCodeExpired",
    "DeviceCodeInvalid",
    "DeviceCodePending",
    "DeviceCodeUsed",
    "DeviceFlowError",
    "DeviceSlowDown",
    "Forbidden",
    "InvalidRequest",
    "MethodNotFound",
    "NotFound",
    "OAuthError",
    "PreconditionFailed",
    "ProxyError",
    "RateLimited",
    "ReauthRequired",
    "ServerError",
    "TraktConnectionLost",
    "TraktError",
    "TraktHTTPError",
    "TraktTimeout",
    "TraktTransportError",
    "TraktUnreachable",
    "UnexpectedStatus",
    "ValidationFailed",
    "VipOnly",
    "error_for_status",
    "is_ambiguous",
    "is_retryable",
]

# How much of Trakt's own error text goes into a message: enough to explain, short for a log.
ERROR_TEXT_LIMIT = 200


class TraktError(Exception):
    """Base of every error raised by the Trakt client."""

    #: the request may have reached Trakt and been processed (writes must be checked, not resent)
    ambiguous: ClassVar[bool] = False
    #: trying again later can succeed
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        body_text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.body_text = body_text

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"


# --------------------------------------------------------------------------- refused here


class InvalidRequest(TraktError):
    """The client refused to build the request, so nothing was sent (e.g. a path segment)."""


# --------------------------------------------------------------------------- HTTP answers


class TraktHTTPError(TraktError):
    """Trakt answered with a status that is not a success."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        body_text: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, status=status, retry_after=retry_after, body_text=body_text)
        self.headers = headers or {}


class BadRequest(TraktHTTPError):
    """400: Trakt could not parse the request."""


class Unauthorized(TraktHTTPError):
    """401: the access token is missing, invalid or expired."""


class Forbidden(TraktHTTPError):
    """403: invalid API key or unapproved app."""


class CloudflareBlocked(Forbidden):
    """403 with an HTML page: Cloudflare in front of Trakt blocked the request."""


class NotFound(TraktHTTPError):
    """404: the method exists but the record was not found."""


class MethodNotFound(TraktHTTPError):
    """405: no such method."""


class Conflict(TraktHTTPError):
    """409: already done; for a scrobble, the play already exists until `expires_at`."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        data = _json_object(self.body_text)
        self.watched_at = _parse_time(data.get("watched_at"))
        self.expires_at = _parse_time(data.get("expires_at"))


class PreconditionFailed(TraktHTTPError):
    """412: Content-Type must be application/json."""


class AccountLimitExceeded(TraktHTTPError):
    """420: the account hit a limit of its plan (list count, items...)."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        limit = self.headers.get("x-account-limit")
        self.account_limit: int | None = int(limit) if limit and limit.isdigit() else None
        self.vip = self.headers.get("x-vip-user", "").lower() == "true"
        self.upgrade_url: str | None = self.headers.get("x-upgrade-url")


class ValidationFailed(TraktHTTPError):
    """422: the request was understood but refused (e.g. progress under 1 %)."""


class AccountLocked(TraktHTTPError):
    """423: the Trakt account is locked or deactivated."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.locked = self.headers.get("x-account-locked", "").lower() == "true"
        self.deactivated = self.headers.get("x-account-deactivated", "").lower() == "true"


class VipOnly(TraktHTTPError):
    """426: the method needs a VIP account."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.upgrade_url: str | None = self.headers.get("x-upgrade-url")


class RateLimited(TraktHTTPError):
    """429: over the rate limit; wait `retry_after` seconds."""

    retryable = True

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        info = _json_object(self.headers.get("x-ratelimit"))
        name = info.get("name")
        self.limit_name: str | None = name if isinstance(name, str) else None


class ServerError(TraktHTTPError):
    """5xx or Cloudflare 52x: the request may or may not have been processed."""

    ambiguous = True
    retryable = True


class UnexpectedStatus(TraktHTTPError):
    """A status the API documentation does not list for this call."""


# --------------------------------------------------------------------------- transport


class TraktTransportError(TraktError):
    """No HTTP answer came back."""

    retryable = True


class TraktUnreachable(TraktTransportError):
    """Trakt could not be reached (refused, DNS): the request was never sent."""


class ProxyError(TraktUnreachable):
    """The configured proxy failed; `proxy` names it without credentials."""

    def __init__(self, message: str, *, proxy: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.proxy = proxy


class TraktTimeout(TraktTransportError):
    """Sent, but no answer in time: the request may have been processed."""

    ambiguous = True


class TraktConnectionLost(TraktTransportError):
    """The connection dropped after sending: the request may have been processed."""

    ambiguous = True


# --------------------------------------------------------------------------- OAuth


class OAuthError(TraktError):
    """An OAuth endpoint refused the request."""


class DeviceFlowError(OAuthError):
    """An outcome of polling /oauth/device/token other than approval."""


class DeviceCodePending(DeviceFlowError):
    """400: the user has not approved or denied yet; keep polling."""

    retryable = True


class DeviceCodeInvalid(DeviceFlowError):
    """404: Trakt does not know this device code; start again."""


class DeviceCodeUsed(DeviceFlowError):
    """409: the code was already used to issue tokens."""


class DeviceCodeExpired(DeviceFlowError):
    """410: the code expired before the user approved it; start again."""


class DeviceCodeDenied(DeviceFlowError):
    """418: the user denied access."""


class DeviceSlowDown(DeviceFlowError):
    """429: polling too fast; double the interval."""

    retryable = True


class ReauthRequired(OAuthError):
    """The refresh token was refused (400/401): the user must authorise the app again."""

    def __init__(self, message: str, *, reason: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason or message


# --------------------------------------------------------------------------- helpers


def is_ambiguous(exc: BaseException) -> bool:
    """True when a write that failed this way may nevertheless have reached Trakt."""
    return isinstance(exc, TraktError) and exc.ambiguous


def is_retryable(exc: BaseException) -> bool:
    """True when the same request can succeed later (after a wait, or a check for writes)."""
    return isinstance(exc, TraktError) and exc.retryable


_BY_STATUS: dict[int, type[TraktHTTPError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotFound,
    409: Conflict,
    412: PreconditionFailed,
    420: AccountLimitExceeded,
    422: ValidationFailed,
    423: AccountLocked,
    426: VipOnly,
    429: RateLimited,
}

_REASONS: dict[int, str] = {
    400: "bad request",
    401: "not authorised (token missing, invalid or expired)",
    403: "forbidden (check the API key and that the app is approved)",
    404: "not found",
    405: "method not found",
    409: "conflict (already done)",
    412: "precondition failed (Content-Type must be application/json)",
    420: "account limit exceeded",
    422: "validation failed",
    423: "account locked or deactivated",
    426: "VIP only",
    429: "rate limit exceeded",
}


def error_for_status(
    status: int,
    *,
    method: str,
    path: str,
    headers: dict[str, str],
    body_text: str,
    content_type: str = "",
) -> TraktHTTPError:
    """Build the exception for an error answer; `headers` keys must be lower case."""
    where = f"{method} {path}"
    retry_after = parse_retry_after(headers.get("retry-after"))
    kwargs: dict[str, Any] = {
        "status": status,
        "retry_after": retry_after,
        "body_text": body_text,
        "headers": headers,
    }
    if status == 403 and _looks_like_html(body_text, content_type):
        return CloudflareBlocked(
            f"Trakt {where}: blocked by Cloudflare (HTML 403 page). Trakt's edge refuses requests "
            "without a proper User-Agent and from flagged IP addresses or proxies/exit nodes.",
            **kwargs,
        )
    if status >= 500:
        return ServerError(
            f"Trakt {where}: server error {status}; the request may or may not have been "
            f"processed{_detail(body_text, content_type)}",
            **kwargs,
        )
    cls = _BY_STATUS.get(status, UnexpectedStatus)
    reason = _REASONS.get(status, "unexpected status")
    message = f"Trakt {where}: {status} {reason}"
    if status == 429 and retry_after is not None:
        message += f"; retry after {retry_after:g} s"
    if status == 420 and headers.get("x-account-limit"):
        message += f" (limit {headers['x-account-limit']})"
    if status == 423:
        if headers.get("x-account-deactivated", "").lower() == "true":
            message += ": the account is deactivated; contact Trakt support"
        else:
            message += ": the account is locked; contact Trakt support"
    return cls(message + _detail(body_text, content_type), **kwargs)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number; HTTP dates are not used by Trakt)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


def _detail(body_text: str, content_type: str) -> str:
    """Trakt's short error text (`error_description` / `error`), if the body has one."""
    if _looks_like_html(body_text, content_type):
        return ""
    data = _json_object(body_text)
    for key in ("error_description", "error", "message"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return f": {value[:ERROR_TEXT_LIMIT]}"
    return ""


def _looks_like_html(body_text: str | None, content_type: str) -> bool:
    return "text/html" in content_type.lower() or (body_text or "").lstrip().startswith("<")


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
