"""Names of models, versions, stages, tables and jobs: one rule, checked in one place.

A name is a SQL-style identifier, as in Snowflake:

- unquoted (``churn``, ``v1``, ``my_job$2``): letters, digits, ``_`` and ``$``, starting with
  a letter or ``_``; case-insensitive, stored and shown upper-case (``CHURN``, ``V1``);
- double-quoted (``'"v1"'``): the same characters (a digit may come first), case kept, shown
  with its quotes (``"v1"``), as upstream's ``SqlIdentifier`` does.

Every name becomes a folder or file name somewhere (``models/<name>/<version>/``,
``jobs/<job>/``, ``<base>/<job name>/``), so the characters are the ones every file system
takes, and the length is capped at :data:`MAX_NAME_LENGTH`, well under the 255 bytes of a
file name, leaving room for the suffixes squall adds (temporary names, part numbers)::

    >>> resolve_name("churn", "model_name"), resolve_name('"v1"', "version_name")
    ('CHURN', 'v1')
    >>> show_name("CHURN"), show_name("v1")
    ('CHURN', '"v1"')
"""

from __future__ import annotations

import re

from squall.errors import InvalidArgumentError

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_PREFIX_LENGTH",
    "check_name",
    "resolve_name",
    "show_name",
]

#: The longest name (in characters, all ASCII) of a model, version, stage, table or job.
MAX_NAME_LENGTH = 128
#: The longest ``job_name_prefix``: a generated name adds ``_`` and 32 hex digits.
MAX_PREFIX_LENGTH = MAX_NAME_LENGTH - 33

_UNQUOTED = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_QUOTED = re.compile(r'"([A-Za-z0-9_$]+)"')
_SHOWN_BARE = re.compile(r"[A-Z_][A-Z0-9_$]*")


def check_name(
    value: object, what: str, *, quoted_ok: bool = False, max_length: int = MAX_NAME_LENGTH
) -> str:
    """``value`` itself when it is a valid name; InvalidArgumentError naming it otherwise.

    ``what`` says what the name is for (``"model name"``, ``"job_name"``).
    """
    if isinstance(value, str):
        quoted = _QUOTED.fullmatch(value) if quoted_ok else None
        if quoted or _UNQUOTED.fullmatch(value):
            body = quoted.group(1) if quoted else value
            if len(body) <= max_length:
                return value
            raise InvalidArgumentError(
                f"{_short(value)} is not a valid {what}: it has {len(body)} characters, "
                f"at most {max_length} are allowed"
            )
    also = ", or double-quoted to keep its case" if quoted_ok else ""
    raise InvalidArgumentError(
        f"{_short(value)} is not a valid {what}: use letters, digits, '_' and '$', "
        f"starting with a letter or '_'{also}"
    )


def resolve_name(value: object, what: str, *, max_length: int = MAX_NAME_LENGTH) -> str:
    """The stored form of a name: unquoted ones upper-cased, quoted ones without quotes."""
    name = check_name(value, what, quoted_ok=True, max_length=max_length)
    if name.startswith('"'):
        return name[1:-1]
    return name.upper()


def show_name(resolved: str) -> str:
    """How a stored name is shown (and can be typed back): bare when upper-case, else quoted."""
    return resolved if _SHOWN_BARE.fullmatch(resolved) else f'"{resolved}"'


def _short(value: object) -> str:
    """``repr(value)``, cut to a readable length for a message."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...{text[-10:]} ({len(text)} chars)"
