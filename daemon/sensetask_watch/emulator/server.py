"""HTTP mechanics of the emulator: bodies, keep-alive, faults applied.

HTTP/1.1 with persistent connections: every answer carries a Content-Length,
and a request body is always consumed (or the connection closed) before the
answer, so the next request on the connection is read from the right place.
Which endpoint serves a request is `routes.py`; what it means is `api.py`;
this module only carries bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import socketserver
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .api import parse_json
from .faults import Decision, Outcome, update_faults
from .routes import Match, resolve

log = logging.getLogger("sensetask_watch.emulator")

JSON_BODY_LIMIT = 1 << 20  # API bodies above this are answered 413
DRAIN_LIMIT = 64 << 20  # refused bodies up to this are read and discarded to keep the connection
CHUNK = 64 << 10
IDLE_TIMEOUT = 30.0  # seconds a connection may sit idle, or stall mid-body

_HOST_HEADER = re.compile(r"[A-Za-z0-9.\-\[\]:]+")
_FAULT_MESSAGES = {
    Outcome.REFUSE: "Service unavailable (emulated outage)",
    Outcome.ERROR: "Internal server error (emulated fault)",
    Outcome.THROTTLE: "Too many requests (emulated throttling)",
}


class _BadFraming(Exception):
    """The request's body framing is unusable (answered, then closed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SenseTaskEmulator/0.1"
    timeout = IDLE_TIMEOUT
    server: "EmulatorServer"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without NODELAY, Nagle's
        # algorithm and the client's delayed ACK add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # -- dispatch ------------------------------------------------------------

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        self._answered = False  # an answer (or a hang-up) is on its way; also logged
        try:
            match = resolve(self.command, path)
            if match.status != 200:
                self._drain()
                headers = {"Allow": ", ".join(match.allow)} if match.allow else {}
                what = "method not allowed" if match.status == 405 else "not found"
                self._send_json(match.status, {"message": f"{self.command} {path}: {what}"}, headers)
            elif match.kind == "control":
                self._control(match.action, match.args)
            elif match.kind == "put":
                self._put(match.args[0], query)
            else:
                self._api(match)
        except (ConnectionError, TimeoutError) as exc:
            log.info("%s %s: connection lost (%s)", self.command, path, exc)
            self.close_connection = True
        except Exception:
            log.exception("emulator error on %s %s", self.command, path)
            self.close_connection = True
            if not self._answered:
                self._send_json(500, {"message": "internal emulator error"})
        finally:
            if not self._answered:  # the connection was lost before any answer
                self._log_request(None)

    def _api(self, match: Match) -> None:
        emulator = self.server.emulator
        body = self._read_json_body()
        if body is None:
            return
        decision = emulator.decide(match.kind)
        if self._fault_before(decision) or not self._authorized():
            return
        api = emulator.api
        if match.action == "files":
            status, payload = api.create_file(body, self._storage_base())
        elif match.action == "jobs":
            status, payload = api.create_job(body)
        elif match.action == "documents":
            status, payload = api.create_documents(body, match.args[0])
        else:
            status, payload = api.document(match.args[0])
        self._fault_after(decision, status, _json_bytes(payload), "application/json")

    def _put(self, slot_id: str, query: str) -> None:
        emulator = self.server.emulator
        params = urllib.parse.parse_qs(query)
        expires, signature = (params.get(k, [None])[0] for k in ("expires", "signature"))
        decision = emulator.decide("put")
        if decision.answers_before_acting or decision.outcome is Outcome.DROP:
            self._drain()
        if self._fault_before(decision):
            return
        try:
            length = self._content_length()
        except _BadFraming as exc:
            self.close_connection = True
            self._send_json(exc.status, {"message": str(exc)})
            return
        refusal = emulator.api.upload_refusal(slot_id, expires, signature, length)
        if refusal is not None:
            self._drain()
            self._fault_after(decision, refusal[0], _json_bytes(refusal[1]), "application/json")
            return
        received = self._receive(slot_id, length)
        if received is None:
            return
        sha256, md5 = received
        emulator.store.record_upload(slot_id, sha256, length)
        log.info("upload to slot %s complete: %d bytes, sha256 %s", slot_id, length, sha256)
        self._fault_after(decision, 200, b"", None, {"ETag": f'"{md5}"'})

    def _control(self, action: str | None, args: tuple[str, ...]) -> None:
        emulator = self.server.emulator
        body = self._read_json_body()
        if body is None:
            return
        if action == "records":
            self._send_json(200, emulator.records())
            return
        if action == "faults":
            self._send_json(200, emulator.faults.as_dict())
            return
        payload, problem = parse_json(body)
        if problem is None and not isinstance(payload, dict):
            problem = "expected a JSON object"
        if problem is not None:
            self._send_json(400, {"message": problem})
        elif action == "set_faults":
            problems = update_faults(emulator.faults, payload)
            if problems:
                self._send_json(400, {"message": "; ".join(problems)})
            else:
                log.info("faults set: %s", payload)
                self._send_json(200, emulator.faults.as_dict())
        else:  # set_status
            status = payload.get("status")
            if status is not None and not isinstance(status, str):
                self._send_json(400, {"message": "At 'status': expected a string or null"})
            elif emulator.store.document_view(args[0]) is None:
                self._send_json(404, {"message": f"document {args[0]} not found"})
            else:
                emulator.set_status(args[0], status)
                self._send_json(200, emulator.store.document_view(args[0]))

    # -- faults and authorization -------------------------------------------

    def _fault_before(self, decision: Decision) -> bool:
        """Apply the part of `decision` that comes before acting; True if that
        ended the request."""
        if decision.latency_seconds:
            self.server.emulator.stopping.wait(decision.latency_seconds)
        if decision.outcome is Outcome.DROP:
            self._drop()
            return True
        if decision.answers_before_acting:
            headers = {"Retry-After": decision.retry_after} if decision.retry_after else {}
            self._send_json(decision.status or 503, {"message": _FAULT_MESSAGES[decision.outcome]}, headers)
            return True
        return False

    def _fault_after(
        self, decision: Decision, status: int, body: bytes, content_type: str | None, headers: dict | None = None
    ) -> None:
        """Answer, unless `decision` says to hang up or to be slow first."""
        if decision.outcome is Outcome.DROP_AFTER:
            self._drop()
            return
        if decision.outcome is Outcome.GARBAGE:  # e.g. a proxy's error page with status 200
            page = b"<html><body><h1>Bad Gateway</h1>upstream sent an invalid response</body></html>"
            self._send(200, page, "text/html")
            return
        if decision.slow_seconds:
            self.server.emulator.stopping.wait(decision.slow_seconds)
        self._send(status, body, content_type, headers)

    def _authorized(self) -> bool:
        key = self.headers.get("ApiKey")
        if key is not None and self.server.emulator.key_ok(key):
            return True
        message = "Missing ApiKey header" if key is None else "Invalid API key"
        self._send_json(401, {"message": message})
        return False

    # -- bodies --------------------------------------------------------------

    def _content_length(self) -> int | None:
        """The body's length; None when there is no Content-Length (no body)."""
        if self.headers.get("Transfer-Encoding"):
            raise _BadFraming(411, "a Content-Length header is required (chunked bodies are not accepted)")
        value = self.headers.get("Content-Length")
        if value is None:
            return None
        if not value.strip().isdigit():
            raise _BadFraming(400, f"invalid Content-Length {value!r}")
        return int(value)

    def _read_json_body(self) -> bytes | None:
        """The whole (small) body, or None if the request was already answered."""
        try:
            length = self._content_length() or 0
        except _BadFraming as exc:
            self.close_connection = True
            self._send_json(exc.status, {"message": str(exc)})
            return None
        if length > JSON_BODY_LIMIT:
            self.close_connection = True
            self._send_json(413, {"message": f"request body too large ({length} bytes; limit {JSON_BODY_LIMIT})"})
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionError(f"body ended after {len(body)} of {length} bytes")
        return body

    def _drain(self) -> None:
        """Read and discard the body, so the connection can carry another
        request; when that is not possible, mark it to close after the answer."""
        try:
            remaining = self._content_length() or 0
        except _BadFraming:
            remaining = -1
        if not 0 <= remaining <= DRAIN_LIMIT:
            self.close_connection = True
            return
        while remaining:
            chunk = self.rfile.read(min(CHUNK, remaining))
            if not chunk:
                self.close_connection = True
                return
            remaining -= len(chunk)

    def _receive(self, slot_id: str, length: int) -> tuple[str, str] | None:
        """Stream an upload's body, hashing it (and storing it if the emulator
        has a storage_dir); returns (sha256, md5) or None if it ended short."""
        storage_dir = self.server.emulator.storage_dir
        sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        sink = tempfile.NamedTemporaryFile(dir=storage_dir, delete=False) if storage_dir else None
        received = 0
        try:
            while received < length:
                chunk = self.rfile.read(min(CHUNK, length - received))
                if not chunk:
                    break
                sha256.update(chunk)
                md5.update(chunk)
                if sink is not None:
                    sink.write(chunk)
                received += len(chunk)
        except (ConnectionError, TimeoutError):
            pass
        finally:
            if sink is not None:
                sink.close()
        if received < length:
            log.warning("upload to slot %s ended after %d of %d bytes; nothing recorded", slot_id, received, length)
            self.close_connection = True
            if sink is not None:
                os.unlink(sink.name)
            return None
        if sink is not None:
            os.replace(sink.name, os.path.join(storage_dir, slot_id))
        return sha256.hexdigest(), md5.hexdigest()

    # -- answers -------------------------------------------------------------

    def _storage_base(self) -> str:
        """Scheme and authority for signed URLs: as the client reached us."""
        host = self.headers.get("Host", "")
        if not _HOST_HEADER.fullmatch(host):
            host = self.server.emulator.netloc
        return f"http://{host}"

    def _send_json(self, status: int, payload: Any, headers: dict | None = None) -> None:
        self._send(status, _json_bytes(payload), "application/json", headers)

    def _log_request(self, status: int | None) -> None:
        # Logged before the client can see the outcome, so it can trust the log.
        self._answered = True
        path = self.path.partition("?")[0]
        self.server.emulator.store.log_request(self.command, path, status)

    def _send(self, status: int, body: bytes, content_type: str | None, headers: dict | None = None) -> None:
        self._log_request(status)
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _drop(self) -> None:
        """Hang up without a word."""
        self._log_request(None)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload).encode("utf-8")


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its open connections, so that
    stopping it also ends idle keep-alive connections."""

    daemon_threads = True
    request_queue_size = 128  # a burst of parallel uploads must not wait on SYN retries

    def __init__(self, address: tuple[str, int], emulator: Any) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (a DNS lookup).
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("unexpected error serving %s", client_address)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
