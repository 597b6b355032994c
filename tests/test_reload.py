"""Reload on SIGHUP: a broken configuration is refused and the running one
stays; a good one takes effect (a new hot folder watched, a removed one
released) without losing or resubmitting files in flight."""

from __future__ import annotations

import json
import signal

from sensetask_watch import samples

from conftest import wait_for


def test_sighup_with_a_broken_config_keeps_the_running_one(emulator, hot, start_daemon):
    hot.write_config(emulator.url)
    daemon = start_daemon()
    daemon.wait_log("sensetask-watch started")
    good = hot.config_path.read_text()
    hot.config_path.write_text(good.replace('"settle_seconds": 0.5', '"settle_seconds": "soon"'))
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_log("reload refused, the running configuration stays")
    assert "watch.settle_seconds" in daemon.log()
    (hot.inbox / "after.pdf").write_bytes(samples.pdf("after a refused reload"))
    wait_for(lambda: hot.names(hot.done) == ["after.pdf"], message="files still processed")
    assert daemon.process.poll() is None
    assert daemon.stop() == 0


def test_sighup_adds_and_releases_hot_folders_without_losing_files_in_flight(emulator, hot, start_daemon):
    hot.write_config(emulator.url, confirm={"poll_interval_seconds": 0.2, "give_up_after_seconds": 600})
    daemon = start_daemon()
    daemon.wait_log("sensetask-watch started")
    (hot.inbox / "stuck-in-flight.pdf").write_bytes(samples.pdf("in flight during the reload"))
    wait_for(lambda: emulator.documents(), message="the first file submitted")

    second = hot.root / "second"
    for sub in ("inbox", "done", "failed"):
        (second / sub).mkdir(parents=True)
    config = json.loads(hot.config_path.read_text())
    config["folders"] = [{"inbox": str(second / "inbox"), "done": str(second / "done"),
                          "failed": str(second / "failed"), "parent_node": "node-2", "name": "second"}]
    hot.config_path.write_text(json.dumps(config))
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_log("configuration reloaded")
    assert "added second" in daemon.log() and "removed inbox" in daemon.log()

    (second / "inbox" / "new-folder.png").write_bytes(samples.png("new folder"))
    wait_for(lambda: (second / "done" / "new-folder.png").exists(), message="a file of the new folder done")
    assert [j["parentNode"] for j in emulator.jobs()] == ["node-1", "node-2"]
    (hot.inbox / "ignored-now.pdf").write_bytes(samples.pdf("the old inbox is released"))

    stuck = emulator.documents()[0]["id"]
    emulator.set_status(stuck, "processed")
    wait_for(lambda: hot.names(hot.done) == ["stuck-in-flight.pdf"], message="the file in flight filed where it belongs")
    assert len(emulator.documents()) == 2 and emulator.duplicate_count() == 0
    assert (hot.inbox / "ignored-now.pdf").exists()
    assert daemon.stop() == 0
