"""Logging for the operator: one line per file transition. Under systemd,
when stderr is the journal ($JOURNAL_STREAM names it), records go to the
journal through systemd-python's JournalHandler, with their priority and
the thread as fields; otherwise one line each on stderr."""

from __future__ import annotations

import logging
import os
import sys

try:
    from systemd.journal import JournalHandler
except ImportError:  # a development install without systemd-python
    JournalHandler = None


def stderr_is_journal(environ=os.environ, stream=None) -> bool:
    """True when stderr is the very stream systemd connected to the journal."""
    value = environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        info = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError):
        return False
    return (info.st_dev, info.st_ino) == (int(device), int(inode))


def configure(level: str = "info", stream=None) -> None:
    if stderr_is_journal(stream=stream) and JournalHandler is not None:
        handler = JournalHandler(SYSLOG_IDENTIFIER="sensetask-watch")
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
        # The journal adds the time when it reads our stderr; a terminal does not.
        fmt = "%(levelname)s %(message)s" if os.environ.get("JOURNAL_STREAM") else \
            "%(asctime)s %(levelname)s %(message)s"
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
