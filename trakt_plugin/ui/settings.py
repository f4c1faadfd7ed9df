"""Settings page, grouped by purpose (Trakt, scrobbling, sync, metadata, VIP, security, advanced)
with help text and human units; tokens and webhook URLs (masked until clicked); every setting
and its source (SPEC §3, §10).

Durations are stored in seconds (the YAML's unit) and shown as a number and a unit (seconds,
minutes, hours, days); what is saved is always seconds. Values set by environment or YAML, the
keys read only at start and the security keys are shown, never edited here.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    "plex": (
        "Plex Web → Settings → Webhooks (needs Plex Pass).",
        "Add Webhook, paste the URL, save.",
    ),
    "jellyfin": (
        "Dashboard → Plugins → Catalog: install Webhook, restart Jellyfin.",
        "Plugins → Webhook → Add Generic Destination, paste the URL.",
        "Tick Playback Start, Playback Stop and Playback Progress, and 'Send All Properties'.",
    ),
    "emby": (
        "Settings → Webhooks → Add Webhook, paste the URL.",
        "Choose the playback and mark-played events, content type application/json.",
    ),
    "revenge": ("Revenge → Integrations → Trakt, paste the URL.",),
}


def secret_row(ctx: AppContext, label: str, value: str, test_id: str, masked: str = MASK) -> None:
    """A masked value with reveal and copy buttons; the value reaches the page only on click,
    and only while the session that loaded the page is still valid."""
    with ui.row().classes("items-center w-full").props(f"data-test={test_id}"):
        ui.label(label).classes("w-full sm:w-40 font-medium")
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


# ---------------------------------------------------------------- what each key means

GROUPS = (
    ("trakt", "Trakt", "The Trakt app this service uses and where its calls go."),
    ("scrobbling", "Scrobbling", "Live playback sent to Trakt as people watch."),
    ("sync", "Sync", "Scheduled exchanges of history, watchlist and ratings with Trakt."),
    ("metadata", "Metadata", "Ids and ratings looked up on Trakt, and how long they are kept."),
    ("vip", "VIP", "Features for Trakt VIP members."),
    ("security", "Security", "Who may reach the dashboard, the API and the webhooks."),
    ("advanced", "Advanced", "Fine tuning; the defaults suit almost every household."),
)
# Stored in seconds, shown as a number and a unit.
DURATION_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


@dataclass(frozen=True)
class Meta:
    group: str
    label: str
    help: str
    # duration: whole seconds shown in a unit; otherwise a suffix after the number
    unit: str | None = None
    advanced: bool = False


def _adv(group: str, label: str, help: str, unit: str | None = None) -> Meta:
    return Meta(group, label, help, unit, advanced=True)


CATALOGUE: dict[str, Meta] = {
    "client_id": Meta("trakt", "Client ID", "The Trakt API app's client id."),
    "client_secret": Meta("trakt", "Client secret", "The Trakt API app's client secret."),
    "redirect_uri": Meta(
        "trakt",
        "Redirect URI",
        "Where Trakt sends a browser back after sign-in; must match "
        "the app's redirect URI on trakt.tv.",
    ),
    "api_url": Meta("trakt", "API URL", "Trakt API base. Changing it asks for the password."),
    "auth_url": Meta("trakt", "Auth URL", "Trakt sign-in base. Changing it asks for the password."),
    "proxy": Meta(
        "trakt",
        "Proxy",
        "tor, or a socks5h://, socks5:// or http(s):// URL every Trakt call "
        "goes through. Changing it asks for the password.",
    ),
    "auto_scrobble": Meta("scrobbling", "Scrobble live playback", "Send playback to Trakt."),
    "scrobble_threshold": Meta(
        "scrobbling", "Watched at", "Percent watched that makes a play count (1-100).", "%"
    ),
    "default_user": Meta(
        "scrobbling",
        "Default person",
        "Display name or id of the person whose plays are "
        "recorded when a media-server account is not linked to anyone (empty: nobody).",
    ),
    "watch_interval": _adv(
        "scrobbling",
        "Session poll interval",
        "How often a watched Jellyfin or Emby server is "
        "asked for its sessions when its websocket is unavailable.",
        "duration",
    ),
    "scrobble.dedupe_window": _adv(
        "scrobbling",
        "Same-play window",
        "A second completion of the same item within this "
        "time, with no new start between, is the same play.",
        "duration",
    ),
    "scrobble.idle_finalise": _adv(
        "scrobbling",
        "Finalise idle sessions after",
        "A session with no stop is finished after this long without events.",
        "duration",
    ),
    "scrobble.stale_start": _adv(
        "scrobbling",
        "Skip start/pause calls older than",
        "Late start and pause calls are pointless on Trakt; they are skipped.",
        "duration",
    ),
    "scrobble.live_window": _adv(
        "scrobbling",
        "Live window",
        "Completions sent later than this go through the history instead of a live scrobble.",
        "duration",
    ),
    "scrobble.give_up_after": _adv(
        "scrobbling",
        "Give up after",
        "A call that keeps failing this long is marked failed.",
        "duration",
    ),
    "scrobble.http_timeout": _adv(
        "scrobbling", "Trakt call timeout", "Seconds before a Trakt call times out.", "seconds"
    ),
    "events.retention_days": _adv(
        "scrobbling", "Keep webhook events", "Received events are kept this many days.", "days"
    ),
    "sync.auto_import_history": Meta("sync", "Import history", "Import Trakt history."),
    "sync.auto_export_plays": Meta("sync", "Export plays", "Send local plays to Trakt."),
    "sync.bidirectional_watchlist": Meta(
        "sync", "Two-way watchlist", "Keep the local and Trakt watchlists the same."
    ),
    "sync.sync_interval": Meta(
        "sync", "Sync every", "Time between scheduled syncs (at least 1 minute).", "duration"
    ),
    "sync.server_watched": Meta(
        "sync", "Media-server watched state", "Include watched marks on media servers."
    ),
    "sync.server_ratings": Meta("sync", "Media-server ratings", "Exchange Plex ratings."),
    "sync.propagate_unwatched": _adv(
        "sync",
        "Propagate unwatched",
        "Marking an item unwatched on a server removes its plays from Trakt too.",
    ),
    "sync.full_import_every": _adv(
        "sync",
        "Full re-read every",
        "Time between full re-reads of the Trakt history (at least 1 hour).",
        "duration",
    ),
    "metadata.use_for_enrichment": Meta(
        "metadata", "Enrich items", "Look up metadata for played items."
    ),
    "metadata.fetch_ratings": Meta(
        "metadata", "Ratings", "IMDb, TMDb, Rotten Tomatoes, Metacritic and other ratings."
    ),
    "metadata.fetch_ids": Meta("metadata", "Ids", "Cross-referenced provider ids."),
    "metadata.ids_ttl": _adv(
        "metadata", "Keep ids for", "Cached ids are fetched again after this.", "duration"
    ),
    "metadata.ratings_ttl": _adv(
        "metadata", "Keep ratings for", "Cached ratings are fetched again after this.", "duration"
    ),
    "vip.check_interval": Meta(
        "vip",
        "Check VIP status every",
        "Time between checks of each person's VIP status (at least 1 minute).",
        "duration",
    ),
    "vip.enable_lists": Meta("vip", "Lists", "Import VIP members' personal lists."),
    "vip.enable_recommendations": Meta(
        "vip", "Recommendations", "Fetch recommendations for VIP members."
    ),
    "trusted_proxies": Meta(
        "security", "Trusted proxies", "Reverse proxies whose forwarded headers name the client."
    ),
    "allowed_hosts": Meta("security", "Allowed hosts", "Extra host names the service answers."),
    "secure_cookies": Meta(
        "security", "Secure cookies", "Cookies only over HTTPS (behind an HTTPS proxy)."
    ),
    "admin_password": Meta(
        "security", "Admin password (environment)", "Set below or by TRAKT_PLUGIN_ADMIN_PASSWORD."
    ),
    "api_token": Meta("security", "API token (environment)", "Shown above."),
    "webhook_token": Meta("security", "Webhook token (environment)", "Shown above."),
    "secret_key": Meta("security", "Secret key", "Encrypts secrets at rest."),
    "rate.get_per_5min": _adv(
        "advanced", "Trakt reads per 5 minutes", "Budget of GET calls (at most 1000).", "per 5 min"
    ),
    "rate.post_interval": _adv(
        "advanced", "Pause between Trakt writes", "Seconds between write calls.", "seconds"
    ),
    "plex_tv_url": _adv("advanced", "plex.tv URL", "Asked for shared accounts' server tokens."),
    "servers": _adv("advanced", "Media servers (YAML)", "Managed on the Servers page."),
    "data_dir": _adv("advanced", "Data directory", "Read at start."),
    "database_url": _adv("advanced", "Database URL", "Read at start."),
    "host": _adv("advanced", "Listen address", "Read at start."),
    "port": _adv("advanced", "Port", "Read at start."),
}


def meta_of(key: str) -> Meta:
    return CATALOGUE.get(key) or _adv("advanced", key, "")


def best_unit(seconds: float) -> str:
    """The largest unit that shows ``seconds`` as a whole number (seconds for 0)."""
    for unit in ("days", "hours", "minutes"):
        if seconds and seconds % DURATION_UNITS[unit] == 0:
            return unit
    return "seconds"


def human_duration(seconds: float) -> str:
    unit = best_unit(seconds)
    count = seconds / DURATION_UNITS[unit]
    text = f"{count:g}"
    return f"{text} {unit[:-1] if count == 1 else unit}"


def shown_value(key: str, value: Any) -> str:
    """A read-only value as a person reads it."""
    if key in SECRET_KEYS:
        return "****" if value else "not set"
    if value is None or value == []:
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    unit = meta_of(key).unit
    if unit == "duration" and isinstance(value, int | float):
        return human_duration(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if key != "servers" else f"{len(value)} server(s)"
    return f"{value} {unit}" if unit else str(value)


class InvalidEntry(ValueError):
    """A value that cannot be read from its control (the message names the setting)."""


class Editor:
    """The control(s) of one editable key; :meth:`read` gives the value in the stored unit."""

    def __init__(self, key: str, old: Any) -> None:
        self.key, self.old = key, old
        label = meta_of(key).label
        self.element: Any
        if isinstance(old, bool):
            self.element = ui.switch(value=old)
        elif isinstance(old, int | float):
            self.element = ui.number(label=label, value=old).classes("w-40")
            if meta_of(key).unit:
                self.element.props.update(suffix=meta_of(key).unit)
        else:
            self.element = ui.input(label=label, value="" if old is None else str(old))
            self.element.classes("w-full sm:w-72")
        self.element.props.update({"aria-label": label})

    def read(self) -> Any:
        new = self.element.value
        if new == "" and self.old is None:
            return None
        if isinstance(self.old, int | float) and not isinstance(self.old, bool):
            if new is None or new == "":
                raise InvalidEntry(f"{meta_of(self.key).label}: enter a number")
            if isinstance(self.old, int):
                if float(new) != int(float(new)):
                    raise InvalidEntry(f"{meta_of(self.key).label}: enter a whole number")
                return int(float(new))
            return float(new)
        return new


class DurationEditor(Editor):
    """Whole seconds entered as a number and a unit (the number counts that unit)."""

    def __init__(self, key: str, old: int) -> None:
        self.key, self.old = key, old
        label = meta_of(key).label
        unit = best_unit(old)
        with ui.row().classes("items-center gap-2 no-wrap"):
            self.element = ui.number(label=label, value=old // DURATION_UNITS[unit], min=0)
            self.element.classes("w-28").props.update({"aria-label": label})
            self.unit = ui.select(list(DURATION_UNITS), value=unit, label="Unit")
            self.unit.classes("w-28").props(f"data-test=setting-{key}-unit")
            self.unit.props.update({"aria-label": f"{label}: unit"})

    def read(self) -> Any:
        number = self.element.value
        if number is None or number == "":
            raise InvalidEntry(f"{meta_of(self.key).label}: enter a number")
        seconds = float(number) * DURATION_UNITS[self.unit.value or "seconds"]
        if abs(seconds - round(seconds)) > 1e-6:
            raise InvalidEntry(
                f"{meta_of(self.key).label}: {human_duration(seconds)} is not a whole number "
                "of seconds"
            )
        return round(seconds)


def make_editor(key: str, value: Any) -> Editor:
    if meta_of(key).unit == "duration" and isinstance(value, int) and not isinstance(value, bool):
        return DurationEditor(key, value)
    return Editor(key, value)


def setting_row(key: str, value: Any, source: str, editable: bool) -> Editor | None:
    """One setting: its label, help and key on the left; its control and source on the right."""
    meta = meta_of(key)
    editor = None
    with (
        ui.row()
        .classes("items-center justify-between w-full gap-2 py-1")
        .props(f"data-test=setting-{key}")
    ):
        with ui.column().classes("gap-0 grow min-w-0").style("flex-basis: 14rem"):
            ui.label(meta.label).classes("font-medium")
            if meta.help:
                ui.label(meta.help).classes("text-xs text-grey-8 break-words w-full")
            ui.label(key).classes("text-xs font-mono text-grey-6 break-all")
        with ui.row().classes("items-center gap-2 min-w-0"):
            if editable:
                editor = make_editor(key, value)
            else:
                ui.label(shown_value(key, value)).classes("text-sm break-all").props(
                    "data-test=setting-value"
                )
            ui.badge(source, color="grey-6" if source == "default" else "primary")
    return editor


def register(ctx: AppContext) -> None:
    @ui.page("/settings", title="trakt-plugin · settings")
    async def settings_page(request: Request) -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        base = str(request.base_url).rstrip("/")
        editors: dict[str, Editor] = {}

        async def save(confirmed: bool = False) -> None:
            changed = {}
            try:
                for key, editor in editors.items():
                    new = editor.read()
                    if new != editor.old:
                        changed[key] = new
            except InvalidEntry as exc:
                ui.notify(str(exc), type="negative", multi_line=True)
                return
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
            for key, new in changed.items():
                editors[key].old = new
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

        rows: dict[str, list[tuple[str, Any, str]]] = {group: [] for group, _, _ in GROUPS}
        for key, value, source in effective_items(ctx.loaded):
            meta = meta_of(key)
            rows["advanced" if meta.advanced else meta.group].append((key, value, source))

        def group_rows(items: list[tuple[str, Any, str]]) -> None:
            for key, value, source in items:
                editable = (
                    source not in ("environment", "yaml")
                    and key not in READ_ONLY_KEYS
                    and key not in SECRET_KEYS
                )
                if (editor := setting_row(key, value, source, editable)) is not None:
                    editors[key] = editor

        def heading(group: str) -> None:
            title, purpose = next((t, p) for g, t, p in GROUPS if g == group)
            ui.label(title).classes("text-h6")
            ui.label(purpose).classes("text-xs text-grey-8")

        with frame(ctx, "Settings"):
            ui.label(
                "Values set by environment or config file are read-only here; durations are "
                "saved in seconds."
            ).classes("text-sm text-grey-8")
            with ui.card().classes("w-full").props("data-test=settings-trakt"):
                heading("trakt")
                group_rows(rows["trakt"])
                proxy_test(ctx)
            with ui.card().classes("w-full").props("data-test=settings-scrobbling"):
                heading("scrobbling")
                group_rows(rows["scrobbling"])
            webhook_card(ctx, base)
            for group in ("sync", "metadata", "vip"):
                with ui.card().classes("w-full").props(f"data-test=settings-{group}"):
                    heading(group)
                    group_rows(rows[group])
            with ui.card().classes("w-full").props("data-test=settings-security"):
                heading("security")
                secret_row(ctx, "API token", ctx.api_token, "api-token")
                secret_row(ctx, "Webhook token", ctx.webhook_token, "webhook-token")
                group_rows(rows["security"])
            with ui.card().classes("w-full").props("data-test=settings-advanced"):
                with (
                    ui.expansion("Advanced settings", icon="tune")
                    .classes("w-full")
                    .props("data-test=advanced-settings")
                ):
                    ui.label(next(p for g, _, p in GROUPS if g == "advanced")).classes(
                        "text-xs text-grey-8"
                    )
                    for group, title, _ in GROUPS:
                        items = [r for r in rows["advanced"] if meta_of(r[0]).group == group]
                        if items:
                            ui.label(title).classes("text-subtitle2 mt-2")
                            group_rows(items)
            with ui.row().classes("w-full justify-end"):
                ui.button("Save", icon="save", on_click=guarded(ctx, save)).props(
                    "data-test=save-settings"
                )
            password_card(ctx)
        return None


def proxy_test(ctx: AppContext) -> None:
    """Try a Trakt call through the saved proxy (or directly) and say how it went."""
    with ui.row().classes("items-center gap-2 w-full"):
        proxy = ctx.settings.proxy
        ui.label(f"Calls go {'via ' + str(mask('proxy', proxy)) if proxy else 'directly'}.")
        ui.label("Save first: the test uses the saved settings.").classes("text-xs text-grey-8")
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


def webhook_card(ctx: AppContext, base: str) -> None:
    """The webhook URL of each server kind, copied with one click, and how to set it up."""
    with ui.card().classes("w-full").props("data-test=webhook-urls"):
        ui.label("Webhook URLs").classes("text-h6")
        ui.label("Each media server sends playback here; the URL holds the webhook token.").classes(
            "text-xs text-grey-8"
        )
        for source, steps in SETUP_STEPS.items():
            url = f"{base}/webhooks/{source}?token={ctx.webhook_token}"
            secret_row(
                ctx,
                source.capitalize(),
                url,
                f"webhook-url-{source}",
                masked=f"{base}/webhooks/{source}?token={MASK}",
            )
            with ui.element("ol").classes("list-decimal ml-6 text-xs text-grey-8"):
                for step in steps:
                    with ui.element("li"):
                        ui.label(step).classes("break-words")


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
