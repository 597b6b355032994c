"""`Emulator`: a local SenseTask API served over real HTTP in the background."""

from __future__ import annotations

import hmac
import logging
import os
import random
import threading
from typing import Iterable

from .api import Api
from .faults import Decision, Faults, decide, webhook_copies
from .server import EmulatorServer
from .signing import UrlSigner
from .store import NotFound, StatusRules, Store
from .webhooks import WebhookSender

log = logging.getLogger("sensetask_watch.emulator")

DEFAULT_STATUS_RULES: StatusRules = (("fail*", "failed"), ("stuck*", None))


class Emulator:
    """The other side of the wire. See the package docstring for a tour."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] = ("test-key",),
        processing_seconds: float = 2.0,
        url_ttl_seconds: float = 600,
        status_rules: StatusRules = DEFAULT_STATUS_RULES,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        seed: int | None = 0,
        storage_dir: str | os.PathLike | None = None,
        ocr_events: bool = False,
    ) -> None:
        keys = (api_keys,) if isinstance(api_keys, str) else tuple(api_keys)
        if not keys or not all(isinstance(k, str) and k for k in keys):
            raise ValueError("api_keys: give at least one non-empty API key")
        if processing_seconds < 0:
            raise ValueError("processing_seconds: expected a number >= 0")
        self.host = host
        self._port = port  # the bound port once started; a restart binds it again
        self._api_keys = tuple(k.encode() for k in keys)
        self.webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        self.ocr_events = ocr_events  # also announce document.ocr_complete (OCR-only pipelines)
        self.storage_dir = os.fspath(storage_dir) if storage_dir is not None else None
        self.faults = Faults()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self.store = Store(processing_seconds, status_rules, seed)
        self.api = Api(self.store, UrlSigner(url_ttl_seconds))
        self.stopping = threading.Event()
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None
        self._webhooks: WebhookSender | None = None

    # -- life cycle ----------------------------------------------------------

    def start(self) -> "Emulator":
        if self._server is not None:
            raise RuntimeError("the emulator is already started")
        if self.storage_dir is not None:
            os.makedirs(self.storage_dir, exist_ok=True)
        self.stopping.clear()
        self._server = EmulatorServer((self.host, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="emulator-http", daemon=True
        )
        self._thread.start()
        if self.webhook_url:
            self._webhooks = WebhookSender(self.store, self.webhook_url, self._webhook_secret, self._webhook_copies,
                                           delay=lambda: max(0.0, float(self.faults.webhook_delay_seconds)),
                                           ocr_events=self.ocr_events)
            self._webhooks.start()
        log.info("SenseTask emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving: close the listening socket and every open connection,
        and stop webhook deliveries. Records stay readable, and `start()`
        serves again on the same port (an outage, then recovery)."""
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        if self._webhooks is not None:
            self._webhooks.stop()
            self._webhooks = None
        log.info("SenseTask emulator stopped")

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the emulator was never started: its port is not known yet")
        return self._port

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The API base URL a client configures."""
        return f"http://{self.netloc}/api/v1"

    # -- used by the HTTP handler -------------------------------------------

    def key_ok(self, key: str) -> bool:
        given = key.encode()
        return any(hmac.compare_digest(given, k) for k in self._api_keys)

    def decide(self, endpoint: str) -> Decision:
        with self._rng_lock:
            return decide(self.faults, endpoint, self._rng)

    def _webhook_copies(self) -> int:
        with self._rng_lock:
            return webhook_copies(self.faults, self._rng)

    # -- records, for tests and the control endpoint ------------------------

    def documents(self) -> list[dict]:
        return self.store.documents()

    def uploads(self) -> list[dict]:
        return self.store.uploads()

    def jobs(self) -> list[dict]:
        return self.store.jobs()

    def duplicate_count(self) -> int:
        return self.store.duplicate_count()

    def requests_log(self) -> list[tuple[str, str, int | None]]:
        return self.store.requests_log()

    def webhook_deliveries(self) -> list[tuple[str, str, int | str]]:
        return self.store.webhook_deliveries()

    def webhook_delivery_times(self) -> list[tuple[str, str, int | str, float]]:
        return self.store.webhook_delivery_times()

    def set_status(self, doc_id: str, status: str | None) -> None:
        """Force a document's status (None gives it back its timeline).
        Raises KeyError for an unknown document."""
        try:
            self.store.set_status(doc_id, status)
        except NotFound as exc:
            raise KeyError(doc_id) from exc

    def records(self) -> dict:
        return {
            "documents": self.documents(),
            "uploads": self.uploads(),
            "jobs": self.jobs(),
            "duplicate_count": self.duplicate_count(),
            "webhook_deliveries": [list(d) for d in self.webhook_deliveries()],
        }
