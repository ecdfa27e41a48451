"""Credentials of external stages: kept apart from the catalog, in owner-only files.

``storage_options`` given to ``create_stage`` may hold credentials (``key``, ``secret``,
``token``, ...). They are split off before the stage is recorded: the catalog keeps the other
options and a mask (``"****"``) in place of each secret, and the secret values go to
``<home>/secrets/stage-<name>.json``, a file only its owner may read or write (0600, in a
0700 folder). A stage kind merges them back only when it connects, so what squall prints
or records (``repr``, catalog rows, job records, logs, the CLI) shows the mask, never the value.

    >>> public, secret = split_secrets({"endpoint_url": "http://s3", "secret": "s3cr3t"})
    >>> public, secret
    ({'endpoint_url': 'http://s3', 'secret': '****'}, {'secret': 's3cr3t'})
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

__all__ = ["MASK", "SecretStore", "is_secret_key", "mask_options", "merge_secrets", "split_secrets"]

#: What a secret value is replaced with wherever it could be shown.
MASK = "****"

# Option names that carry credentials: s3fs's (key, secret, token), botocore's
# (aws_access_key_id, aws_secret_access_key, aws_session_token) and anything that says
# secret, token, password or credential.
_SECRET_NAME = re.compile(
    r"(^key$|^access_key|_access_key|secret|token|passw|credential|^sse_customer_key)",
    re.IGNORECASE,
)


def is_secret_key(name: str) -> bool:
    """True when an option of this name holds a credential."""
    return bool(_SECRET_NAME.search(name))


def split_secrets(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(options with every secret masked, the secrets alone); nested dicts are searched too."""
    public: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for name, value in options.items():
        if isinstance(value, dict):
            pub, sec = split_secrets(value)
            public[name] = pub
            if sec:
                secret[name] = sec
        elif is_secret_key(str(name)) and value is not None:
            public[name] = MASK
            secret[name] = value
        else:
            public[name] = value
    return public, secret


def mask_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with every secret value replaced by the mask."""
    return split_secrets(options)[0]


def merge_secrets(public: dict[str, Any], secret: dict[str, Any]) -> dict[str, Any]:
    """The options a stage connects with: ``public`` with its masks replaced by the secrets."""
    merged: dict[str, Any] = {}
    for name, value in public.items():
        if isinstance(value, dict):
            sub = secret.get(name)
            merged[name] = merge_secrets(value, sub if isinstance(sub, dict) else {})
        elif name in secret:
            merged[name] = secret[name]
        else:
            merged[name] = value
    for name, value in secret.items():
        merged.setdefault(name, value)
    return merged


def masked_names(options: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted names of the options that still hold a mask (a secret not supplied)."""
    names: list[str] = []
    for name, value in options.items():
        if isinstance(value, dict):
            names.extend(masked_names(value, f"{prefix}{name}."))
        elif value == MASK:
            names.append(prefix + name)
    return names


class SecretStore:
    """The secrets of a workspace's stages, one owner-only JSON file per stage."""

    def __init__(self, home: str | Path) -> None:
        self.folder = Path(home) / "secrets"

    def path(self, stage: str) -> Path:
        return self.folder / f"stage-{stage}.json"

    def save(self, stage: str, secrets: dict[str, Any]) -> None:
        """Store the secrets of ``stage`` (replacing any), readable by the owner only."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        final = self.path(stage)
        tmp = self.folder / f".{final.name}.{uuid.uuid4().hex}.tmp"
        # Created 0600 from the first byte: the secret is never in a file others can read.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(secrets, f)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def load(self, stage: str) -> dict[str, Any]:
        """The secrets of ``stage``; ``{}`` when it has none."""
        try:
            text = self.path(stage).read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        value = json.loads(text)
        return value if isinstance(value, dict) else {}

    def delete(self, stage: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(stage).unlink()
