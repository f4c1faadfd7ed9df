"""Login and first-run setup pages."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app, run, ui

from ..config import MIN_PASSWORD_LENGTH
from ..context import AppContext
from ..crypto import same_secret
from .theme import ICON_URL


def _card_header(subtitle: str) -> None:
    with ui.row().classes("items-center gap-2"):
        ui.image(ICON_URL).classes("w-10 h-10")
        ui.label("trakt-plugin").classes("text-2xl font-bold")
    ui.label(subtitle).classes("text-grey-8")


def register(ctx: AppContext) -> None:
    @ui.page("/login", title="trakt-plugin · log in")
    async def login_page(request: Request) -> RedirectResponse | None:
        if not await run.io_bound(ctx.admin_password_set):
            return RedirectResponse("/setup")
        client = request.client.host if request.client else "unknown"

        async def attempt() -> None:
            wait = ctx.login_throttle.retry_after(client)
            if wait > 0:
                error.set_text(f"Too many failed attempts. Try again in {int(wait) + 1} s.")
                return
            if await run.io_bound(ctx.check_admin_password, password.value or ""):
                ctx.login_throttle.succeeded(client)
                app.storage.user["authenticated"] = True
                ui.navigate.to("/")
            else:
                ctx.login_throttle.failed(client)
                left = ctx.login_throttle.attempts_left(client)
                error.set_text(
                    f"Wrong password. {left} more tries before a pause."
                    if left
                    else "Wrong password. Too many failed attempts: wait a few minutes."
                )

        with ui.card().classes("absolute-center w-96 gap-3"):
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

        async def finish() -> None:
            if ctx.setup_code and not same_secret((code.value or "").strip(), ctx.setup_code):
                error.set_text("Wrong setup code: it is printed in the service's log at startup.")
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
                if values:
                    await run.io_bound(ctx.save_settings, values)
            except Exception as exc:  # a ConfigError names the offending value
                error.set_text(str(exc))
                return
            await run.io_bound(ctx.set_admin_password, password.value)
            ui.navigate.to("/login")

        with ui.card().classes("absolute-center w-[28rem] gap-3"):
            _card_header("Welcome! Set up the dashboard.")
            code = ui.input("Setup code (from the service log)").classes("w-full")
            code.props("data-test=setup-code").set_visibility(ctx.setup_code is not None)
            password = ui.input("Admin password", password=True).classes("w-full")
            password.props("data-test=setup-password")
            confirm = ui.input("Repeat the password", password=True).classes("w-full")
            confirm.props("data-test=setup-confirm")
            ui.separator()
            ui.label("Trakt API app (create one at app.trakt.tv/settings/apps)").classes(
                "text-sm text-grey-8"
            )
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
