"""``squall ui``: start the web dashboard (squall.ui) for a workspace."""

from __future__ import annotations

import argparse
import contextlib

__all__ = ["add_parser"]


def cmd_ui(args: argparse.Namespace) -> int:
    from squall.ui import serve

    with contextlib.suppress(KeyboardInterrupt):
        serve(
            args.home,
            host=args.host,
            port=args.port,
            allow_remote=args.allow_remote,
            open_browser=args.open,
        )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    u = sub.add_parser("ui", help="the web dashboard: jobs, models, stages (needs squall[ui])")
    u.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    u.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: a free one)")
    u.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than loopback (the token is then all that protects it)",
    )
    u.add_argument("--open", action="store_true", help="open the dashboard in a browser")
    u.set_defaults(func=cmd_ui)
