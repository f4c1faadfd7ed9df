"""``GET /posters/{item_key}``: an item's downloaded poster, or the neutral placeholder.

Access: a signed-in dashboard session, like the pages (``/assets`` is public, but it holds only
the product's own files). Which items have a poster would tell a stranger what the household
watched, so without a valid session the answer is 401 and says nothing about the item.

Caching: a poster file never changes once downloaded (its name is its content's hash), so it is
served ``immutable`` for a year with an ``ETag``; ``private``, because it sits behind the login.
The placeholder is cached briefly, so the real poster shows up soon after its download.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response

from ..context import AppContext
from ..security.sessions import COOKIE_NAME
from . import POSTER_ROUTE, repo, show_key_of
from .service import CONTENT_TYPES

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
PLACEHOLDER = ASSETS_DIR / "poster-placeholder.svg"
POSTER_CACHE = "private, max-age=31536000, immutable"
# Long enough that a page of thumbnails costs one request each, short enough that a poster
# downloaded meanwhile shows at the next visit.
PLACEHOLDER_CACHE = "private, max-age=60"
MAX_KEY_LENGTH = 400
PATH = POSTER_ROUTE + "/{item_key:path}"


def _lookup(
    ctx: AppContext, directory: Path, session_id: str | None, item_key: str
) -> tuple[bool, Path | None]:
    """(signed in, the poster file if there is one) in one trip to a worker thread."""
    if not ctx.sessions.is_valid(session_id):
        return False, None
    if len(item_key) > MAX_KEY_LENGTH:
        return True, None
    with ctx.engine.connect() as conn:
        stored = repo.get(conn, item_key)
        show = show_key_of(item_key)
        if stored is None and show is not None:  # an episode by show + number: the show's
            stored = repo.get(conn, show)
    if stored is None or stored.state != repo.OK or not stored.path:
        return True, None
    path = (directory / stored.path).resolve()
    if path.parent != directory or not path.is_file():
        return True, None
    return True, path


def install(app: FastAPI, ctx: AppContext) -> None:
    """Register the route on the root application (NiceGUI's ``app``)."""

    directory: Path = ctx.services["posters"].directory

    async def poster(request: Request, item_key: str) -> Response:
        session_id = request.cookies.get(COOKIE_NAME)
        signed_in, path = await asyncio.to_thread(_lookup, ctx, directory, session_id, item_key)
        if not signed_in:
            return Response(status_code=401, headers={"Cache-Control": "no-store"})
        if path is None:
            return FileResponse(
                PLACEHOLDER,
                media_type="image/svg+xml",
                headers={"Cache-Control": PLACEHOLDER_CACHE},
            )
        etag = f'"{path.stem}"'
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers={"ETag": etag, "Cache-Control": POSTER_CACHE})
        return FileResponse(
            path,
            media_type=CONTENT_TYPES.get(path.suffix.lstrip("."), "application/octet-stream"),
            headers={"Cache-Control": POSTER_CACHE, "ETag": etag},
        )

    app.add_api_route(PATH, poster, methods=["GET"], include_in_schema=False)
