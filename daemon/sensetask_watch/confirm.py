"""Confirmation by polling `GET /documents/<id>/beta/`: a processed status
means done, a failed status or the give-up time means failed. `decide` is the
pure rule; `Poller.poll_due` does the I/O for the documents whose turn it is."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable

from .api import ApiError, ErrorKind, SenseTaskClient
from .journal import FileRecord, Journal
from .retry import backoff_delay
from .states import FileState, Outcome

log = logging.getLogger("sensetask_watch")


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
    client: SenseTaskClient
    journal: Journal
    rules: ConfirmRules
    on_confirmed: Callable[[], None]

    def poll_due(self, now: float) -> int:
        """Poll every document whose next poll time has come; return how many."""
        due = self.journal.due_polls(now)
        for record in due:
            self.poll_one(record)
        return len(due)

    def poll_one(self, record: FileRecord) -> None:
        try:
            status = self.client.document_status(record.document_id)
        except ApiError as error:
            self._poll_failed(record, error)
            return
        now = time.time()
        outcome, reason = decide(status, record.submitted_at, now, self.rules)
        if outcome is None:
            if status != record.last_status:
                log.info("status of %s (document %s): %s", record.name, record.document_id, status)
            self.journal.record_status(record.id, status, now + self.rules.poll_interval_seconds, now)
            return
        self.journal.transition(record.id, FileState.CONFIRMED, now, outcome=outcome, reason=reason,
                                last_status=status, confirmed_at=now)
        log.info("confirmed %s (document %s): status %s -> %s", record.name, record.document_id,
                 status, outcome.value)
        self.on_confirmed()

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
