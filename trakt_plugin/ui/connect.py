"""The Trakt connection part of the users page: state card, connect by code or redirect."""

from __future__ import annotations

import io
from typing import Any

import qrcode
import qrcode.image.svg
from nicegui import run, ui

from ..connections import ConnectError, ConnectionService, NotConfigured
from ..context import AppContext
from ..store.models import TraktConnection
from .auth import guarded
from .overview import STATE_COLOURS

POLL_SECONDS = 2.0


def qr_svg(text: str) -> str:
    """An inline SVG QR code (no network, no image files)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode("utf-8")


def _state(ctx: AppContext, user_id: str) -> TraktConnection | None:
    with ctx.session() as session:
        return session.get(TraktConnection, user_id)


def connection_panel(ctx: AppContext, user_id: str, row: TraktConnection | None) -> None:
    """State, expiry, VIP badge and the connect/disconnect buttons for one user."""
    service: ConnectionService = ctx.services["connections"]
    state = row.state if row else "disconnected"

    async def by_code() -> None:
        try:
            code: dict[str, Any] = await service.start_device_flow(user_id)
        except (NotConfigured, ConnectError) as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        with ui.dialog() as dialog, ui.card().classes("items-center gap-2"):
            ui.label("Connect Trakt").classes("text-h6")
            ui.label("Open the link (or scan the code) and enter:")
            ui.label(str(code["user_code"])).classes("text-3xl font-mono font-bold").props(
                "data-test=device-user-code"
            )
            url = str(code["verification_url"])
            ui.link(url, url, new_tab=True)
            ui.html(qr_svg(url)).classes("w-48 h-48")
            status = ui.label("Waiting for you to approve on Trakt…")

            async def check() -> None:
                # A connected person stays connected while the new code is polled.
                if service.device_flow_open(user_id):
                    return
                current = await run.io_bound(_state, ctx, user_id)
                if current is None or current.state == "pending":
                    return
                timer.deactivate()
                if current.state == "connected":
                    status.set_text(f"Connected as {current.username}.")
                    ui.navigate.reload()
                else:
                    status.set_text(current.last_error or "Not connected.")

            timer = ui.timer(POLL_SECONDS, check)
            ui.button("Close", on_click=dialog.close).props("flat")
        dialog.open()

    async def by_redirect() -> None:
        try:
            url = await run.io_bound(service.authorize_url, user_id)
        except (NotConfigured, ConnectError) as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        if url:
            ui.navigate.to(url, new_tab=True)

    async def disconnect() -> None:
        await service.disconnect(user_id)
        ui.notify("Disconnected from Trakt.")
        ui.navigate.reload()

    async def check_now() -> None:
        await service.refresh_profile(user_id)
        ui.navigate.reload()

    with ui.row().classes("items-center gap-2").props(f"data-test=connection-{user_id}"):
        ui.badge(state.replace("_", " "), color=STATE_COLOURS.get(state, "grey"))
        if row and row.username:
            ui.label(f"Trakt: {row.username}")
        if row and row.vip:
            ui.badge("VIP", color="amber")
        if row and row.expires_at and state == "connected":
            ui.label(f"token renews before {row.expires_at:%Y-%m-%d %H:%M} UTC").classes("text-xs")
        if row and row.last_error:
            ui.label(row.last_error).classes("text-xs text-negative")
    with ui.row().classes("gap-2"):
        if state != "connected":
            ui.button("Connect with a code", on_click=guarded(ctx, by_code)).props(
                "data-test=connect-device outline"
            )
            ui.button("Connect in this browser", on_click=guarded(ctx, by_redirect)).props(
                "outline"
            )
        else:
            ui.button("Check now", on_click=guarded(ctx, check_now)).props("flat")
        if row is not None and state != "disconnected":
            ui.button("Disconnect", on_click=guarded(ctx, disconnect)).props("flat color=negative")
