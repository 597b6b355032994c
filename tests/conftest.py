"""Shared fixtures: the emulator on loopback, hot folders in a temp dir, and
the real daemon as a subprocess. Tests wait on conditions with deadlines."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sensetask_watch import samples
from sensetask_watch.emulator import Emulator

API_KEY = "test-key-0123456789"


def wait_for(condition, timeout: float = 30.0, interval: float = 0.02, message: str = "condition"):
    """Return the condition's first truthy value, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Hot:
    """A temp hot folder with done/, failed/ and a state_dir, and its config."""

    def __init__(self, root: Path):
        self.root = root
        self.inbox = root / "inbox"
        self.done = root / "done"
        self.failed = root / "failed"
        self.state = root / "state"
        self.processing = self.inbox / ".sensetask-processing"
        for path in (self.inbox, self.done, self.failed):
            path.mkdir()
        self.key_file = root / "api-key"
        self.key_file.write_text(API_KEY + "\n")
        self.config_path = root / "config.yaml"

    def write_config(self, api_url: str, **sections) -> Path:
        config = {
            "api": {"url": api_url, "key_file": str(self.key_file), "timeout_seconds": 5,
                    "connect_timeout_seconds": 2, "parallel_uploads": 4},
            "folders": [{"inbox": str(self.inbox), "done": str(self.done), "failed": str(self.failed),
                         "parent_node": "node-1"}],
            "watch": {"settle_seconds": 0.5, "rescan_interval_seconds": 5, "poll_interval_seconds": 0.5},
            "batch": {"quiet_seconds": 0.5, "max_files": 10, "max_wait_seconds": 5},
            "confirm": {"poll_interval_seconds": 0.2, "give_up_after_seconds": 60},
            "state_dir": str(self.state),
            "log_level": "debug",
        }
        for section, values in sections.items():
            if isinstance(values, dict) and isinstance(config.get(section), dict):
                config[section].update(values)
            else:
                config[section] = values
        self.config_path.write_text(json.dumps(config, indent=2))
        return self.config_path

    def drop(self, count: int, prefix: str = "doc") -> dict[str, bytes]:
        """Write `count` distinct PDFs into the inbox; return their contents by name."""
        contents = {f"{prefix}-{i:03d}.pdf": samples.pdf(f"{prefix} {i}") for i in range(count)}
        for name, content in contents.items():
            (self.inbox / name).write_bytes(content)
        return contents

    def names(self, folder: Path) -> list[str]:
        """The documents in a folder: no reports, no dotfiles (a report being written is one)."""
        return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".sensetask.json")
                      and not p.name.startswith("."))

    def report(self, folder: Path, name: str) -> dict:
        return json.loads((folder / (name + ".sensetask.json")).read_text())

    def filed(self) -> int:
        return len(self.names(self.done)) + len(self.names(self.failed))


class DaemonProcess:
    """`sensetask-watch run -c CONFIG` as a real subprocess, stderr to a file."""

    def __init__(self, config: Path, log_path: Path, honour_permissions: bool = False,
                 env: dict | None = None):
        self.log_path = log_path
        self.config = config
        # As root, file permissions do not stop the daemon; drop the capabilities that
        # override them, so a test can make a folder unwritable (setpriv: util-linux).
        prefix = []
        if honour_permissions and os.geteuid() == 0:
            caps = "-dac_override,-dac_read_search"
            prefix = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]
        extra = env or {}
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        for name in ("SENSETASK_API_KEY", "SENSETASK_WEBHOOK_SECRET", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                     "WATCHDOG_PID", "JOURNAL_STREAM", "CREDENTIALS_DIRECTORY"):
            env.pop(name, None)
        env.update(extra)
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(
            prefix + [sys.executable, "-m", "sensetask_watch", "run", "-c", str(config)],
            stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 30) -> None:
        wait_for(lambda: text in self.log(), timeout, message=f"log line {text!r}")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            # A SIGTERM during interpreter start-up would find no handler yet.
            wait_for(lambda: self.process.poll() is not None or "sensetask-watch started" in self.log(),
                     timeout, message="the daemon to finish starting")
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._log.close()

    def status(self) -> str:
        return subprocess.run([sys.executable, "-m", "sensetask_watch", "status", "-c", str(self.config)],
                              capture_output=True, text=True, timeout=30).stdout


@pytest.fixture
def emulator():
    emu = Emulator(api_keys=(API_KEY,), processing_seconds=0.3,
                   status_rules=(("fail*", "failed"), ("stuck*", None)))
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def http():
    """A requests session that ignores proxy settings: every test talks to loopback."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture
def hot(tmp_path) -> Hot:
    return Hot(tmp_path)


@pytest.fixture
def start_daemon(hot, tmp_path):
    started: list[DaemonProcess] = []

    def start(config: Path | None = None, **options) -> DaemonProcess:
        daemon = DaemonProcess(config or hot.config_path, tmp_path / f"daemon-{len(started)}.log", **options)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.stop()
