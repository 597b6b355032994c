"""The SenseTask emulator answers the guide's flow over real HTTP, faithfully.

Fault switches: test_emulator_faults.py; webhooks and the CLI: their own files.
"""

from __future__ import annotations

import hashlib
from http.client import HTTPConnection
import socket

import pytest
import requests

from conftest import wait_for
from sensetask_watch.emulator import Emulator
from sensetask_watch.emulator.routes import resolve
from sensetask_watch.emulator.store import count_duplicates, final_status_for, status_at

KEY = "test-key"
AUTH = {"ApiKey": KEY}
PDF = b"%PDF-1.4 scanned page\n" * 500



@pytest.fixture
def emu():
    with Emulator(api_keys=(KEY,), processing_seconds=0.3) as emulator:
        yield emulator



def upload(http, emu, name="scan", data=PDF, file_type="application/pdf"):
    """POST /files/ then PUT the bytes; returns the batch item for the file."""
    slot = http.post(f"{emu.url}/files/", json={"fileName": name, "fileType": file_type, "fileSize": len(data)},
                     headers=AUTH)
    assert slot.status_code == 200, slot.text
    put = http.put(slot.json()["signedUrl"], data=data)
    assert put.status_code == 200, put.text
    return {"fileName": name, "fileType": file_type, "fileSize": len(data), "fileUri": slot.json()["fileUri"]}


def submit(http, emu, items, count=None):
    job = http.post(f"{emu.url}/jobs/", json={"documentCount": count or len(items), "parentNode": "node-1"},
                    headers=AUTH)
    assert job.status_code == 200, job.text
    batch = http.post(f"{emu.url}/documents/batch/{job.json()['_id']}/", json={"data": items}, headers=AUTH)
    assert batch.status_code == 200, batch.text
    return batch.json()["items"]


def status(http, emu, doc_id):
    return http.get(f"{emu.url}/documents/{doc_id}/beta/", headers=AUTH).json()["status"]


def test_guide_flow_ends_processed_with_the_uploaded_sha256_recorded(emu, http):
    item = upload(http, emu, "invoice-1")
    [doc_id] = submit(http, emu, [item])

    assert status(http, emu, doc_id) in ("queued", "processing")
    wait_for(lambda: status(http, emu, doc_id) == "processed", message="processed")

    view = http.get(f"{emu.url}/documents/{doc_id}/beta/", headers=AUTH).json()
    assert view["_id"] == doc_id and view["fileName"] == "invoice-1"
    assert view["jobId"] == emu.jobs()[0]["id"]
    digest = hashlib.sha256(PDF).hexdigest()
    assert emu.uploads() == [{"fileUri": item["fileUri"], "sha256": digest, "size": len(PDF)}]
    [doc] = emu.documents()
    assert doc["id"] == doc_id and doc["sha256"] == digest and doc["status"] == "processed"
    assert emu.jobs()[0]["documentCount"] == 1 and emu.jobs()[0]["parentNode"] == "node-1"
    assert emu.duplicate_count() == 0


def test_ids_look_like_mongo_object_ids(emu, http):
    [doc_id] = submit(http, emu, [upload(http, emu)])
    for object_id in (doc_id, emu.jobs()[0]["id"]):
        assert len(object_id) == 24 and int(object_id, 16) >= 0


@pytest.mark.parametrize("headers, message", [({}, "Missing ApiKey header"), ({"ApiKey": "wrong"}, "Invalid API key")])
@pytest.mark.parametrize("method, path", [("POST", "/files/"), ("POST", "/jobs/"),
                                          ("POST", "/documents/batch/0123456789abcdef01234567/"),
                                          ("GET", "/documents/0123456789abcdef01234567/beta/")])
def test_api_calls_without_the_right_key_are_401(emu, http, headers, message, method, path):
    answer = http.request(method, emu.url + path, json={}, headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"message": message}
    assert emu.jobs() == [] and emu.documents() == []


def test_any_configured_key_is_accepted(http):
    with Emulator(api_keys=("one", "two")) as emu:
        for key in ("one", "two"):
            answer = http.post(f"{emu.url}/jobs/", json={"documentCount": 1, "parentNode": "n"}, headers={"ApiKey": key})
            assert answer.status_code == 200


def _slot(http, emu, size=len(PDF)):
    answer = http.post(f"{emu.url}/files/", json={"fileName": "scan", "fileType": "image/png", "fileSize": size},
                       headers=AUTH)
    return answer.json()["signedUrl"]


def test_a_tampered_signature_is_403_and_nothing_is_stored(emu, http):
    url = _slot(http, emu)
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    answer = http.put(tampered, data=PDF)
    assert answer.status_code == 403 and "signature" in answer.json()["message"]
    longer = url.replace("expires=", "expires=1")  # a later expiry, same signature
    assert http.put(longer, data=PDF).status_code == 403
    assert http.put(url.split("?")[0], data=PDF).status_code == 403
    assert emu.uploads() == []
    assert http.put(url, data=PDF).status_code == 200  # the connection still serves


def test_an_expired_url_is_403(http):
    with Emulator(api_keys=(KEY,), url_ttl_seconds=0) as emu:  # URLs dead on arrival
        answer = http.put(_slot(http, emu), data=PDF)
        assert answer.status_code == 403 and "expired" in answer.json()["message"]
        assert emu.uploads() == []


def test_an_upload_of_another_size_than_declared_is_rejected(emu, http):
    url = _slot(http, emu, size=len(PDF))
    answer = http.put(url, data=PDF + b"x")
    assert answer.status_code == 400 and "Content-Length" in answer.json()["message"]
    assert emu.uploads() == []


def test_an_upload_cut_short_is_not_recorded(emu, http):
    url = _slot(http, emu, size=1000)
    path = url.split(str(emu.port), 1)[1]
    with socket.create_connection(("127.0.0.1", emu.port)) as raw:
        raw.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".encode() + b"y" * 400)
        raw.shutdown(socket.SHUT_WR)
        assert raw.recv(100) == b""  # hung up on: no answer for half a body
    wait_for(lambda: emu.requests_log()[-1:] == [("PUT", path.split("?")[0], None)], message="the PUT logged")
    assert emu.uploads() == []


def test_a_second_upload_replaces_the_content_as_s3_would(emu, http):
    url = _slot(http, emu, size=4)
    assert http.put(url, data=b"aaaa").status_code == 200
    assert http.put(url, data=b"bbbb").status_code == 200
    assert [u["sha256"] for u in emu.uploads()] == [hashlib.sha256(b).hexdigest() for b in (b"aaaa", b"bbbb")]


def test_uploads_can_be_kept_on_disk(http, tmp_path):
    with Emulator(api_keys=(KEY,), storage_dir=tmp_path / "store") as emu:
        url = _slot(http, emu, size=len(PDF))
        assert http.put(url, data=PDF).status_code == 200
        [kept] = (tmp_path / "store").iterdir()
        assert kept.read_bytes() == PDF and kept.name in url


def test_batch_items_come_back_in_the_order_of_data(emu, http):
    items = [upload(http, emu, f"page-{i}", data=b"%d" % i * 10) for i in range(5)]
    ids = submit(http, emu, items)
    names = [http.get(f"{emu.url}/documents/{i}/beta/", headers=AUTH).json()["fileName"] for i in ids]
    assert names == [f"page-{i}" for i in range(5)]
    assert len(set(ids)) == 5


def test_batch_refusals(emu, http):
    item = upload(http, emu)
    job = http.post(f"{emu.url}/jobs/", json={"documentCount": 2, "parentNode": "n"}, headers=AUTH).json()["_id"]
    batch = f"{emu.url}/documents/batch/{job}/"

    assert http.post(f"{emu.url}/documents/batch/ffffffffffffffffffffffff/", json={"data": [item]},
                     headers=AUTH).status_code == 404
    assert http.post(batch, json={"data": []}, headers=AUTH).status_code == 400
    missing = http.post(batch, json={"data": [{k: v for k, v in item.items() if k != "fileSize"}]}, headers=AUTH)
    assert missing.status_code == 400 and "data[0].fileSize" in missing.json()["message"]
    never = http.post(batch, json={"data": [item, dict(item, fileUri="uploads/nope/x")]}, headers=AUTH)
    assert never.status_code == 400 and "data[1].fileUri" in never.json()["message"]
    too_many = http.post(batch, json={"data": [item] * 3}, headers=AUTH)
    assert too_many.status_code == 400 and "documentCount" in too_many.json()["message"]
    assert emu.documents() == []  # all or nothing

    assert http.post(batch, json={"data": [item]}, headers=AUTH).status_code == 200
    assert http.post(batch, json={"data": [item]}, headers=AUTH).status_code == 200
    assert http.post(batch, json={"data": [item]}, headers=AUTH).status_code == 400  # the job is full


@pytest.mark.parametrize("body, field", [
    ({"fileType": "application/pdf", "fileSize": 3}, "fileName"),
    ({"fileName": "", "fileType": "application/pdf", "fileSize": 3}, "fileName"),
    ({"fileName": "a", "fileType": "image/tiff", "fileSize": 3}, "fileType"),
    ({"fileName": "a", "fileType": "image/png", "fileSize": 0}, "fileSize"),
    ({"fileName": "a", "fileType": "image/png", "fileSize": "3"}, "fileSize"),
    ({"fileName": "a", "fileType": "image/png", "fileSize": True}, "fileSize"),
])
def test_a_bad_files_request_is_400_naming_the_field(emu, http, body, field):
    answer = http.post(f"{emu.url}/files/", json=body, headers=AUTH)
    assert answer.status_code == 400 and f"'{field}'" in answer.json()["message"]


@pytest.mark.parametrize("file_type", ["application/pdf", "image/png", "image/jpg", "image/jpeg"])
def test_the_guide_file_types_are_accepted(emu, http, file_type):
    upload(http, emu, data=b"1234", file_type=file_type)


def test_bad_json_and_bad_jobs_are_400(emu, http):
    assert http.post(f"{emu.url}/jobs/", data=b"{nope", headers=AUTH).status_code == 400
    assert http.post(f"{emu.url}/jobs/", json=[1], headers=AUTH).status_code == 400
    answer = http.post(f"{emu.url}/jobs/", json={"documentCount": 0}, headers=AUTH)
    assert answer.status_code == 400
    assert "'documentCount'" in answer.json()["message"] and "'parentNode'" in answer.json()["message"]


def test_a_json_body_over_one_mib_is_413(emu, http):
    answer = http.post(f"{emu.url}/jobs/", data=b" " * (1024 * 1024 + 1), headers=AUTH)
    assert answer.status_code == 413


def test_status_rules_decide_failed_and_never(emu, http):
    ids = submit(http, emu, [upload(http, emu, n) for n in ("FAIL-scan", "stuck-1", "fine")])
    wait_for(lambda: status(http, emu, ids[2]) == "processed", message="processed")
    assert status(http, emu, ids[0]) == "failed"  # the glob is case-insensitive
    assert status(http, emu, ids[1]) == "processing"


def test_set_status_overrides_the_timeline(emu, http):
    [doc_id] = submit(http, emu, [upload(http, emu, "stuck-forever")])
    emu.set_status(doc_id, "waiting_for_review")
    assert status(http, emu, doc_id) == "waiting_for_review"
    with pytest.raises(KeyError):
        emu.set_status("ffffffffffffffffffffffff", "processed")


def test_unknown_things_are_404_and_wrong_methods_405(emu, http):
    assert http.get(f"{emu.url}/documents/ffffffffffffffffffffffff/beta/", headers=AUTH).status_code == 404
    assert http.get(f"{emu.url}/nothing/here", headers=AUTH).json()["message"]
    wrong = http.get(f"{emu.url}/jobs/", headers=AUTH)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST" and wrong.json()["message"]


def test_duplicate_count_counts_resubmitted_content(emu, http):
    submit(http, emu, [upload(http, emu, "a", b"same"), upload(http, emu, "b", b"other")])
    assert emu.duplicate_count() == 0
    submit(http, emu, [upload(http, emu, "a-again", b"same")])
    assert emu.duplicate_count() == 1


def test_one_connection_serves_many_requests_even_after_errors(emu):
    connection = HTTPConnection("127.0.0.1", emu.port, timeout=5)
    body = b'{"documentCount": 1, "parentNode": "n"}'
    for headers, expected in [({}, 401), (AUTH, 200), ({"ApiKey": "bad"}, 401), (AUTH, 200)]:
        connection.request("POST", "/api/v1/jobs/", body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        assert answer.status == expected
        assert answer.getheader("Connection") != "close"
    connection.request("GET", "/api/v1/nowhere", body=b"ignored body")
    assert connection.getresponse().status == 404
    connection.close()


def test_garbage_does_not_kill_the_server(emu, http):
    with socket.create_connection(("127.0.0.1", emu.port)) as raw:
        raw.sendall(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")
        raw.recv(1000)
    with socket.create_connection(("127.0.0.1", emu.port)) as raw:
        raw.sendall(b"POST /api/v1/jobs/ HTTP/1.1\r\nContent-Length: banana\r\nApiKey: test-key\r\n\r\n")
        assert b" 400 " in raw.recv(1000)
    assert http.post(f"{emu.url}/jobs/", json={"documentCount": 1, "parentNode": "n"}, headers=AUTH).ok


def test_stop_closes_kept_alive_connections_and_start_comes_back(http):
    emu = Emulator(api_keys=(KEY,)).start()
    url = emu.url
    assert http.post(f"{url}/jobs/", json={"documentCount": 1, "parentNode": "n"}, headers=AUTH).ok
    emu.stop()
    with pytest.raises(requests.ConnectionError):
        http.post(f"{url}/jobs/", json={"documentCount": 1, "parentNode": "n"}, headers=AUTH, timeout=2)
    with emu:  # back after the outage, same address, same records
        assert emu.url == url
        assert http.post(f"{url}/jobs/", json={"documentCount": 1, "parentNode": "n"}, headers=AUTH).ok
        assert len(emu.jobs()) == 2


def test_status_timeline():
    assert [status_at(age, 2.0, "processed") for age in (0, 0.99, 1.0, 1.99, 2.0, 50)] == [
        "queued", "queued", "processing", "processing", "processed", "processed"]
    assert status_at(1e9, 2.0, None) == "processing"
    assert status_at(0, 2.0, "processed", forced="exported") == "exported"


def test_final_status_rules_first_match_wins():
    rules = (("fail*", "failed"), ("*", None))
    assert final_status_for("Failed-scan", rules) == "failed"
    assert final_status_for("anything", rules) is None
    assert final_status_for("anything", ()) == "processed"


def test_count_duplicates():
    assert count_duplicates(["a", "b", "a", None, None, "a"]) == 2


def test_routes_tell_not_found_from_wrong_method():
    assert resolve("GET", "/api/v1/documents/batch/beta/").kind == "status"  # a document named "batch"
    assert resolve("POST", "/api/v1/documents/batch/abc").args == ("abc",)
    assert (resolve("PUT", "/api/v1/jobs/").status, resolve("PUT", "/api/v1/jobs/").allow) == (405, ("POST",))
    assert resolve("GET", "/api/v2/jobs/").status == 404
