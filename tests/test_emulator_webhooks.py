"""The emulator announces finished documents to a webhook endpoint, as the
guide describes: a JSON event, the shared secret in x-sense-secret."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import wait_for
from sensetask_watch.emulator import Emulator

KEY = "test-key"
AUTH = {"ApiKey": KEY}



class Receiver:
    """A tiny webhook endpoint on loopback; answers the statuses in `script`
    in turn (then 200), and keeps what it was sent."""

    def __init__(self, script=()):
        self.events: list[tuple[str | None, dict]] = []
        self.script = list(script)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.events.append((self.headers.get("x-sense-secret"), json.loads(body)))
                self.send_response(receiver.script.pop(0) if receiver.script else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def submit(emu, *names):
    with requests.Session() as http:
        http.trust_env = False
        items = []
        for name in names:
            slot = http.post(f"{emu.url}/files/", json={"fileName": name, "fileType": "image/png", "fileSize": 3},
                             headers=AUTH).json()
            assert http.put(slot["signedUrl"], data=b"png").ok
            items.append({"fileName": name, "fileType": "image/png", "fileSize": 3, "fileUri": slot["fileUri"]})
        job = http.post(f"{emu.url}/jobs/", json={"documentCount": len(items), "parentNode": "n"}, headers=AUTH)
        return http.post(f"{emu.url}/documents/batch/{job.json()['_id']}/", json={"data": items},
                         headers=AUTH).json()["items"]


def test_a_finished_document_is_announced_with_the_secret(receiver):
    with Emulator(api_keys=(KEY,), processing_seconds=0.2, webhook_url=receiver.url,
                  webhook_secret="s3cret") as emu:
        ids = submit(emu, "scan", "fail-scan", "stuck-scan")
        wait_for(lambda: len(emu.webhook_deliveries()) == 2, message="two deliveries")
        assert sorted(e[1]["objectId"] for e in receiver.events) == sorted(ids[:2])  # stuck never finishes
        for secret, event in receiver.events:
            assert secret == "s3cret"
            assert event["type"] == "document.processed" and len(event["data"]["entities"]) == 2
        assert sorted(emu.webhook_deliveries()) == sorted((i, "document.processed", 200) for i in ids[:2])


def test_no_secret_means_no_header(receiver):
    with Emulator(api_keys=(KEY,), processing_seconds=0.1, webhook_url=receiver.url) as emu:
        submit(emu, "scan")
        wait_for(lambda: receiver.events, message="an event")
        assert receiver.events[0][0] is None


def test_a_failed_delivery_is_retried():
    receiver = Receiver(script=[500, 503])
    try:
        with Emulator(api_keys=(KEY,), processing_seconds=0.1, webhook_url=receiver.url) as emu:
            [doc_id] = submit(emu, "scan")
            wait_for(lambda: len(emu.webhook_deliveries()) == 3, message="three attempts")
            assert [d[2] for d in emu.webhook_deliveries()] == [500, 503, 200]
    finally:
        receiver.close()


def test_an_unreachable_endpoint_is_recorded_not_fatal():
    with Emulator(api_keys=(KEY,), processing_seconds=0.1, webhook_url="http://127.0.0.1:9/nothing") as emu:
        submit(emu, "scan")
        wait_for(lambda: emu.webhook_deliveries(), message="an attempt")
        assert str(emu.webhook_deliveries()[0][2]).startswith("error:")


def test_set_status_to_a_final_status_is_announced(receiver):
    with Emulator(api_keys=(KEY,), processing_seconds=0.1, webhook_url=receiver.url) as emu:
        [doc_id] = submit(emu, "stuck-scan")
        emu.set_status(doc_id, "waiting_for_review")
        wait_for(lambda: receiver.events, message="an event")
        assert receiver.events[0][1]["objectId"] == doc_id


def test_webhook_faults_lose_or_repeat_events(receiver):
    with Emulator(api_keys=(KEY,), processing_seconds=0.1, webhook_url=receiver.url) as emu:
        emu.faults.webhook_duplicate_rate = 1.0
        [doc_id] = submit(emu, "scan")
        wait_for(lambda: len(receiver.events) == 2, message="a duplicated event")
        assert [e[1]["objectId"] for e in receiver.events] == [doc_id, doc_id]



def test_ocr_events_and_delays_are_emulated(receiver):
    with Emulator(api_keys=(KEY,), processing_seconds=0.0, webhook_url=receiver.url, ocr_events=True) as emu:
        emu.faults.webhook_delay_seconds = 1.0
        started = time.monotonic()
        (doc_id,) = submit(emu, "scan")
        wait_for(lambda: len(receiver.events) == 2, message="two events")
        assert time.monotonic() - started >= 1.0
        assert [e["type"] for _, e in receiver.events] == ["document.ocr_complete", "document.processed"]
        assert all(e["objectId"] == doc_id for _, e in receiver.events)
