"""``GET /oauth/trakt/callback``: where Trakt sends the browser back in the redirect flow.

A callback with ``error`` (the person clicked "deny", or Trakt failed) uses up its ``state`` and
records the reason on the connection, which keeps its state: a connected person stays connected.
"""

from __future__ import annotations

from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .connections import ConnectError, ConnectionService

# Trakt's `error` parameter is short (e.g. "access_denied"); anything longer is cut.
MAX_ERROR_LENGTH = 100

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>trakt-plugin</title>
<link rel="icon" href="/assets/icon.svg"></head>
<body style="font-family:sans-serif;max-width:36rem;margin:4rem auto">
<h2>{title}</h2><p>{message}</p><p><a href="/users">Back to the dashboard</a></p></body></html>"""


def _answer(request: Request, status: int, title: str, message: str) -> Response:
    """HTML for a browser, JSON for anything else."""
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(PAGE.format(title=escape(title), message=escape(message)), status)
    body = {"error": message} if status >= 400 else {"status": "connected", "user_id": message}
    return JSONResponse(body, status)


async def oauth_callback(request: Request) -> Response:
    service: ConnectionService = request.app.state.context.services["connections"]
    code = request.query_params.get("code")
    state = request.query_params.get("state")
    error = request.query_params.get("error")
    if error:
        # denied (or failed) on Trakt: the link is used up and the reason recorded; a working
        # connection stays as it was
        message = await service.refuse_redirect(state or "", error[:MAX_ERROR_LENGTH])
        return _answer(request, 400, "Not connected", message)
    if not code or not state:
        return _answer(request, 400, "Not connected", "the callback needs code and state")
    try:
        user_id = await service.finish_redirect(code, state)
    except ConnectError as exc:
        return _answer(request, 400, "Not connected", str(exc))
    if "text/html" in request.headers.get("accept", ""):
        return _answer(request, 200, "Connected", "Your Trakt account is connected.")
    return _answer(request, 200, "Connected", user_id)
