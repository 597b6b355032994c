"""Logging for the operator: one line per file transition on stderr. Under
systemd (JOURNAL_STREAM set) the journal adds time and unit, so we don't."""

from __future__ import annotations

import logging
import os
import sys


def configure(level: str = "info", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger("sensetask_watch")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # Never let a library log a request with its headers (the ApiKey) at debug level.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # The webhook server's own warnings (connection limit, socket errors) go to the same place.
    waitress = logging.getLogger("waitress")
    waitress.handlers[:] = [handler]
    waitress.setLevel(logging.WARNING)
    waitress.propagate = False
