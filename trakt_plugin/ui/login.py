"""Login and first-run setup pages, and the two HTTP routes that set and clear the session
cookie (``/auth/session`` trades a login ticket for it, ``/logout`` ends it)."""

from __future__ import annotations

from functools import partial

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app, run, ui

from ..config import MIN_PASSWORD_LENGTH, ConfigError
from ..context import AppContext, PasswordAlreadySet
from ..crypto import same_secret
from ..security.sessions import ABSOLUTE_LIMIT, COOKIE_NAME
from ..security.throttle import Verdict
from .auth import client_of, is_local_browser, page_request
from .theme import ICON_URL, theme_head


def _card_header(subtitle: str) -> None:
    theme_head()  # the remembered light/dark theme here too
    with ui.row().classes("items-center gap-2"):
        ui.image(ICON_URL).classes("w-10 h-10")
        ui.label("trakt-plugin").classes("text-2xl font-bold")
    ui.label(subtitle).classes("text-grey-8")


def refusal(verdict: Verdict, what: str) -> str:
    """What to tell someone whose attempt was not accepted."""
    if verdict.outcome == "busy":
        return "Too many attempts at once from this address: wait a moment."
    if verdict.outcome == "throttled":
        return f"Too many failed attempts. Try again in {int(verdict.retry_after) + 1} s."
    if verdict.attempts_left:
        return f"Wrong {what}. {verdict.attempts_left} more tries before a pause."
    return f"Wrong {what}. Too many failed attempts: wait a few minutes."


def uses_https(ctx: AppContext) -> bool:
    return ctx.settings.secure_cookies or ctx.settings.redirect_uri.startswith("https://")


def register(ctx: AppContext) -> None:
    @app.get("/auth/session", include_in_schema=False)
    async def start_session(ticket: str = "") -> RedirectResponse:
        session_id = await run.io_bound(ctx.sessions.redeem_ticket, ticket[:200])
        if session_id is None:
            return RedirectResponse("/login", status_code=303)
        answer = RedirectResponse("/", status_code=303)
        answer.set_cookie(
            COOKIE_NAME,
            session_id,
            max_age=int(ABSOLUTE_LIMIT.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=uses_https(ctx),
        )
        return answer

    @app.get("/logout", include_in_schema=False)
    async def end_session(request: Request) -> RedirectResponse:
        await run.io_bound(ctx.sessions.end, request.cookies.get(COOKIE_NAME))
        answer = RedirectResponse("/login", status_code=303)
        answer.delete_cookie(COOKIE_NAME, httponly=True, samesite="lax", secure=uses_https(ctx))
        return answer

    @ui.page("/login", title="trakt-plugin · log in")
    async def login_page() -> RedirectResponse | None:
        if not await run.io_bound(ctx.admin_password_set):
            return RedirectResponse("/setup")

        async def attempt() -> None:
            error.set_text("")
            client = client_of(ctx, page_request())
            epoch = await run.io_bound(ctx.password_epoch) or 0
            check = partial(ctx.check_admin_password, password.value or "")
            verdict = await ctx.guard.check(client, check)
            if not verdict.ok:
                error.set_text(refusal(verdict, "password"))
                return
            ui.navigate.to(f"/auth/session?ticket={ctx.sessions.issue_ticket(epoch)}")

        with ui.card().classes("absolute-center w-96 max-w-[95vw] gap-3"):
            _card_header("Log in to the dashboard")
            password = ui.input("Admin password", password=True).props("data-test=login-password")
            password.classes("w-full").on("keydown.enter", attempt)
            error = ui.label("").classes("text-negative").props("data-test=login-error")
            ui.button("Log in", on_click=attempt).props("data-test=login-submit")
        return None

    @ui.page("/setup", title="trakt-plugin · first-run setup")
    async def setup_page() -> RedirectResponse | None:
        if await run.io_bound(ctx.admin_password_set):
            return RedirectResponse("/login")
        settings = ctx.settings
        credentials_locked = ctx.loaded.locked("client_id") and ctx.loaded.locked("client_secret")
        # Decided per request, not per listen address: a reverse proxy on this machine connects
        # from loopback too, but it adds forwarding headers (SPEC §11).
        needs_code = not is_local_browser(page_request())

        async def finish() -> None:
            error.set_text("")
            if await run.io_bound(ctx.admin_password_set):
                error.set_text("Setup is already done: log in with the admin password.")
                return
            if needs_code:
                given = (code.value or "").strip().upper()
                verdict = await ctx.guard.check(
                    client_of(ctx, page_request()),
                    lambda: ctx.setup_code is not None and same_secret(given, ctx.setup_code),
                )
                if not verdict.ok:
                    error.set_text(
                        refusal(verdict, "setup code")
                        + " The code is printed in the service's log."
                    )
                    return
            if len(password.value or "") < MIN_PASSWORD_LENGTH:
                error.set_text(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
                return
            if password.value != confirm.value:
                error.set_text("The two passwords differ.")
                return
            values = {}
            if not credentials_locked and (client_id.value or "").strip():
                values = {
                    "client_id": client_id.value.strip(),
                    "client_secret": (client_secret.value or "").strip() or None,
                }
            try:
                await run.io_bound(ctx.check_settings, values)
            except ConfigError as exc:  # names the offending value
                error.set_text(str(exc))
                return
            try:
                await run.io_bound(ctx.set_first_admin_password, password.value)
            except PasswordAlreadySet:
                error.set_text("Setup is already done: log in with the admin password.")
                return
            if values:
                await run.io_bound(ctx.save_settings, values)
            ui.navigate.to("/login")

        with ui.card().classes("absolute-center w-[28rem] max-w-[95vw] gap-3"):
            _card_header("Welcome! Set up the dashboard.")
            code = ui.input("Setup code (from the service log)").classes("w-full")
            code.props("data-test=setup-code").set_visibility(needs_code)
            password = ui.input("Admin password", password=True).classes("w-full")
            password.props("data-test=setup-password")
            confirm = ui.input("Repeat the password", password=True).classes("w-full")
            confirm.props("data-test=setup-confirm")
            ui.separator()
            ui.label("Trakt API app (create one at app.trakt.tv/settings/apps)").classes(
                "text-sm text-grey-8"
            )
            ui.label(
                "Creating an app needs Trakt VIP since mid-2026: one VIP member of the household "
                "creates it; everyone else connects a free account to it by code later (it "
                "counts as their one connected app)."
            ).classes("text-xs text-grey-8").props("data-test=setup-vip-note")
            client_id = ui.input("Client ID", value=settings.client_id or "").classes("w-full")
            client_id.props("data-test=setup-client-id")
            client_secret = ui.input("Client secret", password=True).classes("w-full")
            client_secret.props("data-test=setup-client-secret")
            if credentials_locked:
                client_id.disable()
                client_secret.disable()
                ui.label("Set by the environment or config file.").classes("text-xs")
            error = ui.label("").classes("text-negative").props("data-test=setup-error")
            ui.button("Finish setup", on_click=finish).props("data-test=setup-submit")
        return None
