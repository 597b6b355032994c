"""Seeing files. The folder listing is the truth; watchdog's events are only
hints that a folder should be listed again soon (inotify queues can overflow
and watchdog drops that silently, hence the periodic rescan as well)."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Callable

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from .filetypes import is_ignored
from .settle import Fingerprint

log = logging.getLogger("sensetask_watch")

# Filesystems where inotify sees only local changes: use polling there.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph",
    "glusterfs", "lustre", "gpfs", "fuse.sshfs", "fuse.glusterfs", "fuse.cephfs", "davfs",
    "fuse.davfs2", "fuse.s3fs", "fuse.rclone", "vboxsf", "virtiofs", "fuse.gvfsd-fuse",
})


def filesystem_type(path: Path, mounts_text: str | None = None) -> str:
    """The type of the filesystem holding `path`, from /proc/self/mounts."""
    if mounts_text is None:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as stream:
            mounts_text = stream.read()
    target = os.path.realpath(path)
    best, best_type = "", "unknown"
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, fields[2]
    return best_type


def choose_mode(configured: str, fs_type: str) -> str:
    """`auto` means inotify, except on network filesystems where only polling sees changes."""
    if configured != "auto":
        return configured
    return "polling" if fs_type in NETWORK_FILESYSTEMS or fs_type.startswith("fuse.") else "inotify"


@dataclasses.dataclass(frozen=True)
class Candidate:
    name: str
    fingerprint: Fingerprint


class FolderLister:
    """Lists a hot folder: regular files only, no junk, no symlinks or FIFOs."""

    def __init__(self, inbox: Path, ignore: tuple[str, ...]):
        self.inbox = inbox
        self.ignore = ignore
        self._warned: set[str] = set()

    def _warn_once(self, name: str, message: str) -> None:
        if name not in self._warned:
            self._warned.add(name)
            log.warning("%s", message)

    def list(self) -> list[Candidate]:
        found = []
        with os.scandir(self.inbox) as entries:
            for entry in entries:
                name = entry.name
                if is_ignored(name, self.ignore) or "/" in name or name in (".", ".."):
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISLNK(info.st_mode):
                    self._warn_once(name, f"ignoring symlink {self.inbox / name}: only regular files "
                                          "are taken; copy the file itself into the folder")
                elif stat.S_ISREG(info.st_mode):
                    found.append(Candidate(name, Fingerprint.of(info)))
                elif not stat.S_ISDIR(info.st_mode):
                    self._warn_once(name, f"ignoring {self.inbox / name}: not a regular file "
                                          "(FIFO, socket or device)")
        return found


class _Hint(FileSystemEventHandler):
    """The observer's handler only marks the folder dirty and wakes the loop."""

    def __init__(self, folder: str, on_hint: Callable[[str], None]):
        self.folder = folder
        self.on_hint = on_hint

    def on_any_event(self, event) -> None:
        self.on_hint(self.folder)


class Watcher:
    """Owns the watchdog observer for the folders watched with inotify."""

    CANARY = "\0canary"  # the pseudo-folder name of the liveness canary's events

    def __init__(self) -> None:
        self.observer = Observer()
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._watches: dict[str, object] = {}
        self.wakeup = threading.Event()
        self.canary_path: Path | None = None
        self.canary_pending_since: float | None = None  # monotonic; None: the last touch was seen

    def watch(self, folder: str, inbox: Path) -> None:
        self._watches[folder] = self.observer.schedule(_Hint(folder, self.hint), str(inbox), recursive=False)

    def unwatch(self, folder: str) -> None:
        watch = self._watches.pop(folder, None)
        if watch is not None:
            self.observer.unschedule(watch)

    # A canary proves that inotify events still travel through the observer thread:
    # the supervisor touches a file in a private folder and expects to hear of it.

    def watch_canary(self, directory: Path) -> None:
        directory.mkdir(exist_ok=True, mode=0o750)
        self.canary_path = directory / "canary"
        self._watches[self.CANARY] = self.observer.schedule(_Hint(self.CANARY, self.hint), str(directory),
                                                            recursive=False)

    def touch_canary(self, now: float) -> None:
        if self.canary_path is None:
            return
        with self._lock:
            if self.canary_pending_since is None:
                self.canary_pending_since = now
        self.canary_path.write_text(f"{now}\n")

    def canary_silence(self, now: float) -> float:
        """How long a touch of the canary has gone unheard (0 when all is well)."""
        with self._lock:
            since = self.canary_pending_since
        return 0.0 if since is None else now - since

    def hint(self, folder: str) -> None:
        if folder == self.CANARY:
            with self._lock:
                self.canary_pending_since = None
            return
        with self._lock:
            self._dirty.add(folder)
        self.wakeup.set()

    def take_dirty(self) -> set[str]:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        return dirty

    def start(self) -> None:
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)

    def alive(self) -> bool:
        return self.observer.is_alive()
