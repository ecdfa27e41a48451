"""Serve the dashboard with uvicorn on a socket bound before the address is printed."""

from __future__ import annotations

import secrets
import socket
import sys
from typing import Any

from squall.errors import InvalidArgumentError, MissingExtraError
from squall.ui.security import LOOPBACK

__all__ = ["serve"]


def _require() -> Any:
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise MissingExtraError(exc.name or "starlette", "ui", "squall ui") from None
    return uvicorn


def serve(
    home: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    allow_remote: bool = False,
    open_browser: bool = False,
    token: str | None = None,
) -> None:
    """Run the dashboard until interrupted; prints its address with the access token.

    ``port=0`` takes a free port. A ``host`` other than loopback needs ``allow_remote``.
    """
    import squall
    from squall.ui.app import create_app

    uvicorn = _require()
    loopback = host in LOOPBACK
    if not loopback and not allow_remote:
        raise InvalidArgumentError(
            f"--host {host!r} is not loopback: anyone who can reach it and learns the token can "
            "cancel jobs and read stages; pass --allow-remote to serve it anyway"
        )
    session = squall.connect(home)
    token = token or secrets.token_urlsafe(32)
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)  # connections wait for the server from the moment the address is printed
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if family == socket.AF_INET6 else host
    url = f"http://{shown}:{bound}/?token={token}"
    if not loopback:
        print(
            f"warning: serving on {host}, reachable from other machines; the token is all "
            "that protects the workspace, and the connection is not encrypted",
            file=sys.stderr,
        )
    print(f"squall ui for {session.home.name}: {url}", flush=True)
    app = create_app(session, token, bound, loopback_only=loopback)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
