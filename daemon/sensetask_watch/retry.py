"""When to try again. `backoff_delay` is pure; `with_retries` runs a call until
it succeeds, fails for good, or the daemon stops."""

from __future__ import annotations

import logging
import random
import threading
from typing import Callable, TypeVar

from .api import ApiError, ErrorKind

log = logging.getLogger("sensetask_watch")
T = TypeVar("T")

BAD_ANSWER_TRIES = 3       # an unreadable answer is retried this often before the batch fails
AUTH_PAUSE_SECONDS = 60.0  # a refused key pauses submissions this long between tries


class Stopped(Exception):
    """The daemon is stopping; the work stays in the journal for the next start."""


def backoff_delay(attempt: int, *, base: float = 1.0, cap: float = 300.0,
                  retry_after: float | None = None, jitter: float | None = None) -> float:
    """Exponential backoff with full jitter, never shorter than Retry-After."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = ceiling * (random.random() if jitter is None else jitter)
    delay = max(delay, base / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def with_retries(call: Callable[[], T], *, what: str, stop: threading.Event,
                 on_error: Callable[[ApiError], None] | None = None) -> T:
    """Run `call`, retrying transient failures for as long as it takes."""
    attempt = 0
    bad_answers = 0
    while True:
        if stop.is_set():
            raise Stopped(what)
        try:
            return call()
        except ApiError as error:
            attempt += 1
            if on_error is not None:
                on_error(error)
            if error.kind is ErrorKind.BAD_ANSWER:
                bad_answers += 1
                if bad_answers >= BAD_ANSWER_TRIES:
                    raise
            elif error.kind is ErrorKind.AUTH:
                if attempt == 1:
                    log.error("SenseTask refused the API key (%s); submissions are paused. "
                              "Fix api.key_file and restart the daemon.", error)
                if stop.wait(AUTH_PAUSE_SECONDS):
                    raise Stopped(what) from error
                continue
            elif error.kind is not ErrorKind.TRANSIENT:
                raise
            delay = backoff_delay(attempt, retry_after=error.retry_after)
            log.warning("%s: %s; try %d again in %.1fs", what, error, attempt + 1, delay)
            if stop.wait(delay):
                raise Stopped(what) from error
