"""Command line of the standalone emulator.

The main CLI mounts it as `sensetask-watch emulator` (configure_parser + run);
`python -m sensetask_watch.emulator` builds its own parser from the same parts.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .app import DEFAULT_STATUS_RULES, Emulator

API_KEY_ENV = "SENSETASK_API_KEY"
_FAULT_OPTIONS = (
    ("error_rate", "answer 500 or 503 to this fraction of requests, before acting"),
    ("throttle_rate", "answer 429 with Retry-After to this fraction of requests, before acting"),
    ("drop_rate", "hang up without answering on this fraction of requests, before acting"),
    ("drop_after_rate", "act, then hang up without answering, on this fraction of requests"),
    ("garbage_rate", "act, then answer 200 with an HTML page instead of JSON, on this fraction of requests"),
    ("slow_rate", "act, then wait --slow-seconds before answering, on this fraction of requests"),
)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _rule(text: str) -> tuple[str, str | None]:
    glob, sep, status = text.rpartition("=")
    if not sep or not glob or not status:
        raise argparse.ArgumentTypeError(f"expected GLOB=STATUS (e.g. 'fail*=failed'), got {text!r}")
    return glob, None if status == "never" else status


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to `parser`."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one (default: %(default)s)")
    parser.add_argument(
        "--api-key", dest="api_keys", action="append", metavar="KEY",
        help=f"an API key the emulator accepts (repeatable; default: ${API_KEY_ENV})",
    )
    parser.add_argument(
        "--processing-seconds", type=_seconds, default=2.0,
        help="time from a document's creation to its final status (default: %(default)s)",
    )
    parser.add_argument(
        "--url-ttl-seconds", type=_seconds, default=600.0,
        help="lifetime of signed upload URLs (default: %(default)s)",
    )
    default_rules = ", ".join(f"{g}={s or 'never'}" for g, s in DEFAULT_STATUS_RULES)
    parser.add_argument(
        "--rule", dest="rules", action="append", type=_rule, metavar="GLOB=STATUS",
        help="final status of documents whose name matches GLOB (case-insensitive); STATUS 'never' "
        f"keeps them processing forever; first match wins; others end 'processed' "
        f"(repeatable; default: {default_rules})",
    )
    parser.add_argument("--webhook-url", help="POST document.processed events to this URL")
    parser.add_argument("--webhook-secret", help="send this in the x-sense-secret header of webhook events")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault dice and ids (default: %(default)s)")
    parser.add_argument("--storage-dir", help="keep uploaded files here (default: keep only their sha256)")
    faults = parser.add_argument_group("faults (rates are fractions from 0 to 1)")
    for name, help_text in _FAULT_OPTIONS:
        faults.add_argument("--" + name.replace("_", "-"), type=_rate, default=0.0, metavar="RATE", help=help_text)
    faults.add_argument(
        "--retry-after-seconds", type=_seconds, default=1.0, help="Retry-After of throttled answers (default: %(default)s)"
    )
    faults.add_argument("--slow-seconds", type=_seconds, default=30.0, help="delay of slow answers (default: %(default)s)")
    faults.add_argument("--latency-seconds", type=_seconds, default=0.0, help="delay added to every request")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; returns the exit status."""
    env_key = os.environ.get(API_KEY_ENV)
    keys = args.api_keys or ([env_key] if env_key else [])
    if not keys:
        print(f"sensetask-watch emulator: no API key: pass --api-key KEY or set {API_KEY_ENV}.", file=sys.stderr)
        return 2
    emulator = Emulator(
        host=args.host,
        port=args.port,
        api_keys=keys,
        processing_seconds=args.processing_seconds,
        url_ttl_seconds=args.url_ttl_seconds,
        status_rules=args.rules if args.rules else DEFAULT_STATUS_RULES,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        seed=args.seed,
        storage_dir=args.storage_dir,
    )
    for name in [n for n, _ in _FAULT_OPTIONS] + ["retry_after_seconds", "slow_seconds", "latency_seconds"]:
        setattr(emulator.faults, name, getattr(args, name))
    stop = threading.Event()
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):  # before the line that says we are up
        try:
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
        except ValueError:  # not the main thread: rely on KeyboardInterrupt
            pass
    try:
        try:
            emulator.start()
        except OSError as exc:
            print(f"sensetask-watch emulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}.",
                  file=sys.stderr)
            return 1
        print(f"SenseTask emulator listening on {emulator.url} (api key(s) configured: {len(keys)})", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        emulator.stop()
    return 0
