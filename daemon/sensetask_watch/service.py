"""Speaking systemd's language: the notify protocol (READY=1, STATUS=,
WATCHDOG=1, STOPPING=1, RELOADING=1) and the liveness checks behind each
watchdog ping.

systemd-python's `systemd.daemon.notify` is used when it is installed (the
Debian package depends on it); otherwise the same datagram is sent by hand,
so a plain pip install under systemd still works. Without NOTIFY_SOCKET
(not under systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

log = logging.getLogger("sensetask_watch")

try:  # pragma: no branch - which one depends on the installation
    from systemd import daemon as _systemd_daemon
except ImportError:  # a development install without systemd-python
    _systemd_daemon = None


def send_notify(socket_path: str, message: str) -> None:
    """The sd_notify protocol by hand: one datagram to $NOTIFY_SOCKET."""
    address = "\0" + socket_path[1:] if socket_path.startswith("@") else socket_path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())


class Notifier:
    def __init__(self, environ=os.environ):
        self.socket_path = environ.get("NOTIFY_SOCKET")
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_seconds = int(usec) / 1e6 if usec.isdigit() and mine else None
        self._last_status = None

    @property
    def enabled(self) -> bool:
        return bool(self.socket_path)

    def notify(self, message: str) -> None:
        if not self.socket_path:
            return
        try:
            # systemd-python reads $NOTIFY_SOCKET from os.environ itself: use it only
            # when that is the socket this notifier was given.
            if _systemd_daemon is not None and self.socket_path == os.environ.get("NOTIFY_SOCKET"):
                _systemd_daemon.notify(message)
            else:
                send_notify(self.socket_path, message)
        except OSError as error:
            log.warning("cannot notify systemd (%s): %s", self.socket_path, error)

    def status(self, text: str) -> None:
        if text != self._last_status:
            self._last_status = text
            self.notify(f"STATUS={text}")


class Heartbeats:
    """Each worker thread says when it last made progress; the supervisor asks
    whether any busy one has been silent for too long (a hung thread)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._beats: dict[str, float] = {}
        self._busy: dict[str, bool] = {}

    def beat(self, name: str, busy: bool = True) -> None:
        with self._lock:
            self._beats[name] = time.monotonic()
            self._busy[name] = busy

    def idle(self, name: str) -> None:
        self.beat(name, busy=False)

    def forget(self, name: str) -> None:
        with self._lock:
            self._beats.pop(name, None)
            self._busy.pop(name, None)

    def stalled(self, limit: float, now: float | None = None) -> list[tuple[str, float]]:
        """Busy threads silent for more than `limit` seconds, with how long."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return sorted((name, now - at) for name, at in self._beats.items()
                          if self._busy.get(name) and now - at > limit)

    def silent(self, name: str, limit: float, now: float | None = None) -> float | None:
        """How long `name` has been silent, if longer than `limit` (busy or not)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            at = self._beats.get(name)
        return None if at is None or now - at <= limit else now - at
