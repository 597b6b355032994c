"""The emulator's state: upload slots, jobs, documents and the request log.

One lock guards everything; every public method takes it, so the HTTP
handler threads and the webhook thread can share one `Store`. A document's
status is not stored but computed from its age (`status_at`, a pure function),
so nothing has to tick for documents to progress.
"""

from __future__ import annotations

import fnmatch
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

#: Statuses a document passes through before its final one.
QUEUED = "queued"
PROCESSING = "processing"
PENDING_STATUSES = frozenset({QUEUED, PROCESSING})
DEFAULT_FINAL_STATUS = "processed"

StatusRules = Sequence[tuple[str, "str | None"]]


def final_status_for(file_name: str, rules: StatusRules) -> str | None:
    """The status a document ends in: the first rule whose glob matches its
    name (case-insensitive) decides; None means it never finishes."""
    name = file_name.lower()
    for glob, status in rules:
        if fnmatch.fnmatchcase(name, glob.lower()):
            return status
    return DEFAULT_FINAL_STATUS


def status_at(age: float, processing_seconds: float, final: str | None, forced: str | None = None) -> str:
    """A document's status `age` seconds after it was created."""
    if forced is not None:
        return forced
    if age >= processing_seconds and final is not None:
        return final
    if age >= processing_seconds / 2:
        return PROCESSING
    return QUEUED


class NotFound(Exception):
    """The object named in the request does not exist."""


class Rejected(Exception):
    """The request is well-formed but cannot be honoured (answered 400)."""


@dataclass
class Slot:
    id: str
    file_uri: str
    file_name: str
    file_type: str
    file_size: int
    sha256: str | None = None  # of the last complete upload; None until then
    size: int | None = None


@dataclass
class Job:
    id: str
    document_count: int
    parent_node: str
    created_at: float
    document_ids: list[str] = field(default_factory=list)


@dataclass
class Document:
    id: str
    job_id: str
    file_name: str
    file_type: str
    file_size: int
    file_uri: str
    sha256: str | None
    created_at: float  # wall clock, for records
    created_mono: float  # monotonic, for status
    final: str | None
    forced: str | None = None
    notified: str | None = None  # last status a webhook event was queued for


class IdFactory:
    """Mongo-ObjectId-shaped ids (24 hex chars) and slot ids (32 hex chars)."""

    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(seed)
        self._counter = 0

    def object_id(self) -> str:
        self._counter = (self._counter + 1) % (1 << 24)
        return f"{int(time.time()) & 0xFFFFFFFF:08x}{self._rng.getrandbits(40):010x}{self._counter:06x}"

    def slot_id(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"


class Store:
    def __init__(
        self,
        processing_seconds: float,
        status_rules: StatusRules,
        seed: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.processing_seconds = processing_seconds
        self.status_rules = tuple(status_rules)
        self._monotonic = monotonic
        self._ids = IdFactory(seed)
        self._lock = threading.Lock()
        self._slots: dict[str, Slot] = {}
        self._slots_by_uri: dict[str, Slot] = {}
        self._uploads: list[dict] = []
        self._jobs: dict[str, Job] = {}
        self._documents: dict[str, Document] = {}  # insertion order = creation order
        self._requests: list[tuple[str, str, int | None]] = []
        self._deliveries: list[tuple[str, str, int | str]] = []
        self._delivery_times: list[float] = []  # wall clock, when each delivery was answered

    # -- upload slots --------------------------------------------------------

    def new_slot(self, file_name: str, file_type: str, file_size: int) -> Slot:
        with self._lock:
            slot_id = self._ids.slot_id()
            slot = Slot(slot_id, f"uploads/{slot_id}/{file_name}", file_name, file_type, file_size)
            self._slots[slot_id] = slot
            self._slots_by_uri[slot.file_uri] = slot
            return slot

    def slot(self, slot_id: str) -> Slot | None:
        with self._lock:
            return self._slots.get(slot_id)

    def record_upload(self, slot_id: str, sha256: str, size: int) -> None:
        """A complete PUT: it replaces the slot's content, as S3 would."""
        with self._lock:
            slot = self._slots[slot_id]
            slot.sha256, slot.size = sha256, size
            self._uploads.append({"fileUri": slot.file_uri, "sha256": sha256, "size": size})

    # -- jobs and documents --------------------------------------------------

    def new_job(self, document_count: int, parent_node: str) -> Job:
        with self._lock:
            job = Job(self._ids.object_id(), document_count, parent_node, time.time())
            self._jobs[job.id] = job
            return job

    def add_documents(self, job_id: str, items: Sequence[dict]) -> list[str]:
        """Create the documents of `items` (already validated for shape) in
        job `job_id`, all or none; returns their ids in order."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"job {job_id} not found")
            problems = [
                f"At 'data[{i}].fileUri': {item['fileUri']!r} was never uploaded"
                for i, item in enumerate(items)
                if self._uploaded(item["fileUri"]) is None
            ]
            room = job.document_count - len(job.document_ids)
            if len(items) > room:
                problems.append(
                    f"At 'data': {len(items)} documents do not fit in job {job_id} "
                    f"(documentCount {job.document_count}, {len(job.document_ids)} already created)"
                )
            if problems:
                raise Rejected("; ".join(problems))
            ids = []
            for item in items:
                slot = self._uploaded(item["fileUri"])
                doc = Document(
                    id=self._ids.object_id(),
                    job_id=job_id,
                    file_name=item["fileName"],
                    file_type=item["fileType"],
                    file_size=item["fileSize"],
                    file_uri=item["fileUri"],
                    sha256=slot.sha256,
                    created_at=time.time(),
                    created_mono=self._monotonic(),
                    final=final_status_for(item["fileName"], self.status_rules),
                )
                self._documents[doc.id] = doc
                job.document_ids.append(doc.id)
                ids.append(doc.id)
            return ids

    def _uploaded(self, file_uri: str) -> Slot | None:
        slot = self._slots_by_uri.get(file_uri)
        return slot if slot is not None and slot.sha256 is not None else None

    def _status(self, doc: Document) -> str:
        age = self._monotonic() - doc.created_mono
        return status_at(age, self.processing_seconds, doc.final, doc.forced)

    def document_view(self, doc_id: str) -> dict | None:
        """The body of GET /documents/<id>/beta/, or None if unknown."""
        with self._lock:
            doc = self._documents.get(doc_id)
            if doc is None:
                return None
            return {
                "_id": doc.id,
                "status": self._status(doc),
                "fileName": doc.file_name,
                "fileType": doc.file_type,
                "fileSize": doc.file_size,
                "fileUri": doc.file_uri,
                "jobId": doc.job_id,
                "createdAt": _iso(doc.created_at),
            }

    def set_status(self, doc_id: str, status: str | None) -> None:
        """Force a document's status (None: back to its timeline)."""
        with self._lock:
            if doc_id not in self._documents:
                raise NotFound(f"document {doc_id} not found")
            self._documents[doc_id].forced = status

    def take_finished(self) -> list[str]:
        """Ids of documents that reached a final status not yet announced;
        marks them announced."""
        with self._lock:
            finished = []
            for doc in self._documents.values():
                status = self._status(doc)
                if status not in PENDING_STATUSES and status != doc.notified:
                    doc.notified = status
                    finished.append(doc.id)
            return finished

    # -- logs and records ----------------------------------------------------

    def log_request(self, method: str, path: str, status: int | None) -> None:
        with self._lock:
            self._requests.append((method, path, status))

    def log_delivery(self, object_id: str, event_type: str, outcome: int | str) -> None:
        with self._lock:
            self._deliveries.append((object_id, event_type, outcome))
            self._delivery_times.append(time.time())

    def requests_log(self) -> list[tuple[str, str, int | None]]:
        with self._lock:
            return list(self._requests)

    def webhook_deliveries(self) -> list[tuple[str, str, int | str]]:
        with self._lock:
            return list(self._deliveries)

    def webhook_delivery_times(self) -> list[tuple[str, str, int | str, float]]:
        """The deliveries with the wall-clock time each was answered."""
        with self._lock:
            return [d + (t,) for d, t in zip(self._deliveries, self._delivery_times)]

    def uploads(self) -> list[dict]:
        with self._lock:
            return [dict(u) for u in self._uploads]

    def jobs(self) -> list[dict]:
        with self._lock:
            return [
                {"id": j.id, "documentCount": j.document_count, "parentNode": j.parent_node, "created_at": j.created_at}
                for j in self._jobs.values()
            ]

    def documents(self) -> list[dict]:
        with self._lock:
            return [
                {
                    "id": d.id,
                    "job_id": d.job_id,
                    "fileName": d.file_name,
                    "fileType": d.file_type,
                    "fileSize": d.file_size,
                    "fileUri": d.file_uri,
                    "sha256": d.sha256,
                    "created_at": d.created_at,
                    "status": self._status(d),
                }
                for d in self._documents.values()
            ]

    def duplicate_count(self) -> int:
        with self._lock:
            return count_duplicates(d.sha256 for d in self._documents.values())


def count_duplicates(digests: Iterable[str | None]) -> int:
    """How many digests repeat one seen earlier (None never counts)."""
    seen: set[str] = set()
    duplicates = 0
    for digest in digests:
        if digest is None:
            continue
        if digest in seen:
            duplicates += 1
        seen.add(digest)
    return duplicates


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + f".{int(timestamp % 1 * 1000):03d}Z"
