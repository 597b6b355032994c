#!/usr/bin/env python3
"""What the journal costs per file: drives the real Journal through every
recorded step of a file's road (claim, batch, upload slot, uploaded, job and
documents intents and answers, three polled statuses, confirmed, filing name,
filed), in batches of 20, and prints a table per state_dir location.

    .venv/bin/python bench/journal_cost.py [--files 2000] [--dir PATH ...]

Columns: commits per file (durable ones are fsync'd), wall ms per file, and
the journal's size on disk per file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from table import print_table

from sensetask_watch.journal import Journal
from sensetask_watch.states import FileState, Outcome

BATCH = 20


class CountingJournal(Journal):
    durable = 0
    light = 0

    def _write(self, statements, durable=True):
        if durable:
            CountingJournal.durable += 1
        else:
            CountingJournal.light += 1
        return super()._write(statements, durable)


def run(directory: Path, files: int) -> dict:
    state = Path(tempfile.mkdtemp(prefix="journal-bench-", dir=directory))
    CountingJournal.durable = CountingJournal.light = 0
    journal = CountingJournal(state)
    start = time.perf_counter()
    for first in range(0, files, BATCH):
        now = time.time()
        ids = [journal.claim(folder="scans", name=f"doc-{i}.pdf", processing_path=f"/p/{i}", size=1000,
                             mtime_ns=1, inode=i, sha256="0" * 64, mime="application/pdf", now=now)
               for i in range(first, min(first + BATCH, files))]
        batch = journal.create_batch("scans", ids, now)
        for file_id in ids:
            journal.update(file_id, now, file_uri=f"uploads/{file_id}")
            journal.transition(file_id, FileState.UPLOADED, now, uploaded_at=now)
        journal.update_batch(batch, job_requested_at=now)
        journal.update_batch(batch, job_id=f"job{batch}", job_requested_at=None)
        journal.update_batch(batch, documents_requested_at=now)
        journal.record_documents(batch, {f: f"doc{f}" for f in ids}, now, now)
        for file_id in ids:
            for status in ("queued", "processing", "processing"):
                journal.record_status(file_id, status, now, now)
            journal.transition(file_id, FileState.CONFIRMED, now, outcome=Outcome.DONE, last_status="processed")
            journal.update(file_id, now, final_path=f"/done/doc-{file_id}.pdf")
            journal.transition(file_id, FileState.FILED, now, filed_at=now)
    elapsed = time.perf_counter() - start
    journal.close()
    size = sum(p.stat().st_size for p in state.iterdir())
    shutil.rmtree(state)
    return {"state_dir on": str(directory), "files": files,
            "durable commits/file": CountingJournal.durable / files,
            "light commits/file": CountingJournal.light / files,
            "ms/file": elapsed / files * 1000, "KiB/file": size / files / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--dir", action="append", type=Path)
    args = parser.parse_args()
    directories = args.dir or [Path(tempfile.gettempdir())] + ([Path("/dev/shm")] if os.path.isdir("/dev/shm") else [])
    rows = [run(d, args.files) for d in directories]
    print_table(rows)


if __name__ == "__main__":
    main()
