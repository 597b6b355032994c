"""Filing away: move a confirmed file from the processing area to done/ or
failed/, never overwriting (an existing name gets a numbered suffix), with a
small JSON report beside it (NAME.sensetask.json)."""

from __future__ import annotations

import datetime
import errno
import json
import logging
import os
import time
from pathlib import Path
from typing import Iterator

from .journal import FileRecord, Journal
from .states import FileState, Outcome

log = logging.getLogger("sensetask_watch")

REPORT_SUFFIX = ".sensetask.json"


def candidate_names(name: str) -> Iterator[str]:
    """scan.pdf, scan-1.pdf, scan-2.pdf, ...: the names to try in done/ or failed/."""
    yield name
    stem, extension = os.path.splitext(name)
    number = 1
    while True:
        yield f"{stem}-{number}{extension}"
        number += 1


def report_name(name: str) -> str:
    return name + REPORT_SUFFIX


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="seconds")


def build_report(record: FileRecord, job_id: str | None, filed_name: str, filed_at: float) -> dict:
    return {
        "file": filed_name,
        "original_name": record.name,
        "folder": record.folder,
        "outcome": record.outcome.value if record.outcome else None,
        "status": record.last_status,
        "reason": record.reason,
        "document_id": record.document_id,
        "job_id": job_id,
        "file_uri": record.file_uri,
        "size": record.size,
        "sha256": record.sha256,
        "claimed_at": _iso(record.claimed_at),
        "uploaded_at": _iso(record.uploaded_at),
        "submitted_at": _iso(record.submitted_at),
        "confirmed_at": _iso(record.confirmed_at),
        "filed_at": _iso(filed_at),
    }


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_no_replace(source: Path, target: Path) -> None:
    """Make `target` name `source`'s file, failing with FileExistsError rather than overwrite."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # A filesystem without hard links (some SMB mounts): check, then rename.
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "exists", str(target)) from None
        os.rename(source, target)


def place(source: Path, directory: Path, name: str, report: dict) -> Path:
    """Move `source` into `directory` under the first free name, with its report."""
    for candidate in candidate_names(name):
        target = directory / candidate
        report_path = directory / report_name(candidate)
        if os.path.lexists(report_path):
            continue
        try:
            _link_no_replace(source, target)
        except FileExistsError:
            continue
        report["file"] = candidate
        temporary = directory / f".{report_name(candidate)}.tmp"
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(report, stream, indent=2)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, report_path)
        if os.path.lexists(source):
            os.unlink(source)
        _fsync_dir(directory)
        return target
    raise AssertionError("unreachable")


def file_away(journal: Journal, record: FileRecord, done_dir: Path, failed_dir: Path) -> Path:
    directory = done_dir if record.outcome is Outcome.DONE else failed_dir
    job_id = journal.batch(record.batch_id).job_id if record.batch_id else None
    now = time.time()
    target = place(Path(record.processing_path), directory, record.name,
                   build_report(record, job_id, record.name, now))
    journal.transition(record.id, FileState.FILED, now, final_path=str(target), filed_at=now)
    detail = f"document {record.document_id}" if record.document_id else "not uploaded"
    suffix = f": {record.reason}" if record.reason else ""
    log.info("filed %s (%s) to %s%s", record.name, detail, target, suffix)
    return target
