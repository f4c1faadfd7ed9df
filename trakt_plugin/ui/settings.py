"""Settings page: tokens and webhook URLs (masked until clicked), every setting and its source."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import run, ui

from ..config import SECRET_KEYS, ConfigError, effective_items, mask
from ..context import AppContext
from .theme import frame, login_redirect

MASK = "•" * 12
# Keys that only take effect when the process starts: shown, never edited here.
STARTUP_KEYS = frozenset({"data_dir", "database_url", "host", "port"})
SETUP_STEPS = {
    "plex": "Plex Web → Settings → Webhooks → Add Webhook, paste the URL (needs Plex Pass).",
    "jellyfin": "Dashboard → Plugins → Webhook → Add Generic Destination, paste the URL, "
    "tick Playback Start/Stop/Progress and 'Send All Properties'.",
    "emby": "Settings → Webhooks → Add Webhook, paste the URL, choose playback and "
    "mark-played events, content type application/json.",
    "revenge": "Revenge → Integrations → Trakt, paste the URL.",
}


def secret_row(label: str, value: str, test_id: str, masked: str = MASK) -> None:
    """A masked value with reveal and copy buttons; the value reaches the page only on click."""
    with ui.row().classes("items-center w-full").props(f"data-test={test_id}"):
        ui.label(label).classes("w-40 font-medium")
        shown = ui.label(masked).classes("font-mono text-sm break-all grow")
        ui.button(icon="visibility", on_click=lambda: shown.set_text(value)).props(
            "flat dense"
        ).tooltip("Reveal")

        def copy() -> None:
            ui.clipboard.write(value)
            ui.notify(f"{label} copied")

        ui.button(icon="content_copy", on_click=copy).props("flat dense").tooltip("Copy")


def _editor(key: str, value: Any) -> ui.element:
    if isinstance(value, bool):
        return ui.switch(value=value)
    if isinstance(value, int | float):
        return ui.number(value=value).classes("w-40")
    return ui.input(value="" if value is None else str(value)).classes("w-72")


def register(ctx: AppContext) -> None:
    @ui.page("/settings", title="trakt-plugin · settings")
    async def settings_page(request: Request) -> RedirectResponse | None:
        if redirect := login_redirect():
            return redirect
        base = str(request.base_url).rstrip("/")
        editors: dict[str, tuple[Any, ui.element]] = {}

        async def save() -> None:
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
            try:
                await run.io_bound(ctx.save_settings, changed)
            except ConfigError as exc:
                ui.notify(str(exc), type="negative", multi_line=True)
                return
            ui.notify("Saved.", type="positive")

        with frame(ctx, "Settings"):
            with ui.card().classes("w-full"):
                ui.label("Tokens").classes("text-h6")
                secret_row("API token", ctx.api_token, "api-token")
                secret_row("Webhook token", ctx.webhook_token, "webhook-token")
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

                ui.button("Test connection", on_click=test_connection).props(
                    "data-test=test-connection outline"
                )
            with ui.card().classes("w-full"):
                ui.label("Webhook URLs").classes("text-h6")
                for source, steps in SETUP_STEPS.items():
                    url = f"{base}/webhooks/{source}?token={ctx.webhook_token}"
                    secret_row(
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
                            and key not in STARTUP_KEYS
                            and key not in SECRET_KEYS
                        )
                        if editable:
                            editors[key] = (value, _editor(key, value))
                        else:
                            ui.label("****" if key in SECRET_KEYS and value else str(value))
                        ui.badge(source, color="grey-6" if source == "default" else "primary")
                ui.button("Save", on_click=save).props("data-test=save-settings")
        return None
