"""Pieces every API router shares: bearer auth, JSON error answers, list pagination."""

from __future__ import annotations

import logging
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..context import AppContext
from ..crypto import same_secret

log = logging.getLogger(__name__)

DEFAULT_PAGE = 100
MAX_PAGE = 1000

T = TypeVar("T")


class ErrorBody(BaseModel):
    error: str
    field: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or wrong bearer token"},
    404: {"model": ErrorBody, "description": "no such object"},
    422: {"model": ErrorBody, "description": "validation failed; `field` names the field"},
}


def context_of(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def require_token(request: Request) -> AppContext:
    """Dependency: the request must carry ``Authorization: Bearer <API token>``."""
    context = context_of(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not same_secret(token.strip(), context.api_token):
        raise HTTPException(
            401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    return context


Ctx = Annotated[AppContext, Depends(require_token)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size")]
Cursor = Annotated[str | None, Query(description="opaque cursor from next_cursor")]


# Integer cursors and row ids from this on are not ones we hand out: every row id column is an
# INTEGER, 32 bits on PostgreSQL, which refuses a larger value even in a comparison (a 500).
MAX_INTEGER_CURSOR = 2**31


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


# Text stored as it is sent (names, ids): PostgreSQL's text cannot hold U+0000 (a 500 there), so
# neither engine takes it: a 422 naming the field.
StoredText = AfterValidator(_no_nul)


def field_error(message: str, field: str) -> RequestValidationError:
    """A 422 ``{"error", "field"}`` through the API's validation handler."""
    return RequestValidationError([{"loc": ("body", *field.split(".")), "msg": message}])


def integer_cursor(cursor: str | None) -> int | None:
    """An integer cursor from ``?cursor=``; anything else is a 422 naming the field."""
    if cursor is None or cursor == "":
        return None
    if not (cursor.isascii() and cursor.isdigit()) or int(cursor) >= MAX_INTEGER_CURSOR:
        raise field_error("not a cursor from this list", "cursor")
    return int(cursor)


def not_found(what: str) -> HTTPException:
    return HTTPException(404, f"{what} not found")


def _field_of(error: dict[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    return ".".join(location) or "body"


def install_error_handlers(app: FastAPI) -> None:
    """Every error answers ``{"error": ...}``; validation errors also name the field."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        error = dict(exc.errors()[0]) if exc.errors() else {}
        if error.get("type") == "json_invalid":
            return JSONResponse({"error": "malformed JSON body"}, 400)
        field = _field_of(error)
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        return JSONResponse({"error": f"{field}: {message}", "field": field}, 422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error in API: %s", type(exc).__name__, exc_info=exc)
        return JSONResponse({"error": "internal error"}, 500)
