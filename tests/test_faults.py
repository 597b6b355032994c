"""API fault tolerance against the emulator's fault switches: transient errors,
throttling, dropped connections and slow answers, ambiguous outcomes, an
outage, and a wrong API key."""

from __future__ import annotations

import pytest


from conftest import sha256, wait_for




def test_fault_soak_three_hundred_files_all_done_without_duplicates(emulator, hot, start_daemon):
    faults = emulator.faults
    faults.error_rate = 0.10            # 500 or 503
    faults.throttle_rate = 0.05         # 429 with Retry-After
    faults.retry_after_seconds = 1
    faults.drop_rate = 0.05             # connection closed before acting
    faults.slow_rate = 0.05             # answers after the read timeout (1 s)
    faults.slow_seconds = 2.5
    # A slow answer to POST /documents/batch/ is ambiguous by nature (the API acted, the
    # client gave up): that case is test_ambiguous_*; here slow answers hit the rest.
    faults.slow_endpoints = {"files", "put", "jobs", "status"}
    hot.write_config(emulator.url, api={"timeout_seconds": 1, "parallel_uploads": 8},
                     batch={"quiet_seconds": 0.5, "max_files": 20, "max_wait_seconds": 3})
    daemon = start_daemon()
    contents = hot.drop(300)

    wait_for(lambda: len(hot.names(hot.done)) == 300, timeout=240, message="300 files in done/")
    assert hot.names(hot.failed) == []
    assert emulator.duplicate_count() == 0
    assert {d["sha256"] for d in emulator.documents()} == {sha256(c) for c in contents.values()}
    log = daemon.log()
    for sign in ("answered 500", "answered 503", "answered 429", "got no answer in time",
                 "lost the connection"):
        assert sign in log or sign.replace("answered", "storage answered") in log, sign
    assert daemon.stop() == 0


@pytest.mark.parametrize("endpoint", ["jobs", "documents"])
def test_ambiguous_submit_with_resubmit_loses_nothing_and_flags_possible_duplicates(emulator, hot, start_daemon, endpoint):
    emulator.faults.drop_after_rate = 1.0   # act, then close without answering
    emulator.faults.endpoints = {endpoint}
    hot.write_config(emulator.url)
    daemon = start_daemon()
    contents = hot.drop(3)
    wait_for(lambda: any(m == "POST" and endpoint in p and s is None for m, p, s in emulator.requests_log()),
             message=f"a dropped answer to the {endpoint} request")
    emulator.faults.drop_after_rate = 0.0

    wait_for(lambda: len(hot.names(hot.done)) == 3, message="the three files in done/")
    for name in contents:
        report = hot.report(hot.done, name)
        if endpoint == "documents":
            assert report["possible_duplicate"] is True and "possible duplicate" in report["notes"]
        else:
            assert "empty job" in report["notes"]
    expected_duplicates = 3 if endpoint == "documents" else 0  # the emulator did act the first time
    assert emulator.duplicate_count() == expected_duplicates
    assert "ambiguous submissions so far" in daemon.status()
    assert daemon.stop() == 0


@pytest.mark.parametrize("endpoint", ["jobs", "documents"])
def test_ambiguous_submit_with_fail_never_submits_twice_and_says_the_outcome_is_unknown(emulator, hot, start_daemon, endpoint):
    emulator.faults.drop_after_rate = 1.0
    emulator.faults.endpoints = {endpoint}
    hot.write_config(emulator.url, api={"on_ambiguous_submit": "fail"})
    daemon = start_daemon()
    hot.drop(3)

    wait_for(lambda: len(hot.names(hot.failed)) == 3, message="the three files in failed/")
    for name in hot.names(hot.failed):
        assert "outcome unknown" in hot.report(hot.failed, name)["reason"]
    assert len([r for r in emulator.requests_log() if r[0] == "POST" and endpoint in r[1]]) == 1
    assert emulator.duplicate_count() == 0
    assert hot.names(hot.done) == []
    assert daemon.stop() == 0


def test_outage_longer_than_a_request_then_recovery_processes_everything(emulator, hot, start_daemon):
    hot.write_config(emulator.url, api={"timeout_seconds": 1, "connect_timeout_seconds": 1})
    daemon = start_daemon()
    daemon.wait_log("sensetask-watch started")
    emulator.faults.refuse_all = True
    contents = hot.drop(5)
    outage = wait_for(lambda: (lambda s: s if "API FAILING since" in s and "failed tries" in s else None)(
        daemon.status()), timeout=30, message="status showing the outage")
    assert "503" in outage
    # Longer than any single request may take (connect 1 s + read 1 s): several tries fail.
    wait_for(lambda: daemon.log().count("try ") >= 3, timeout=30, message="three failed tries")
    emulator.stop()  # and then the API goes away altogether: connections refused
    wait_for(lambda: "could not connect" in daemon.log(), timeout=30, message="a refused connection")
    assert daemon.process.poll() is None, "the daemon never exits for an outage"
    emulator.faults.refuse_all = False
    emulator.start()

    wait_for(lambda: len(hot.names(hot.done)) == 5, timeout=60, message="all files done after recovery")
    assert "answers again" in daemon.log()
    assert "API: answering" in daemon.status()
    assert {d["sha256"] for d in emulator.documents()} == {sha256(c) for c in contents.values()}
    assert daemon.stop() == 0


def test_wrong_api_key_pauses_without_failing_files_until_fixed_and_restarted(emulator, hot, start_daemon):
    hot.write_config(emulator.url)
    right_key = hot.key_file.read_text()
    hot.key_file.write_text("not-the-key\n")
    daemon = start_daemon()
    contents = hot.drop(3)
    daemon.wait_log("SenseTask refused the API key")
    wait_for(lambda: "SUBMISSIONS PAUSED" in daemon.status(), message="status saying submissions are paused")
    assert hot.names(hot.failed) == [] and hot.names(hot.done) == []
    assert daemon.log().count("SenseTask refused the API key") == 1
    assert "not-the-key" not in daemon.log()
    assert daemon.stop() == 0

    hot.key_file.write_text(right_key)
    daemon = start_daemon()
    wait_for(lambda: len(hot.names(hot.done)) == 3, message="the files done after the key was fixed")
    assert hot.names(hot.failed) == []
    assert {d["sha256"] for d in emulator.documents()} == {sha256(c) for c in contents.values()}
    assert daemon.stop() == 0


def test_expired_upload_url_gets_a_fresh_slot(emulator, hot, start_daemon):
    emulator.api.signer.ttl_seconds = 0  # every signed URL handed out is already expired
    hot.write_config(emulator.url)
    daemon = start_daemon()
    contents = hot.drop(1)
    daemon.wait_log("refused by the storage")
    emulator.api.signer.ttl_seconds = 600
    wait_for(lambda: len(hot.names(hot.done)) == 1, message="the file done with a fresh slot")
    assert [u["sha256"] for u in emulator.uploads()] == [sha256(c) for c in contents.values()]
    assert any(s == 403 for m, p, s in emulator.requests_log() if m == "PUT")
    assert daemon.stop() == 0


def test_unreadable_answers_are_retried_then_the_batch_fails_with_the_answer_quoted(emulator, hot, start_daemon):
    emulator.faults.garbage_rate = 1.0
    emulator.faults.endpoints = {"jobs"}
    hot.write_config(emulator.url)
    daemon = start_daemon()
    hot.drop(2)
    wait_for(lambda: len(hot.names(hot.failed)) == 2, timeout=60, message="both files in failed/")
    reason = hot.report(hot.failed, "doc-000.pdf")["reason"]
    assert "3 times in a way we cannot read" in reason and "<html>" in reason
    assert len([r for r in emulator.requests_log() if r[0] == "POST" and "jobs" in r[1]]) == 3
    assert emulator.documents() == []
    assert daemon.stop() == 0
