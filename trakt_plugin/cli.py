"""Command line: ``trakt-plugin serve | check-config | version``."""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .config import ConfigError, effective_items, load_settings


def _check_config() -> int:
    from .context import settings_for_check  # the store's saved values count too

    loaded = settings_for_check(load_settings(os.environ), os.environ)
    print(f"configuration OK (config file: {loaded.config_file or 'none'})")
    for key, value, source in effective_items(loaded):
        print(f"{key} = {value} [{source}]")
    return 0


def _serve() -> int:
    from .app import serve  # imported late: NiceGUI is slow to import and check-config needs none

    serve(load_settings(os.environ), os.environ)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="trakt-plugin",
        description="Scrobble and sync a home media server to Trakt.tv for a whole household.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", help="start the service (dashboard, API, webhooks, scheduler)")
    commands.add_parser("check-config", help="validate configuration and print effective settings")
    commands.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _serve()
        if args.command == "check-config":
            return _check_config()
        if args.command == "version":
            print(f"trakt-plugin {__version__}")
            return 0
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
