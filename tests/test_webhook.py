"""Webhook confirmation: the daemon's receiver (waitress, in the daemon's
process) files documents the moment the emulator announces them, safely."""

from __future__ import annotations

import collections
import datetime
import http.client
import json
import random
import socket

import pytest
import requests

from sensetask_watch.emulator import Emulator

from conftest import API_KEY, wait_for

SECRET = "whsec-sensetask-0123456789"
PATH = "/sensetask/webhook"


def free_port() -> int:
    """A free port below the kernel's ephemeral range, so that no socket bound to port 0
    (the emulator's, a client's) can take it between this choice and the daemon's bind."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
        low = int(ranges.read().split()[0])
    for candidate in random.Random().sample(range(max(1025, low - 10000), low), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    raise AssertionError("no free port below the ephemeral range")


class Receiver:
    def __init__(self, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}{PATH}"
        self.http = requests.Session()
        self.http.trust_env = False

    def post(self, body, secret=SECRET, path=PATH, method="POST", **kwargs):
        headers = {"x-sense-secret": secret} if secret is not None else {}
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.http.request(method, f"http://127.0.0.1:{self.port}{path}", data=data,
                                 headers=headers, timeout=5, **kwargs)


def oversized_post_status(port: int, length: int) -> int:
    """Announce a body of `length` bytes and read the answer without sending it: the
    receiver must refuse on Content-Length alone (a client sending the body anyway may
    see the connection reset once the refusal is out, as it should)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.putrequest("POST", PATH)
        connection.putheader("Content-Length", str(length))
        connection.putheader("x-sense-secret", SECRET)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def emulator(port):
    """The emulator, announcing finished documents to the daemon's receiver."""
    emu = Emulator(api_keys=(API_KEY,), processing_seconds=0.3, webhook_url=f"http://127.0.0.1:{port}{PATH}",
                   webhook_secret=SECRET, status_rules=(("fail*", "failed"), ("stuck*", None)), ocr_events=True)
    emu.start()
    yield emu
    emu.stop()


def configure(hot, emulator, port, safety=3600, **sections):
    secret_file = hot.root / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    return hot.write_config(emulator.url, webhook={"listen": f"127.0.0.1:{port}", "secret_file": str(secret_file)},
                            confirm={"poll_interval_seconds": 0.2, "safety_poll_interval_seconds": safety,
                                     "give_up_after_seconds": 600}, **sections)




def parse_time(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def status_polls(emulator) -> collections.Counter:
    return collections.Counter(p.split("/")[-3] for m, p, s in emulator.requests_log()
                               if m == "GET" and p.endswith("/beta/"))


def test_fifty_files_reach_done_through_webhooks_alone_each_within_a_second(emulator, hot, start_daemon, port):
    configure(hot, emulator, port, safety=3600)
    daemon = start_daemon()
    daemon.wait_log("webhook receiver on")
    contents = hot.drop(50)

    wait_for(lambda: len(hot.names(hot.done)) == 50, timeout=60, message="50 files in done/")
    delivered = {object_id: at for object_id, kind, outcome, at in emulator.webhook_delivery_times()
                 if kind == "document.processed" and outcome == 200}
    lags = []
    for name in contents:
        report = hot.report(hot.done, name)
        lag = parse_time(report["confirmed_at"]) - delivered[report["document_id"]]
        lags.append(lag)
        assert lag < 1.0, (name, lag)
        assert report["extraction"]["entities"], "the event's data is kept in the report"
        assert report["ocr_complete_at"], "document.ocr_complete is recorded in the report"
    print(f"webhook delivery -> confirmed: median {sorted(lags)[25] * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms")
    polls = status_polls(emulator)
    assert all(count <= 1 for count in polls.values()), polls
    assert daemon.log().count("by webhook") == 50
    assert daemon.stop() == 0


def test_bad_deliveries_get_their_status_codes_and_move_nothing(emulator, hot, start_daemon, port):
    configure(hot, emulator, port)
    daemon = start_daemon()
    daemon.wait_log("webhook receiver on")
    hot.drop(1, prefix="stuck")
    wait_for(lambda: emulator.documents(), message="a document at the emulator")
    doc_id = emulator.documents()[0]["id"]
    event = {"objectId": doc_id, "type": "document.processed", "data": {"status": "processed"}}
    receiver = Receiver(port)

    assert receiver.post(event, secret="wrong").status_code == 401
    assert receiver.post(event, secret=None).status_code == 401
    assert receiver.post(b"{not json").status_code == 400
    assert receiver.post({"type": "document.processed"}).status_code == 400
    assert receiver.post({"objectId": doc_id}).status_code == 400
    assert oversized_post_status(port, 1024 * 1024 + 1) == 413
    assert receiver.post(event, path="/elsewhere").status_code == 404
    assert receiver.post(event, method="GET").status_code == 405
    assert receiver.post(event, method="PUT").status_code == 405
    unknown_id = {"objectId": "ffffffffffffffffffffffff", "type": "document.processed"}
    assert receiver.post(unknown_id).status_code == 200
    assert receiver.post({"objectId": doc_id, "type": "document.deleted"}).status_code == 200
    health = receiver.http.get(f"http://127.0.0.1:{port}/health", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "up"
    assert health.json()["in_flight"] == 1 and SECRET not in health.text and API_KEY not in health.text

    assert hot.names(hot.done) == [] and hot.names(hot.failed) == []
    assert daemon.process.poll() is None
    # ...and a good delivery still works afterwards.
    assert receiver.post(event).status_code == 200
    wait_for(lambda: hot.names(hot.done) == ["stuck-000.pdf"], message="the document filed by a good event")
    assert daemon.stop() == 0


def test_duplicate_and_delayed_deliveries_file_each_document_exactly_once(emulator, hot, start_daemon, port):
    emulator.faults.webhook_duplicate_rate = 1.0
    emulator.faults.webhook_delay_seconds = 0.5
    configure(hot, emulator, port)
    daemon = start_daemon()
    contents = hot.drop(10)
    wait_for(lambda: len(hot.names(hot.done)) == 10, timeout=60, message="10 files in done/")
    wait_for(lambda: len([d for d in emulator.webhook_deliveries()
                          if d[1] == "document.processed" and d[2] == 200]) == 20,
             message="every event delivered twice")
    assert hot.names(hot.done) == sorted(contents)
    wait_for(lambda: daemon.log().count("filed doc-") == 10, message="ten 'filed' log lines")
    log = daemon.log()
    for name in contents:
        assert log.count(f"confirmed {name} ") == 1 and log.count(f"filed {name} ") == 1
    assert daemon.stop() == 0


def test_event_racing_ahead_of_the_batch_answer_is_applied_once_the_ids_are_known(port, hot, start_daemon):
    # The documents call acts at once but answers 1.5 s late; processing is instant,
    # so the webhook arrives while the daemon does not know the document ids yet.
    emu = Emulator(api_keys=(API_KEY,), processing_seconds=0.0, webhook_url=f"http://127.0.0.1:{port}{PATH}",
                   webhook_secret=SECRET)
    emu.start()
    try:
        emu.faults.slow_rate, emu.faults.slow_seconds = 1.0, 1.5
        emu.faults.slow_endpoints = {"documents"}
        configure(hot, emu, port)
        daemon = start_daemon()
        hot.drop(3)
        wait_for(lambda: len(hot.names(hot.done)) == 3, timeout=30, message="3 files in done/")
        submitted = [line for line in daemon.log().splitlines() if "submitted doc-000.pdf" in line]
        deliveries = [at for object_id, kind, outcome, at in emu.webhook_delivery_times() if outcome == 200]
        first_submit = datetime.datetime.strptime(submitted[0][:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        assert min(deliveries) < first_submit, "the events arrived before the batch answer"
        assert daemon.log().count("by webhook") == 3
        assert daemon.stop() == 0
    finally:
        emu.stop()


def test_without_webhooks_the_safety_poll_still_finishes_every_file(emulator, hot, start_daemon, port):
    emulator.faults.webhook_drop_rate = 1.0  # no event ever arrives
    configure(hot, emulator, port, safety=1)
    daemon = start_daemon()
    hot.drop(5)
    wait_for(lambda: len(hot.names(hot.done)) == 5, timeout=60, message="5 files done by the safety poll")
    assert daemon.log().count("by poll") == 5
    assert emulator.webhook_deliveries() == []
    assert daemon.stop() == 0


def test_two_hundred_idle_connections_do_not_stop_a_real_delivery(emulator, hot, start_daemon, port):
    configure(hot, emulator, port)
    daemon = start_daemon()
    daemon.wait_log("webhook receiver on")
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
    try:
        hot.drop(1)
        wait_for(lambda: hot.names(hot.done) == ["doc-000.pdf"], timeout=30, message="the file filed")
        report = hot.report(hot.done, "doc-000.pdf")
        (delivered,) = [at for o, k, s, at in emulator.webhook_delivery_times()
                        if o == report["document_id"] and k == "document.processed"]
        assert parse_time(report["confirmed_at"]) - delivered < 2.0
    finally:
        for connection in idle:
            connection.close()
    assert daemon.stop() == 0


def test_api_key_and_webhook_secret_appear_in_no_log_line(emulator, hot, start_daemon, port):
    configure(hot, emulator, port, log_level="debug")
    daemon = start_daemon()
    daemon.wait_log("webhook receiver on")
    hot.drop(3)
    hot.drop(1, prefix="fail")
    Receiver(port).post({"objectId": "x", "type": "document.processed"}, secret="wrong-" + SECRET)
    wait_for(lambda: len(hot.names(hot.done)) == 3 and len(hot.names(hot.failed)) == 1, message="all filed")
    assert daemon.stop() == 0
    log = daemon.log()
    assert "DEBUG" in log and "refused a delivery" in log
    assert API_KEY not in log and SECRET not in log
