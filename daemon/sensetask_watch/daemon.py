"""The supervisor: one loop that lists the hot folders, settles, claims and
batches files, and hands closed batches to the submitters; one thread that
polls SenseTask and files confirmed documents away. Signal handlers only set
the stop flag; the loop waits on an Event with a timeout."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from .api import SenseTaskClient
from .health import ApiHealth
from .batcher import BatchRules, Batcher
from .claim import claim, original_name, record_claimed
from .config import Config, FolderSettings
from .confirm import ConfirmRules, Poller
from .errors import ExitCode, UserError
from .filer import file_away
from .journal import Journal
from .retry import Stopped
from .settle import SettleTracker
from .states import FileState, Outcome
from .submit import Submitter
from .watcher import FolderLister, Watcher, choose_mode, filesystem_type
from .webhook import WebhookApp, WebhookServer

log = logging.getLogger("sensetask_watch")

MIN_SCAN_GAP = 0.2         # a folder busy with writes is listed at most this often
MAX_IDLE_WAIT = 1.0        # the loop looks around at least this often
FILE_RETRY_SECONDS = 5.0   # a file that could not be filed is tried again after this
BUG_PAUSE_SECONDS = 30.0   # a batch whose step raised an unexpected error waits this long
LOCK_NAME = "daemon.lock"


@dataclasses.dataclass
class HotFolder:
    settings: FolderSettings
    lister: FolderLister
    tracker: SettleTracker
    mode: str
    next_scan: float = 0.0
    last_scan: float = float("-inf")


class StateLock:
    """One daemon per state_dir: an flock held for the process's life."""

    def __init__(self, state_dir: Path):
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise UserError(f"another sensetask-watch is running with state_dir {self.path.parent} "
                                "(stop it first, or give this one its own state_dir)",
                                ExitCode.TEMPFAIL) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def is_running(state_dir: Path) -> int | None:
    """The pid of the daemon holding state_dir's lock, or None."""
    try:
        fd = os.open(state_dir / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        content = os.read(fd, 32).decode(errors="replace").strip()
        return int(content) if content.isdigit() else -1
    finally:
        os.close(fd)
    return None


class Daemon:
    def __init__(self, config: Config):
        self.config = config
        self.stop = threading.Event()
        self.wakeup = threading.Event()        # the main loop's
        self.file_wakeup = threading.Event()   # the confirm-and-file thread's
        self.journal: Journal | None = None
        self.lock = StateLock(config.state_dir)
        self.watcher = Watcher()
        self.watcher.wakeup = self.wakeup
        self.batcher = Batcher(BatchRules(config.batch.quiet_seconds, config.batch.max_files,
                                          config.batch.max_wait_seconds))
        self.folders: dict[str, HotFolder] = {}
        api = config.api
        self.client = SenseTaskClient(api.url, api.key, connect_timeout=api.connect_timeout_seconds,
                                      read_timeout=api.timeout_seconds,
                                      pool_size=api.parallel_uploads + 4)
        self.upload_pool = ThreadPoolExecutor(api.parallel_uploads, thread_name_prefix="upload")
        self.batch_pool = ThreadPoolExecutor(2, thread_name_prefix="submit")
        self._unreadable: set[tuple[str, str]] = set()
        self._file_retry_at: dict[int, float] = {}
        self._running: dict[int, Future] = {}          # batch id -> its submit task
        self._batch_pause: dict[int, float] = {}       # batch id -> monotonic time after a bug

    # -- start and stop ----------------------------------------------------

    def request_stop(self) -> None:
        """Safe from a signal handler: only sets flags."""
        self.stop.set()
        self.wakeup.set()
        self.file_wakeup.set()

    def _prepare(self) -> None:
        try:
            self.config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
            for folder in self.config.folders:
                folder.processing.mkdir(exist_ok=True, mode=0o750)
        except OSError as error:
            raise UserError(f"cannot create {error.filename}: {error.strerror}; create it and give the "
                            "daemon's user write access", ExitCode.CANT_CREATE) from None
        self.lock.acquire()
        self.journal = Journal(self.config.state_dir)
        self.health = ApiHealth(self.journal)
        self.client.observer = self.health
        confirm = self.config.confirm
        webhook = self.config.webhook
        # With a webhook receiver, polling is only the safety net for lost events.
        interval = confirm.safety_poll_interval_seconds if webhook.enabled else confirm.poll_interval_seconds
        rules = ConfirmRules(interval, confirm.give_up_after_seconds,
                             frozenset(confirm.processed_statuses), frozenset(confirm.failed_statuses))
        self.poller = Poller(self.client, self.journal, rules, self.file_wakeup.set,
                             recheck_interval=confirm.poll_interval_seconds)
        parent_nodes = {f.name: f.parent_node for f in self.config.folders}
        self.submitter = Submitter(self.client, self.journal, self.upload_pool, self.stop,
                                   interval, self.config.api.on_ambiguous_submit,
                                   parent_nodes.__getitem__, self.file_wakeup.set)
        self.webhook_server = self._webhook_server() if webhook.enabled else None
        watch = self.config.watch
        for settings in self.config.folders:
            fs_type = filesystem_type(settings.inbox)
            mode = choose_mode(watch.mode, fs_type)
            self.folders[settings.name] = HotFolder(settings, FolderLister(settings.inbox, watch.ignore),
                                                    SettleTracker(watch.settle_seconds), mode)
            if mode == "inotify":
                self.watcher.watch(settings.name, settings.inbox)
            log.info("watching %s (%s, %s) -> done %s, failed %s", settings.inbox, fs_type, mode,
                     settings.done, settings.failed)

    def _webhook_server(self) -> WebhookServer:
        webhook = self.config.webhook
        app = WebhookApp(path=webhook.path, health_path=webhook.health_path, secret=webhook.secret,
                         max_body_bytes=webhook.max_body_bytes, on_event=self._on_event,
                         health=self._health_report)
        try:
            server = WebhookServer(app, webhook.host, webhook.port)
        except OSError as error:
            raise UserError(f"cannot listen for webhooks on {webhook.listen}: {error.strerror}; free the "
                            "port or change webhook.listen", ExitCode.UNAVAILABLE) from None
        log.info("webhook receiver on http://%s%s (health: %s)", webhook.listen, webhook.path,
                 webhook.health_path)
        return server

    def _on_event(self, object_id: str, event_type: str, data: object) -> None:
        """Called by the receiver's threads: record the event, wake the confirm thread."""
        self.journal.add_event(object_id, event_type, None if data is None else json.dumps(data), time.time())
        log.debug("webhook: %s for document %s", event_type, object_id)
        self.file_wakeup.set()

    def _health_report(self) -> dict:
        counts = self.journal.state_counts()
        api = "paused" if self.health.paused else ("failing" if self.health.failing_since else "answering")
        return {"status": "up", "api": api,
                "queued": counts.get("claimed", 0) + counts.get("batched", 0),
                "in_flight": counts.get("uploaded", 0) + counts.get("submitted", 0),
                "to_file": counts.get("confirmed", 0)}

    def run(self) -> int:
        self._prepare()
        try:
            self._recover()
            if self.webhook_server is not None:
                self.webhook_server.start()
            self.watcher.start()
            filer_thread = threading.Thread(target=self._confirm_and_file_loop, name="confirm-file")
            filer_thread.start()
            log.info("sensetask-watch started: %d hot folder(s), API %s", len(self.folders),
                     self.config.api.url)
            try:
                self._main_loop()
            finally:
                self.request_stop()
                self.watcher.stop()
                if self.webhook_server is not None:
                    self.webhook_server.stop()
            if not self._finish_within(self.config.stop_timeout_seconds, filer_thread):
                # The journal holds every step already taken; what was cut off resumes.
                log.warning("stop limit of %gs (stop_timeout_seconds) reached with uploads still "
                            "running; they resume at the next start", self.config.stop_timeout_seconds)
                logging.shutdown()
                os._exit(ExitCode.OK)
            log.info("sensetask-watch stopped; unfinished work resumes at the next start")
            return ExitCode.OK
        finally:
            self.client.close()
            self.journal.close()
            self.lock.release()

    def _finish_within(self, seconds: float, filer_thread: threading.Thread) -> bool:
        """Let running batch steps and the filer end, for at most `seconds`."""
        deadline = time.monotonic() + seconds
        wait(list(self._running.values()), timeout=seconds)
        filer_thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if any(not f.done() for f in self._running.values()) or filer_thread.is_alive():
            return False
        self.batch_pool.shutdown(wait=True)
        self.upload_pool.shutdown(wait=True)
        return True

    # -- after a stop: resume every file from its last recorded step --------

    def _recover(self) -> None:
        journal = self.journal
        known = journal.known_processing_paths()
        for name, hot in self.folders.items():
            for entry in sorted(os.listdir(hot.settings.processing)):
                path = hot.settings.processing / entry
                if str(path) not in known and path.is_file() and not entry.startswith("."):
                    log.warning("found %s in the processing area, unknown to the journal; queueing it", entry)
                    self._admit(name, *record_claimed(journal, name, path, original_name(entry)))
        now = time.monotonic()
        for record in journal.files([FileState.CLAIMED]):
            if record.folder in self.folders:
                self.batcher.add(record.folder, record.id, now)
        # Closed batches (BATCHED, UPLOADED) are picked up by _dispatch_due_batches,
        # SUBMITTED files by the poller, CONFIRMED ones by the filer: all from the journal.
        self.file_wakeup.set()

    # -- the main loop: see, settle, claim, batch ---------------------------

    def _main_loop(self) -> None:
        while not self.stop.is_set():
            try:
                self._turn()
            except Exception:
                log.exception("internal error in the main loop; carrying on in a moment")
                self.stop.wait(1.0)
            self.wakeup.wait(self._wait_time(time.monotonic()))
            self.wakeup.clear()

    def _turn(self) -> None:
        now = time.monotonic()
        dirty = self.watcher.take_dirty()
        for name, hot in self.folders.items():
            if self._scan_due(hot, name in dirty, now):
                self._scan(name, hot, now)
        for batch, reason in self.batcher.take_closed(time.monotonic()):
            batch_id = self.journal.create_batch(batch.folder, batch.file_ids, time.time())
            log.info("batch %d of %s closed with %d file(s): %s", batch_id, batch.folder,
                     len(batch.file_ids), reason)
        self._dispatch_due_batches()

    def _scan_due(self, hot: HotFolder, dirty: bool, now: float) -> bool:
        if now - hot.last_scan < MIN_SCAN_GAP:
            if dirty:
                self.watcher.hint(hot.settings.name)  # keep the hint for the next turn
            return False
        deadline = hot.tracker.next_deadline()
        return dirty or now >= hot.next_scan or (deadline is not None and now >= deadline)

    def _scan(self, name: str, hot: HotFolder, now: float) -> None:
        watch = self.config.watch
        hot.last_scan = now
        interval = watch.poll_interval_seconds if hot.mode == "polling" else watch.rescan_interval_seconds
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
                self._admit(name, *claimed)

    def _admit(self, folder: str, file_id: int, verdict) -> None:
        """A claimed file joins its folder's open batch, or is refused."""
        if verdict.supported:
            self.batcher.add(folder, file_id, time.monotonic())
            return
        now = time.time()
        record = self.journal.transition(file_id, FileState.CONFIRMED, now, outcome=Outcome.FAILED,
                                         reason=verdict.reason, confirmed_at=now)
        log.warning("refused %s: %s", record.name, verdict.reason)
        self.file_wakeup.set()

    def _wait_time(self, now: float) -> float:
        deadlines = [self.batcher.next_deadline()]
        for hot in self.folders.values():
            deadlines += [hot.next_scan, hot.tracker.next_deadline()]
        next_try = self.journal.next_batch_try()
        if next_try is not None:
            deadlines.append(now + (next_try - time.time()))
        soonest = min((d for d in deadlines if d is not None), default=now + MAX_IDLE_WAIT)
        return min(MAX_IDLE_WAIT, max(0.01, soonest - now))

    def _dispatch_due_batches(self) -> None:
        """Hand every closed batch whose (next) try has come to a submitter."""
        if self.health.paused:
            return
        now = time.monotonic()
        for batch_id, future in list(self._running.items()):
            if future.done():
                del self._running[batch_id]
        for batch_id in self.journal.due_batches(time.time()):
            if batch_id in self._running or self._batch_pause.get(batch_id, 0) > now:
                continue
            self._running[batch_id] = self.batch_pool.submit(self._advance_batch, batch_id)

    def _advance_batch(self, batch_id: int) -> None:
        try:
            self.submitter.advance(batch_id)
        except Stopped:
            log.info("batch %d interrupted by the stop; it resumes at the next start", batch_id)
        except Exception:
            log.exception("batch %d: internal error; trying again in %gs", batch_id, BUG_PAUSE_SECONDS)
            self._batch_pause[batch_id] = time.monotonic() + BUG_PAUSE_SECONDS
        finally:
            self.wakeup.set()  # the main loop may dispatch the next step or batch

    # -- the confirm-and-file thread ------------------------------------------

    def _confirm_and_file_loop(self) -> None:
        while not self.stop.is_set():
            try:
                self._file_confirmed()
                if not self.health.paused:
                    self.poller.apply_events(time.time())
                    self.poller.poll_due(time.time())
            except Exception:
                log.exception("error while confirming or filing; continuing")
            next_poll = self.journal.next_poll_time()
            wait = MAX_IDLE_WAIT if next_poll is None else min(MAX_IDLE_WAIT, max(0.01, next_poll - time.time()))
            self.file_wakeup.wait(wait)
            self.file_wakeup.clear()
        try:
            self._file_confirmed()  # file what was confirmed before the stop
        except Exception:
            log.exception("error while filing at stop; the files are filed at the next start")

    def _file_confirmed(self) -> None:
        now = time.monotonic()
        for record in self.journal.files([FileState.CONFIRMED]):
            hot = self.folders.get(record.folder)
            if hot is None or self._file_retry_at.get(record.id, 0) > now:
                continue
            try:
                file_away(self.journal, record, hot.settings.done, hot.settings.failed)
                self._file_retry_at.pop(record.id, None)
            except OSError as error:
                target = hot.settings.done if record.outcome is Outcome.DONE else hot.settings.failed
                if record.id not in self._file_retry_at:
                    log.error("cannot file %s into %s: %s; it waits in %s until the folder is writable "
                              "again", record.name, target, error.strerror or error, hot.settings.processing)
                self._file_retry_at[record.id] = now + FILE_RETRY_SECONDS
