"""Settings page: tokens and webhook URLs (masked until clicked), every setting and its source."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import run, ui

from ..config import (
    MIN_PASSWORD_LENGTH,
    SECRET_KEYS,
    ConfigError,
    dashboard_url_problem,
    effective_items,
    mask,
)
from ..context import AppContext
from .auth import client_of, guarded, login_redirect, page_request
from .login import refusal
from .theme import frame

MASK = "•" * 12
# Keys that only take effect when the process starts, and the security keys of SPEC §11 (a
# hijacked session must not widen them): shown, never edited here.
READ_ONLY_KEYS = frozenset(
    {
        "data_dir",
        "database_url",
        "host",
        "port",
        "trusted_proxies",
        "allowed_hosts",
        "secure_cookies",
        "servers",  # the Servers API and YAML manage them
        "plex_tv_url",  # where the Plex owner's token goes: environment or YAML only
    }
)
# Keys that decide where Trakt tokens are sent: changing one asks for the admin password again.
GUARDED_KEYS = frozenset({"api_url", "auth_url", "proxy"})
SETUP_STEPS = {
    "plex": "Plex Web → Settings → Webhooks → Add Webhook, paste the URL (needs Plex Pass).",
    "jellyfin": "Dashboard → Plugins → Webhook → Add Generic Destination, paste the URL, "
    "tick Playback Start/Stop/Progress and 'Send All Properties'.",
    "emby": "Settings → Webhooks → Add Webhook, paste the URL, choose playback and "
    "mark-played events, content type application/json.",
    "revenge": "Revenge → Integrations → Trakt, paste the URL.",
}


def secret_row(ctx: AppContext, label: str, value: str, test_id: str, masked: str = MASK) -> None:
    """A masked value with reveal and copy buttons; the value reaches the page only on click,
    and only while the session that loaded the page is still valid."""
    with ui.row().classes("items-center w-full").props(f"data-test={test_id}"):
        ui.label(label).classes("w-40 font-medium")
        shown = ui.label(masked).classes("font-mono text-sm break-all grow")

        def copy() -> None:
            ui.clipboard.write(value)
            ui.notify(f"{label} copied")

        ui.button(icon="visibility", on_click=guarded(ctx, lambda: shown.set_text(value))).props(
            f"flat dense data-test={test_id}-reveal aria-label='Reveal {label}'"
        ).tooltip("Reveal")
        ui.button(icon="content_copy", on_click=guarded(ctx, copy)).props(
            f"flat dense aria-label='Copy {label}'"
        ).tooltip("Copy")


def _editor(key: str, value: Any) -> ui.element:
    if isinstance(value, bool):
        return ui.switch(value=value)
    if isinstance(value, int | float):
        return ui.number(value=value).classes("w-40")
    return ui.input(value="" if value is None else str(value)).classes("w-72")


def register(ctx: AppContext) -> None:
    @ui.page("/settings", title="trakt-plugin · settings")
    async def settings_page(request: Request) -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        base = str(request.base_url).rstrip("/")
        editors: dict[str, tuple[Any, ui.element]] = {}

        async def save(confirmed: bool = False) -> None:
            changed = {}
            for key, (old, element) in editors.items():
                new = getattr(element, "value", old)
                if new == "" and old is None:
                    new = None
                if new != old:
                    changed[key] = (
                        int(new)
                        if isinstance(old, int) and not isinstance(old, bool) and new is not None
                        else new
                    )
            if not changed:
                ui.notify("Nothing changed.")
                return
            problem = next(
                (p for k, v in changed.items() if (p := dashboard_url_problem(k, v))), None
            )
            if problem:
                ui.notify(problem, type="negative", multi_line=True)
                return
            if GUARDED_KEYS & changed.keys() and not confirmed:
                reauth.open()
                return
            try:
                await run.io_bound(ctx.save_settings, changed)
            except ConfigError as exc:
                ui.notify(str(exc), type="negative", multi_line=True)
                return
            ui.notify("Saved.", type="positive")

        async def confirm_and_save() -> None:
            verdict = await ctx.guard.check(
                client_of(ctx, page_request()),
                partial(ctx.check_admin_password, reauth_password.value or ""),
            )
            reauth_password.value = ""
            if not verdict.ok:
                reauth_error.set_text(refusal(verdict, "password"))
                return
            reauth.close()
            await save(confirmed=True)

        with ui.dialog() as reauth, ui.card().classes("gap-3"):
            ui.label("Changing where Trakt calls go needs the admin password.")
            reauth_password = ui.input("Admin password", password=True).classes("w-full")
            reauth_password.props("data-test=reauth-password")
            reauth_error = ui.label("").classes("text-negative").props("data-test=reauth-error")
            with ui.row():
                ui.button("Confirm", on_click=guarded(ctx, confirm_and_save)).props(
                    "data-test=reauth-submit"
                )
                ui.button("Cancel", on_click=reauth.close).props("flat")

        with frame(ctx, "Settings"):
            with ui.card().classes("w-full"):
                ui.label("Tokens").classes("text-h6")
                secret_row(ctx, "API token", ctx.api_token, "api-token")
                secret_row(ctx, "Webhook token", ctx.webhook_token, "webhook-token")
            with ui.card().classes("w-full"):
                ui.label("Connection to Trakt").classes("text-h6")
                proxy = ctx.settings.proxy
                ui.label(f"Proxy: {mask('proxy', proxy) if proxy else 'none (direct)'}")
                result = ui.label("").props("data-test=test-connection-result")

                async def test_connection() -> None:
                    result.set_text("Testing…")
                    answer = await ctx.services["trakt"].test_connection()
                    if answer["ok"]:
                        result.set_text(f"OK via {answer['via']} in {answer['ms']} ms")
                    else:
                        result.set_text(f"Failed: {answer['error']}")

                ui.button("Test connection", on_click=guarded(ctx, test_connection)).props(
                    "data-test=test-connection outline"
                )
            with ui.card().classes("w-full"):
                ui.label("Webhook URLs").classes("text-h6")
                for source, steps in SETUP_STEPS.items():
                    url = f"{base}/webhooks/{source}?token={ctx.webhook_token}"
                    secret_row(
                        ctx,
                        source.capitalize(),
                        url,
                        f"webhook-url-{source}",
                        masked=f"{base}/webhooks/{source}?token={MASK}",
                    )
                    ui.label(steps).classes("text-xs text-grey-8 ml-40")
            with ui.card().classes("w-full"):
                ui.label("Settings").classes("text-h6")
                ui.label("Values set by environment or config file are read-only here.").classes(
                    "text-xs text-grey-8"
                )
                for key, value, source in effective_items(ctx.loaded):
                    with ui.row().classes("items-center w-full").props(f"data-test=setting-{key}"):
                        ui.label(key).classes("w-64 font-mono text-sm")
                        editable = (
                            source not in ("environment", "yaml")
                            and key not in READ_ONLY_KEYS
                            and key not in SECRET_KEYS
                        )
                        if editable:
                            editors[key] = (value, _editor(key, value))
                        else:
                            ui.label("****" if key in SECRET_KEYS and value else str(value))
                        ui.badge(source, color="grey-6" if source == "default" else "primary")
                ui.button("Save", on_click=guarded(ctx, save)).props("data-test=save-settings")
            password_card(ctx)
        return None


def password_card(ctx: AppContext) -> None:
    """Change the admin password: every session ends, and this browser signs in afresh."""
    with ui.card().classes("w-full"):
        ui.label("Admin password").classes("text-h6")
        if ctx.loaded.locked("admin_password"):
            ui.label("Set by TRAKT_PLUGIN_ADMIN_PASSWORD: change it there and restart.")
            return
        ui.label("Changing it signs out every browser.").classes("text-xs text-grey-8")
        current = ui.input("Current password", password=True).props("data-test=pw-current")
        new = ui.input("New password", password=True).props("data-test=pw-new")
        repeat = ui.input("Repeat the new password", password=True).props("data-test=pw-repeat")
        message = ui.label("").classes("text-negative").props("data-test=pw-error")

        async def change() -> None:
            if len(new.value or "") < MIN_PASSWORD_LENGTH:
                message.set_text(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
                return
            if new.value != repeat.value:
                message.set_text("The two passwords differ.")
                return
            verdict = await ctx.guard.check(
                client_of(ctx, page_request()),
                partial(ctx.check_admin_password, current.value or ""),
            )
            if not verdict.ok:
                message.set_text(refusal(verdict, "current password"))
                return
            await run.io_bound(ctx.change_admin_password, new.value)
            epoch = await run.io_bound(ctx.password_epoch) or 0
            ui.navigate.to(f"/auth/session?ticket={ctx.sessions.issue_ticket(epoch)}")

        ui.button("Change password", on_click=guarded(ctx, change)).props(
            "data-test=pw-submit outline"
        )
