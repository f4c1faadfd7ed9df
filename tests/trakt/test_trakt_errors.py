"""The error tree: status mapping, parsed context, classification, readable messages."""

from __future__ import annotations

import json

import pytest

from trakt_plugin.trakt import errors


def build(status: int, body: str = "", content_type: str = "application/json", **headers: str):
    return errors.error_for_status(
        status,
        method="POST",
        path="/sync/history",
        headers={k.lower().replace("_", "-"): v for k, v in headers.items()},
        body_text=body,
        content_type=content_type,
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (405, errors.MethodNotFound),
        (409, errors.Conflict),
        (412, errors.PreconditionFailed),
        (420, errors.AccountLimitExceeded),
        (422, errors.ValidationFailed),
        (423, errors.AccountLocked),
        (426, errors.VipOnly),
        (429, errors.RateLimited),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (503, errors.ServerError),
        (504, errors.ServerError),
        (520, errors.ServerError),
        (521, errors.ServerError),
        (522, errors.ServerError),
        (418, errors.UnexpectedStatus),
    ],
)
def test_every_documented_status_has_its_class(status: int, cls: type) -> None:
    exc = build(status)
    assert type(exc) is cls
    assert exc.status == status
    assert "POST /sync/history" in str(exc)
    assert errors.is_ambiguous(exc) == (status >= 500)
    assert errors.is_retryable(exc) == (status >= 500 or status == 429)


def test_cloudflare_html_is_recognised_by_type_or_body() -> None:
    page = "<!DOCTYPE html><html><title>Attention Required! | Cloudflare</title></html>"
    by_type = build(403, page, "text/html; charset=UTF-8")
    by_body = build(403, page, "")
    for exc in (by_type, by_body):
        assert isinstance(exc, errors.CloudflareBlocked)
        assert isinstance(exc, errors.Forbidden)
        assert "Cloudflare" in str(exc) and "User-Agent" in str(exc)
        assert "<" not in str(exc)
    assert type(build(403, '{"error": "invalid api key"}')) is errors.Forbidden


def test_conflict_parses_times() -> None:
    body = json.dumps(
        {"watched_at": "2026-11-24T20:15:00.000Z", "expires_at": "2026-11-24T22:30:00.000Z"}
    )
    exc = build(409, body)
    assert isinstance(exc, errors.Conflict)
    assert exc.watched_at is not None and exc.watched_at.isoformat().startswith("2026-11-24T20:15")
    assert exc.expires_at is not None and exc.expires_at > exc.watched_at
    assert build(409, "").expires_at is None  # type: ignore[attr-defined]


def test_account_limit_headers() -> None:
    exc = build(
        420, "", X_Account_Limit="250", X_VIP_User="false", X_Upgrade_URL="https://trakt.tv/vip"
    )
    assert isinstance(exc, errors.AccountLimitExceeded)
    assert exc.account_limit == 250 and exc.vip is False
    assert exc.upgrade_url == "https://trakt.tv/vip"
    assert "limit 250" in str(exc)


def test_locked_and_deactivated() -> None:
    locked = build(423, "", X_Account_Locked="true", X_Account_Deactivated="false")
    assert isinstance(locked, errors.AccountLocked)
    assert locked.locked and not locked.deactivated and "locked" in str(locked)
    gone = build(423, "", X_Account_Locked="false", X_Account_Deactivated="true")
    assert isinstance(gone, errors.AccountLocked) and gone.deactivated
    assert "deactivated" in str(gone)
    vip = build(426, "", X_Upgrade_URL="https://trakt.tv/vip")
    assert isinstance(vip, errors.VipOnly) and vip.upgrade_url == "https://trakt.tv/vip"


def test_rate_limited_reads_retry_after_and_bucket_name() -> None:
    info = {"name": "AUTHED_API_POST_LIMIT", "period": 1, "limit": 1, "remaining": 0}
    exc = build(429, "", Retry_After="2", X_Ratelimit=json.dumps(info))
    assert isinstance(exc, errors.RateLimited)
    assert exc.retry_after == 2.0 and exc.limit_name == "AUTHED_API_POST_LIMIT"
    assert "retry after 2 s" in str(exc)
    bare = build(429, "")
    assert isinstance(bare, errors.RateLimited)
    assert bare.retry_after is None and bare.limit_name is None


def test_trakt_error_text_is_shown_but_trimmed() -> None:
    exc = build(400, json.dumps({"error": "invalid_grant", "error_description": "x" * 500}))
    assert str(exc).endswith("x" * errors.ERROR_TEXT_LIMIT)
    assert len(str(exc)) < 300


def test_transport_and_oauth_classification() -> None:
    assert not errors.is_ambiguous(errors.TraktUnreachable("refused"))
    assert errors.is_retryable(errors.TraktUnreachable("refused"))
    proxy = errors.ProxyError("down", proxy="socks5h://127.0.0.1:9050")
    assert isinstance(proxy, errors.TraktUnreachable) and not errors.is_ambiguous(proxy)
    assert errors.is_ambiguous(errors.TraktTimeout("slow"))
    assert errors.is_ambiguous(errors.TraktConnectionLost("reset"))
    reauth = errors.ReauthRequired("refused")
    assert not errors.is_retryable(reauth) and reauth.reason == "refused"
    assert errors.is_retryable(errors.DeviceCodePending("wait"))
    assert not errors.is_retryable(errors.DeviceCodeDenied("no"))
    assert not errors.is_ambiguous(ValueError("not ours"))
