"""What each SenseTask endpoint means, apart from HTTP mechanics.

Each `Api` method takes the request's body (bytes) and path parameters and
returns `(status, json_body)`; the validators are pure functions returning
every problem found, each naming the field ("At 'fileSize': ...").
"""

from __future__ import annotations

import json
from typing import Any

from .signing import UrlSigner
from .store import NotFound, Rejected, Store

FILE_TYPES = ("application/pdf", "image/png", "image/jpg", "image/jpeg")
DOCUMENT_FIELDS = ("fileName", "fileType", "fileSize", "fileUri")

Reply = tuple[int, dict]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object_problems(payload: Any, where: str = "") -> list[str]:
    if not isinstance(payload, dict):
        return [f"At '{where or 'body'}': expected a JSON object"]
    return []


_FIELD_EXPECTATIONS = {
    "fileName": "a non-empty string (the name without its extension)",
    "fileType": "one of " + ", ".join(FILE_TYPES),
    "fileSize": "an integer number of bytes > 0",
    "fileUri": "the fileUri answered by POST /files/",
}


def _field_ok(name: str, value: Any) -> bool:
    if name == "fileName":
        return isinstance(value, str) and bool(value.strip())
    if name == "fileType":
        return value in FILE_TYPES
    if name == "fileSize":
        return _is_int(value) and value > 0
    return isinstance(value, str) and bool(value)


def _fields_problems(item: dict, names: tuple[str, ...], prefix: str = "") -> list[str]:
    problems = []
    for name in names:
        if name not in item:
            problems.append(f"At '{prefix}{name}': missing; expected {_FIELD_EXPECTATIONS[name]}")
        elif not _field_ok(name, item[name]):
            problems.append(f"At '{prefix}{name}': expected {_FIELD_EXPECTATIONS[name]}")
    return problems


def file_problems(payload: Any) -> list[str]:
    """Problems with the body of POST /files/."""
    return _object_problems(payload) or _fields_problems(payload, DOCUMENT_FIELDS[:3])


def job_problems(payload: Any) -> list[str]:
    """Problems with the body of POST /jobs/."""
    problems = _object_problems(payload)
    if problems:
        return problems
    count = payload.get("documentCount")
    if not _is_int(count) or count < 1:
        problems.append("At 'documentCount': expected an integer >= 1")
    if not isinstance(payload.get("parentNode"), str):
        problems.append("At 'parentNode': expected a string (the SenseTask folder id)")
    return problems


def batch_problems(payload: Any) -> list[str]:
    """Problems with the shape of the body of POST /documents/batch/<job>/."""
    problems = _object_problems(payload)
    if problems:
        return problems
    data = payload.get("data")
    if not isinstance(data, list) or not data:
        return ["At 'data': expected a non-empty list of documents"]
    for i, item in enumerate(data):
        where = f"data[{i}]"
        if not isinstance(item, dict):
            problems.append(f"At '{where}': expected a JSON object")
            continue
        problems += _fields_problems(item, DOCUMENT_FIELDS, where + ".")
    return problems


def parse_json(body: bytes) -> tuple[Any, str | None]:
    try:
        return json.loads(body.decode("utf-8")), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"the request body is not valid JSON ({exc})"


def _bad(problems: list[str]) -> Reply:
    return 400, {"message": "; ".join(problems)}


class Api:
    def __init__(self, store: Store, signer: UrlSigner) -> None:
        self.store = store
        self.signer = signer

    def create_file(self, body: bytes, storage_base: str) -> Reply:
        """POST /files/: reserve an upload slot, answer its signed URL."""
        payload, problem = parse_json(body)
        problems = [problem] if problem else file_problems(payload)
        if problems:
            return _bad(problems)
        slot = self.store.new_slot(payload["fileName"], payload["fileType"], payload["fileSize"])
        signed_url = f"{storage_base}/storage/{slot.id}?{self.signer.query(slot.id)}"
        return 200, {"signedUrl": signed_url, "fileUri": slot.file_uri}

    def create_job(self, body: bytes) -> Reply:
        payload, problem = parse_json(body)
        problems = [problem] if problem else job_problems(payload)
        if problems:
            return _bad(problems)
        job = self.store.new_job(payload["documentCount"], payload["parentNode"])
        return 200, {"_id": job.id, "documentCount": job.document_count, "parentNode": job.parent_node}

    def create_documents(self, body: bytes, job_id: str) -> Reply:
        payload, problem = parse_json(body)
        problems = [problem] if problem else batch_problems(payload)
        if problems:
            return _bad(problems)
        try:
            return 200, {"items": self.store.add_documents(job_id, payload["data"])}
        except NotFound as exc:
            return 404, {"message": str(exc)}
        except Rejected as exc:
            return 400, {"message": str(exc)}

    def document(self, doc_id: str) -> Reply:
        view = self.store.document_view(doc_id)
        if view is None:
            return 404, {"message": f"document {doc_id} not found"}
        return 200, view

    def upload_refusal(self, slot_id: str, expires: str | None, signature: str | None, length: int | None) -> Reply | None:
        """Why a PUT to a signed URL is refused before its body is read."""
        reason = self.signer.refusal(slot_id, expires, signature)
        slot = self.store.slot(slot_id)
        if reason is None and slot is None:
            reason = "no such upload slot"
        if reason is not None:
            return 403, {"message": f"Access denied: {reason}"}
        if length is None:
            return 411, {"message": "a Content-Length header is required"}
        if length != slot.file_size:
            return 400, {
                "message": f"Content-Length {length} does not match the fileSize {slot.file_size} declared for this upload"
            }
        return None
