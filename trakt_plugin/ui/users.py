"""Users page: add people and link their media-server identities."""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from ..api.users import normalise_external_id
from ..context import AppContext
from ..store import repo
from ..store.models import IDENTITY_SOURCES, TraktConnection
from .auth import guarded, login_redirect
from .connect import connection_panel
from .theme import frame
from .vip import vip_link


def _add_user(ctx: AppContext, name: str) -> None:
    with ctx.session() as session, session.begin():
        repo.create_user(session, display_name=name)


def _link(ctx: AppContext, user_id: str, source: str, external_id: str) -> None:
    with ctx.session() as session, session.begin():
        repo.link_identity(
            session,
            user_id=user_id,
            source=source,
            external_id=normalise_external_id(source, external_id),
        )


def _load(ctx: AppContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with ctx.session() as session:
        users = [
            {
                "id": u.id,
                "display_name": u.display_name,
                "connection": session.get(TraktConnection, u.id),
                "identities": [
                    f"{i.source}: {i.external_id}"
                    for i in repo.identities_of(session, user_id=u.id)
                ],
            }
            for u in repo.list_users(session, limit=1000)
        ]
        unlinked = [
            {
                "source": i.source,
                "external_id": i.external_id,
                "name": i.name or "",
                "events": i.events,
            }
            for i in repo.unlinked_identities(session, limit=200)
        ]
    return users, unlinked


def register(ctx: AppContext) -> None:
    @ui.page("/users", title="trakt-plugin · users")
    async def users_page() -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        users, unlinked = await run.io_bound(_load, ctx) or ([], [])
        user_options = {str(u["id"]): str(u["display_name"]) for u in users}

        async def add_user() -> None:
            name = (new_name.value or "").strip()
            if not name or len(name) > 100:
                ui.notify("A name of 1 to 100 characters, please.", type="warning")
                return
            await run.io_bound(_add_user, ctx, name)
            ui.navigate.reload()

        with frame(ctx, "Users"):
            with ui.card().classes("w-full"):
                ui.label("Add a person").classes("text-h6")
                with ui.row().classes("items-center"):
                    new_name = ui.input("Display name").props("data-test=new-user-name")
                    ui.button("Add", on_click=guarded(ctx, add_user)).props("data-test=add-user")
            for user in users:
                with ui.card().classes("w-full").props(f"data-test=user-{user['id']}"):
                    ui.label(str(user["display_name"])).classes("text-h6")
                    identities = user["identities"]
                    assert isinstance(identities, list)
                    ui.label(", ".join(identities) or "No media-server accounts linked yet.")
                    connection_panel(ctx, str(user["id"]), user["connection"])
                    vip_link(str(user["id"]))
                    with ui.row().classes("items-center"):
                        source = ui.select(list(IDENTITY_SOURCES), value="plex", label="Server")
                        source.classes("w-32")
                        external = ui.input("User id or name on that server").classes("w-64")

                        async def link(
                            uid: str = str(user["id"]),
                            src: ui.select = source,
                            ext: ui.input = external,
                        ) -> None:
                            if not (ext.value or "").strip():
                                ui.notify("Type the id or name first.", type="warning")
                                return
                            await run.io_bound(_link, ctx, uid, src.value, ext.value.strip())
                            ui.navigate.reload()

                        ui.button("Link", on_click=guarded(ctx, link))
            if unlinked:
                with ui.card().classes("w-full").props("data-test=unlinked"):
                    ui.label("Seen on your media servers but not linked").classes("text-h6")
                    for row in unlinked:
                        with ui.row().classes("items-center"):
                            ui.label(
                                f"{row['source']}: {row['name'] or row['external_id']} "
                                f"({row['events']} events)"
                            )
                            target = ui.select(user_options, label="Person")

                            async def adopt(
                                r: dict[str, object] = row, t: ui.select = target
                            ) -> None:
                                if not t.value:
                                    ui.notify("Pick a person first.", type="warning")
                                    return
                                await run.io_bound(
                                    _link, ctx, t.value, str(r["source"]), str(r["external_id"])
                                )
                                ui.navigate.reload()

                            ui.button("Link", on_click=guarded(ctx, adopt))
        return None
