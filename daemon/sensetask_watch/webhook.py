"""The webhook receiver: SenseTask POSTs `document.processed` (and, for OCR-only
pipelines, `document.ocr_complete`) events here, and the file is filed at
once; polling stays on as a slow safety net.

`WebhookApp` is a plain WSGI application that checks each request in order
(path and method, size, secret, JSON) and changes nothing unless all pass;
it only records the event in the journal and wakes the confirm thread.
`WebhookServer` serves it with waitress in the daemon's process: waitress
reads requests in one asynchronous loop and hands only complete ones to its
few worker threads, so slow or stalled clients cost a socket, not a thread,
and are cut off after `channel_timeout`.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from typing import Callable, Iterable

log = logging.getLogger("sensetask_watch")

KNOWN_TYPES = frozenset({"document.processed", "document.ocr_complete"})

# waitress settings: a handful of workers (each request is a quick journal write),
# idle or stalled connections closed after CHANNEL_TIMEOUT, and room for more
# half-open connections than a stray scanner or a slowloris will hold.
THREADS = 4
CHANNEL_TIMEOUT_SECONDS = 10
CONNECTION_LIMIT = 512

Event = Callable[[str, str, object], None]  # (objectId, type, data)

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 500: "Internal Server Error"}


class WebhookApp:
    def __init__(self, *, path: str, health_path: str, secret: str | None, max_body_bytes: int,
                 on_event: Event, health: Callable[[], dict]):
        self.path = path
        self.health_path = health_path
        self._secret = secret.encode() if secret else None
        self.max_body_bytes = max_body_bytes
        self.on_event = on_event
        self.health = health

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        status, body, headers = self.handle(environ)
        payload = json.dumps(body).encode()
        start_response(f"{status} {_REASONS.get(status, '')}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))] + headers)
        return [payload]

    def handle(self, environ: dict) -> tuple[int, dict, list]:
        """(status, JSON body, extra headers) for one request."""
        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("PATH_INFO", "")
        peer = environ.get("REMOTE_ADDR", "?")
        if path == self.health_path:
            if method not in ("GET", "HEAD"):
                return 405, {"message": "use GET"}, [("Allow", "GET, HEAD")]
            return 200, self.health(), []
        if path != self.path:
            log.debug("webhook: %s %s from %s: no such path", method, path, peer)
            return 404, {"message": "not found"}, []
        if method != "POST":
            return 405, {"message": "webhook events are POSTed"}, [("Allow", "POST")]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 400, {"message": "invalid Content-Length"}, []
        if length > self.max_body_bytes:
            log.warning("webhook: refused a %d-byte body from %s (webhook.max_body_bytes is %d)",
                        length, peer, self.max_body_bytes)
            return 413, {"message": f"body larger than {self.max_body_bytes} bytes"}, []
        if self._secret is not None:
            given = environ.get("HTTP_X_SENSE_SECRET", "").encode()
            if not hmac.compare_digest(given, self._secret):
                log.warning("webhook: refused a delivery from %s: %s x-sense-secret header; check that "
                            "webhook.secret_file holds the endpoint's secret in SenseTask", peer,
                            "wrong" if given else "no")
                return 401, {"message": "missing or wrong x-sense-secret"}, []
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            event = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return 400, {"message": "the body is not JSON"}, []
        problem = event_problem(event)
        if problem:
            return 400, {"message": problem}, []
        if event["type"] not in KNOWN_TYPES:
            log.debug("webhook: ignoring event type %s for %s", event["type"], event["objectId"])
            return 200, {"ok": True, "ignored": "unknown type"}, []
        self.on_event(event["objectId"], event["type"], event.get("data"))
        return 200, {"ok": True}, []


def event_problem(event: object) -> str | None:
    if not isinstance(event, dict):
        return "expected a JSON object"
    for key in ("objectId", "type"):
        if not isinstance(event.get(key), str) or not event[key]:
            return f"the event has no '{key}' (a non-empty string)"
    return None


class WebhookServer:
    """waitress serving a WebhookApp on one address, in a thread of its own."""

    def __init__(self, app: WebhookApp, host: str, port: int):
        import waitress  # only when a receiver is configured
        self._server = waitress.create_server(
            app, host=host, port=port, threads=THREADS, connection_limit=CONNECTION_LIMIT,
            channel_timeout=CHANNEL_TIMEOUT_SECONDS, cleanup_interval=1,
            max_request_body_size=app.max_body_bytes, asyncore_use_poll=True,
            ident="sensetask-watch", clear_untrusted_proxy_headers=True)
        self.port = self._server.effective_port
        self._thread = threading.Thread(target=self._server.run, name="webhook", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        from waitress import wasyncore
        # Close every socket from inside the server's own loop, which then ends.
        self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._server._map))
        self._thread.join(timeout)
        self._server.task_dispatcher.shutdown(timeout=timeout)
