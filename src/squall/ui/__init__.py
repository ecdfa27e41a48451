"""``squall ui``: a local, token-protected web dashboard over a workspace (the ``ui`` extra).

Jobs with live progress, shard timelines, logs, error rows and output previews; models and
their signatures; stage browsing with Parquet and image previews. See docs/ui.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from squall.ui.app import create_app
    from squall.ui.server import serve

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the CLI imports this package without starlette installed.
    if name == "create_app":
        from squall.ui.app import create_app

        return create_app
    if name == "serve":
        from squall.ui.server import serve

        return serve
    raise AttributeError(f"module 'squall.ui' has no attribute {name!r}")
