"""Webhook delivery: one background thread announcing finished documents.

It notices lazily (every `poll_seconds`) the documents whose status became
final, and POSTs a `document.processed` event for each to the endpoint, with
the shared secret in `x-sense-secret` when one is set. A failed delivery is
retried a few times with growing delays, then given up. Every attempt is
recorded in the store.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Callable

from .store import Store

log = logging.getLogger("sensetask_watch.emulator")

EVENT_TYPE = "document.processed"
OCR_EVENT_TYPE = "document.ocr_complete"
RETRY_DELAYS = (0.2, 1.0, 3.0, 10.0, 30.0)  # after each failed attempt; then give up


class WebhookSender:
    def __init__(
        self,
        store: Store,
        url: str,
        secret: str | None,
        copies: Callable[[], int],
        poll_seconds: float = 0.05,
        timeout_seconds: float = 5.0,
        delay: Callable[[], float] = lambda: 0.0,
        ocr_events: bool = False,
    ) -> None:
        self.store = store
        self.url = url
        self.secret = secret
        self._copies = copies  # how many times to send the next event (faults)
        self._delay = delay  # how long to hold the next event back (faults)
        self.ocr_events = ocr_events  # announce document.ocr_complete before document.processed
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)
        # No proxies: the receiver is usually on loopback, whatever the environment says.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        pending: list[tuple[float, int, str, str]] = []  # (due, attempts so far, document id, type)
        while not self._stop.wait(self.poll_seconds):
            try:
                now = time.monotonic()
                for doc_id in self.store.take_finished():
                    types = ([OCR_EVENT_TYPE] if self.ocr_events else []) + [EVENT_TYPE]
                    for event_type in types:
                        pending += [(now + self._delay(), 0, doc_id, event_type)] * self._copies()
                due = sorted(p for p in pending if p[0] <= now)
                pending = [p for p in pending if p[0] > now]
                for _, attempts, doc_id, event_type in due:
                    if self._stop.is_set():
                        return
                    if self._deliver(doc_id, event_type):
                        continue
                    if attempts < len(RETRY_DELAYS):
                        pending.append((time.monotonic() + RETRY_DELAYS[attempts], attempts + 1, doc_id, event_type))
                    else:
                        log.warning("webhook for document %s given up after %d attempts", doc_id, attempts + 1)
            except Exception:  # a bug of ours must not end deliveries
                log.exception("webhook delivery loop failed; continuing")

    def _entities(self, doc_id: str) -> list[dict]:
        """Made-up extracted entities, as a processing pipeline would return them."""
        view = self.store.document_view(doc_id) or {}
        return [{"payload": {"field": "documentName", "value": view.get("fileName")}},
                {"payload": {"field": "total", "value": "42.00", "currency": "EUR"}}]

    def _deliver(self, doc_id: str, event_type: str = EVENT_TYPE) -> bool:
        data = {"entities": self._entities(doc_id)} if event_type == EVENT_TYPE else {}
        body = json.dumps({"objectId": doc_id, "type": event_type, "data": data}).encode()
        headers = {"Content-Type": "application/json"}
        if self.secret is not None:
            headers["x-sense-secret"] = self.secret
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        outcome: int | str
        try:
            with self._opener.open(request, timeout=self.timeout_seconds) as response:
                outcome = response.status
                response.read()
        except urllib.error.HTTPError as exc:
            outcome = exc.code
            exc.close()
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets, bad URL
            outcome = f"error: {exc}"
        self.store.log_delivery(doc_id, event_type, outcome)
        ok = isinstance(outcome, int) and 200 <= outcome < 300
        log.debug("webhook %s for document %s: %s", event_type, doc_id, outcome)
        return ok
