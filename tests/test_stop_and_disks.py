"""Stopping cleanly, and files and disks misbehaving: an unwritable done/,
an unreadable or deleted file, a crash half-way through filing."""

from __future__ import annotations

import os
import signal
import time

from sensetask_watch import samples
from sensetask_watch.filer import file_away
from sensetask_watch.journal import Journal
from sensetask_watch.states import FileState, Outcome

from conftest import sha256, wait_for




def test_done_made_unwritable_mid_run_files_wait_then_land(emulator, hot, start_daemon):
    hot.write_config(emulator.url)
    daemon = start_daemon(honour_permissions=True)
    daemon.wait_log("sensetask-watch started")
    hot.drop(2, "before")
    wait_for(lambda: len(hot.names(hot.done)) == 2, message="the first files done")
    hot.done.chmod(0o555)
    try:
        contents = hot.drop(3)
        wait_for(lambda: "confirmed, waiting to be filed: 3" in daemon.status(),
                 message="three confirmed files waiting to be filed")
        time.sleep(6)  # past one retry of the filer, to show the cause is logged once per file
        log = daemon.log()
        assert log.count("cannot file doc-000.pdf") == 1 and "Permission denied" in log
        assert hot.names(hot.failed) == [] and len(os.listdir(hot.processing)) == 3
    finally:
        hot.done.chmod(0o755)
    wait_for(lambda: len(hot.names(hot.done)) == 5, message="the waiting files filed once writable")
    for name, content in contents.items():
        assert (hot.done / name).read_bytes() == content
    assert os.listdir(hot.processing) == []
    assert daemon.stop() == 0


def test_sigterm_during_uploads_exits_0_within_the_stop_limit_and_the_next_start_finishes(emulator, hot, start_daemon):
    emulator.faults.latency_seconds = 3  # every request takes 3 s: uploads are running when the stop comes
    hot.write_config(emulator.url, stop_timeout_seconds=4)
    daemon = start_daemon()
    daemon.wait_log("sensetask-watch started")
    contents = hot.drop(4)
    daemon.wait_log("closed with 4 file(s)")
    time.sleep(0.5)
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=4 + 5) == 0  # the stop limit, and a margin for a busy machine
    assert "stop limit of 4s" in daemon.log()
    assert hot.names(hot.done) == [] and hot.names(hot.failed) == []

    emulator.faults.latency_seconds = 0
    daemon = start_daemon()
    wait_for(lambda: len(hot.names(hot.done)) == 4, message="the next start finishing the work")
    assert emulator.duplicate_count() == 0
    assert {d["sha256"] for d in emulator.documents()} == {sha256(c) for c in contents.values()}
    assert daemon.stop() == 0


def test_second_signal_exits_at_once_and_nothing_is_lost(emulator, hot, start_daemon):
    emulator.faults.latency_seconds = 5
    hot.write_config(emulator.url, stop_timeout_seconds=60)
    daemon = start_daemon()
    daemon.wait_log("sensetask-watch started")
    hot.drop(2)
    daemon.wait_log("closed with 2 file(s)")
    daemon.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=4) == 0  # well before the 60 s limit and the 5 s requests

    emulator.faults.latency_seconds = 0
    daemon = start_daemon()
    wait_for(lambda: len(hot.names(hot.done)) == 2, message="both files done after the restart")
    assert daemon.stop() == 0


def test_unreadable_file_waits_in_the_inbox_with_one_log_line_until_readable(emulator, hot, start_daemon):
    hot.write_config(emulator.url)
    locked = hot.inbox / "locked.pdf"
    locked.write_bytes(samples.pdf("locked"))
    locked.chmod(0o000)
    daemon = start_daemon(honour_permissions=True)
    hot.drop(1)
    wait_for(lambda: len(hot.names(hot.done)) == 1, message="the readable file done")
    daemon.wait_log("cannot read")
    time.sleep(1.5)  # several settle periods: the cause is still logged only once
    assert daemon.log().count("cannot read") == 1 and locked.exists()
    locked.chmod(0o644)
    wait_for(lambda: (hot.done / "locked.pdf").exists(), message="locked.pdf done once readable")
    assert daemon.stop() == 0


def test_file_deleted_from_processing_while_queued_gets_a_report_in_failed(emulator, hot, start_daemon):
    hot.write_config(emulator.url)
    emulator.faults.refuse_all = True  # hold the batch before its uploads
    daemon = start_daemon()
    hot.drop(2)
    wait_for(lambda: hot.processing.exists() and len(os.listdir(hot.processing)) == 2, message="two files claimed")
    daemon.wait_log("try 2 in")
    victim = next(p for p in hot.processing.iterdir() if p.name.endswith("doc-000.pdf"))
    victim.unlink()
    emulator.faults.refuse_all = False
    wait_for(lambda: (hot.done / "doc-001.pdf").exists() and (hot.failed / "doc-000.pdf.sensetask.json").exists(),
             timeout=60, message="doc-001 done and doc-000's report in failed/")
    assert "removed from the processing area" in hot.report(hot.failed, "doc-000.pdf")["reason"]
    assert len(emulator.documents()) == 1
    assert daemon.stop() == 0


def test_filing_resumed_after_a_crash_between_link_and_journal_keeps_one_copy(tmp_path):
    for sub in ("processing", "done", "failed", "state"):
        (tmp_path / sub).mkdir()
    source = tmp_path / "processing" / "0123abcd--scan.pdf"
    content = samples.pdf("half filed")
    source.write_bytes(content)
    journal = Journal(tmp_path / "state")
    stat = source.stat()
    file_id = journal.claim(folder="f", name="scan.pdf", processing_path=str(source), size=len(content),
                            mtime_ns=stat.st_mtime_ns, inode=stat.st_ino, sha256=sha256(content),
                            mime="application/pdf", now=time.time())
    record = journal.transition(file_id, FileState.CONFIRMED, time.time(), outcome=Outcome.DONE)
    # What a first attempt did before the power went: chose the name, linked the file.
    record = journal.update(file_id, time.time(), final_path=str(tmp_path / "done" / "scan.pdf"))
    os.link(source, tmp_path / "done" / "scan.pdf")

    file_away(journal, record, tmp_path / "done", tmp_path / "failed")
    assert sorted(os.listdir(tmp_path / "done")) == ["scan.pdf", "scan.pdf.sensetask.json"]
    assert not source.exists() and journal.get(file_id).state is FileState.FILED

    # And when the crash came after the processing copy was already removed:
    source.write_bytes(content)
    second = journal.claim(folder="f", name="scan.pdf", processing_path=str(source), size=len(content),
                           mtime_ns=0, inode=0, sha256=sha256(content), mime="application/pdf", now=time.time())
    journal.transition(second, FileState.CONFIRMED, time.time(), outcome=Outcome.DONE)
    record = journal.update(second, time.time(), final_path=str(tmp_path / "done" / "scan-1.pdf"))
    os.link(source, tmp_path / "done" / "scan-1.pdf")
    source.unlink()
    file_away(journal, record, tmp_path / "done", tmp_path / "failed")
    assert sorted(os.listdir(tmp_path / "done")) == ["scan-1.pdf", "scan-1.pdf.sensetask.json",
                                                     "scan.pdf", "scan.pdf.sensetask.json"]
    assert journal.get(second).reason is None
    journal.close()
