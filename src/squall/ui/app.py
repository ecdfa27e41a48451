"""The dashboard's ASGI application: HTML pages (one shell, drawn by app.js) and a JSON API.

Pages poll the JSON endpoints; each answer carries an ETag, so an unchanged one costs a 304.
Everything is read and done through squall's public API.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from squall.errors import InvalidArgumentError, NotFoundError, SquallError
from squall.ui import data
from squall.ui.security import Guard, csrf_token

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from squall.session import Session

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"
_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _json(request: Request, payload: Any, status: int = 200) -> Response:
    from starlette.responses import Response

    body = json.dumps(payload, default=str, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {**_HEADERS, "etag": etag, "cache-control": "no-cache"}
    if status == 200 and request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _error(request: Request, exc: Exception) -> Response:
    status = 404 if isinstance(exc, LookupError | FileNotFoundError) else 400
    # A squall error's message names the bad value, never a workspace path; others may.
    message = str(exc) if isinstance(exc, SquallError) else type(exc).__name__
    if isinstance(exc, FileNotFoundError) and not isinstance(exc, SquallError):
        message = "no such file"
    elif isinstance(exc, IsADirectoryError):
        message = "a folder, not a file"
    return _json(request, {"error": message}, status)


def _page(csrf: str) -> Callable[[Request], Response]:
    from starlette.responses import HTMLResponse

    shell = (STATIC / "page.html").read_text(encoding="utf-8")
    body = shell.replace("{{csrf}}", html.escape(csrf))

    def page(request: Request) -> Response:
        return HTMLResponse(body, headers={**_HEADERS, "cache-control": "no-store"})

    return page


def create_app(session: Session, token: str, port: int, *, loopback_only: bool = True) -> Any:
    """The dashboard over ``session``'s workspace, behind the token guard."""
    from starlette.applications import Starlette
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    def api(fn: Callable[..., Any]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                return _json(request, fn(request))
            except (SquallError, LookupError, OSError, ValueError) as exc:
                return _error(request, exc)

        return endpoint

    def _int(request: Request, name: str, default: int) -> int:
        raw = request.query_params.get(name)
        try:
            return default if raw is None else int(raw)
        except ValueError:
            raise InvalidArgumentError(f"{name}={raw!r} is not a whole number") from None

    def _path(request: Request) -> str:
        path = request.query_params.get("path")
        if not path:
            raise InvalidArgumentError("a stage path is needed: ?path=@stage/...")
        return path

    def jobs(request: Request) -> Any:
        return data.jobs_page(
            session,
            status=request.query_params.get("status") or None,
            page=_int(request, "page", 1),
            per_page=_int(request, "per_page", 50),
        )

    def job(request: Request) -> Any:
        return data.job_detail(session, request.path_params["name"])

    def logs(request: Request) -> Any:
        return data.job_logs(session, request.path_params["name"], _int(request, "limit", 200))

    def errors(request: Request) -> Any:
        return data.error_rows(session, request.path_params["name"])

    def action(request: Request) -> Any:
        from squall.jobs import get_job

        target = get_job(request.path_params["name"], session)
        verb = request.path_params["action"]
        if verb not in ("cancel", "resume"):
            raise NotFoundError(f"no action {verb!r} on a job: cancel or resume")
        status = target.cancel() if verb == "cancel" else target.resume()
        return {"name": target.name, "status": status}

    def image(request: Request) -> Response:
        from starlette.responses import Response

        try:
            body, media = data.read_image(session, _path(request))
        except (SquallError, LookupError, OSError, ValueError) as exc:
            return _error(request, exc)
        return Response(body, media_type=media, headers={**_HEADERS, "cache-control": "no-store"})

    def dags(request: Request) -> Any:
        from squall.ui import dags

        return dags.dags_json(session)

    def dag_action(request: Request) -> Any:
        from squall.ui import dags

        p = request.path_params
        return dags.dag_action(session, p["name"], p["action"])

    def dag_run(request: Request) -> Any:
        from squall.ui import dags

        return dags.dag_run(session, request.path_params["run_id"])

    page = _page(csrf_token(token))
    routes = [
        Route("/", page),
        Route("/jobs/{name}", page),
        Route("/models", page),
        Route("/stages", page),
        Route("/dags", page),
        Route("/api/jobs", api(jobs)),
        Route("/api/jobs/{name}", api(job)),
        Route("/api/jobs/{name}/logs", api(logs)),
        Route("/api/jobs/{name}/errors", api(errors)),
        Route("/api/jobs/{name}/{action:str}", api(action), methods=["POST"]),
        Route("/api/models", api(lambda r: data.models(session))),
        Route("/api/stages", api(lambda r: data.stages(session))),
        Route("/api/stage", api(lambda r: data.browse_stage(session, _path(r)))),
        Route("/api/preview", api(lambda r: data.preview_file(session, _path(r)))),
        Route("/api/image", image),
        Route("/api/dags", api(dags)),
        Route("/api/dags/{name}/{action:str}", api(dag_action), methods=["POST"]),
        Route("/api/dag-runs/{run_id:int}", api(dag_run)),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    app: Starlette = Starlette(routes=routes)
    return Guard(app, token, port, loopback_only=loopback_only)
