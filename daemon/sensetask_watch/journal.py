"""The durable journal: one SQLite database in state_dir that records where
every file and batch stands. A transition is written (and committed) before
the daemon trusts its side effect, so the journal is what `status` reads and
what a restart resumes from.

One connection, guarded by a lock, serves the daemon's threads; `status`
opens its own read-only connection.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .states import FileState, Outcome, check_transition

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id            INTEGER PRIMARY KEY,
    folder        TEXT NOT NULL,
    job_id        TEXT,
    created_at    REAL NOT NULL,
    submitted_at  REAL
);
CREATE TABLE IF NOT EXISTS files (
    id              INTEGER PRIMARY KEY,
    folder          TEXT NOT NULL,
    name            TEXT NOT NULL,
    processing_path TEXT NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    mime            TEXT,
    state           TEXT NOT NULL,
    batch_id        INTEGER REFERENCES batches(id),
    file_uri        TEXT,
    document_id     TEXT,
    last_status     TEXT,
    outcome         TEXT,
    reason          TEXT,
    final_path      TEXT,
    claimed_at      REAL NOT NULL,
    uploaded_at     REAL,
    submitted_at    REAL,
    confirmed_at    REAL,
    filed_at        REAL,
    next_poll_at    REAL,
    updated_at      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_state ON files(state);
CREATE INDEX IF NOT EXISTS files_document ON files(document_id);
"""


@dataclasses.dataclass(frozen=True)
class FileRecord:
    id: int
    folder: str
    name: str
    processing_path: str
    size: int
    sha256: str
    mime: str | None
    state: FileState
    batch_id: int | None
    file_uri: str | None
    document_id: str | None
    last_status: str | None
    outcome: Outcome | None
    reason: str | None
    final_path: str | None
    claimed_at: float
    uploaded_at: float | None
    submitted_at: float | None
    confirmed_at: float | None
    filed_at: float | None
    next_poll_at: float | None
    updated_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "FileRecord":
        values = dict(row)
        values["state"] = FileState(values["state"])
        if values["outcome"] is not None:
            values["outcome"] = Outcome(values["outcome"])
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class BatchRecord:
    id: int
    folder: str
    job_id: str | None
    created_at: float
    submitted_at: float | None


# Columns a transition may set besides the state itself.
_UPDATABLE = frozenset({
    "batch_id", "file_uri", "document_id", "last_status", "outcome", "reason", "final_path",
    "uploaded_at", "submitted_at", "confirmed_at", "filed_at", "next_poll_at", "mime",
})


class Journal:
    FILENAME = "journal.sqlite3"

    def __init__(self, state_dir: Path | str):
        self.path = Path(state_dir) / self.FILENAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    @classmethod
    def open_readonly(cls, state_dir: Path | str) -> "ReadOnlyJournal":
        return ReadOnlyJournal(Path(state_dir) / cls.FILENAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes ------------------------------------------------------------

    def _write(self, statements: Iterable[tuple[str, Sequence]]) -> list[int]:
        """Run statements in one committed transaction; return their lastrowids."""
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                ids = []
                for sql, params in statements:
                    cursor.execute(sql, params)
                    ids.append(cursor.lastrowid)
                cursor.execute("COMMIT")
                return ids
            except BaseException:
                cursor.execute("ROLLBACK")
                raise

    def claim(self, *, folder: str, name: str, processing_path: str, size: int,
              sha256: str, mime: str | None, now: float) -> int:
        (file_id,) = self._write([(
            "INSERT INTO files (folder, name, processing_path, size, sha256, mime, state,"
            " claimed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (folder, name, processing_path, size, sha256, mime, FileState.CLAIMED.value, now, now),
        )])
        return file_id

    def transition(self, file_id: int, new: FileState, now: float, **fields) -> FileRecord:
        """Move one file to `new`, checked against the table in states.py."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not journal columns: {sorted(unknown)}")
        current = self.get(file_id)
        check_transition(current.state, new)
        self._write([self._update_sql(file_id, new, now, fields)])
        return self.get(file_id)

    @staticmethod
    def _update_sql(file_id: int, new: FileState, now: float, fields: dict) -> tuple[str, Sequence]:
        values = {k: (v.value if isinstance(v, Outcome) else v) for k, v in fields.items()}
        assignments = "".join(f", {column} = ?" for column in values)
        return (f"UPDATE files SET state = ?, updated_at = ?{assignments} WHERE id = ?",
                (new.value, now, *values.values(), file_id))

    def create_batch(self, folder: str, file_ids: Sequence[int], now: float) -> int:
        """Close a batch: record it and move its files to BATCHED, atomically."""
        for file_id in file_ids:
            check_transition(self.get(file_id).state, FileState.BATCHED)
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                cursor.execute("INSERT INTO batches (folder, created_at) VALUES (?, ?)", (folder, now))
                batch_id = cursor.lastrowid
                for file_id in file_ids:
                    cursor.execute(*self._update_sql(file_id, FileState.BATCHED, now, {"batch_id": batch_id}))
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return batch_id

    def set_job(self, batch_id: int, job_id: str) -> None:
        self._write([("UPDATE batches SET job_id = ? WHERE id = ?", (job_id, batch_id))])

    def record_documents(self, batch_id: int, documents: dict[int, str], now: float,
                         next_poll_at: float) -> None:
        """The batch's documents exist: every file becomes SUBMITTED with its id."""
        for file_id in documents:
            check_transition(self.get(file_id).state, FileState.SUBMITTED)
        statements = [("UPDATE batches SET submitted_at = ? WHERE id = ?", (now, batch_id))]
        statements += [
            self._update_sql(file_id, FileState.SUBMITTED, now, {
                "document_id": document_id, "submitted_at": now, "next_poll_at": next_poll_at})
            for file_id, document_id in documents.items()
        ]
        self._write(statements)

    def record_status(self, file_id: int, status: str, next_poll_at: float, now: float) -> None:
        """A non-final status seen while polling: not a transition, only news."""
        self._write([(
            "UPDATE files SET last_status = ?, next_poll_at = ?, updated_at = ? WHERE id = ?",
            (status, next_poll_at, now, file_id),
        )])

    # -- reads ---------------------------------------------------------------

    def _query(self, sql: str, params: Sequence = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def get(self, file_id: int) -> FileRecord:
        rows = self._query("SELECT * FROM files WHERE id = ?", (file_id,))
        if not rows:
            raise KeyError(f"no file {file_id} in the journal")
        return FileRecord.from_row(rows[0])

    def files(self, states: Iterable[FileState], folder: str | None = None) -> list[FileRecord]:
        return files_in(self._query, states, folder)

    def batch(self, batch_id: int) -> BatchRecord:
        (row,) = self._query("SELECT * FROM batches WHERE id = ?", (batch_id,))
        return BatchRecord(**dict(row))

    def batch_files(self, batch_id: int) -> list[FileRecord]:
        rows = self._query("SELECT * FROM files WHERE batch_id = ? ORDER BY id", (batch_id,))
        return [FileRecord.from_row(r) for r in rows]

    def due_polls(self, now: float, limit: int = 100) -> list[FileRecord]:
        rows = self._query(
            "SELECT * FROM files WHERE state = ? AND next_poll_at <= ? ORDER BY next_poll_at LIMIT ?",
            (FileState.SUBMITTED.value, now, limit))
        return [FileRecord.from_row(r) for r in rows]

    def next_poll_time(self) -> float | None:
        (row,) = self._query("SELECT MIN(next_poll_at) FROM files WHERE state = ?",
                             (FileState.SUBMITTED.value,))
        return row[0]

    def known_processing_paths(self) -> set[str]:
        rows = self._query("SELECT processing_path FROM files WHERE state != ?", (FileState.FILED.value,))
        return {r[0] for r in rows}


def files_in(query, states: Iterable[FileState], folder: str | None) -> list[FileRecord]:
    names = [s.value for s in states]
    sql = f"SELECT * FROM files WHERE state IN ({','.join('?' * len(names))})"
    params: list = list(names)
    if folder is not None:
        sql += " AND folder = ?"
        params.append(folder)
    return [FileRecord.from_row(r) for r in query(sql + " ORDER BY id", params)]


class ReadOnlyJournal:
    """What `status` reads, whether the daemon runs or not; never writes."""

    def __init__(self, path: Path):
        self.path = path
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self._db.row_factory = sqlite3.Row

    def _query(self, sql: str, params: Sequence = ()) -> list[sqlite3.Row]:
        return self._db.execute(sql, params).fetchall()

    def files(self, states: Iterable[FileState], folder: str | None = None) -> list[FileRecord]:
        return files_in(self._query, states, folder)

    def outcome_counts(self) -> Iterator[tuple[str, str, int]]:
        rows = self._query("SELECT folder, outcome, COUNT(*) FROM files WHERE state = ?"
                           " GROUP BY folder, outcome", (FileState.FILED.value,))
        return ((r[0], r[1], r[2]) for r in rows)

    def close(self) -> None:
        self._db.close()
