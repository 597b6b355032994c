"""The command line as an admin meets it: bad configuration, check-config,
status while running and after, and the demo."""

from __future__ import annotations

import subprocess
import sys

from sensetask_watch import samples

from conftest import API_KEY, wait_for


def cli(*args, timeout=60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sensetask_watch", *args], capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def test_bad_configuration_lists_every_problem_with_its_key_path_and_exits_78(hot, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"""
api:
  url: http://127.0.0.1:9/api/v1
  key_file: {hot.key_file}
  parallel_uploads: many
  colour: blue
folders:
  - inbox: {tmp_path}/no-such-inbox
    done: {hot.done}
    failed: {hot.failed}
    parent_node: node-1
watch:
  mode: sometimes
batch:
  max_files: 0
surprise: true
""")
    for command in ("run", "check-config"):
        result = cli(command, "-c", str(bad))
        assert result.returncode == 78, result.stderr
        for path in ("api.parallel_uploads", "api.colour", "folders[0].inbox", "watch.mode",
                     "batch.max_files", "surprise"):
            assert f"'{path}'" in result.stderr, (path, result.stderr)
        assert "Traceback" not in result.stderr


def test_check_config_prints_the_effective_settings_without_the_key(emulator, hot):
    hot.write_config(emulator.url)
    result = cli("check-config", "-c", str(hot.config_path))
    assert result.returncode == 0, result.stderr
    assert "settle_seconds" in result.stdout and "max_wait_seconds" in result.stdout
    assert API_KEY not in result.stdout + result.stderr


def test_status_shows_in_flight_documents_while_running_and_counts_after(emulator, hot, start_daemon):
    hot.write_config(emulator.url, confirm={"poll_interval_seconds": 0.2, "give_up_after_seconds": 600})
    daemon = start_daemon()
    daemon.wait_log("sensetask-watch started")
    (hot.inbox / "stuck-a.pdf").write_bytes(samples.pdf("waiting"))
    (hot.inbox / "ok.png").write_bytes(samples.png("ok"))
    wait_for(lambda: len(emulator.documents()) == 2, message="two documents at the emulator")
    wait_for(lambda: (hot.done / "ok.png").exists(), message="ok.png done")
    stuck_id = next(d["id"] for d in emulator.documents() if d["fileName"] == "stuck-a")

    def status_shows_stuck() -> str | None:
        out = cli("status", "-c", str(hot.config_path)).stdout
        return out if stuck_id in out and "processing" in out else None

    running = wait_for(status_shows_stuck, message="status naming the stuck document")
    assert "running (pid" in running and "stuck-a.pdf" in running and "1 done, 0 failed" in running
    assert API_KEY not in running
    assert daemon.stop() == 0
    stopped = cli("status", "-c", str(hot.config_path)).stdout
    assert "not running" in stopped and stuck_id in stopped


def test_a_second_daemon_on_the_same_state_dir_is_refused(emulator, hot, start_daemon):
    hot.write_config(emulator.url)
    first = start_daemon()
    first.wait_log("sensetask-watch started")
    result = cli("run", "-c", str(hot.config_path), timeout=30)
    assert result.returncode == 75 and "another sensetask-watch is running" in result.stderr


def test_demo_runs_to_completion():
    result = cli("demo", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo succeeded" in result.stdout
    for name in ("invoice-2041.pdf", "receipt.PNG", "delivery-note.jpg", "notes.txt", "contract-damaged.pdf"):
        assert name in result.stdout
