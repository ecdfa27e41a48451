"""How squall's processes log: one formatter for the supervisor and its workers.

A job's supervisor and each of its workers write their own log file (``supervisor.log``,
``w0.log``, ...), read back tagged ``[supervisor]``/``[wN]`` by ``squall.jobs.logs``. Their
messages go through ``logging`` under the ``squall`` logger, so a user can raise or lower
the level (``SQUALL_LOG_LEVEL``, default ``INFO``) or add handlers of their own.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["DATE_FORMAT", "FORMAT", "Formatter", "configure_logging"]

FORMAT = "%(asctime)s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class Formatter(logging.Formatter):
    """Lines start with the job logs' one timestamp format (``squall.logtime``)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        from squall.logtime import log_stamp

        return log_stamp(record.created)


def configure_logging(level: str | int | None = None) -> logging.Logger:
    """Send the ``squall`` logger's records to this process's stdout, once, in one format."""
    from squall.config import settings

    logger = logging.getLogger("squall")
    if not any(getattr(h, "_squall", False) for h in logger.handlers):
        # A worker's stdout stamps each line itself (compute/local.py); records carry their own.
        handler = logging.StreamHandler(getattr(sys.stdout, "unstamped", sys.stdout))
        handler.setFormatter(Formatter(FORMAT, DATE_FORMAT))
        handler._squall = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level if level is not None else settings().log_level)
    return logger
