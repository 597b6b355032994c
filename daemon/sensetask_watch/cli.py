"""The `sensetask-watch` command: run, check-config, status, emulator, demo."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys

from . import __version__
from .errors import ExitCode, UserError

DESCRIPTION = """\
Watch hot folders for scanned documents (PDF, PNG, JPEG), submit each
complete file to the SenseTask API in batches, and once SenseTask has
processed it, move it to the folder's done/ or failed/ with a
NAME.sensetask.json report beside it."""

EPILOG = """\
exit status: 0 ok; 64 bad usage; 69 the webhook port cannot be had;
70 internal error; 73 cannot create the state or processing folder;
75 another daemon holds the state_dir; 78 bad configuration (systemd does
not restart on it).

The API key comes from the systemd credential api-key (LoadCredential=,
preferred), api.key_file, api.key or the environment variable
SENSETASK_API_KEY, and is never logged. Logs go to the journal:
journalctl -u sensetask-watch. See man sensetask-watch."""


def _config_arg(parser: argparse.ArgumentParser) -> None:
    from .config import DEFAULT_CONFIG_PATH
    parser.add_argument("-c", "--config", default=DEFAULT_CONFIG_PATH, metavar="FILE",
                        help=f"the YAML configuration file (default {DEFAULT_CONFIG_PATH})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sensetask-watch", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run the daemon (in the foreground, as systemd expects)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the daemon in the foreground. Files that arrived while it was down are taken at "
        "start;\nwork interrupted by a stop or a crash resumes from the journal in state_dir.\n\n"
        "signals:\n"
        "  SIGTERM, SIGINT  stop taking files, let running uploads finish (stop_timeout_seconds), exit 0;\n"
        "                   a second signal exits at once (nothing is lost)\n"
        "  SIGHUP           re-read the configuration (systemctl reload sensetask-watch); a broken one\n"
        "                   is refused and the running one stays\n\n"
        "Under systemd (Type=notify) it reports READY=1, a STATUS= line and watchdog pings, which stop\n"
        "when a worker thread hangs so that systemd restarts it.")
    _config_arg(run)

    check = commands.add_parser("check-config", help="validate the configuration and print it",
                                description="Validate the configuration (every problem is listed, "
                                "with its key path) and print the effective settings, secrets redacted.")
    _config_arg(check)

    status = commands.add_parser("status", help="show waiting, in-flight and filed files",
                                 description="Show what waits in each inbox, what is queued or at "
                                 "SenseTask (with document ids and last status), and how many files "
                                 "were filed to done/ and failed/. Works whether the daemon runs or not.")
    _config_arg(status)

    emulator = commands.add_parser("emulator", help="run the local SenseTask API emulator",
                                   description="Serve a faithful local SenseTask API for rehearsals "
                                   "and tests, with switches to inject faults.")
    from .emulator.cli import configure_parser
    configure_parser(emulator)

    demo = commands.add_parser("demo", help="show the whole road on sample files",
                               description="Start the emulator and the real daemon on a temporary hot "
                               "folder, drop sample files, show their progress and a summary.")
    demo.add_argument("--keep", action="store_true", help="keep the temporary folder for inspection")
    return parser


def _load(path: str, secrets: bool = True):
    from .config import load_config
    return load_config(path, secrets=secrets)


def cmd_run(args) -> int:
    from . import logs
    from .daemon import Daemon
    config = _load(args.config)
    logs.configure(config.log_level)
    daemon = Daemon(config)
    stops = {"count": 0}

    def on_signal(signum, frame) -> None:
        stops["count"] += 1
        if stops["count"] > 1:
            # Second signal: leave at once. Nothing is lost: every step taken is in the
            # journal, and what was cut off (an upload, a request) resumes at the next start.
            os._exit(ExitCode.OK)
        daemon.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, lambda signum, frame: daemon.request_reload())
    return daemon.run()


def cmd_check_config(args) -> int:
    import yaml
    from .config import effective_config
    config = _load(args.config)
    print(f"# {config.source}: configuration is valid. Effective settings (secrets redacted):")
    print(yaml.safe_dump(json.loads(json.dumps(effective_config(config))), sort_keys=False), end="")
    return 0


def cmd_status(args) -> int:
    from .status import report
    return report(_load(args.config, secrets=False), sys.stdout)


def cmd_emulator(args) -> int:
    from .emulator.cli import run
    return run(args)


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(keep=args.keep)


COMMANDS = {"run": cmd_run, "check-config": cmd_check_config, "status": cmd_status,
            "emulator": cmd_emulator, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    from .config import ConfigError
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return ExitCode.USAGE
    try:
        return int(COMMANDS[args.command](args))
    except ConfigError as error:
        print(f"sensetask-watch: {error}", file=sys.stderr)
        return ExitCode.CONFIG
    except UserError as error:
        print(f"sensetask-watch: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return ExitCode.OK
    except Exception:
        logging.getLogger("sensetask_watch").exception("internal error")
        return ExitCode.SOFTWARE
