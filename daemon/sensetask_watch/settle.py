"""Is a file completely written? A pure tracker fed with what the folder
listing shows; a file is settled once its size, mtime and inode have not
changed for `settle_seconds` since the daemon last saw them change."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, stat_result) -> "Fingerprint":
        return cls(stat_result.st_size, stat_result.st_mtime_ns, stat_result.st_ino)


class SettleTracker:
    def __init__(self, settle_seconds: float):
        self.settle_seconds = settle_seconds
        self._seen: dict[str, tuple[Fingerprint, float]] = {}

    def observe(self, name: str, fingerprint: Fingerprint, now: float) -> None:
        previous = self._seen.get(name)
        if previous is None or previous[0] != fingerprint:
            self._seen[name] = (fingerprint, now)

    def retain_only(self, names: set[str]) -> None:
        """Forget files that left the listing (deleted, renamed, claimed)."""
        for name in list(self._seen):
            if name not in names:
                del self._seen[name]

    def forget(self, name: str) -> None:
        self._seen.pop(name, None)

    def settled(self, now: float) -> list[tuple[str, Fingerprint]]:
        return sorted((name, fp) for name, (fp, since) in self._seen.items()
                      if now - since >= self.settle_seconds)

    def next_deadline(self) -> float | None:
        if not self._seen:
            return None
        return min(since for _, since in self._seen.values()) + self.settle_seconds

    def __len__(self) -> int:
        return len(self._seen)
