"""`sensetask-watch demo`: the emulator and the real daemon (a subprocess, as
systemd would run it) on a temporary hot folder, with sample files whose fate
is known in advance. Shows the daemon's log as it happens, then a summary."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import samples
from .emulator import Emulator

API_KEY = "demo-key-not-secret"
DEADLINE_SECONDS = 90

# name -> (content, where it should end, why)
def _sample_files() -> dict[str, tuple[bytes, str, str]]:
    return {
        "invoice-2041.pdf": (samples.pdf("Invoice 2041", pages=2), "done", "a two-page PDF"),
        "receipt.PNG": (samples.png("receipt"), "done", "a PNG, extension in capitals"),
        "delivery-note.jpg": (samples.jpeg("delivery note"), "done", "a JPEG"),
        "contract-damaged.pdf": (samples.pdf("damaged"), "failed", "the emulator fails it"),
        "notes.txt": (b"call the supplier back\n", "failed", "unsupported type, never uploaded"),
        "scan-0007.pdf": (samples.png("not a pdf"), "failed", "PNG content named .pdf"),
        ".DS_Store": (b"\x00\x00\x00\x01Bud1", "inbox", "junk, left alone"),
    }


def _config(root: Path, api_url: str) -> Path:
    key_file = root / "api-key"
    key_file.write_text(API_KEY + "\n")
    key_file.chmod(0o600)
    config = {
        "api": {"url": api_url, "key_file": str(key_file), "timeout_seconds": 10, "parallel_uploads": 4},
        "folders": [{"inbox": str(root / "inbox"), "done": str(root / "done"),
                     "failed": str(root / "failed"), "parent_node": "demo-folder"}],
        "watch": {"settle_seconds": 1, "rescan_interval_seconds": 10},
        "batch": {"quiet_seconds": 1, "max_files": 10, "max_wait_seconds": 5},
        "confirm": {"poll_interval_seconds": 0.5, "give_up_after_seconds": 60},
        "state_dir": str(root / "state"),
    }
    path = root / "config.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def _where(root: Path, name: str) -> tuple[str, dict]:
    for place in ("done", "failed"):
        if (root / place / name).exists():
            report_path = root / place / (name + ".sensetask.json")
            report = json.loads(report_path.read_text()) if report_path.exists() else {}
            return place, report
    if (root / "inbox" / name).exists():
        return "inbox", {}
    return "processing", {}


def _relay(stream, out) -> None:
    for line in stream:
        out.write(f"  daemon | {line}")
        out.flush()


def run_demo(keep: bool = False, out=sys.stdout) -> int:
    root = Path(tempfile.mkdtemp(prefix="sensetask-demo-"))
    for sub in ("inbox", "done", "failed"):
        (root / sub).mkdir()
    files = _sample_files()
    emulator = Emulator(api_keys=(API_KEY,), processing_seconds=2.0,
                        status_rules=(("*damaged*", "failed"),)).start()
    print(f"SenseTask emulator on {emulator.url}; hot folder {root / 'inbox'}", file=out)
    config = _config(root, emulator.url)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("SENSETASK_API_KEY", None)
    daemon = subprocess.Popen([sys.executable, "-m", "sensetask_watch", "run", "-c", str(config)],
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    relay = threading.Thread(target=_relay, args=(daemon.stderr, out), daemon=True)
    relay.start()
    try:
        time.sleep(1.0)  # let it list the empty folder; files may come at any time anyway
        for name, (content, _, why) in files.items():
            print(f"drop {name:<22} ({why})", file=out)
            (root / "inbox" / name).write_bytes(content)
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline and daemon.poll() is None:
            if all(_where(root, n)[0] == expected for n, (_, expected, _) in files.items()):
                break
            time.sleep(0.3)
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        relay.join(timeout=5)
        emulator.stop()

    print("\nsummary", file=out)
    rows, ok = [], True
    for name, (_, expected, _) in files.items():
        place, report = _where(root, name)
        good = place == expected
        ok &= good
        detail = report.get("reason") or report.get("status") or ("left alone" if place == "inbox" else "")
        rows.append((name, expected, place, "ok" if good else "UNEXPECTED",
                     report.get("document_id") or "-", detail))
    headers = ("file", "expected", "ended in", "", "document", "status / reason")
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    for row in [headers] + rows:
        print("  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip(), file=out)
    uploaded = len(emulator.documents())
    print(f"\nthe emulator received {uploaded} document(s); daemon exit status {daemon.returncode}", file=out)
    if keep:
        print(f"kept {root}", file=out)
    else:
        shutil.rmtree(root, ignore_errors=True)
    result = ok and daemon.returncode == 0
    print("demo " + ("succeeded: every file ended where expected" if result else "FAILED"), file=out)
    return 0 if result else 1
