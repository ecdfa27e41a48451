"""The dashboard's access rules: a token (kept in a cookie after the first visit), CSRF, hosts.

Every request must carry the token: as ``?token=`` (the URL ``squall ui`` prints; the
server then sets an HttpOnly, SameSite=Strict cookie and redirects to the same page without
it), as that cookie, or as ``Authorization: Bearer``. A POST must also carry the page's
CSRF token in the ``X-Squall-CSRF`` header and, when the browser sends one, an ``Origin``
of the server itself. On loopback the ``Host`` header must name a loopback host, so a
page of another site cannot reach the server through DNS rebinding.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["LOOPBACK", "Guard", "csrf_token"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
CSRF_HEADER = "x-squall-csrf"


def csrf_token(token: str) -> str:
    """The CSRF token pages send back with a POST, derived from the access token."""
    return hmac.new(token.encode(), b"squall-ui-csrf", hashlib.sha256).hexdigest()


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class Guard:
    """ASGI middleware refusing (403) any request without the token; see the module's doc."""

    def __init__(self, app: ASGIApp, token: str, port: int, loopback_only: bool = True) -> None:
        self.app = app
        self.token = token
        self.csrf = csrf_token(token)
        self.cookie = f"squall_ui_{port}"
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # the dashboard has no websockets: refuse, unread
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.loopback_only and _hostname(host) not in LOOPBACK:
            await _plain(send, 403, "forbidden: unknown host")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if _same(query.get("token"), self.token) and scope["method"] == "GET":
            # First visit: keep the token in a cookie and drop it from the address bar.
            rest = urlencode({k: v for k, v in query.items() if k != "token"})
            location = scope["path"] + (f"?{rest}" if rest else "")
            cookie = f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            await _plain(send, 303, "", [("location", location), ("set-cookie", cookie)])
            return
        bearer = headers.get("authorization", "")
        given = _cookie(headers.get("cookie", ""), self.cookie)
        if not (_same(given, self.token) or _same(bearer.removeprefix("Bearer "), self.token)):
            await _plain(
                send, 403, "forbidden: open the address `squall ui` printed (it holds the token)"
            )
            return
        if scope["method"] not in ("GET", "HEAD"):
            origin = headers.get("origin")
            if not _same(headers.get(CSRF_HEADER), self.csrf) or (
                origin is not None and origin.split("://", 1)[-1] != host
            ):
                await _plain(send, 403, "forbidden: missing or wrong CSRF token")
                return
        await self.app(scope, receive, send)


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, eq, value = part.strip().partition("=")
        if eq and key == name:
            return value
    return None


async def _plain(
    send: Send, status: int, text: str, extra: list[tuple[str, str]] | None = None
) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    headers += [(k.encode(), v.encode()) for k, v in extra or []]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
