"""Stage kinds by name. An external stage's kind is its URL's scheme (``s3://`` -> ``"s3"``).

A kind is a ``"module:Class"`` entry of a :class:`squall.plugins.PluginRegistry`, imported
on first use, so ``import squall`` needs no optional backend (s3fs) and a missing one is
reported with the extra that installs it. To add a kind, add an entry here (or assign one:
``STAGE_KINDS["memory"] = "pkg.module:MemoryStage"``) and implement
:class:`squall.stages.base.Stage`.
"""

from __future__ import annotations

from typing import cast
from urllib.parse import urlsplit

from squall.errors import InvalidArgumentError
from squall.plugins import Plugin, PluginRegistry
from squall.stages.base import Stage

__all__ = ["INTERNAL", "STAGE_KINDS", "kind_of_url", "stage_class"]

INTERNAL = "internal"

STAGE_KINDS = PluginRegistry(
    "stage kind",
    "stages",
    Stage,
    {
        INTERNAL: Plugin("squall.stages.internal:InternalStage"),
        "s3": Plugin("squall.stages.s3:S3Stage", extra="s3"),
    },
)


def kind_of_url(url: str) -> str:
    """The stage kind for an external stage URL; InvalidArgumentError for anything but S3."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidArgumentError(f"stage URL {url!r} is not a URL like 's3://bucket/prefix'")
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme and scheme != INTERNAL and scheme in STAGE_KINDS:
        return scheme
    if scheme in ("s3a", "s3n"):
        raise InvalidArgumentError(
            f"stage URL {url!r}: {scheme}:// is a Hadoop connector's scheme; "
            "write the same location as s3://bucket/prefix"
        )
    store = _OTHER_STORES.get(scheme)
    where = f"is on {store}, which squall does not support" if store else "is not supported"
    raise InvalidArgumentError(
        f"stage URL {url!r} {where}: external stages must be on Amazon S3 "
        "(s3://bucket/prefix); Azure, Google Cloud Storage and other stores are not supported"
    )


# Stores users may try, named in the refusal so that it reads clearly.
_OTHER_STORES = {
    "azure": "Azure Blob Storage",
    "az": "Azure Blob Storage",
    "wasb": "Azure Blob Storage",
    "wasbs": "Azure Blob Storage",
    "abfs": "Azure Data Lake Storage",
    "abfss": "Azure Data Lake Storage",
    "gcs": "Google Cloud Storage",
    "gs": "Google Cloud Storage",
    "file": "the local disk (use an internal stage)",
    "http": "an HTTP server",
    "https": "an HTTP server",
}


def stage_class(kind: str) -> type[Stage]:
    """The Stage subclass implementing ``kind``, imported now."""
    return cast(type[Stage], STAGE_KINDS.load(kind))
