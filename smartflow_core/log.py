"""The library's logger: ``[smartflow] ...`` lines through the standard ``logging`` module, never ``print``."""
from __future__ import annotations

import logging


class _SmartflowLogger:
    """``logging.getLogger("smartflow")`` looked up at every call, so the library's lines still reach the root
    handlers after a notebook re-configures logging with ``importlib.reload(logging)`` (the chapter does)."""

    def __getattr__(self, name):
        return getattr(logging.getLogger("smartflow"), name)


logger = _SmartflowLogger()

LOG_FORMAT = "[smartflow] %(message)s"


def enable_logging(level: int = logging.INFO, stream=None) -> logging.Handler:
    """Show the library's log lines as ``[smartflow] ...`` (for scripts; notebooks use ``basicConfig``)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    log = logging.getLogger("smartflow")
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    return handler


__all__ = ["logger", "enable_logging", "LOG_FORMAT"]
