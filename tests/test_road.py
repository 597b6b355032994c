"""End to end: real inotify on temp folders, the real daemon as a subprocess,
real HTTP to the emulator on loopback, real SQLite and renames."""

from __future__ import annotations

import collections
import os
import time

from sensetask_watch import samples

from conftest import sha256, wait_for


def test_copied_file_ends_in_done_with_identical_bytes_and_the_emulators_document_id(emulator, hot, start_daemon):
    hot.write_config(emulator.url)
    daemon = start_daemon()
    daemon.wait_log("sensetask-watch started")
    content = samples.pdf("invoice 1", pages=3)
    (hot.inbox / "invoice.pdf").write_bytes(content)

    wait_for(lambda: (hot.done / "invoice.pdf.sensetask.json").exists(), message="invoice.pdf in done/")
    assert (hot.done / "invoice.pdf").read_bytes() == content
    report = hot.report(hot.done, "invoice.pdf")
    (document,) = emulator.documents()
    assert report["document_id"] == document["id"]
    assert report["outcome"] == "done" and report["status"] == "processed"
    assert report["sha256"] == sha256(content) == document["sha256"]
    assert document["fileName"] == "invoice" and document["fileType"] == "application/pdf"
    assert [u["sha256"] for u in emulator.uploads()] == [sha256(content)]
    assert emulator.duplicate_count() == 0
    assert hot.names(hot.inbox) == [] and os.listdir(hot.processing) == []
    assert daemon.stop() == 0


def test_thirty_files_dropped_within_a_second_form_batches_of_at_most_max_files(emulator, hot, start_daemon):
    hot.write_config(emulator.url, batch={"quiet_seconds": 1, "max_files": 8, "max_wait_seconds": 30})
    daemon = start_daemon()
    daemon.wait_log("sensetask-watch started")
    contents = {f"page-{i:02d}.png": samples.png(f"page {i}") for i in range(30)}
    for name, content in contents.items():
        (hot.inbox / name).write_bytes(content)

    wait_for(lambda: len(hot.names(hot.done)) == 30, timeout=60, message="30 files in done/")
    documents = emulator.documents()
    jobs = emulator.jobs()
    per_job = collections.Counter(d["job_id"] for d in documents)
    assert len(documents) == 30 and emulator.duplicate_count() == 0
    assert sorted(per_job) == sorted(j["id"] for j in jobs), "one job per batch, every job used"
    for job in jobs:
        assert job["documentCount"] == per_job[job["id"]] <= 8
        assert job["parentNode"] == "node-1"
    assert len(jobs) >= 4
    for name, content in contents.items():
        assert (hot.done / name).read_bytes() == content
    daemon.stop()


def test_file_written_slowly_is_uploaded_once_and_complete(emulator, hot, start_daemon):
    hot.write_config(emulator.url, watch={"settle_seconds": 2})
    daemon = start_daemon()
    daemon.wait_log("sensetask-watch started")
    pages = [samples.pdf(f"slow {i}") for i in range(6)]
    path = hot.inbox / "slow-scan.pdf"
    for page in pages:  # a page a second for five seconds, closing and reopening the file each time
        with open(path, "ab") as stream:
            stream.write(page)
        assert emulator.uploads() == []
        time.sleep(1)
    wait_for(lambda: (hot.done / "slow-scan.pdf.sensetask.json").exists(), message="slow-scan.pdf filed")
    whole = b"".join(pages)
    assert [u["sha256"] for u in emulator.uploads()] == [sha256(whole)]
    assert [d["fileSize"] for d in emulator.documents()] == [len(whole)]
    daemon.stop()


def test_files_present_before_start_are_processed_and_junk_symlinks_and_mismatches_never_uploaded(emulator, hot, start_daemon, tmp_path):
    good = samples.jpeg("before start")
    (hot.inbox / "early.JPG").write_bytes(good)
    junk = {".DS_Store": b"\0\0\0\1Bud1", "._early.JPG": b"\0\5\26\7", "Thumbs.db": b"x",
            "desktop.ini": b"[.ShellClassInfo]", "~$letter.pdf": b"lock", "upload.pdf.part": b"%PDF-1.4",
            ".hidden.pdf": samples.pdf("hidden")}
    for name, content in junk.items():
        (hot.inbox / name).write_bytes(content)
    outside = tmp_path / "outside.pdf"
    outside.write_bytes(samples.pdf("outside"))
    (hot.inbox / "link.pdf").symlink_to(outside)
    os.mkfifo(hot.inbox / "pipe.pdf")
    (hot.inbox / "notes.txt").write_bytes(b"not a document")
    (hot.inbox / "fake.pdf").write_bytes(samples.png("a png in disguise"))
    (hot.inbox / "empty.png").write_bytes(b"")
    hot.write_config(emulator.url)
    daemon = start_daemon()

    wait_for(lambda: len(hot.names(hot.failed)) == 3 and (hot.done / "early.JPG.sensetask.json").exists(),
             message="early.JPG done and three refusals failed")
    assert [d["sha256"] for d in emulator.documents()] == [sha256(good)]
    assert hot.names(hot.failed) == ["empty.png", "fake.pdf", "notes.txt"]
    assert "unsupported" in hot.report(hot.failed, "notes.txt")["reason"]
    assert "does not match" in hot.report(hot.failed, "fake.pdf")["reason"]
    assert "empty" in hot.report(hot.failed, "empty.png")["reason"]
    assert hot.report(hot.failed, "notes.txt")["document_id"] is None
    left_alone = sorted(set(os.listdir(hot.inbox)) - {".sensetask-processing"})
    assert left_alone == sorted(list(junk) + ["link.pdf", "pipe.pdf"])
    assert (hot.inbox / "link.pdf").is_symlink() and outside.exists()
    assert "ignoring symlink" in daemon.log()
    daemon.stop()


def test_failed_status_and_give_up_timeout_both_end_in_failed_with_the_reason(emulator, hot, start_daemon):
    hot.write_config(emulator.url, confirm={"poll_interval_seconds": 0.2, "give_up_after_seconds": 3})
    daemon = start_daemon()
    daemon.wait_log("sensetask-watch started")
    (hot.inbox / "fail-me.pdf").write_bytes(samples.pdf("fails"))
    (hot.inbox / "stuck-forever.png").write_bytes(samples.png("stuck"))
    (hot.inbox / "fine.pdf").write_bytes(samples.pdf("fine"))

    wait_for(lambda: len(hot.names(hot.failed)) == 2, timeout=30, message="two files in failed/")
    failed = hot.report(hot.failed, "fail-me.pdf")
    assert failed["outcome"] == "failed" and failed["status"] == "failed"
    assert "SenseTask reported status 'failed'" in failed["reason"] and failed["document_id"]
    stuck = hot.report(hot.failed, "stuck-forever.png")
    assert "gave up" in stuck["reason"] and "give_up_after_seconds" in stuck["reason"]
    wait_for(lambda: (hot.done / "fine.pdf.sensetask.json").exists(), message="fine.pdf done")
    daemon.stop()


def test_name_collision_in_done_keeps_both_files(emulator, hot, start_daemon):
    earlier = b"%PDF-1.4 an earlier scan with the same name"
    (hot.done / "scan.pdf").write_bytes(earlier)
    hot.write_config(emulator.url)
    daemon = start_daemon()
    daemon.wait_log("sensetask-watch started")
    first, second = samples.pdf("first"), samples.pdf("second")
    (hot.inbox / "scan.pdf").write_bytes(first)
    wait_for(lambda: (hot.done / "scan-1.pdf.sensetask.json").exists(), message="scan-1.pdf")
    (hot.inbox / "scan.pdf").write_bytes(second)
    wait_for(lambda: (hot.done / "scan-2.pdf.sensetask.json").exists(), message="scan-2.pdf")
    assert (hot.done / "scan.pdf").read_bytes() == earlier
    assert (hot.done / "scan-1.pdf").read_bytes() == first
    assert (hot.done / "scan-2.pdf").read_bytes() == second
    assert hot.report(hot.done, "scan-2.pdf")["original_name"] == "scan.pdf"
    daemon.stop()
