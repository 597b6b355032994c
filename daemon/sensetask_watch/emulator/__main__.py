"""`python -m sensetask_watch.emulator`: run the emulator standalone."""

import argparse
import logging

from .cli import configure_parser, run


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sensetask_watch.emulator",
        description="Serve a local SenseTask API emulator until interrupted.",
    )
    configure_parser(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
