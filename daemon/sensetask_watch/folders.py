"""The hot folders being watched: the first stages of the road (seen ->
settled -> claimed). The main loop asks `HotFolders.turn` to list the folders
whose turn has come; settled files are claimed and handed to `admit`.

Folders can be added and removed while running (a reload); a removed
folder's settings are kept as retired, so its files already in flight are
still submitted and filed where they belong."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Callable

from .claim import claim, original_name, record_claimed
from .config import FolderSettings, WatchSettings
from .errors import ExitCode, UserError
from .filetypes import Verdict
from .journal import Journal
from .settle import SettleTracker
from .watcher import FolderLister, Watcher, choose_mode, filesystem_type

log = logging.getLogger("sensetask_watch")

MIN_SCAN_GAP = 0.2  # a folder busy with writes is listed at most this often

Admit = Callable[[str, int, Verdict], None]


@dataclasses.dataclass
class HotFolder:
    settings: FolderSettings
    lister: FolderLister
    tracker: SettleTracker
    mode: str
    next_scan: float = 0.0
    last_scan: float = float("-inf")


class HotFolders:
    def __init__(self, watcher: Watcher, journal: Journal, watch: WatchSettings, admit: Admit):
        self.watcher = watcher
        self.journal = journal
        self.watch = watch
        self.admit = admit
        self.active: dict[str, HotFolder] = {}
        self.retired: dict[str, FolderSettings] = {}
        self._unreadable: set[tuple[str, str]] = set()

    def settings_of(self, name: str) -> FolderSettings | None:
        hot = self.active.get(name)
        return hot.settings if hot is not None else self.retired.get(name)

    def add(self, settings: FolderSettings) -> None:
        try:
            settings.processing.mkdir(exist_ok=True, mode=0o750)
        except OSError as error:
            raise UserError(f"cannot create {error.filename}: {error.strerror}; create it and give the "
                            "daemon's user write access", ExitCode.CANT_CREATE) from None
        fs_type = filesystem_type(settings.inbox)
        mode = choose_mode(self.watch.mode, fs_type)
        self.active[settings.name] = HotFolder(settings, FolderLister(settings.inbox, self.watch.ignore),
                                               SettleTracker(self.watch.settle_seconds), mode)
        self.retired.pop(settings.name, None)
        if mode == "inotify":
            self.watcher.watch(settings.name, settings.inbox)
        log.info("watching %s (%s, %s) -> done %s, failed %s", settings.inbox, fs_type, mode,
                 settings.done, settings.failed)

    def remove(self, name: str) -> None:
        hot = self.active.pop(name)
        self.watcher.unwatch(name)
        self.retired[name] = hot.settings
        log.info("no longer watching %s; its files already taken are still finished", hot.settings.inbox)

    def set_watch(self, watch: WatchSettings) -> None:
        """New watch settings (a reload): timings and ignore patterns apply at once."""
        self.watch = watch
        for hot in self.active.values():
            hot.tracker.settle_seconds = watch.settle_seconds
            hot.lister.ignore = watch.ignore
            hot.next_scan = 0.0

    def recover(self) -> None:
        """Queue files in the processing areas that the journal does not know."""
        known = self.journal.known_processing_paths()
        for name, hot in self.active.items():
            for entry in sorted(os.listdir(hot.settings.processing)):
                path = hot.settings.processing / entry
                if str(path) not in known and path.is_file() and not entry.startswith("."):
                    log.warning("found %s in the processing area, unknown to the journal; queueing it", entry)
                    self.admit(name, *record_claimed(self.journal, name, path, original_name(entry)))

    # -- the main loop's part ------------------------------------------------

    def turn(self, now: float) -> None:
        dirty = self.watcher.take_dirty()
        for name, hot in list(self.active.items()):
            if self._scan_due(hot, name in dirty, now):
                self._scan(name, hot, now)

    def deadlines(self) -> list[float | None]:
        return [d for hot in self.active.values() for d in (hot.next_scan, hot.tracker.next_deadline())]

    def waiting(self) -> int:
        """Files seen in the inboxes and not yet settled."""
        return sum(len(hot.tracker) for hot in self.active.values())

    def _scan_due(self, hot: HotFolder, dirty: bool, now: float) -> bool:
        if now - hot.last_scan < MIN_SCAN_GAP:
            if dirty:
                self.watcher.hint(hot.settings.name)  # keep the hint for the next turn
            return False
        deadline = hot.tracker.next_deadline()
        return dirty or now >= hot.next_scan or (deadline is not None and now >= deadline)

    def _scan(self, name: str, hot: HotFolder, now: float) -> None:
        hot.last_scan = now
        interval = self.watch.poll_interval_seconds if hot.mode == "polling" else self.watch.rescan_interval_seconds
        hot.next_scan = now + interval
        try:
            candidates = hot.lister.list()
        except OSError as error:
            log.error("cannot list %s: %s; check that it exists and the daemon may read it",
                      hot.settings.inbox, error.strerror)
            return
        hot.tracker.retain_only({c.name for c in candidates})
        for candidate in candidates:
            hot.tracker.observe(candidate.name, candidate.fingerprint, now)
        for file_name, fingerprint in hot.tracker.settled(now):
            hot.tracker.forget(file_name)
            try:
                claimed = claim(self.journal, name, hot.settings.inbox, hot.settings.processing,
                                file_name, fingerprint)
            except PermissionError as error:
                if (name, file_name) not in self._unreadable:
                    self._unreadable.add((name, file_name))
                    log.error("cannot read %s: %s; give the daemon's user read access to it",
                              hot.settings.inbox / file_name, error.strerror)
                continue
            if claimed is not None:
                self.admit(name, *claimed)
