"""How the SenseTask API has been answering lately, for the log, for `status`
and for pausing submissions while it refuses our key. The client reports
every answer here; the journal keeps what `status` shows."""

from __future__ import annotations

import datetime
import logging
import threading
import time

from .api import ApiError, ErrorKind

log = logging.getLogger("sensetask_watch")

AUTH_RETRY_SECONDS = 300.0  # while the key is refused, one quiet try every five minutes


def iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="seconds")


class ApiHealth:
    def __init__(self, journal):
        self.journal = journal
        self._lock = threading.Lock()
        self.failing_since: float | None = None
        self.paused_until: float | None = None  # monotonic
        for key in ("api_failing_since", "api_last_error", "paused"):
            journal.set_health(key, None)  # a new start begins with a clean slate

    def ok(self) -> None:
        with self._lock:
            if self.failing_since is None and self.paused_until is None:
                return
            since, self.failing_since = self.failing_since, None
            was_paused, self.paused_until = self.paused_until is not None, None
        if since is not None:
            log.info("SenseTask API answers again (it had been failing since %s)", iso(since))
        if was_paused:
            log.info("SenseTask accepts the API key again; submissions resume")
        for key in ("api_failing_since", "api_last_error", "paused"):
            self.journal.set_health(key, None)

    def failed(self, error: ApiError) -> None:
        if error.kind is ErrorKind.AUTH:
            self._auth_refused(error)
            return
        if error.kind not in (ErrorKind.TRANSIENT, ErrorKind.BAD_ANSWER):
            return  # the API answered; it is this request that is wrong
        with self._lock:
            first = self.failing_since is None
            if first:
                self.failing_since = time.time()
        if first:
            log.warning("SenseTask API failing: %s; the daemon keeps trying", error)
            self.journal.set_health("api_failing_since", iso(self.failing_since))
        self.journal.set_health("api_last_error", str(error))

    def _auth_refused(self, error: ApiError) -> None:
        with self._lock:
            first = self.paused_until is None
            self.paused_until = time.monotonic() + AUTH_RETRY_SECONDS
        if first:
            log.error("SenseTask refused the API key: %s. Submissions are paused and no file is "
                      "failed for it; put the right key in api.key_file and restart the daemon.", error)
            self.journal.set_health("paused", f"API key refused since {iso(time.time())}: {error}")

    @property
    def paused(self) -> bool:
        with self._lock:
            return self.paused_until is not None and time.monotonic() < self.paused_until
