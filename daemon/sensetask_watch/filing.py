"""The confirm-and-file thread: applies webhook events, polls the documents
whose turn has come, and files confirmed documents away. One thread does all
three, so a file is only ever filed by one hand."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from .config import FolderSettings
from .confirm import Poller
from .filer import file_away
from .health import ApiHealth
from .journal import Journal
from .service import Heartbeats
from .states import FileState, Outcome

log = logging.getLogger("sensetask_watch")

MAX_IDLE_WAIT = 1.0        # the thread looks around at least this often
FILE_RETRY_SECONDS = 5.0   # a file that could not be filed is tried again after this
NAME = "confirm-file"


class ConfirmAndFile:
    def __init__(self, journal: Journal, poller: Poller, health: ApiHealth, heartbeats: Heartbeats,
                 settings_of: Callable[[str], FolderSettings | None], stop: threading.Event):
        self.journal = journal
        self.poller = poller
        self.health = health
        self.heartbeats = heartbeats
        self.settings_of = settings_of
        self.stop = stop
        self.wakeup = threading.Event()
        self._retry_at: dict[int, float] = {}
        self.filed = {"done": 0, "failed": 0}  # since start, for the status line
        poller.on_progress = lambda: heartbeats.beat(NAME)
        self.thread = threading.Thread(target=self._loop, name=NAME)

    def start(self) -> None:
        self.heartbeats.beat(NAME)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            self.heartbeats.beat(NAME)
            try:
                self.file_confirmed()
                if not self.health.paused:
                    self.poller.apply_events(time.time())
                    self.poller.poll_due(time.time())
            except Exception:
                log.exception("error while confirming or filing; continuing")
            next_poll = self.journal.next_poll_time()
            pause = MAX_IDLE_WAIT if next_poll is None else min(MAX_IDLE_WAIT, max(0.01, next_poll - time.time()))
            self.wakeup.wait(pause)
            self.wakeup.clear()
        try:
            self.file_confirmed()  # file what was confirmed before the stop
        except Exception:
            log.exception("error while filing at stop; the files are filed at the next start")
        self.heartbeats.forget(NAME)

    def file_confirmed(self) -> None:
        now = time.monotonic()
        for record in self.journal.files([FileState.CONFIRMED]):
            settings = self.settings_of(record.folder)
            if settings is None or self._retry_at.get(record.id, 0) > now:
                continue
            self.heartbeats.beat(NAME)
            try:
                file_away(self.journal, record, settings.done, settings.failed)
                self._retry_at.pop(record.id, None)
                self.filed[record.outcome.value] += 1
            except OSError as error:
                target = settings.done if record.outcome is Outcome.DONE else settings.failed
                if record.id not in self._retry_at:
                    log.error("cannot file %s into %s: %s; it waits in %s until the folder is writable "
                              "again", record.name, target, error.strerror or error, settings.processing)
                self._retry_at[record.id] = now + FILE_RETRY_SECONDS
