"""Servers page (SPEC §10, §12): add Plex, Jellyfin and Emby servers, see and refresh each one's
state, choose its live mode, remove it, and link its accounts to people.

The page renders from the store only; every request to a media server (the check when a server
is added, "Test", the accounts list, an account's token) runs from an event handler through
:class:`~trakt_plugin.servers.service.ServerService`, which does the network work in a worker
thread. A token is accepted in a password field, handed to the service and cleared; it is never
put back into the page.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from datetime import datetime

from fastapi.responses import RedirectResponse
from nicegui import run, ui
from nicegui.element import Element
from pydantic import ValidationError
from sqlmodel import select

from ..api.servers import ServerCreate
from ..api.users import normalise_external_id
from ..config import MAX_SERVER_TOKEN
from ..context import AppContext
from ..servers.service import AccountView, ServerService, ServerServiceError
from ..store import repo
from ..store.models import MediaServer, User, as_utc
from .auth import guarded, login_redirect
from .theme import frame

log = logging.getLogger(__name__)

KIND_OPTIONS = {"plex": "Plex", "jellyfin": "Jellyfin", "emby": "Emby"}
LIVE_OPTIONS = {
    "webhook": "Webhooks",
    "watch": "Watch the server",
    "off": "Off (sync only)",
}
STATE_COLOURS = {"ok": "positive", "unreachable": "negative", "unauthorized": "warning"}
# The page lists this many servers; a household has a handful.
MAX_SERVERS = 200
MAX_PERSON_NAME = 100  # the users API's limit on a display name


class LinkRefused(Exception):
    """A link the page will not make (shown to the person, never a traceback)."""


# ---------------------------------------------------------------- store work (worker threads)


def _people(ctx: AppContext) -> dict[str, str]:
    """Every person, by id, sorted by name (the options of "Link to person")."""
    with ctx.session() as session:
        users = session.exec(select(User).order_by(User.display_name)).all()
    return {user.id: user.display_name for user in users}


def _link(ctx: AppContext, view: AccountView, user_id: str | None, new_name: str | None) -> str:
    """Link the account's identity to a person (or to a new one named ``new_name``), as
    ``POST /api/v1/users/{id}/identities`` does, in one transaction; answers the user id.

    The page offers this only for accounts it showed unlinked: an identity someone linked to
    another person since then is refused, not silently moved."""
    external_id = normalise_external_id(view.source, view.external_id)
    with ctx.session() as session, session.begin():
        found = repo.find_identity(session, source=view.source, external_id=external_id)
        if found is not None and found.user_id is not None and found.user_id != user_id:
            owner = repo.get_user(session, user_id=found.user_id)
            who = owner.display_name if owner is not None else "another person"
            raise LinkRefused(f"{view.name} is already linked to {who}")
        if new_name is not None:
            user_id = repo.create_user(session, display_name=new_name).id
        elif user_id is None or repo.get_user(session, user_id=user_id) is None:
            raise LinkRefused("that person no longer exists: reload the page")
        repo.link_identity(
            session,
            user_id=user_id,
            source=view.source,
            external_id=external_id,
            name=view.name,
        )
        return user_id


# ---------------------------------------------------------------- small helpers


def _service(ctx: AppContext) -> ServerService | None:
    service = ctx.services.get("servers")
    return service if isinstance(service, ServerService) else None


def _test_id(element: Element, value: str) -> None:
    """A stable selector for tests (ids reduced to characters a CSS selector takes as is)."""
    element.props["data-test"] = re.sub(r"[^A-Za-z0-9_-]", "_", value)


def _when(value: datetime | None) -> str:
    moment = as_utc(value)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "never"


def _form_errors(exc: ValidationError) -> str:
    """What is wrong with the form, by field; never the values (one of them is a token)."""
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{field.capitalize()}: {message}")
    return "; ".join(parts)


# ---------------------------------------------------------------- the page


def register(ctx: AppContext) -> None:
    @ui.page("/servers", title="trakt-plugin · servers")
    async def servers_page() -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        service = _service(ctx)
        with frame(ctx, "Servers"):
            ui.label("Media servers").classes("text-h6").mark("servers-title")
            if service is None:
                ui.label("Media servers are not set up in this service.")
                return None
            servers = await service.list_servers(after=None, limit=MAX_SERVERS)
            people = await run.io_bound(_people, ctx) or {}
            page = ServersPage(ctx, service, people)
            page.add_form()
            page.cards = ui.column().classes("w-full gap-4").props("data-test=server-list")
            with page.cards:
                page.empty = ui.label("No servers yet: add one above.")
                page.empty.visible = not servers
                for server in servers:
                    ServerCard(page, server)
        return None


class ServersPage:
    """What the cards share: the service, the people, and the list they sit in."""

    def __init__(self, ctx: AppContext, service: ServerService, people: dict[str, str]) -> None:
        self.ctx = ctx
        self.service = service
        self.people = people
        self.cards: ui.column | None = None
        self.empty: ui.label | None = None

    async def reload_people(self) -> None:
        self.people = await run.io_bound(_people, self.ctx) or {}

    def add_form(self) -> None:
        with ui.card().classes("w-full").props("data-test=add-server"):
            ui.label("Add a server").classes("text-lg font-bold")
            with ui.row().classes("items-end w-full gap-4"):
                kind = ui.select(KIND_OPTIONS, value="plex", label="Kind").classes("w-32")
                kind.props("data-test=server-kind")
                name = ui.input("Name").classes("w-48").props("data-test=server-name")
                url = ui.input("URL", placeholder="http://192.168.1.10:32400")
                url.classes("w-72").props("data-test=server-url")
                token = ui.input(
                    "Token (Plex: X-Plex-Token; Jellyfin/Emby: API key)", password=True
                ).classes("w-72")
                token.props("data-test=server-token autocomplete=off")
                live = ui.select(LIVE_OPTIONS, value="webhook", label="Live playback")
                live.classes("w-44").props("data-test=server-live")
            error = ui.label("").classes("text-negative text-sm").props("data-test=add-error")
            error.visible = False

            async def add() -> None:
                error.visible = False
                try:
                    body = ServerCreate(
                        kind=kind.value,
                        name=name.value or "",
                        url=url.value or "",
                        token=token.value or "",
                        live=live.value,
                    )
                except ValidationError as exc:
                    error.text, error.visible = _form_errors(exc), True
                    return
                button.disable()
                try:
                    server = await self.service.create(
                        kind=body.kind,
                        name=body.name,
                        url=body.url,
                        token=body.token,
                        live=body.live,
                    )
                except ServerServiceError as exc:
                    error.text, error.visible = exc.message, True
                    return
                finally:
                    button.enable()
                token.value = ""  # never kept in the page
                name.value = url.value = ""
                self.add_card(server)
                if server.state == "ok":
                    ui.notify(f"{server.name} added", type="positive")
                else:
                    ui.notify(f"{server.name} added but {server.state}", type="warning")

            button = ui.button("Add server", on_click=guarded(self.ctx, add))
            button.props("data-test=add-server-submit")

    def add_card(self, server: MediaServer) -> None:
        assert self.cards is not None and self.empty is not None
        self.empty.visible = False
        with self.cards:
            ServerCard(self, server)


class ServerCard:
    """One server: what it said when last checked, its controls, and (on demand) its accounts."""

    def __init__(self, page: ServersPage, server: MediaServer) -> None:
        self.page = page
        self.server = server
        self.accounts: list[AccountView] = []
        self._token_errors: dict[str, ui.label] = {}
        with ui.card().classes("w-full") as self.card:
            _test_id(self.card, f"server-{server.id}")
            self.summary = ui.column().classes("w-full gap-1")
            with ui.row().classes("items-center gap-2"):
                ui.button("Test", on_click=guarded(page.ctx, self.test)).props(
                    "outline data-test=server-test"
                )
                ui.button("Load accounts", on_click=guarded(page.ctx, self.load_accounts)).props(
                    "outline data-test=load-accounts"
                )
                if server.source != "yaml":
                    ui.button("Delete", on_click=guarded(page.ctx, self.confirm_delete)).props(
                        "flat color=negative data-test=server-delete"
                    )
            self.accounts_error = ui.label("").classes("text-negative text-sm")
            self.accounts_error.props("data-test=accounts-error")
            self.accounts_error.visible = False
            self.accounts_box = ui.column().classes("w-full gap-2").props("data-test=accounts")
        self.render_summary()

    @property
    def ctx(self) -> AppContext:
        return self.page.ctx

    @property
    def service(self) -> ServerService:
        return self.page.service

    # ------------------------------------------------------------ the server

    def render_summary(self) -> None:
        server = self.server
        watch = self.service.watch_status(server.id)
        self.summary.clear()
        with self.summary:
            with ui.row().classes("items-center gap-3 w-full"):
                ui.label(server.name).classes("text-lg font-bold").props("data-test=server-title")
                ui.badge(KIND_OPTIONS.get(server.kind, server.kind), color="primary")
                ui.badge(server.state, color=STATE_COLOURS.get(server.state, "grey")).props(
                    "data-test=server-state"
                )
                ui.label(f"source: {server.source}").classes("text-xs").props(
                    "data-test=server-source"
                )
            ui.label(server.url).classes("text-sm break-all").props("data-test=server-url-shown")
            if server.last_error:
                ui.label(server.last_error).classes("text-negative text-sm break-all").props(
                    "data-test=server-error"
                )
            about = " · ".join(
                part
                for part in (
                    server.server_name,
                    f"version {server.version}" if server.version else None,
                    f"checked {_when(server.checked_at)}",
                )
                if part
            )
            ui.label(about).classes("text-sm").props("data-test=server-details")
            watch_text = f"watch: {watch.state}"
            if watch.last_message_at is not None:
                watch_text += f" · last message {_when(watch.last_message_at)}"
            ui.label(watch_text).classes("text-sm").props("data-test=server-watch")
            live = ui.select(
                LIVE_OPTIONS,
                value=server.live if server.live in LIVE_OPTIONS else None,
                label="Live playback",
                on_change=guarded(self.ctx, self.change_live),
            ).classes("w-48")
            live.props("data-test=server-live-mode")
            if server.source == "yaml":
                live.disable()
                ui.label(
                    "Configured in the YAML file (integrations.trakt.servers): change it there."
                ).classes("text-xs")

    async def test(self) -> None:
        try:
            self.server = await self.service.test(self.server.id)
        except ServerServiceError as exc:
            ui.notify(exc.message, type="negative")
            return
        self.render_summary()
        ui.notify(
            f"{self.server.name}: {self.server.state}",
            type="positive" if self.server.state == "ok" else "warning",
        )

    async def change_live(self, event: object) -> None:
        value = getattr(event, "value", None)
        if value is None or value == self.server.live:
            return
        try:
            self.server = await self.service.update(self.server.id, {"live": value})
        except ServerServiceError as exc:
            ui.notify(exc.message, type="negative")
        self.render_summary()

    def confirm_delete(self) -> None:
        with ui.dialog() as dialog, ui.card().classes("gap-3"):
            ui.label(f"Remove {self.server.name}? Its accounts' links to people stay.")
            with ui.row():

                async def delete() -> None:
                    dialog.close()
                    try:
                        await self.service.delete(self.server.id)
                    except ServerServiceError as exc:
                        ui.notify(exc.message, type="negative")
                        return
                    self.card.delete()
                    ui.notify(f"{self.server.name} removed")

                ui.button("Remove", on_click=guarded(self.ctx, delete)).props(
                    "color=negative data-test=server-delete-confirm"
                )
                ui.button("Cancel", on_click=dialog.close).props("flat")
        dialog.open()

    # ------------------------------------------------------------ accounts

    async def load_accounts(self) -> None:
        self.accounts_error.visible = False
        try:
            self.accounts = await self.service.accounts(self.server.id)
        except ServerServiceError as exc:
            self.accounts_error.text = f"Cannot list the accounts: {exc.message}"
            self.accounts_error.visible = True
            self.accounts_box.clear()
            # The service records why the server could not be asked: show the state it saved.
            try:
                self.server = await self.service.get(self.server.id)
            except ServerServiceError:
                return
            self.render_summary()
            return
        await self.page.reload_people()
        self.render_accounts()

    def render_accounts(self) -> None:
        self.accounts_box.clear()
        self._token_errors.clear()
        with self.accounts_box:
            ui.label("Accounts").classes("font-bold")
            if not self.accounts:
                ui.label("The server lists no accounts.")
            for view in self.accounts:
                self._account_row(view)

    def _account_row(self, view: AccountView) -> None:
        people = self.page.people
        with ui.column().classes("w-full gap-1 border-t pt-2") as row:
            _test_id(row, f"account-{view.account_id}")
            with ui.row().classes("items-center gap-3"):
                ui.label(view.name).classes("font-bold")
                ui.label(f"identity {view.source}: {view.external_id}").classes("text-xs")
                person = people.get(view.user_id, "?") if view.user_id else None
                ui.label(f"linked to {person}" if person else "not linked").classes(
                    "text-sm"
                ).props("data-test=account-person")
                ui.label(
                    "can write"
                    if view.writable
                    else f"read only: {view.reason or 'no reason given'}"
                ).classes("text-sm").props("data-test=account-writable")
            if view.user_id is None:
                with ui.row().classes("items-center gap-2"):
                    target = ui.select(people, label="Person").classes("w-48")
                    target.props("data-test=link-person")
                    ui.button(
                        "Link to person",
                        on_click=guarded(self.ctx, self._linker(view, target)),
                    ).props("outline dense data-test=link-account")
                    ui.button(
                        "Create person",
                        on_click=guarded(self.ctx, self._creator(view)),
                    ).props("outline dense data-test=create-person")
            if self.server.kind == "plex" and not view.writable:
                with ui.row().classes("items-center gap-2"):
                    token = ui.input("This account's server token", password=True)
                    token.classes("w-72").props("data-test=account-token autocomplete=off")
                    ui.button(
                        "Save token", on_click=guarded(self.ctx, self._token_saver(view, token))
                    ).props("outline dense data-test=save-account-token")
                    error = ui.label("").classes("text-negative text-sm")
                    error.props("data-test=account-token-error")
                    error.visible = False
                    self._token_errors[view.account_id] = error

    def _linker(self, view: AccountView, target: ui.select) -> Callable[[], object]:
        async def link() -> None:
            if not target.value:
                ui.notify("Pick a person first.", type="warning")
                return
            await self._link(view, str(target.value), None)

        return link

    def _creator(self, view: AccountView) -> Callable[[], object]:
        async def create() -> None:
            name = view.name.strip()[:MAX_PERSON_NAME] or view.external_id[:MAX_PERSON_NAME]
            await self._link(view, None, name)

        return create

    async def _link(self, view: AccountView, user_id: str | None, new_name: str | None) -> None:
        try:
            linked = await run.io_bound(_link, self.ctx, view, user_id, new_name)
        except LinkRefused as exc:
            ui.notify(str(exc), type="negative")
            return
        except Exception as exc:  # a store failure: say so, keep the page
            log.error("linking account %s failed: %s", view.account_id, type(exc).__name__)
            ui.notify(f"Linking {view.name} failed ({type(exc).__name__})", type="negative")
            return
        assert linked is not None
        await self.page.reload_people()
        self.accounts = [
            dataclasses.replace(a, user_id=linked) if a.account_id == view.account_id else a
            for a in self.accounts
        ]
        self.render_accounts()
        ui.notify(f"{view.name} linked to {self.page.people.get(linked, '?')}", type="positive")

    def _token_saver(self, view: AccountView, field: ui.input) -> Callable[[], object]:
        async def save() -> None:
            token = (field.value or "").strip()
            field.value = ""  # never kept in the page, accepted or not
            error = self._token_errors.get(view.account_id)
            if error is not None:
                error.visible = False
            if not token or len(token) > MAX_SERVER_TOKEN:
                ui.notify(
                    f"Paste the account's token (1 to {MAX_SERVER_TOKEN} characters).",
                    type="warning",
                )
                return
            try:
                fresh = await self.service.set_account_token(self.server.id, view.account_id, token)
            except ServerServiceError as exc:
                if error is not None:
                    error.text, error.visible = exc.message, True
                ui.notify(exc.message, type="negative")
                return
            self.accounts = [
                fresh if a.account_id == fresh.account_id else a for a in self.accounts
            ]
            self.render_accounts()
            ui.notify(f"{view.name} can be written now", type="positive")

        return save
