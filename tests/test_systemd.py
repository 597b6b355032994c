"""Playing systemd: a real notify socket, the daemon as a subprocess (and,
for the hung-thread case, in-process), READY/STATUS/WATCHDOG/STOPPING."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from sensetask_watch import samples
from sensetask_watch.config import load_config
from sensetask_watch.daemon import Daemon
from sensetask_watch.service import Notifier, send_notify

from conftest import wait_for


class NotifySocket:
    """What systemd listens on: an AF_UNIX datagram socket, and what came in."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def lines(self, prefix: str = "") -> list[str]:
        return [m for _, m in list(self.messages) if m.startswith(prefix)]

    def times(self, line: str) -> list[float]:
        return [t for t, m in list(self.messages) if m == line]

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def notify(tmp_path):
    listener = NotifySocket(tmp_path / "notify.sock")
    yield listener
    listener.close()


def test_daemon_tells_systemd_ready_status_watchdog_and_stopping(emulator, hot, start_daemon, notify):
    (hot.inbox / "before-start.pdf").write_bytes(samples.pdf("before start"))
    hot.write_config(emulator.url)
    daemon = start_daemon(env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"})

    wait_for(lambda: notify.lines("READY=1"), message="READY=1")
    assert "sensetask-watch started" in daemon.log()
    first_status = wait_for(lambda: notify.lines("STATUS="), message="a STATUS= line")[0]
    assert first_status.startswith("STATUS=1 waiting"), "READY comes after the start-up scan saw the file"
    wait_for(lambda: len(notify.lines("WATCHDOG=1")) >= 3, timeout=10, message="three watchdog pings")
    (hot.inbox / "later.png").write_bytes(samples.png("later"))
    wait_for(lambda: len(hot.names(hot.done)) == 2, message="both files done")
    wait_for(lambda: any("2 done, 0 failed; API ok" in line for line in notify.lines("STATUS=")),
             timeout=10, message="a STATUS= line counting both files")
    assert any("waiting" in line and "in flight" in line for line in notify.lines("STATUS="))
    assert daemon.stop() == 0
    assert notify.lines("STOPPING=1")
    assert notify.times("STOPPING=1")[0] > notify.times("READY=1")[0]


def test_a_hung_watcher_thread_stops_the_watchdog_pings(emulator, hot, notify, monkeypatch):
    hot.write_config(emulator.url)
    environ = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"}
    daemon = Daemon(load_config(hot.config_path, environ={}), environ=environ)
    hang, release = threading.Event(), threading.Event()
    original_hint = daemon.watcher.hint

    def hint(folder):  # the observer thread calls this for every inotify event
        if hang.is_set():
            release.wait()
        original_hint(folder)

    monkeypatch.setattr(daemon.watcher, "hint", hint)
    runner = threading.Thread(target=daemon.run)
    runner.start()
    try:
        wait_for(lambda: len(notify.lines("WATCHDOG=1")) >= 3, timeout=10, message="pings while healthy")
        hang.set()
        (hot.inbox / "wakes-the-watcher.pdf").write_bytes(samples.pdf("x"))
        wait_for(lambda: any(line.startswith("STATUS=stalled") for line in notify.lines("STATUS=")),
                 timeout=10, message="a stalled status")
        last_ping = notify.times("WATCHDOG=1")[-1]
        time.sleep(2.5)  # more than two watchdog intervals of 1 s
        assert notify.times("WATCHDOG=1")[-1] == last_ping, "no ping while the watcher hangs"
    finally:
        release.set()
        daemon.request_stop()
        runner.join(30)
    assert not runner.is_alive()


def test_notify_protocol_without_systemd_python(tmp_path, notify):
    send_notify(notify.path, "READY=1\nSTATUS=by hand")
    wait_for(lambda: notify.lines("STATUS=by hand"), message="a hand-made datagram")
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"sensetask-test-{os.getpid()}"
    abstract.bind("\0" + name)
    abstract.settimeout(5)
    try:
        send_notify("@" + name, "WATCHDOG=1")
        assert abstract.recv(100) == b"WATCHDOG=1"
    finally:
        abstract.close()
    assert Notifier({"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "30000000"}).watchdog_seconds == 30
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).watchdog_seconds is None
    assert not Notifier({}).enabled
