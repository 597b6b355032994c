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
from typing import Iterable, Sequence

from .states import FileState, Outcome, check_transition

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id                     INTEGER PRIMARY KEY,
    folder                 TEXT NOT NULL,
    job_id                 TEXT,
    created_at             REAL NOT NULL,
    submitted_at           REAL,
    attempts               INTEGER NOT NULL DEFAULT 0,
    next_try_at            REAL,
    last_error             TEXT,
    bad_answers            INTEGER NOT NULL DEFAULT 0,
    job_requested_at       REAL,   -- POST /jobs/ sent, answer not yet recorded
    documents_requested_at REAL    -- POST /documents/batch/ sent, answer not yet recorded
);
CREATE TABLE IF NOT EXISTS files (
    id              INTEGER PRIMARY KEY,
    folder          TEXT NOT NULL,
    name            TEXT NOT NULL,
    processing_path TEXT NOT NULL,
    size            INTEGER NOT NULL,
    mtime_ns        INTEGER NOT NULL DEFAULT 0,
    inode           INTEGER NOT NULL DEFAULT 0,
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
    poll_failures   INTEGER NOT NULL DEFAULT 0,
    possible_duplicate INTEGER NOT NULL DEFAULT 0,
    notes           TEXT,
    extraction      TEXT,   -- JSON: the data of the document.processed event
    ocr_complete_at REAL,
    updated_at      REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (  -- webhook events not yet applied
    id          INTEGER PRIMARY KEY,
    object_id   TEXT NOT NULL,
    type        TEXT NOT NULL,
    data        TEXT,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS health (
    key    TEXT PRIMARY KEY,
    value  TEXT
);
CREATE INDEX IF NOT EXISTS files_state ON files(state);
CREATE INDEX IF NOT EXISTS files_document ON files(document_id);
CREATE INDEX IF NOT EXISTS files_batch ON files(batch_id);
"""
SCHEMA_VERSION = 2
# What turns a journal of an older version into the current one.
MIGRATIONS = {
    2: ["ALTER TABLE files ADD COLUMN extraction TEXT",
        "ALTER TABLE files ADD COLUMN ocr_complete_at REAL"],
}


@dataclasses.dataclass(frozen=True)
class FileRecord:
    id: int
    folder: str
    name: str
    processing_path: str
    size: int
    mtime_ns: int
    inode: int
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
    poll_failures: int
    possible_duplicate: int
    notes: str | None
    extraction: str | None
    ocr_complete_at: float | None
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
    attempts: int
    next_try_at: float | None
    last_error: str | None
    bad_answers: int
    job_requested_at: float | None
    documents_requested_at: float | None


# Columns a transition (or a plain update) may set besides the state itself.
_UPDATABLE = frozenset({
    "batch_id", "file_uri", "document_id", "last_status", "outcome", "reason", "final_path",
    "uploaded_at", "submitted_at", "confirmed_at", "filed_at", "next_poll_at", "mime",
    "size", "mtime_ns", "inode", "sha256", "poll_failures", "possible_duplicate", "notes",
    "extraction", "ocr_complete_at",
})
_BATCH_UPDATABLE = frozenset({
    "job_id", "submitted_at", "attempts", "next_try_at", "last_error", "bad_answers",
    "job_requested_at", "documents_requested_at",
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
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path} was written by a newer sensetask-watch (journal schema "
                               f"{version}, this one knows up to {SCHEMA_VERSION}); install that version")
        if version:
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    self._db.execute(statement)
        self._db.executescript(SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @classmethod
    def open_readonly(cls, state_dir: Path | str) -> "ReadOnlyJournal":
        return ReadOnlyJournal(Path(state_dir) / cls.FILENAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes ------------------------------------------------------------

    def _write(self, statements: Iterable[tuple[str, Sequence]], durable: bool = True) -> list[int]:
        """Run statements in one committed transaction; return their lastrowids.

        A durable write is on disk (fsync) before this returns, so it survives a power
        cut; the others (news such as a status seen while polling) survive a crash of
        the daemon but may be lost with the power, and cost far less."""
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
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

    def claim(self, *, folder: str, name: str, processing_path: str, size: int, mtime_ns: int,
              inode: int, sha256: str, mime: str | None, now: float) -> int:
        (file_id,) = self._write([(
            "INSERT INTO files (folder, name, processing_path, size, mtime_ns, inode, sha256, mime,"
            " state, claimed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (folder, name, processing_path, size, mtime_ns, inode, sha256, mime,
             FileState.CLAIMED.value, now, now),
        )])
        return file_id

    def update(self, file_id: int, now: float, **fields) -> FileRecord:
        """Change a file's recorded facts without moving it on the road."""
        self._check_columns(fields, _UPDATABLE)
        state = self.get(file_id).state
        self._write([self._update_sql(file_id, state, now, fields)])
        return self.get(file_id)

    def update_batch(self, batch_id: int, **fields) -> None:
        self._check_columns(fields, _BATCH_UPDATABLE)
        assignments = ", ".join(f"{column} = ?" for column in fields)
        self._write([(f"UPDATE batches SET {assignments} WHERE id = ?", (*fields.values(), batch_id))])

    @staticmethod
    def _check_columns(fields: dict, allowed: frozenset) -> None:
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not journal columns: {sorted(unknown)}")

    def set_health(self, key: str, value: str | None) -> None:
        self._write([("INSERT INTO health (key, value) VALUES (?, ?)"
                      " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))],
                    durable=False)

    def bump(self, key: str, by: int = 1) -> None:
        self._write([("INSERT INTO health (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                      " SET value = CAST(COALESCE(value, '0') AS INTEGER) + ?", (key, str(by), by))])

    def transition(self, file_id: int, new: FileState, now: float, **fields) -> FileRecord:
        """Move one file to `new`, checked against the table in states.py."""
        self._check_columns(fields, _UPDATABLE)
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

    def record_documents(self, batch_id: int, documents: dict[int, str], now: float,
                         next_poll_at: float) -> None:
        """The batch's documents exist: every file becomes SUBMITTED with its id."""
        states = self._query(f"SELECT state FROM files WHERE id IN ({','.join('?' * len(documents))})",
                             list(documents))
        for row in states:
            check_transition(FileState(row[0]), FileState.SUBMITTED)
        statements = [("UPDATE batches SET submitted_at = ?, documents_requested_at = NULL,"
                       " last_error = NULL WHERE id = ?", (now, batch_id))]
        statements += [
            self._update_sql(file_id, FileState.SUBMITTED, now, {
                "document_id": document_id, "submitted_at": now, "next_poll_at": next_poll_at})
            for file_id, document_id in documents.items()
        ]
        self._write(statements)

    def record_status(self, file_id: int, status: str | None, next_poll_at: float, now: float,
                      poll_failures: int = 0) -> None:
        """A non-final status seen while polling (or a failed poll): news, not a transition."""
        self._write([(
            "UPDATE files SET last_status = COALESCE(?, last_status), next_poll_at = ?,"
            " poll_failures = ?, updated_at = ? WHERE id = ?",
            (status, next_poll_at, poll_failures, now, file_id),
        )], durable=False)

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

    def due_batches(self, now: float) -> list[int]:
        """Closed batches with files still to upload or submit, whose next try has come."""
        rows = self._query(
            "SELECT DISTINCT b.id FROM batches b JOIN files f ON f.batch_id = b.id"
            " WHERE f.state IN (?, ?) AND (b.next_try_at IS NULL OR b.next_try_at <= ?) ORDER BY b.id",
            (FileState.BATCHED.value, FileState.UPLOADED.value, now))
        return [r[0] for r in rows]

    def next_batch_try(self) -> float | None:
        (row,) = self._query(
            "SELECT MIN(b.next_try_at) FROM batches b JOIN files f ON f.batch_id = b.id"
            " WHERE f.state IN (?, ?)", (FileState.BATCHED.value, FileState.UPLOADED.value))
        return row[0]

    def health(self) -> dict[str, str]:
        return health_of(self._query)

    def outcome_counts(self) -> list[tuple[str, str, int]]:
        return outcome_counts(self._query)

    def file_by_document(self, document_id: str) -> FileRecord | None:
        rows = self._query("SELECT * FROM files WHERE document_id = ? ORDER BY id DESC LIMIT 1", (document_id,))
        return FileRecord.from_row(rows[0]) if rows else None

    def documents_awaited(self) -> bool:
        """True while some batch has sent POST /documents/batch/ and not recorded the answer."""
        (row,) = self._query("SELECT COUNT(*) FROM batches WHERE documents_requested_at IS NOT NULL")
        return row[0] > 0

    def state_counts(self) -> dict[str, int]:
        """How many files are in each state on the road (the finished ones not counted)."""
        active = [s.value for s in FileState if s is not FileState.FILED]
        rows = self._query(f"SELECT state, COUNT(*) FROM files WHERE state IN ({','.join('?' * len(active))})"
                           " GROUP BY state", active)
        return {r[0]: r[1] for r in rows}

    # -- webhook events waiting to be applied ---------------------------------

    def add_event(self, object_id: str, event_type: str, data: str | None, now: float) -> None:
        self._write([("INSERT INTO events (object_id, type, data, received_at) VALUES (?, ?, ?, ?)",
                      (object_id, event_type, data, now))])

    def pending_events(self, limit: int = 200) -> list[sqlite3.Row]:
        return self._query("SELECT * FROM events ORDER BY id LIMIT ?", (limit,))

    def delete_event(self, event_id: int) -> None:
        self._write([("DELETE FROM events WHERE id = ?", (event_id,))], durable=False)

    def next_poll_time(self) -> float | None:
        (row,) = self._query("SELECT MIN(next_poll_at) FROM files WHERE state = ?",
                             (FileState.SUBMITTED.value,))
        return row[0]

    def known_processing_paths(self) -> set[str]:
        rows = self._query("SELECT processing_path FROM files WHERE state != ?", (FileState.FILED.value,))
        return {r[0] for r in rows}


def outcome_counts(query) -> list[tuple[str, str, int]]:
    rows = query("SELECT folder, outcome, COUNT(*) FROM files WHERE state = ? GROUP BY folder, outcome",
                 (FileState.FILED.value,))
    return [(r[0], r[1], r[2]) for r in rows]


def health_of(query) -> dict[str, str]:
    return {r[0]: r[1] for r in query("SELECT key, value FROM health") if r[1] is not None}


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

    def health(self) -> dict[str, str]:
        return health_of(self._query)

    def retrying_batches(self) -> list[BatchRecord]:
        rows = self._query(
            "SELECT DISTINCT b.* FROM batches b JOIN files f ON f.batch_id = b.id"
            " WHERE f.state IN (?, ?) AND b.attempts > 0 ORDER BY b.id",
            (FileState.BATCHED.value, FileState.UPLOADED.value))
        return [BatchRecord(**dict(r)) for r in rows]

    def outcome_counts(self) -> list[tuple[str, str, int]]:
        return outcome_counts(self._query)

    def close(self) -> None:
        self._db.close()
