"""The emulator runs standalone: `python -m sensetask_watch.emulator`."""

from __future__ import annotations

import argparse
import os
import queue
import re
import signal
import subprocess
import sys
import threading

import pytest
import requests

from sensetask_watch.emulator import Emulator
from sensetask_watch.emulator.cli import configure_parser, run


def parse(*argv):
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return parser.parse_args(argv)


def start(*argv, env_key=None):
    env = {k: v for k, v in os.environ.items() if k != "SENSETASK_API_KEY"}
    if env_key:
        env["SENSETASK_API_KEY"] = env_key
    return subprocess.Popen([sys.executable, "-m", "sensetask_watch.emulator", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def first_line(process, timeout=15.0):
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    return lines.get(timeout=timeout)


def test_the_standalone_emulator_serves_until_sigterm():
    process = start("--port", "0", "--api-key", "k1", "--api-key", "k2", "--processing-seconds", "0.1",
                    "--rule", "bad*=failed", "--error-rate", "0")
    try:
        line = first_line(process)
        found = re.fullmatch(r"SenseTask emulator listening on (http://127\.0\.0\.1:\d+/api/v1) "
                             r"\(api key\(s\) configured: 2\)\n", line)
        assert found, line
        with requests.Session() as http:
            http.trust_env = False
            answer = http.post(f"{found.group(1)}/jobs/", json={"documentCount": 1, "parentNode": "n"},
                               headers={"ApiKey": "k2"}, timeout=5)
            assert answer.status_code == 200 and len(answer.json()["_id"]) == 24
            assert http.post(f"{found.group(1)}/jobs/", json={}, headers={"ApiKey": "k3"}, timeout=5).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()


def test_the_api_key_can_come_from_the_environment():
    process = start("--port", "0", env_key="from-env")
    try:
        assert "api key(s) configured: 1" in first_line(process)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()


def test_without_any_api_key_it_says_how_to_give_one():
    process = start("--port", "0")
    _, err = process.communicate(timeout=15)
    assert process.returncode == 2
    assert "--api-key" in err and "SENSETASK_API_KEY" in err and "Traceback" not in err


def test_options_parse_into_rules_and_faults():
    args = parse("--rule", "fail*=failed", "--rule", "slow=x*=never", "--drop-rate", "0.5", "--slow-seconds", "3")
    assert args.rules == [("fail*", "failed"), ("slow=x*", None)]
    assert (args.drop_rate, args.slow_seconds, args.port, args.host) == (0.5, 3.0, 8080, "127.0.0.1")


@pytest.mark.parametrize("argv", [("--rule", "nostatus"), ("--error-rate", "1.5"), ("--latency-seconds", "-1")])
def test_bad_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse(*argv)
    assert exit_.value.code == 2


def test_a_busy_port_is_one_clear_sentence(capsys):
    with Emulator() as busy:
        assert run(parse("--port", str(busy.port), "--api-key", "k")) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{busy.port}" in err and "Traceback" not in err
