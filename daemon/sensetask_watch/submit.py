"""Submitting a closed batch, as the guide does: upload every file, then one
`POST /jobs/` with the batch's documentCount and parent node, then one
`POST /documents/batch/<jobId>/`; each returned id belongs to its file.

`Submitter.advance` takes a batch as far as it can go now, one recorded step
at a time (see `states.batch_step`). A transient failure records the batch's
attempts and next try time in the journal and returns; a request that may
have been acted upon without an answer (an ambiguous outcome) is handled by
`api.on_ambiguous_submit`, as is a crash between sending it and recording
its answer, which the journal shows as a request sent but never answered."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .api import ApiError, ErrorKind, SenseTaskClient
from .journal import BatchRecord, FileRecord, Journal
from .retry import BAD_ANSWER_TRIES, Stopped, backoff_delay
from .service import Heartbeats
from .states import BatchStep, FileState, Outcome, batch_step
from .upload import FileGone, upload_all

log = logging.getLogger("sensetask_watch")


class RetryLater(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclasses.dataclass
class Submitter:
    client: SenseTaskClient
    journal: Journal
    upload_pool: ThreadPoolExecutor
    stop: threading.Event
    poll_interval: float
    on_ambiguous: str                      # "resubmit" or "fail"
    parent_node_of: Callable[[str], str]   # folder name -> SenseTask parent node
    on_confirmed: Callable[[], None]       # wakes the filer
    heartbeats: Heartbeats | None = None   # told of progress, for the watchdog
    _unreadable_logged: set = dataclasses.field(default_factory=set)

    def _beat(self, batch_id: int) -> Callable[[], None]:
        heartbeats = self.heartbeats
        return (lambda: heartbeats.beat(f"batch {batch_id}")) if heartbeats else (lambda: None)

    # -- the whole batch ----------------------------------------------------

    def _progress_mark(self, batch_id: int) -> tuple:
        batch = self.journal.batch(batch_id)
        return batch.job_id, tuple(f.state for f in self.journal.batch_files(batch_id))

    def advance(self, batch_id: int) -> None:
        before = self._progress_mark(batch_id)
        try:
            self._advance(batch_id)
        except RetryLater as later:
            batch = self.journal.batch(batch_id)
            # Backoff grows only while nothing moves; a try that got some files
            # uploaded starts the count again (the API is working, just flaky).
            attempts = 1 if self._progress_mark(batch_id) != before else batch.attempts + 1
            delay = backoff_delay(attempts, retry_after=later.retry_after)
            self.journal.update_batch(batch_id, attempts=attempts, next_try_at=time.time() + delay,
                                      last_error=str(later))
            log.warning("batch %d: %s; try %d in %.1fs", batch_id, later, attempts + 1, delay)
            return
        if self.journal.batch(batch_id).attempts:
            self.journal.update_batch(batch_id, attempts=0, next_try_at=None, last_error=None)

    def _advance(self, batch_id: int) -> None:
        while True:
            if self.stop.is_set():
                raise Stopped(f"batch {batch_id}")
            self._beat(batch_id)()
            batch = self.journal.batch(batch_id)
            files = self.journal.batch_files(batch_id)
            step = batch_step([f.state for f in files], batch.job_id)
            if step is BatchStep.DONE:
                return
            if step is BatchStep.UPLOAD:
                self._upload(batch, files)
            elif step is BatchStep.JOB:
                self._create_job(batch, files)
            else:
                self._create_documents(batch, files)

    # -- the steps ---------------------------------------------------------

    def _upload(self, batch: BatchRecord, files: list[FileRecord]) -> None:
        errors = upload_all(self.client, self.journal, files, self.upload_pool, self.stop, self._beat(batch.id))
        later: RetryLater | None = None
        for file_id, error in errors.items():
            record = self.journal.get(file_id)
            if isinstance(error, FileGone):
                self.fail(record, str(error))
            elif isinstance(error, OSError):
                if file_id not in self._unreadable_logged:
                    self._unreadable_logged.add(file_id)
                    log.error("cannot read %s: %s; give the daemon's user read access, it is tried "
                              "again until then", record.processing_path, error.strerror or error)
                later = later or RetryLater(f"cannot read {record.name}")
            elif error.kind is ErrorKind.PERMANENT:
                self.fail(record, f"SenseTask refused the upload: {error}")
            else:
                later = later or RetryLater(str(error), error.retry_after)
        if later is not None:
            raise later
        if self.stop.is_set():
            raise Stopped(f"batch {batch.id}")

    def _create_job(self, batch: BatchRecord, files: list[FileRecord]) -> None:
        if batch.job_requested_at is not None:
            self._ambiguous(batch, files, "job", "the daemon stopped after sending POST /jobs/ and "
                            "before recording its answer")
            return
        uploaded = [f for f in files if f.state is FileState.UPLOADED]
        self.journal.update_batch(batch.id, job_requested_at=time.time())
        try:
            job_id = self.client.create_job(len(uploaded), self.parent_node_of(batch.folder))
        except ApiError as error:
            if error.maybe_acted or error.kind is ErrorKind.BAD_ANSWER:
                self._no_answer(batch, files, "job", "POST /jobs/", error)
                return
            self.journal.update_batch(batch.id, job_requested_at=None)
            self._api_error(batch, files, error, "SenseTask refused to create the job")
            return
        self.journal.update_batch(batch.id, job_id=job_id, job_requested_at=None)
        log.info("batch %d: job %s created for %d document(s)", batch.id, job_id, len(uploaded))

    def _create_documents(self, batch: BatchRecord, files: list[FileRecord]) -> None:
        if batch.documents_requested_at is not None:
            self._ambiguous(batch, files, "documents", "the daemon stopped after sending POST "
                            f"/documents/batch/{batch.job_id}/ and before recording its answer")
            return
        uploaded = [f for f in files if f.state is FileState.UPLOADED]
        items = [{"fileName": os.path.splitext(r.name)[0], "fileType": r.mime, "fileSize": r.size,
                  "fileUri": r.file_uri} for r in uploaded]
        self.journal.update_batch(batch.id, documents_requested_at=time.time())
        try:
            document_ids = self.client.create_documents(batch.job_id, items)
        except ApiError as error:
            if error.maybe_acted or error.kind is ErrorKind.BAD_ANSWER:
                self._no_answer(batch, files, "documents", f"POST /documents/batch/{batch.job_id}/", error)
                return
            self.journal.update_batch(batch.id, documents_requested_at=None)
            self._api_error(batch, files, error, "SenseTask refused the documents")
            return
        now = time.time()
        self.journal.record_documents(batch.id, {r.id: d for r, d in zip(uploaded, document_ids)},
                                      now, now + self.poll_interval)
        for record, document_id in zip(uploaded, document_ids):
            log.info("submitted %s: document %s in job %s", record.name, document_id, batch.job_id)
        self.on_confirmed()  # webhook events that raced ahead of this answer can now be applied

    # -- when it goes wrong --------------------------------------------------

    def fail(self, record: FileRecord, reason: str) -> None:
        now = time.time()
        self.journal.transition(record.id, FileState.CONFIRMED, now, outcome=Outcome.FAILED,
                                reason=reason, confirmed_at=now)
        log.error("failed %s: %s", record.name, reason)
        self.on_confirmed()

    def _active(self, batch_id: int) -> list[FileRecord]:
        return [f for f in self.journal.batch_files(batch_id)
                if f.state in (FileState.BATCHED, FileState.UPLOADED)]

    def _api_error(self, batch: BatchRecord, files: list[FileRecord], error: ApiError, what: str) -> None:
        if error.kind is ErrorKind.PERMANENT:
            for record in self._active(batch.id):
                self.fail(record, f"{what}: {error}")
            return
        raise RetryLater(str(error), error.retry_after)

    def _no_answer(self, batch: BatchRecord, files: list[FileRecord], what: str, request: str,
                   error: ApiError) -> None:
        """The request may have been acted upon, but no usable answer came back."""
        self._ambiguous(batch, files, what, f"{request} got no usable answer ({error})")
        if error.kind is ErrorKind.BAD_ANSWER:
            self._bad_answer(batch, files, error)
        if self._active(batch.id):
            raise RetryLater(str(error), error.retry_after)

    def _bad_answer(self, batch: BatchRecord, files: list[FileRecord], error: ApiError) -> None:
        count = self.journal.batch(batch.id).bad_answers + 1
        self.journal.update_batch(batch.id, bad_answers=count)
        if count >= BAD_ANSWER_TRIES:
            for record in self._active(batch.id):
                self.fail(record, f"SenseTask answered {count} times in a way we cannot read: {error}")

    def _ambiguous(self, batch: BatchRecord, files: list[FileRecord], what: str, detail: str) -> None:
        """SenseTask may or may not have acted; it has no idempotency key. Apply the policy."""
        self.journal.bump("ambiguous_submits")
        active = self._active(batch.id)
        if self.on_ambiguous == "fail":
            reason = (f"outcome unknown: {detail}; SenseTask may or may not have created the {what}, "
                      "so the files were not submitted again (api.on_ambiguous_submit: fail)")
            self.journal.update_batch(batch.id, job_requested_at=None, documents_requested_at=None)
            for record in active:
                self.fail(record, reason)
            return
        if what == "documents":
            note = (f"possible duplicate at SenseTask: {detail}; submitted again in a new job "
                    "(api.on_ambiguous_submit: resubmit)")
            self.journal.update_batch(batch.id, job_id=None, documents_requested_at=None)
        else:
            note = f"a second, empty job may exist at SenseTask: {detail}"
            self.journal.update_batch(batch.id, job_requested_at=None)
        now = time.time()
        for record in active:
            notes = f"{record.notes}; {note}" if record.notes else note
            self.journal.update(record.id, now, notes=notes,
                                possible_duplicate=record.possible_duplicate or int(what == "documents"))
        log.warning("batch %d (%s): %s", batch.id, ", ".join(r.name for r in active), note)
