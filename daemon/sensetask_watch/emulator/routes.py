"""Which endpoint serves a request: a pure lookup of method and path."""

from __future__ import annotations

import re
from dataclasses import dataclass

# (endpoint name, path pattern, {method: action}); endpoint names are those
# fault switches can target (see faults.ENDPOINTS), plus "control".
_ROUTES = (
    ("files", re.compile(r"/api/v1/files/?"), {"POST": "files"}),
    ("jobs", re.compile(r"/api/v1/jobs/?"), {"POST": "jobs"}),
    ("documents", re.compile(r"/api/v1/documents/batch/([^/]+)/?"), {"POST": "documents"}),
    ("status", re.compile(r"/api/v1/documents/([^/]+)/beta/?"), {"GET": "status"}),
    ("put", re.compile(r"/storage/([^/]+)"), {"PUT": "put"}),
    ("control", re.compile(r"/_emulator/records/?"), {"GET": "records"}),
    ("control", re.compile(r"/_emulator/faults/?"), {"GET": "faults", "POST": "set_faults"}),
    ("control", re.compile(r"/_emulator/documents/([^/]+)/status/?"), {"POST": "set_status"}),
)


@dataclass(frozen=True)
class Match:
    kind: str  # endpoint name: "files", "put", ..., "control"; "" when nothing matched
    action: str | None = None
    args: tuple[str, ...] = ()
    status: int = 200  # 404 or 405 when nothing matched
    allow: tuple[str, ...] = ()


def resolve(method: str, path: str) -> Match:
    """Which route serves `method path`: a pure lookup."""
    allowed: set[str] = set()
    for kind, pattern, methods in _ROUTES:
        found = pattern.fullmatch(path)
        if found is None:
            continue
        if method in methods:
            return Match(kind, methods[method], found.groups())
        allowed.update(methods)
    if allowed:
        return Match("", status=405, allow=tuple(sorted(allowed)))
    return Match("", status=404)
