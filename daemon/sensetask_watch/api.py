"""The SenseTask HTTP client: the only module that speaks to the API.

Every answer is checked for the shape the guide promises; anything else
raises `ApiError` with the answer quoted, sorted into a kind the callers act
on (see `classify_status`). The API key travels in the `ApiKey` header of API
calls only, never to the signed storage URL, and never into a message.
"""

from __future__ import annotations

import enum
import json
import os
from pathlib import Path
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter


class ErrorKind(str, enum.Enum):
    TRANSIENT = "transient"      # try again later: the same request may well work
    PERMANENT = "permanent"      # this request will never work: fail the file
    AUTH = "auth"                # the API refuses our key: pause, tell the admin
    UPLOAD_URL = "upload_url"    # the storage refused the signed URL: get a fresh slot
    BAD_ANSWER = "bad_answer"    # 2xx with a body we cannot read


class ApiError(Exception):
    def __init__(self, kind: ErrorKind, message: str, *, status: int | None = None,
                 retry_after: float | None = None, maybe_acted: bool = False):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        # True when the request may have reached the API and been acted upon although
        # no answer came back (read timeout, connection broken after sending).
        self.maybe_acted = maybe_acted


TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def classify_status(status: int, *, storage: bool = False) -> ErrorKind:
    """What an HTTP error status means for the request that got it."""
    if status in TRANSIENT_STATUSES or 500 <= status < 600:
        return ErrorKind.TRANSIENT
    if storage and status in (401, 403):
        return ErrorKind.UPLOAD_URL
    if status in (401, 403):
        return ErrorKind.AUTH
    return ErrorKind.PERMANENT


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (HTTP dates are rare for APIs; treated as absent)."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None


def _quote(response: requests.Response, limit: int = 300) -> str:
    text = response.text.strip().replace("\n", " ")
    return (text[:limit] + "...") if len(text) > limit else (text or "(empty body)")


class SenseTaskClient:
    def __init__(self, base_url: str, api_key: str, *, connect_timeout: float,
                 read_timeout: float, pool_size: int = 8, observer=None):
        self.base_url = base_url.rstrip("/")
        self.observer = observer  # told of every answer: .ok() and .failed(ApiError)
        self._api_key = api_key
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "sensetask-watch"

    def close(self) -> None:
        self.session.close()

    def reconfigure(self, base_url: str, api_key: str, connect_timeout: float, read_timeout: float) -> None:
        """New settings after a reload; requests already under way finish with the old ones."""
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = (connect_timeout, read_timeout)

    # -- the guide's calls -------------------------------------------------

    def request_upload_slot(self, name: str, mime: str, size: int) -> tuple[str, str]:
        """POST /files/ -> (signedUrl, fileUri). `name` is sent without its extension."""
        body = self._api("POST", "/files/", {
            "fileName": os.path.splitext(name)[0], "fileType": mime, "fileSize": size})
        return self._field(body, "signedUrl", "POST /files/"), self._field(body, "fileUri", "POST /files/")

    def put_file(self, signed_url: str, path: Path, size: int, on_progress=None) -> None:
        """PUT the file's bytes to the signed URL, streamed from disk; `on_progress` is
        called as chunks go out (the supervisor's proof that the upload is alive)."""
        self._observed(self._put, signed_url, path, size, on_progress)

    def _observed(self, call, *args):
        try:
            result = call(*args)
        except ApiError as error:
            if self.observer is not None:
                self.observer.failed(error)
            raise
        if self.observer is not None:
            self.observer.ok()
        return result

    def _put(self, signed_url: str, path: Path, size: int, on_progress) -> None:
        with open(path, "rb") as raw:
            stream = _ProgressReader(raw, size, on_progress) if on_progress else raw
            try:
                response = self.session.put(signed_url, data=stream, timeout=self.timeout,
                                            headers={"Content-Length": str(size)})
            except requests.RequestException as exc:
                raise _connection_error("PUT to the signed upload URL", exc) from exc
        if response.status_code >= 300:
            raise ApiError(classify_status(response.status_code, storage=True),
                           f"upload storage answered {response.status_code}: {_quote(response)}",
                           status=response.status_code,
                           retry_after=parse_retry_after(response.headers.get("Retry-After")))

    def create_job(self, document_count: int, parent_node: str) -> str:
        body = self._api("POST", "/jobs/", {"documentCount": document_count, "parentNode": parent_node})
        return self._field(body, "_id", "POST /jobs/")

    def create_documents(self, job_id: str, items: list[dict[str, Any]]) -> list[str]:
        """POST /documents/batch/<jobId>/ -> document ids, in the order of `items`."""
        what = f"POST /documents/batch/{job_id}/"
        body = self._api("POST", f"/documents/batch/{job_id}/", {"data": items})
        ids = body.get("items") if isinstance(body, dict) else None
        if not isinstance(ids, list) or len(ids) != len(items) or not all(isinstance(i, str) and i for i in ids):
            raise ApiError(ErrorKind.BAD_ANSWER,
                           f"{what} answered without {len(items)} document ids in 'items': {json.dumps(body)[:300]}")
        return ids

    def document_status(self, document_id: str) -> str:
        body = self._api("GET", f"/documents/{document_id}/beta/")
        return self._field(body, "status", f"GET /documents/{document_id}/beta/")

    # -- plumbing ----------------------------------------------------------

    def _api(self, method: str, path: str, payload: dict | None = None) -> Any:
        return self._observed(self._api_call, method, path, payload)

    def _api_call(self, method: str, path: str, payload: dict | None) -> Any:
        what = f"{method} {path}"
        try:
            response = self.session.request(method, self.base_url + path, json=payload,
                                            headers={"ApiKey": self._api_key}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise _connection_error(what, exc) from exc
        if response.status_code >= 300:
            kind = classify_status(response.status_code)
            hint = " (check the API key in api.key_file)" if kind is ErrorKind.AUTH else ""
            raise ApiError(kind, f"{what} answered {response.status_code}{hint}: {_quote(response)}",
                           status=response.status_code,
                           retry_after=parse_retry_after(response.headers.get("Retry-After")))
        try:
            return response.json()
        except ValueError:
            raise ApiError(ErrorKind.BAD_ANSWER,
                           f"{what} answered {response.status_code} with a body that is not JSON: {_quote(response)}",
                           status=response.status_code) from None

    @staticmethod
    def _field(body: Any, key: str, what: str) -> str:
        value = body.get(key) if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise ApiError(ErrorKind.BAD_ANSWER, f"{what} answered without '{key}': {json.dumps(body)[:300]}")
        return value


class _ProgressReader:
    """A file object that reports each chunk read (requests streams it as the body)."""

    def __init__(self, raw, size: int, on_progress):
        self._raw = raw
        self._size = size
        self._on_progress = on_progress

    def __len__(self) -> int:
        return self._size

    def read(self, amount: int = -1) -> bytes:
        self._on_progress()
        return self._raw.read(amount)


def request_was_sent(exc: requests.RequestException) -> bool:
    """False only when the request certainly never reached the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the real cause
        if isinstance(reason, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError)):
            return False
    return True


def _connection_error(what: str, exc: requests.RequestException) -> ApiError:
    sent = request_was_sent(exc)
    if isinstance(exc, requests.ConnectTimeout):
        detail = "could not connect in time"
    elif isinstance(exc, requests.Timeout):
        detail = "got no answer in time"
    elif not sent:
        detail = "could not connect"
    else:
        detail = "lost the connection before an answer came"
    return ApiError(ErrorKind.TRANSIENT, f"{what} {detail} ({type(exc).__name__})", maybe_acted=sent)
