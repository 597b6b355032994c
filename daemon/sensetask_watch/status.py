"""`sensetask-watch status`: what is waiting, in flight and filed, read from
the hot folders and the journal, whether the daemon runs or not."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import TextIO

from .config import Config
from .statelock import is_running
from .journal import Journal
from .states import FileState
from .watcher import FolderLister


def _age(timestamp: float | None, now: float) -> str:
    if timestamp is None:
        return "-"
    seconds = int(now - timestamp)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _table(rows: list[tuple], headers: tuple) -> list[str]:
    widths = [max(len(str(v)) for v in column) for column in zip(headers, *rows)]
    lines = ["  " + "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    lines += ["  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths)) for row in rows]
    return lines


def report(config: Config, out: TextIO) -> int:
    now = time.time()
    pid = is_running(config.state_dir)
    print(f"daemon: {'running (pid %d)' % pid if pid else 'not running'}", file=out)
    print(f"state:  {config.state_dir}", file=out)

    for folder in config.folders:
        try:
            waiting = [c.name for c in FolderLister(folder.inbox, config.watch.ignore).list()]
            print(f"inbox {folder.name} ({folder.inbox}): {len(waiting)} file(s) waiting", file=out)
        except OSError as error:
            print(f"inbox {folder.name} ({folder.inbox}): cannot list: {error.strerror}", file=out)
            waiting = []
        for name in sorted(waiting)[:20]:
            print(f"  {name}", file=out)
        if len(waiting) > 20:
            print(f"  ... and {len(waiting) - 20} more", file=out)

    journal_path = Path(config.state_dir) / Journal.FILENAME
    if not journal_path.exists():
        print("journal: none yet (the daemon has not run with this state_dir)", file=out)
        return 0
    journal = Journal.open_readonly(config.state_dir)
    try:
        queued = journal.files([FileState.CLAIMED, FileState.BATCHED])
        flight = journal.files([FileState.UPLOADED, FileState.SUBMITTED])
        confirmed = journal.files([FileState.CONFIRMED])
        counts = list(journal.outcome_counts())
        health = journal.health()
        retrying = journal.retrying_batches()
    finally:
        journal.close()

    if "paused" in health:
        print(f"SUBMISSIONS PAUSED: {health['paused']}", file=out)
    if "api_failing_since" in health:
        print(f"API FAILING since {health['api_failing_since']}: {health.get('api_last_error', '?')}", file=out)
    elif "paused" not in health:
        print("API: answering", file=out)
    for batch in retrying:
        when = datetime.datetime.fromtimestamp(batch.next_try_at).isoformat(timespec="seconds")
        print(f"batch {batch.id} ({batch.folder}): {batch.attempts} failed tries, next at {when}: "
              f"{batch.last_error}", file=out)
    if health.get("ambiguous_submits"):
        print(f"ambiguous submissions so far (a duplicate is possible, see the files' reports): "
              f"{health['ambiguous_submits']}", file=out)

    print(f"queued (claimed, not yet submitted): {len(queued)}", file=out)
    if queued:
        print("\n".join(_table([(r.folder, r.name, r.state.value, _age(r.claimed_at, now))
                                for r in queued[:50]], ("folder", "file", "state", "age"))), file=out)
    print(f"in flight (at SenseTask): {len(flight)}", file=out)
    if flight:
        rows = [(r.folder, r.name, r.state.value, r.document_id or "-", r.last_status or "-",
                 _age(r.submitted_at or r.uploaded_at, now)) for r in flight[:100]]
        print("\n".join(_table(rows, ("folder", "file", "state", "document", "last status", "since"))), file=out)
    if confirmed:
        print(f"confirmed, waiting to be filed: {len(confirmed)}", file=out)
        print("\n".join(_table([(r.folder, r.name, r.outcome.value, r.reason or "-") for r in confirmed[:50]],
                               ("folder", "file", "outcome", "reason"))), file=out)
    totals = {}
    for folder, outcome, count in counts:
        totals.setdefault(folder, {})[outcome] = count
    print("filed:", file=out)
    for folder in config.folders:
        done = totals.get(folder.name, {}).get("done", 0)
        failed = totals.get(folder.name, {}).get("failed", 0)
        print(f"  {folder.name}: {done} done, {failed} failed", file=out)
    stamp = datetime.datetime.fromtimestamp(now).isoformat(timespec="seconds")
    print(f"(as of {stamp})", file=out)
    return 0
