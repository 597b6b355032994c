"""Confirmation by polling `GET /documents/<id>/beta/`: a processed status
means done, a failed status or the give-up time means failed. `decide` is the
pure rule; `Poller.poll_due` does the I/O for the documents whose turn it is."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Callable

from .api import ApiError, ErrorKind, SenseTaskClient
from .journal import FileRecord, Journal
from .retry import backoff_delay
from .states import FileState, Outcome

log = logging.getLogger("sensetask_watch")

# An event for a document id not known yet is held while a batch waits for the answer
# that may name it (the event raced ahead of it), for at most this long. Otherwise it
# is another integration's document on the same account: answered, and dropped.
HOLD_SECONDS = 600.0


@dataclasses.dataclass(frozen=True)
class ConfirmRules:
    poll_interval_seconds: float
    give_up_after_seconds: float
    processed_statuses: frozenset[str]
    failed_statuses: frozenset[str]


def decide(status: str, submitted_at: float, now: float, rules: ConfirmRules) -> tuple[Outcome | None, str | None]:
    """The outcome a status means, or (None, None) to keep waiting."""
    if status in rules.processed_statuses:
        return Outcome.DONE, None
    if status in rules.failed_statuses:
        return Outcome.FAILED, f"SenseTask reported status '{status}'"
    if now - submitted_at >= rules.give_up_after_seconds:
        return Outcome.FAILED, (f"no final status {rules.give_up_after_seconds:g}s after submission "
                                f"(last status '{status}'); gave up (confirm.give_up_after_seconds)")
    return None, None


@dataclasses.dataclass
class Poller:
    """Asks SenseTask for the status of documents whose turn has come, and
    applies the webhook events the receiver recorded."""
    client: SenseTaskClient
    journal: Journal
    rules: ConfirmRules                    # its poll interval is the safety net's when webhooks are on
    on_confirmed: Callable[[], None]
    recheck_interval: float = 10.0         # after an event, a status not yet final is asked again this soon
    on_progress: Callable[[], None] = lambda: None  # told before each request (liveness)

    def poll_due(self, now: float) -> int:
        """Poll every document whose next poll time has come; return how many."""
        due = self.journal.due_polls(now)
        for record in due:
            self.poll_one(record)
        return len(due)

    def poll_one(self, record: FileRecord) -> None:
        self.on_progress()
        try:
            status = self.client.document_status(record.document_id)
        except ApiError as error:
            self._poll_failed(record, error)
            return
        self.conclude(record, status, "poll", self.rules.poll_interval_seconds)

    def conclude(self, record: FileRecord, status: str, via: str, next_poll_in: float) -> None:
        """Act on a status seen: confirm the file, or note it and ask again later."""
        now = time.time()
        outcome, reason = decide(status, record.submitted_at, now, self.rules)
        if outcome is None:
            if status != record.last_status:
                log.info("status of %s (document %s): %s", record.name, record.document_id, status)
            self.journal.record_status(record.id, status, now + next_poll_in, now)
            return
        self.journal.transition(record.id, FileState.CONFIRMED, now, outcome=outcome, reason=reason,
                                last_status=status, confirmed_at=now)
        log.info("confirmed %s (document %s) by %s: status %s -> %s", record.name, record.document_id,
                 via, status, outcome.value)
        self.on_confirmed()

    def apply_events(self, now: float) -> int:
        """Apply recorded webhook events; hold those whose document id is not known yet
        (the batch answer may still be on its way). Returns how many were applied."""
        applied = 0
        events = self.journal.pending_events()
        awaiting = bool(events) and self.journal.documents_awaited()
        for event in events:
            record = self.journal.file_by_document(event["object_id"])
            if record is None:
                if not awaiting or now - event["received_at"] > HOLD_SECONDS:
                    log.debug("webhook: dropping %s for unknown document %s", event["type"], event["object_id"])
                    self.journal.delete_event(event["id"])
                continue
            self.on_progress()
            try:
                self._apply(record, event["type"], json.loads(event["data"]) if event["data"] else None)
            except ApiError as error:
                log.warning("status of %s (document %s) unavailable after its webhook: %s; trying again",
                            record.name, record.document_id, error)
                break  # the API is failing: the event stays, the loop comes back to it
            self.journal.delete_event(event["id"])
            applied += 1
        return applied

    def _apply(self, record: FileRecord, event_type: str, data: object) -> None:
        now = time.time()
        if record.state is FileState.FILED:
            log.debug("webhook: %s for %s, already filed; nothing to do", event_type, record.name)
            return
        if event_type == "document.ocr_complete":
            if record.ocr_complete_at is None:
                self.journal.update(record.id, now, ocr_complete_at=now)
                log.info("OCR complete for %s (document %s)", record.name, record.document_id)
            return
        if data and record.extraction is None:
            record = self.journal.update(record.id, now, extraction=json.dumps(data))
        if record.state is not FileState.SUBMITTED:
            log.debug("webhook: %s for %s, already %s", event_type, record.name, record.state.value)
            return
        status = data.get("status") if isinstance(data, dict) else None
        if not isinstance(status, str) or not status:
            status = self.client.document_status(record.document_id)
        self.conclude(record, status, "webhook", self.recheck_interval)

    def _poll_failed(self, record: FileRecord, error: ApiError) -> None:
        now = time.time()
        if error.kind is ErrorKind.PERMANENT:
            reason = f"SenseTask cannot tell the status of document {record.document_id}: {error}"
            self.journal.transition(record.id, FileState.CONFIRMED, now, outcome=Outcome.FAILED,
                                    reason=reason, confirmed_at=now)
            log.error("failed %s: %s", record.name, reason)
            self.on_confirmed()
            return
        attempt = record.poll_failures + (error.kind is not ErrorKind.AUTH)
        delay = max(self.rules.poll_interval_seconds,
                    backoff_delay(max(attempt, 1), retry_after=error.retry_after))
        if attempt == 1:
            log.warning("status of %s (document %s) unavailable: %s; trying again", record.name,
                        record.document_id, error)
        self.journal.record_status(record.id, None, now + delay, now, poll_failures=attempt)
