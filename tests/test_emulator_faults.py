"""The emulator misbehaves on demand: each fault switch is observable by a
client, and the per-request decision is a pure function of the switches and
an RNG."""

from __future__ import annotations

import random

import pytest
import requests

from sensetask_watch.emulator import Emulator, Faults
from sensetask_watch.emulator.faults import Outcome, decide, update_faults, webhook_copies

KEY = "test-key"
AUTH = {"ApiKey": KEY}
JOB = {"documentCount": 1, "parentNode": "node-1"}


@pytest.fixture
def emu():
    with Emulator(api_keys=(KEY,), processing_seconds=0.3, seed=7) as emulator:
        yield emulator



def post_job(http, emu, **kwargs):
    return http.post(f"{emu.url}/jobs/", json=JOB, headers=AUTH, **kwargs)


def new_slot(http, emu, data):
    answer = http.post(f"{emu.url}/files/", json={"fileName": "s", "fileType": "image/png", "fileSize": len(data)},
                       headers=AUTH)
    assert answer.status_code == 200
    return answer.json()["signedUrl"]


# -- the decision, alone -----------------------------------------------------

def test_no_switch_set_means_every_request_passes():
    rng = random.Random(1)
    assert {decide(Faults(), "jobs", rng).outcome for _ in range(200)} == {Outcome.PASS}


@pytest.mark.parametrize("switch, outcome", [("error_rate", Outcome.ERROR), ("throttle_rate", Outcome.THROTTLE),
                                             ("drop_rate", Outcome.DROP), ("drop_after_rate", Outcome.DROP_AFTER)])
def test_a_rate_of_one_always_hits(switch, outcome):
    decision = decide(Faults(**{switch: 1.0}), "files", random.Random(1))
    assert decision.outcome is outcome


def test_errors_are_500_or_503_and_throttles_carry_retry_after():
    rng = random.Random(3)
    assert {decide(Faults(error_rate=1), "put", rng).status for _ in range(100)} == {500, 503}
    throttled = decide(Faults(throttle_rate=1, retry_after_seconds=1.5), "put", rng)
    assert (throttled.status, throttled.retry_after) == (429, "2")


def test_a_rate_hits_about_that_often():
    rng = random.Random(0)
    hits = sum(decide(Faults(error_rate=0.25), "jobs", rng).outcome is Outcome.ERROR for _ in range(4000))
    assert 800 < hits < 1200


def test_endpoints_restrict_rate_faults_but_not_outages_or_latency():
    faults = Faults(error_rate=1, latency_seconds=0.5, endpoints={"jobs"})
    rng = random.Random(0)
    assert decide(faults, "files", rng).outcome is Outcome.PASS
    assert decide(faults, "files", rng).latency_seconds == 0.5
    assert decide(faults, "jobs", rng).outcome is Outcome.ERROR
    faults.refuse_all = True
    assert decide(faults, "files", rng).outcome is Outcome.REFUSE


def test_slow_decisions_act_then_wait():
    decision = decide(Faults(slow_rate=1, slow_seconds=4), "status", random.Random(0))
    assert (decision.outcome, decision.slow_seconds) == (Outcome.PASS, 4)


def test_webhook_copies():
    rng = random.Random(0)
    assert webhook_copies(Faults(), rng) == 1
    assert webhook_copies(Faults(webhook_drop_rate=1), rng) == 0
    assert webhook_copies(Faults(webhook_duplicate_rate=1), rng) == 2


def test_update_faults_reports_every_problem_and_applies_nothing():
    faults = Faults()
    problems = update_faults(faults, {"error_rate": 2, "refuse_all": "yes", "bogus": 1, "drop_rate": 0.5,
                                      "endpoints": ["jobs", "nope"]})
    assert len(problems) == 4 and all(p.startswith("At '") for p in problems)
    assert faults == Faults()
    assert update_faults(faults, {"drop_rate": 0.5, "endpoints": ["jobs"]}) == []
    assert faults.drop_rate == 0.5 and faults.endpoints == {"jobs"}


# -- the switches, over HTTP ---------------------------------------------------

def test_error_rate_answers_5xx_and_acts_not(emu, http):
    emu.faults.error_rate = 1.0
    answer = post_job(http, emu)
    assert answer.status_code in (500, 503) and answer.json()["message"]
    assert emu.jobs() == []
    emu.faults.error_rate = 0
    assert post_job(http, emu).status_code == 200  # the same connection carries on


def test_throttle_rate_answers_429_with_retry_after(emu, http):
    emu.faults.throttle_rate, emu.faults.retry_after_seconds = 1.0, 3
    answer = post_job(http, emu)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "3"
    assert emu.jobs() == []


def test_drop_rate_hangs_up_before_acting(emu, http):
    emu.faults.drop_rate = 1.0
    with pytest.raises(requests.ConnectionError):
        post_job(http, emu)
    assert emu.jobs() == []
    assert emu.requests_log()[-1] == ("POST", "/api/v1/jobs/", None)


def test_drop_after_rate_acts_then_hangs_up(emu, http):
    emu.faults.drop_after_rate = 1.0
    with pytest.raises(requests.ConnectionError):
        post_job(http, emu)
    assert len(emu.jobs()) == 1  # the ambiguous outcome: it happened, nobody was told


def test_garbage_rate_acts_then_answers_200_with_html(emu, http):
    emu.faults.garbage_rate = 1.0
    response = post_job(http, emu)
    assert response.status_code == 200 and response.text.startswith("<html>")
    assert len(emu.jobs()) == 1  # it acted: only the answer is unreadable


def test_slow_endpoints_limit_where_answers_are_slow(emu, http):
    emu.faults.slow_rate, emu.faults.slow_seconds = 1.0, 2.0
    emu.faults.slow_endpoints = {"status"}
    assert post_job(http, emu, timeout=(2, 1)).status_code == 200


def test_slow_rate_outlasts_the_client_read_timeout(emu, http):
    emu.faults.slow_rate, emu.faults.slow_seconds = 1.0, 2.0
    with pytest.raises(requests.ReadTimeout):
        post_job(http, emu, timeout=(2, 0.2))
    assert len(emu.jobs()) == 1


def test_latency_delays_every_request(emu, http):
    emu.faults.latency_seconds = 2.0
    with pytest.raises(requests.ReadTimeout):
        http.get(f"{emu.url}/documents/ffffffffffffffffffffffff/beta/", headers=AUTH, timeout=(2, 0.2))


def test_refuse_all_is_an_outage_for_api_and_storage(emu, http):
    url = new_slot(http, emu, b"data")
    emu.faults.refuse_all = True
    assert post_job(http, emu).status_code == 503
    assert http.put(url, data=b"data").status_code == 503
    assert emu.uploads() == [] and emu.jobs() == []


def test_faults_can_target_one_endpoint(emu, http):
    emu.faults.error_rate, emu.faults.endpoints = 1.0, {"jobs"}
    url = new_slot(http, emu, b"data")
    assert http.put(url, data=b"data").status_code == 200
    assert post_job(http, emu).status_code in (500, 503)


def test_storage_faults_read_the_body_then_misbehave(emu, http):
    url = new_slot(http, emu, b"x" * 100_000)
    emu.faults.endpoints = {"put"}
    emu.faults.drop_rate = 1.0
    with pytest.raises(requests.ConnectionError):
        http.put(url, data=b"x" * 100_000)
    assert emu.uploads() == []
    emu.faults.drop_rate, emu.faults.drop_after_rate = 0, 1.0
    with pytest.raises(requests.ConnectionError):
        http.put(url, data=b"x" * 100_000)
    assert len(emu.uploads()) == 1
    emu.faults.drop_after_rate, emu.faults.throttle_rate = 0, 1.0
    assert http.put(url, data=b"x" * 100_000).status_code == 429
    assert len(emu.uploads()) == 1


def test_control_endpoints_drive_a_standalone_emulator(emu, http):
    control = emu.url.replace("/api/v1", "/_emulator")
    answer = http.post(f"{control}/faults", json={"error_rate": 1, "endpoints": ["jobs"]})
    assert answer.status_code == 200 and answer.json()["error_rate"] == 1
    assert emu.faults.error_rate == 1 and emu.faults.endpoints == {"jobs"}
    assert post_job(http, emu).status_code in (500, 503)

    refused = http.post(f"{control}/faults", json={"error_rate": "lots", "nope": 1})
    assert refused.status_code == 400 and "'error_rate'" in refused.json()["message"]
    assert http.post(f"{control}/faults", json={"error_rate": 0}).ok

    assert post_job(http, emu).ok
    records = http.get(f"{control}/records").json()
    assert len(records["jobs"]) == 1 and records["duplicate_count"] == 0
    assert set(records) >= {"documents", "uploads", "jobs", "duplicate_count"}
    assert http.get(f"{control}/faults").json()["endpoints"] == ["jobs"]
    assert http.post(f"{control}/documents/ffffffffffffffffffffffff/status",
                     json={"status": "failed"}).status_code == 404
