"""The supervisor: one loop that lists the hot folders, settles, claims and
batches files, hands closed batches to the submitters, reloads the
configuration on request, and tells systemd how things stand (READY, STATUS,
WATCHDOG only while every worker makes progress, STOPPING). The
confirm-and-file thread (filing.py) polls SenseTask, applies webhook events
and files documents away. Signal handlers only set flags."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait

from .api import SenseTaskClient
from .batcher import BatchRules, Batcher
from .config import Config, ConfigError, load_config
from .confirm import ConfirmRules, Poller
from .errors import ExitCode, UserError
from .filetypes import Verdict
from .filing import NAME as FILER, ConfirmAndFile
from .folders import HotFolders
from .health import ApiHealth
from .journal import Journal
from .reload import plan_reload
from .retry import Stopped
from .service import Heartbeats, Notifier
from .statelock import StateLock
from .states import FileState, Outcome
from .submit import Submitter
from .watcher import Watcher
from .webhook import WebhookApp, WebhookServer

log = logging.getLogger("sensetask_watch")

MAX_IDLE_WAIT = 1.0        # the loop looks around at least this often
BUG_PAUSE_SECONDS = 30.0   # a batch whose step raised an unexpected error waits this long
STATUS_EVERY = 2.0         # seconds between STATUS= updates


class Daemon:
    def __init__(self, config: Config, environ=os.environ):
        self.config = config
        self.stop = threading.Event()
        self.reload_requested = threading.Event()
        self.wakeup = threading.Event()        # the main loop's
        self.journal: Journal | None = None
        self.lock = StateLock(config.state_dir)
        self.watcher = Watcher()
        self.watcher.wakeup = self.wakeup
        self.notifier = Notifier(environ)
        self.heartbeats = Heartbeats()
        self.batcher = Batcher(self._batch_rules(config))
        api = config.api
        self.client = SenseTaskClient(api.url, api.key, connect_timeout=api.connect_timeout_seconds,
                                      read_timeout=api.timeout_seconds,
                                      pool_size=api.parallel_uploads + 4)
        self.upload_pool = ThreadPoolExecutor(api.parallel_uploads, thread_name_prefix="upload")
        self.batch_pool = ThreadPoolExecutor(2, thread_name_prefix="submit")
        self._running: dict[int, Future] = {}          # batch id -> its submit task
        self._batch_pause: dict[int, float] = {}       # batch id -> monotonic time after a bug
        self._next_status = 0.0
        self._next_ping = 0.0
        self._next_canary = 0.0
        self._unhealthy: str | None = None

    @staticmethod
    def _batch_rules(config: Config) -> BatchRules:
        return BatchRules(config.batch.quiet_seconds, config.batch.max_files, config.batch.max_wait_seconds)

    @staticmethod
    def _confirm_rules(config: Config) -> ConfirmRules:
        confirm = config.confirm
        # With a webhook receiver, polling is only the safety net for lost events.
        interval = confirm.safety_poll_interval_seconds if config.webhook.enabled else confirm.poll_interval_seconds
        return ConfirmRules(interval, confirm.give_up_after_seconds,
                            frozenset(confirm.processed_statuses), frozenset(confirm.failed_statuses))

    # -- requests from signal handlers: flags only ---------------------------

    def request_stop(self) -> None:
        self.stop.set()
        self.wakeup.set()
        if hasattr(self, "filer"):
            self.filer.wakeup.set()

    def request_reload(self) -> None:
        self.reload_requested.set()
        self.wakeup.set()

    # -- start ---------------------------------------------------------------

    def _prepare(self) -> None:
        try:
            self.config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        except OSError as error:
            raise UserError(f"cannot create {error.filename}: {error.strerror}; create it and give the "
                            "daemon's user write access", ExitCode.CANT_CREATE) from None
        self.lock.acquire()
        self.journal = Journal(self.config.state_dir)
        self.health = ApiHealth(self.journal)
        self.client.observer = self.health
        rules = self._confirm_rules(self.config)
        self.poller = Poller(self.client, self.journal, rules, self._wake_filer,
                             recheck_interval=self.config.confirm.poll_interval_seconds)
        self.folders = HotFolders(self.watcher, self.journal, self.config.watch, self._admit)
        self.filer = ConfirmAndFile(self.journal, self.poller, self.health, self.heartbeats,
                                    self.folders.settings_of, self.stop)
        for folder, outcome, count in self.journal.outcome_counts():
            self.filer.filed[outcome] += count
        self.submitter = Submitter(self.client, self.journal, self.upload_pool, self.stop,
                                   rules.poll_interval_seconds, self.config.api.on_ambiguous_submit,
                                   lambda name: self.folders.settings_of(name).parent_node,
                                   self._wake_filer, self.heartbeats)
        self.webhook_server = self._webhook_server() if self.config.webhook.enabled else None
        for settings in self.config.folders:
            self.folders.add(settings)
        if self.notifier.watchdog_seconds and any(h.mode == "inotify" for h in self.folders.active.values()):
            self.watcher.watch_canary(self.config.state_dir / "canary")

    def _wake_filer(self) -> None:
        self.filer.wakeup.set()

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
        self._wake_filer()

    def _health_report(self) -> dict:
        counts = self.journal.state_counts()
        return {"status": "up", "api": self._api_word(),
                "queued": counts.get("claimed", 0) + counts.get("batched", 0),
                "in_flight": counts.get("uploaded", 0) + counts.get("submitted", 0),
                "to_file": counts.get("confirmed", 0)}

    def _api_word(self) -> str:
        return "paused (key refused)" if self.health.paused else (
            "failing" if self.health.failing_since else "ok")

    def run(self) -> int:
        self._prepare()
        try:
            self._recover()
            if self.webhook_server is not None:
                self.webhook_server.start()
            self.watcher.start()
            self.filer.start()
            self._turn()  # the start-up scan: files that arrived while the daemon was down
            log.info("sensetask-watch started: %d hot folder(s), API %s", len(self.folders.active),
                     self.config.api.url)
            self.notifier.notify("READY=1")
            try:
                self._main_loop()
            finally:
                self.notifier.notify("STOPPING=1")
                self.request_stop()
                self.watcher.stop()
                if self.webhook_server is not None:
                    self.webhook_server.stop()
            if not self._finish_within(self.config.stop_timeout_seconds):
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

    def _finish_within(self, seconds: float) -> bool:
        """Let running batch steps and the filer end, for at most `seconds`."""
        deadline = time.monotonic() + seconds
        wait(list(self._running.values()), timeout=seconds)
        self.filer.thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if any(not f.done() for f in self._running.values()) or self.filer.thread.is_alive():
            return False
        self.batch_pool.shutdown(wait=True)
        self.upload_pool.shutdown(wait=True)
        return True

    def _recover(self) -> None:
        """After a stop: resume every file from its last recorded step."""
        self.folders.recover()
        now = time.monotonic()
        for record in self.journal.files([FileState.CLAIMED]):
            if self.folders.settings_of(record.folder) is not None:
                self.batcher.add(record.folder, record.id, now)
        # Closed batches (BATCHED, UPLOADED) are picked up by _dispatch_due_batches,
        # SUBMITTED files by the poller, CONFIRMED ones by the filer: all from the journal.
        self._wake_filer()

    # -- the main loop ---------------------------------------------------------

    def _main_loop(self) -> None:
        while not self.stop.is_set():
            try:
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self._reload()
                self._turn()
                self._tell_systemd()
            except Exception:
                log.exception("internal error in the main loop; carrying on in a moment")
                self.stop.wait(1.0)
            self.wakeup.wait(self._wait_time(time.monotonic()))
            self.wakeup.clear()

    def _turn(self) -> None:
        self.folders.turn(time.monotonic())
        for batch, reason in self.batcher.take_closed(time.monotonic()):
            batch_id = self.journal.create_batch(batch.folder, batch.file_ids, time.time())
            log.info("batch %d of %s closed with %d file(s): %s", batch_id, batch.folder,
                     len(batch.file_ids), reason)
        self._dispatch_due_batches()

    def _admit(self, folder: str, file_id: int, verdict: Verdict) -> None:
        """A claimed file joins its folder's open batch, or is refused."""
        if verdict.supported:
            self.batcher.add(folder, file_id, time.monotonic())
            return
        now = time.time()
        record = self.journal.transition(file_id, FileState.CONFIRMED, now, outcome=Outcome.FAILED,
                                         reason=verdict.reason, confirmed_at=now)
        log.warning("refused %s: %s", record.name, verdict.reason)
        self._wake_filer()

    def _wait_time(self, now: float) -> float:
        deadlines = [self.batcher.next_deadline(), *self.folders.deadlines()]
        if self.notifier.enabled:
            deadlines += [self._next_ping, self._next_status]
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
        name = f"batch {batch_id}"
        self.heartbeats.beat(name)
        try:
            self.submitter.advance(batch_id)
        except Stopped:
            log.info("batch %d interrupted by the stop; it resumes at the next start", batch_id)
        except Exception:
            log.exception("batch %d: internal error; trying again in %gs", batch_id, BUG_PAUSE_SECONDS)
            self._batch_pause[batch_id] = time.monotonic() + BUG_PAUSE_SECONDS
        finally:
            self.heartbeats.forget(name)
            self.wakeup.set()  # the main loop may dispatch the next step or batch

    # -- systemd: status line and watchdog -----------------------------------------

    def _stall_limit(self) -> float:
        """How long a busy worker may go without progress: a request's worst case, and then some."""
        api = self.config.api
        return 2 * (api.connect_timeout_seconds + api.timeout_seconds) + 30

    def _tell_systemd(self) -> None:
        if not self.notifier.enabled:
            return
        now = time.monotonic()
        if now >= self._next_status:
            self._next_status = now + STATUS_EVERY
            self.notifier.status(self._status_line())
        if self.notifier.watchdog_seconds and now >= self._next_ping:
            interval = self.notifier.watchdog_seconds
            self._next_ping = now + interval / 2
            if now >= self._next_canary:
                self._next_canary = now + max(0.25, min(5.0, interval / 4))
                self.watcher.touch_canary(now)
            problem = self._liveness_problem(now, interval)
            if problem is None:
                if self._unhealthy:
                    log.info("all workers make progress again")
                self._unhealthy = None
                self.notifier.notify("WATCHDOG=1")
            elif problem != self._unhealthy:
                self._unhealthy = problem
                log.error("%s; no longer pinging systemd's watchdog, which will restart the daemon", problem)
                self.notifier.status(f"stalled: {problem}")

    def _liveness_problem(self, now: float, interval: float) -> str | None:
        """Why a worker is hung, or None when all make progress (pure of I/O)."""
        if not self.watcher.alive():
            return "the file watcher thread has died"
        silence = self.watcher.canary_silence(now)
        if silence > max(1.0, interval / 2):
            return f"the file watcher has delivered no event for {silence:.0f}s"
        if not self.filer.thread.is_alive():
            return "the confirm-and-file thread has died"
        quiet = self.heartbeats.silent(FILER, self._stall_limit(), now)
        if quiet is not None:
            return f"the confirm-and-file thread has made no progress for {quiet:.0f}s"
        stalled = self.heartbeats.stalled(self._stall_limit(), now)
        if stalled:
            name, seconds = stalled[0]
            return f"the uploads of {name} have made no progress for {seconds:.0f}s"
        return None

    def _status_line(self) -> str:
        counts = self.journal.state_counts()
        waiting = self.folders.waiting() + counts.get("claimed", 0) + counts.get("batched", 0)
        flight = counts.get("uploaded", 0) + counts.get("submitted", 0) + counts.get("confirmed", 0)
        filed = self.filer.filed
        return (f"{waiting:,} waiting, {flight:,} in flight, {filed['done']:,} done, "
                f"{filed['failed']:,} failed; API {self._api_word()}")

    # -- reload on SIGHUP ------------------------------------------------------------

    def _reload(self) -> None:
        self.notifier.notify("RELOADING=1")
        try:
            new = load_config(self.config.source)
        except ConfigError as error:
            log.error("reload refused, the running configuration stays: %s", str(error).replace("\n", " | "))
            self.notifier.notify("READY=1")
            return
        plan = plan_reload(self.config, new)
        for note in plan.restart_needed:
            log.warning("reload: %s changed; that takes effect at the next restart", note)
        for name in plan.removed:
            self.folders.remove(name)
        self.folders.set_watch(new.watch)
        for settings in plan.changed:
            self.folders.remove(settings.name)
        for settings in plan.added + plan.changed:
            self.folders.add(settings)
        self.batcher.rules = self._batch_rules(new)
        rules = self._confirm_rules(new)
        self.poller.rules = rules
        self.poller.recheck_interval = new.confirm.poll_interval_seconds
        self.submitter.poll_interval = rules.poll_interval_seconds
        self.submitter.on_ambiguous = new.api.on_ambiguous_submit
        self.client.reconfigure(new.api.url, new.api.key, new.api.connect_timeout_seconds,
                                new.api.timeout_seconds)
        logging.getLogger("sensetask_watch").setLevel(new.log_level.upper())
        self.config = plan.effective
        log.info("configuration reloaded from %s: %d hot folder(s)%s", new.source, len(self.folders.active),
                 "".join(f"; {c}" for c in plan.summary()))
        self.notifier.notify("READY=1")
