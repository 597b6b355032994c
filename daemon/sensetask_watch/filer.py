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

from .claim import digest, fsync_dir
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
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="milliseconds")


def build_report(record: FileRecord, job_id: str | None, filed_at: float) -> dict:
    report = {
        "file": os.path.basename(record.final_path) if record.final_path else None,
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
    if record.ocr_complete_at is not None:
        report["ocr_complete_at"] = _iso(record.ocr_complete_at)
    if record.extraction:
        report["extraction"] = json.loads(record.extraction)
    if record.possible_duplicate or record.notes:
        report["possible_duplicate"] = bool(record.possible_duplicate)
        report["notes"] = record.notes
    return report


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


def free_name(directory: Path, name: str) -> Path:
    """The first candidate name in `directory` taken by neither a file nor a report."""
    for candidate in candidate_names(name):
        if not os.path.lexists(directory / candidate) and not os.path.lexists(
                directory / report_name(candidate)):
            return directory / candidate
    raise AssertionError("unreachable")


def _write_report(target: Path, report: dict) -> None:
    path = target.with_name(report_name(target.name))
    temporary = target.with_name(f".{report_name(target.name)}.tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(report, stream, indent=2)
        stream.write("\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def _same_content(path: Path, record: FileRecord) -> bool:
    try:
        return os.path.getsize(path) == record.size and digest(path)[0] == record.sha256
    except OSError:
        return False


def file_away(journal: Journal, record: FileRecord, done_dir: Path, failed_dir: Path) -> Path:
    """Move the file to done/ or failed/ with its report; safe to repeat after a crash.

    The chosen name is recorded first (final_path); the report is written, so
    that whoever sees the file finds its report; a hard link puts the file
    there without ever replacing another; then the processing copy goes and
    the journal says FILED. Repeating any prefix of these steps finds its own
    earlier work and goes on from there."""
    directory = done_dir if record.outcome is Outcome.DONE else failed_dir
    source = Path(record.processing_path)
    job_id = journal.batch(record.batch_id).job_id if record.batch_id else None
    now = time.time()
    while True:
        if record.final_path is None or Path(record.final_path).parent != directory:
            record = journal.update(record.id, time.time(), final_path=str(free_name(directory, record.name)))
        target = Path(record.final_path)
        if os.path.lexists(source):
            _write_report(target, build_report(record, job_id, now))
            try:
                _link_no_replace(source, target)
            except FileExistsError:
                if not os.path.samefile(source, target):  # the name was taken meanwhile
                    os.unlink(target.with_name(report_name(target.name)))
                    record = journal.update(record.id, time.time(), final_path=None)
                    continue
            break
        if not (os.path.lexists(target) and _same_content(target, record)):
            reason = "the file disappeared from the processing area before it was filed"
            record = journal.update(record.id, time.time(), reason=f"{record.reason}; {reason}"
                                    if record.reason else reason)
            log.error("%s: %s; writing its report alone", record.name, reason)
        # else: linked and unlinked before a crash; only the report and the journal remain
        _write_report(target, build_report(record, job_id, now))
        break
    if os.path.lexists(source):
        os.unlink(source)
    fsync_dir(directory)
    journal.transition(record.id, FileState.FILED, now, filed_at=now)
    detail = f"document {record.document_id}" if record.document_id else "not uploaded"
    suffix = f": {record.reason}" if record.reason else ""
    log.info("filed %s (%s) to %s%s", record.name, detail, target, suffix)
    return target
