#!/usr/bin/env python3
"""Throughput and memory of the whole road: the real daemon (a subprocess)
against the emulator on loopback. Prints one table row per scenario.

    .venv/bin/python bench/throughput.py            # all scenarios
    .venv/bin/python bench/throughput.py --quick    # smaller counts

Columns: files and total MiB dropped; seconds from the first drop until every
file is in done/; files per second; the daemon's peak RSS (VmHWM) and CPU
seconds (user+system) over the run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from table import print_table

from sensetask_watch import samples
from sensetask_watch.emulator import Emulator

KEY = "bench-key"


def proc_stats(pid: int) -> tuple[float, float]:
    """(peak RSS MiB, CPU seconds) of a live process, from /proc."""
    rss = 0.0
    with open(f"/proc/{pid}/status") as stream:
        for line in stream:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, cpu


def scenario(name: str, count: int, size: int, max_files: int, parallel: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="st-bench-"))
    for sub in ("inbox", "done", "failed", "staging"):
        (root / sub).mkdir()
    (root / "key").write_text(KEY)
    emu = Emulator(api_keys=(KEY,), processing_seconds=0.2).start()
    config = {
        "api": {"url": emu.url, "key_file": str(root / "key"), "parallel_uploads": parallel},
        "folders": [{"inbox": str(root / "inbox"), "done": str(root / "done"),
                     "failed": str(root / "failed"), "parent_node": "bench"}],
        "watch": {"settle_seconds": 0.5, "rescan_interval_seconds": 30},
        "batch": {"quiet_seconds": 0.5, "max_files": max_files, "max_wait_seconds": 5},
        "confirm": {"poll_interval_seconds": 0.5},
        "state_dir": str(root / "state"), "log_level": "warning",
    }
    (root / "config.yaml").write_text(json.dumps(config))
    # Prepare the files outside the inbox, then rename them in (as a copy tool's final rename would).
    for i in range(count):
        body = samples.pdf(f"bench {i}", padding=max(0, size - 600))
        (root / "staging" / f"doc-{i:05d}.pdf").write_bytes(body)
    total = sum(p.stat().st_size for p in (root / "staging").iterdir())
    daemon = subprocess.Popen([sys.executable, "-m", "sensetask_watch", "run", "-c", str(root / "config.yaml")],
                              stderr=open(root / "daemon.log", "wb"))
    time.sleep(1.0)
    start = time.monotonic()
    for path in sorted((root / "staging").iterdir()):
        os.rename(path, root / "inbox" / path.name)
    deadline = start + 600
    while time.monotonic() < deadline:
        if sum(1 for p in (root / "done").iterdir() if p.suffix == ".pdf") == count:
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    rss, cpu = proc_stats(daemon.pid)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    documents = len(emu.documents())
    emu.stop()
    subprocess.run(["rm", "-rf", str(root)])
    return {"scenario": name, "files": count, "MiB": total / 2**20, "seconds": elapsed,
            "files/s": count / elapsed, "peak RSS MiB": rss, "CPU s": cpu, "documents": documents}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 4 if args.quick else 1
    rows = [
        scenario("small PDFs, batches of 20", 400 // scale, 2_000, 20, 4),
        scenario("small PDFs, batches of 100", 400 // scale, 2_000, 100, 8),
        scenario("20 MiB PDFs (streaming)", 20 // scale, 20 * 2**20, 20, 4),
    ]
    print_table(rows)


if __name__ == "__main__":
    main()
