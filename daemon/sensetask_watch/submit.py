"""Submitting a closed batch as the guide does: upload every file, then one
`POST /jobs/` with the batch's documentCount and parent node, then one
`POST /documents/batch/<jobId>/`; each returned id belongs to its file."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .api import ApiError, SenseTaskClient
from .journal import FileRecord, Journal
from .retry import with_retries
from .states import FileState, Outcome
from .upload import upload_all

log = logging.getLogger("sensetask_watch")


@dataclasses.dataclass
class Submitter:
    client: SenseTaskClient
    journal: Journal
    upload_pool: ThreadPoolExecutor
    stop: threading.Event
    poll_interval: float
    parent_node_of: Callable[[str], str]   # folder name -> SenseTask parent node
    on_confirmed: Callable[[], None]       # wakes the filer

    def fail(self, record: FileRecord, reason: str) -> None:
        self.journal.transition(record.id, FileState.CONFIRMED, time.time(), outcome=Outcome.FAILED,
                                reason=reason, confirmed_at=time.time())
        log.error("failed %s: %s", record.name, reason)
        self.on_confirmed()

    def submit_batch(self, batch_id: int) -> None:
        batch = self.journal.batch(batch_id)
        records = self.journal.batch_files(batch_id)
        uploaded, failed = upload_all(self.client, self.journal, records, self.upload_pool, self.stop)
        for record, reason in failed:
            self.fail(record, reason)
        if not uploaded:
            return
        names = ", ".join(r.name for r in uploaded)
        try:
            job_id = batch.job_id or with_retries(
                lambda: self.client.create_job(len(uploaded), self.parent_node_of(batch.folder)),
                what=f"job for batch {batch_id}", stop=self.stop)
            self.journal.set_job(batch_id, job_id)
            items = [{"fileName": os.path.splitext(r.name)[0], "fileType": r.mime,
                      "fileSize": r.size, "fileUri": r.file_uri} for r in uploaded]
            document_ids = with_retries(lambda: self.client.create_documents(job_id, items),
                                        what=f"documents of job {job_id}", stop=self.stop)
        except ApiError as error:
            for record in uploaded:
                self.fail(record, f"SenseTask refused the batch ({names}): {error}")
            return
        now = time.time()
        self.journal.record_documents(batch_id, {r.id: d for r, d in zip(uploaded, document_ids)},
                                      now, now + self.poll_interval)
        for record, document_id in zip(uploaded, document_ids):
            log.info("submitted %s: document %s in job %s", record.name, document_id, job_id)
