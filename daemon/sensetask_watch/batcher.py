"""Gathering files that arrive together: per hot folder, one open batch that
closes after `quiet_seconds` without a new file, at `max_files`, or
`max_wait_seconds` after its first file. Pure: the caller passes the clock."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class BatchRules:
    quiet_seconds: float
    max_files: int
    max_wait_seconds: float


@dataclasses.dataclass
class OpenBatch:
    folder: str
    file_ids: list[int]
    first_at: float
    last_at: float

    def close_reason(self, now: float, rules: BatchRules) -> str | None:
        if len(self.file_ids) >= rules.max_files:
            return f"{rules.max_files} files (batch.max_files)"
        if now - self.first_at >= rules.max_wait_seconds:
            return f"open for {rules.max_wait_seconds:g}s (batch.max_wait_seconds)"
        if now - self.last_at >= rules.quiet_seconds:
            return f"quiet for {rules.quiet_seconds:g}s (batch.quiet_seconds)"
        return None

    def deadline(self, rules: BatchRules) -> float:
        return min(self.first_at + rules.max_wait_seconds, self.last_at + rules.quiet_seconds)


class Batcher:
    """The open batches of every hot folder."""

    def __init__(self, rules: BatchRules):
        self.rules = rules
        self._open: dict[str, OpenBatch] = {}
        self._full: list[tuple[OpenBatch, str]] = []

    def add(self, folder: str, file_id: int, now: float) -> None:
        batch = self._open.get(folder)
        if batch is None:
            batch = self._open[folder] = OpenBatch(folder, [file_id], now, now)
        else:
            batch.file_ids.append(file_id)
            batch.last_at = now
        if len(batch.file_ids) >= self.rules.max_files:  # never let a batch grow past the limit
            self._full.append((self._open.pop(folder), batch.close_reason(now, self.rules)))

    def take_closed(self, now: float) -> list[tuple[OpenBatch, str]]:
        """Remove and return the batches that are closed now, with why."""
        closed, self._full = self._full, []
        for folder, batch in list(self._open.items()):
            reason = batch.close_reason(now, self.rules)
            if reason is not None:
                closed.append((self._open.pop(folder), reason))
        return closed

    def next_deadline(self) -> float | None:
        if self._full:
            return float("-inf")
        deadlines = [b.deadline(self.rules) for b in self._open.values()]
        return min(deadlines) if deadlines else None

    def waiting(self) -> int:
        return sum(len(b.file_ids) for b in self._open.values()) + sum(
            len(b.file_ids) for b, _ in self._full)
