"""Fault switches: the ways the emulator misbehaves on purpose.

`Faults` holds the switches (tests flip them at run time with plain attribute
sets); `decide` turns them into one `Decision` per request, given an RNG. It
is a pure function of its inputs, so the odds can be tested without a socket.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass, fields
from typing import Any, Collection, Mapping

#: Names of the endpoints the rate-based faults can be restricted to.
ENDPOINTS = frozenset({"files", "put", "jobs", "documents", "status"})


@dataclass
class Faults:
    """Fault switches. Rates are probabilities (0..1) drawn per request."""

    error_rate: float = 0.0  # answer 500 or 503 before acting
    throttle_rate: float = 0.0  # answer 429 + Retry-After before acting
    retry_after_seconds: float = 1.0
    drop_rate: float = 0.0  # read the request, close the socket, do nothing
    drop_after_rate: float = 0.0  # act, then close the socket without answering
    garbage_rate: float = 0.0  # act, then answer 200 with an HTML page instead of JSON
    slow_rate: float = 0.0  # act, then wait slow_seconds before answering
    slow_seconds: float = 30.0
    latency_seconds: float = 0.0  # added to every API and storage request
    refuse_all: bool = False  # an outage: 503 to every API and storage request
    endpoints: Collection[str] | None = None  # None: rate faults hit every endpoint
    slow_endpoints: Collection[str] | None = None  # further limits slow_rate (None: as endpoints)
    webhook_drop_rate: float = 0.0  # an event is never delivered
    webhook_duplicate_rate: float = 0.0  # an event is delivered twice
    webhook_delay_seconds: float = 0.0  # every event is held back this long before delivery

    def as_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("endpoints", "slow_endpoints"):
            if values[name] is not None:
                values[name] = sorted(values[name])
        return values


class Outcome(enum.Enum):
    PASS = "pass"  # act and answer (maybe late: see Decision.slow_seconds)
    REFUSE = "refuse"  # 503, outage
    ERROR = "error"  # 500 or 503
    THROTTLE = "throttle"  # 429 with Retry-After
    DROP = "drop"  # close without answer, before acting
    DROP_AFTER = "drop_after"  # act, then close without answer
    GARBAGE = "garbage"  # act, then answer 200 with a body that is not the API's JSON


@dataclass(frozen=True)
class Decision:
    outcome: Outcome = Outcome.PASS
    status: int | None = None  # HTTP status for REFUSE / ERROR / THROTTLE
    retry_after: str | None = None  # Retry-After header value for THROTTLE
    latency_seconds: float = 0.0  # wait before doing anything
    slow_seconds: float = 0.0  # wait after acting, before answering

    @property
    def answers_before_acting(self) -> bool:
        return self.outcome in (Outcome.REFUSE, Outcome.ERROR, Outcome.THROTTLE)


PASS = Decision()


def _hit(rng: random.Random, rate: float) -> bool:
    return rate > 0 and rng.random() < rate


def decide(faults: Faults, endpoint: str, rng: random.Random) -> Decision:
    """What to do with one request to `endpoint` ("files", "put", ...)."""
    latency = max(0.0, float(faults.latency_seconds or 0))
    if faults.refuse_all:
        return Decision(Outcome.REFUSE, status=503, latency_seconds=latency)
    if faults.endpoints is not None and endpoint not in faults.endpoints:
        return Decision(latency_seconds=latency)
    if _hit(rng, faults.error_rate):
        return Decision(Outcome.ERROR, status=rng.choice((500, 503)), latency_seconds=latency)
    if _hit(rng, faults.throttle_rate):
        retry_after = str(max(0, math.ceil(faults.retry_after_seconds)))
        return Decision(Outcome.THROTTLE, status=429, retry_after=retry_after, latency_seconds=latency)
    if _hit(rng, faults.drop_rate):
        return Decision(Outcome.DROP, latency_seconds=latency)
    if _hit(rng, faults.drop_after_rate):
        return Decision(Outcome.DROP_AFTER, latency_seconds=latency)
    if _hit(rng, faults.garbage_rate):
        return Decision(Outcome.GARBAGE, latency_seconds=latency)
    slow_here = faults.slow_endpoints is None or endpoint in faults.slow_endpoints
    slow = max(0.0, float(faults.slow_seconds)) if slow_here and _hit(rng, faults.slow_rate) else 0.0
    return Decision(latency_seconds=latency, slow_seconds=slow)


def webhook_copies(faults: Faults, rng: random.Random) -> int:
    """How many times to deliver one event: 0 (lost), 1, or 2 (duplicated)."""
    if _hit(rng, faults.webhook_drop_rate):
        return 0
    return 2 if _hit(rng, faults.webhook_duplicate_rate) else 1


_RATES = {f.name for f in fields(Faults) if f.name.endswith("_rate")}
_SECONDS = {f.name for f in fields(Faults) if f.name.endswith("_seconds")}


def update_faults(faults: Faults, changes: Mapping[str, Any]) -> list[str]:
    """Apply `changes` (e.g. a control request's JSON) to `faults`.

    Returns every problem found, as "At 'name': message"; applies nothing
    unless there are none.
    """
    problems: list[str] = []
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if name in _RATES:
            if not number or not 0 <= value <= 1:
                problems.append(f"At '{name}': expected a number from 0 to 1")
                continue
            clean[name] = float(value)
        elif name in _SECONDS:
            if not number or value < 0:
                problems.append(f"At '{name}': expected a number of seconds >= 0")
                continue
            clean[name] = float(value)
        elif name == "refuse_all":
            if not isinstance(value, bool):
                problems.append(f"At '{name}': expected true or false")
                continue
            clean[name] = value
        elif name in ("endpoints", "slow_endpoints"):
            if value is None:
                clean[name] = None
            elif isinstance(value, list) and all(v in ENDPOINTS for v in value):
                clean[name] = frozenset(value)
            else:
                problems.append(f"At '{name}': expected null or a list among {sorted(ENDPOINTS)}")
        else:
            problems.append(f"At '{name}': unknown fault switch")
    if not problems:
        for name, value in clean.items():
            setattr(faults, name, value)
    return problems
