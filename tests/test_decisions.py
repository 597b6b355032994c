"""The pure decisions of the road, driven with a fake clock (plain numbers)."""

from sensetask_watch.batcher import BatchRules, Batcher
from sensetask_watch.confirm import ConfirmRules, decide
from sensetask_watch.filer import candidate_names
from sensetask_watch.filetypes import classify, is_ignored
from sensetask_watch.retry import backoff_delay
from sensetask_watch.api import ErrorKind, classify_status, parse_retry_after
from sensetask_watch.settle import Fingerprint, SettleTracker
from sensetask_watch.states import ALLOWED, FileState, TransitionError, check_transition
from sensetask_watch import samples
from sensetask_watch.watcher import choose_mode, filesystem_type

import itertools
import pytest


def test_file_is_settled_only_after_staying_unchanged_for_settle_seconds():
    tracker = SettleTracker(settle_seconds=5)
    tracker.observe("a.pdf", Fingerprint(100, 1, 7), now=0)
    assert tracker.settled(4.9) == []
    tracker.observe("a.pdf", Fingerprint(200, 2, 7), now=4.9)  # a page was added
    assert tracker.settled(9.8) == []
    assert tracker.next_deadline() == pytest.approx(9.9)
    tracker.observe("a.pdf", Fingerprint(200, 2, 7), now=9.0)  # unchanged: the clock keeps running
    assert tracker.settled(9.9) == [("a.pdf", Fingerprint(200, 2, 7))]


def test_replaced_file_with_new_inode_restarts_the_settle_clock():
    tracker = SettleTracker(settle_seconds=2)
    tracker.observe("a.pdf", Fingerprint(100, 1, 7), now=0)
    tracker.observe("a.pdf", Fingerprint(100, 1, 8), now=1.5)
    assert tracker.settled(2.5) == []
    assert tracker.settled(3.5) != []


def test_vanished_files_are_forgotten():
    tracker = SettleTracker(settle_seconds=1)
    tracker.observe("a.pdf", Fingerprint(1, 1, 1), now=0)
    tracker.observe("b.pdf", Fingerprint(1, 1, 2), now=0)
    tracker.retain_only({"b.pdf"})
    assert [n for n, _ in tracker.settled(5)] == ["b.pdf"]


RULES = BatchRules(quiet_seconds=3, max_files=3, max_wait_seconds=10)


def test_batch_closes_after_quiet_seconds():
    batcher = Batcher(RULES)
    batcher.add("scans", 1, now=0)
    batcher.add("scans", 2, now=2)
    assert batcher.take_closed(4.9) == []
    (batch, reason), = batcher.take_closed(5.0)
    assert batch.file_ids == [1, 2] and "quiet" in reason


def test_batch_never_grows_past_max_files():
    batcher = Batcher(RULES)
    for file_id in range(1, 8):
        batcher.add("scans", file_id, now=0)
    closed = batcher.take_closed(0)
    assert [b.file_ids for b, _ in closed] == [[1, 2, 3], [4, 5, 6]]
    assert batcher.waiting() == 1


def test_batch_closes_at_max_wait_even_while_files_keep_coming():
    batcher = Batcher(RULES)
    batcher.add("scans", 1, now=0)
    batcher.add("scans", 2, now=2.5)
    batcher.add("other", 9, now=2.5)
    assert batcher.take_closed(5.0) == []
    assert batcher.next_deadline() == pytest.approx(5.5)
    batcher = Batcher(BatchRules(quiet_seconds=3, max_files=100, max_wait_seconds=4))
    for t in range(5):
        batcher.add("scans", t, now=t)
    (batch, reason), = batcher.take_closed(4)
    assert "max_wait" in reason and len(batch.file_ids) == 5


def test_batches_are_per_folder():
    batcher = Batcher(RULES)
    batcher.add("a", 1, now=0)
    batcher.add("b", 2, now=0)
    assert sorted(b.folder for b, _ in batcher.take_closed(3)) == ["a", "b"]


def test_supported_types_need_matching_content():
    assert classify("x.pdf", 10, samples.pdf()).mime == "application/pdf"
    assert classify("X.PNG", 10, samples.png()).mime == "image/png"
    assert classify("x.JPeG", 10, samples.jpeg()).mime == "image/jpg"
    assert classify("x.jpg", 10, samples.jpeg()).mime == "image/jpg"
    mismatch = classify("x.pdf", 10, samples.png())
    assert not mismatch.supported and "does not match" in mismatch.reason
    assert "unsupported" in classify("x.docx", 10, b"PK..").reason
    assert "unsupported" in classify("README", 10, b"hi").reason
    assert "empty" in classify("x.pdf", 0, b"").reason


def test_junk_and_dotfiles_are_ignored_and_documents_are_not():
    for name in [".DS_Store", "._scan.pdf", "Thumbs.db", "thumbs.db", "desktop.ini", "~$report.pdf",
                 "upload.tmp", "scan.pdf.part", ".hidden.pdf"]:
        assert is_ignored(name), name
    for name in ["scan.pdf", "photo.JPG", "notes.txt"]:
        assert not is_ignored(name), name
    assert is_ignored("export.xml", ("*.xml",))


def test_collision_names_are_numbered():
    assert list(itertools.islice(candidate_names("scan.pdf"), 3)) == ["scan.pdf", "scan-1.pdf", "scan-2.pdf"]
    assert list(itertools.islice(candidate_names("README"), 2)) == ["README", "README-1"]


CONFIRM = ConfirmRules(10, 100, frozenset({"processed", "in_review"}), frozenset({"failed", "error"}))


def test_confirmation_decisions():
    assert decide("processed", 0, 1, CONFIRM)[0].value == "done"
    assert decide("in_review", 0, 1, CONFIRM)[0].value == "done"
    outcome, reason = decide("error", 0, 1, CONFIRM)
    assert outcome.value == "failed" and "'error'" in reason
    assert decide("processing", 0, 99, CONFIRM) == (None, None)
    outcome, reason = decide("processing", 0, 100, CONFIRM)
    assert outcome.value == "failed" and "gave up" in reason and "processing" in reason


def test_http_errors_are_sorted_into_kinds():
    for status in (408, 429, 500, 502, 503, 504):
        assert classify_status(status) is ErrorKind.TRANSIENT
    for status in (400, 404, 413, 422):
        assert classify_status(status) is ErrorKind.PERMANENT
    assert classify_status(401) is ErrorKind.AUTH
    assert classify_status(403, storage=True) is ErrorKind.UPLOAD_URL
    assert parse_retry_after("7") == 7.0 and parse_retry_after("Wed, 21 Oct 2015") is None


def test_backoff_grows_is_capped_and_honours_retry_after():
    assert backoff_delay(1, jitter=1.0) == 1.0
    assert backoff_delay(4, jitter=1.0) == 8.0
    assert backoff_delay(30, jitter=1.0) == 300.0
    assert backoff_delay(1, jitter=0.0) == 0.5
    assert backoff_delay(1, jitter=0.0, retry_after=20) == 20


def test_transition_table_is_enforced():
    check_transition(FileState.CLAIMED, FileState.BATCHED)
    with pytest.raises(TransitionError):
        check_transition(FileState.FILED, FileState.CLAIMED)
    with pytest.raises(TransitionError):
        check_transition(FileState.CLAIMED, FileState.SUBMITTED)
    assert all(FileState.FILED not in targets or state is FileState.CONFIRMED
               for state, targets in ALLOWED.items())


MOUNTS = """\
/dev/vda1 / ext4 rw 0 0
server:/export /srv/scans nfs4 rw 0 0
//nas/share /mnt/smb\\040share cifs rw 0 0
"""


def test_auto_mode_polls_network_filesystems():
    assert filesystem_type("/srv/scans/inbox", MOUNTS) == "nfs4"
    assert filesystem_type("/mnt/smb share/in", MOUNTS) == "cifs"
    assert filesystem_type("/srv/scansX", MOUNTS) == "ext4"
    assert choose_mode("auto", "nfs4") == "polling"
    assert choose_mode("auto", "cifs") == "polling"
    assert choose_mode("auto", "ext4") == "inotify"
    assert choose_mode("inotify", "nfs4") == "inotify"
