"""Following a media server's own playback feed (SPEC §12 ``live: "watch"``), without webhooks.

A *watcher* per server kind reads the server (Plex: the notifications websocket plus
``/status/sessions``; Jellyfin/Emby: the websocket's ``Sessions`` messages, or polling
``GET /Sessions``) and hands every change over as the server's whole list of sessions
(:class:`~.base.SessionSnapshot`). The :class:`~.tracker.SessionTracker` turns successive lists
into playback events (start, pause, resume, progress, stop), and the
:class:`~.manager.WatchManager` records them through the same recorder, policy and outbox as
webhook events, keeps each watcher running (reconnecting with backoff) and reports its state.
"""
