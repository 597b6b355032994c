"""Uploading: for each file of a batch, `POST /files/` for a slot (its fileUri
recorded), then PUT the bytes to the signed URL, streamed from disk, up to
`parallel_uploads` at once. A storage 403 (expired or refused URL) gets a
fresh slot."""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .api import ApiError, ErrorKind, SenseTaskClient
from .claim import digest
from .filetypes import classify
from .journal import FileRecord, Journal
from .settle import Fingerprint
from .states import FileState

log = logging.getLogger("sensetask_watch")

FRESH_SLOT_TRIES = 3


class FileGone(Exception):
    """The file left the processing area, or became unsupported, before its upload."""


def refresh_if_replaced(journal: Journal, record: FileRecord) -> FileRecord:
    """If someone replaced the claimed file, take the new content (hash and type again)."""
    path = Path(record.processing_path)
    try:
        now_fp = Fingerprint.of(os.stat(path))
    except FileNotFoundError:
        raise FileGone("the file was removed from the processing area before its upload") from None
    if now_fp == Fingerprint(record.size, record.mtime_ns, record.inode):
        return record
    sha256, head, size = digest(path)
    verdict = classify(record.name, size, head)
    log.warning("%s changed in the processing area since it was claimed; taking the new content "
                "(%d bytes, sha256 %s)", record.name, size, sha256[:12])
    if not verdict.supported:
        raise FileGone(f"the file was replaced in the processing area and {verdict.reason}")
    return journal.update(record.id, time.time(), size=size, sha256=sha256, mime=verdict.mime,
                          mtime_ns=now_fp.mtime_ns, inode=now_fp.inode)


def upload_one(client: SenseTaskClient, journal: Journal, record: FileRecord,
               stop: threading.Event, on_progress=None) -> FileRecord | None:
    """Upload one file and record it UPLOADED; None if the daemon is stopping first."""
    if stop.is_set():
        return None
    record = refresh_if_replaced(journal, record)
    for slot_try in range(1, FRESH_SLOT_TRIES + 1):
        signed_url, file_uri = client.request_upload_slot(record.name, record.mime, record.size)
        record = journal.update(record.id, time.time(), file_uri=file_uri)
        try:
            client.put_file(signed_url, Path(record.processing_path), record.size, on_progress)
        except ApiError as error:
            if error.kind is ErrorKind.UPLOAD_URL and slot_try < FRESH_SLOT_TRIES:
                log.warning("upload of %s refused by the storage (%s); asking for a fresh slot",
                            record.name, error)
                continue
            if error.kind is ErrorKind.UPLOAD_URL:  # fresh slots keep being refused: try later
                raise ApiError(ErrorKind.TRANSIENT, str(error), status=error.status) from None
            raise
        now = time.time()
        record = journal.transition(record.id, FileState.UPLOADED, now, uploaded_at=now)
        log.info("uploaded %s (%d bytes) as %s", record.name, record.size, file_uri)
        return record
    raise AssertionError("unreachable")


def upload_all(client: SenseTaskClient, journal: Journal, records: list[FileRecord],
               pool: ThreadPoolExecutor, stop: threading.Event, on_progress=None) -> dict[int, BaseException]:
    """Upload the batch's BATCHED files in parallel; return the errors by file id."""
    pending = [r for r in records if r.state is FileState.BATCHED]
    futures = {r.id: pool.submit(upload_one, client, journal, r, stop, on_progress) for r in pending}
    errors = {}
    for file_id, future in futures.items():
        try:
            future.result()
        except (ApiError, FileGone, OSError) as error:
            errors[file_id] = error
    return errors
