"""When to try again: exponential backoff with jitter, honouring Retry-After."""

from __future__ import annotations

import random

BAD_ANSWER_TRIES = 3  # an unreadable answer is retried this often before the batch fails


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
