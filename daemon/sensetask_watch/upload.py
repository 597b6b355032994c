"""Uploading: for each file of a batch, `POST /files/` for a slot, then PUT its
bytes to the signed URL, streamed, up to `parallel_uploads` at once."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .api import ApiError, ErrorKind, SenseTaskClient
from .journal import FileRecord, Journal
from .retry import with_retries
from .states import FileState

log = logging.getLogger("sensetask_watch")

FRESH_SLOT_TRIES = 3  # a storage 403 (expired or refused URL) gets this many fresh slots


def upload_one(client: SenseTaskClient, journal: Journal, record: FileRecord,
               stop: threading.Event) -> FileRecord:
    """Upload one file and record its fileUri; raises ApiError if it fails for good."""
    path = Path(record.processing_path)
    for slot_try in range(1, FRESH_SLOT_TRIES + 1):
        signed_url, file_uri = with_retries(
            lambda: client.request_upload_slot(record.name, record.mime, record.size),
            what=f"upload slot for {record.name}", stop=stop)
        try:
            with_retries(lambda: client.put_file(signed_url, path, record.size),
                         what=f"upload of {record.name}", stop=stop)
        except ApiError as error:
            if error.kind is ErrorKind.UPLOAD_URL and slot_try < FRESH_SLOT_TRIES:
                log.warning("upload of %s refused by the storage (%s); asking for a fresh slot",
                            record.name, error)
                continue
            raise
        updated = journal.transition(record.id, FileState.UPLOADED, time.time(),
                                     file_uri=file_uri, uploaded_at=time.time())
        log.info("uploaded %s (%d bytes) as %s", record.name, record.size, file_uri)
        return updated
    raise AssertionError("unreachable")


def upload_all(client: SenseTaskClient, journal: Journal, records: list[FileRecord],
               pool: ThreadPoolExecutor, stop: threading.Event) -> tuple[list[FileRecord], list[tuple[FileRecord, str]]]:
    """Upload the batch's files in parallel; return (uploaded, failed-with-error)."""
    pending = [r for r in records if r.state is FileState.BATCHED]
    done = [r for r in records if r.state is FileState.UPLOADED]
    futures = {pool.submit(upload_one, client, journal, r, stop): r for r in pending}
    failed = []
    for future, record in futures.items():
        try:
            done.append(future.result())
        except ApiError as error:
            failed.append((record, str(error)))
        except OSError as error:
            failed.append((record, f"cannot read {record.processing_path}: {error.strerror}"))
    done.sort(key=lambda r: r.id)
    return done, failed
