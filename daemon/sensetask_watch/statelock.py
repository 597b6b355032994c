"""One daemon per state_dir: an flock on state_dir/daemon.lock, held for the
process's life, with the pid inside for `status`."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from .errors import ExitCode, UserError

LOCK_NAME = "daemon.lock"


class StateLock:
    """One daemon per state_dir: an flock held for the process's life."""

    def __init__(self, state_dir: Path):
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise UserError(f"another sensetask-watch is running with state_dir {self.path.parent} "
                                "(stop it first, or give this one its own state_dir)",
                                ExitCode.TEMPFAIL) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def is_running(state_dir: Path) -> int | None:
    """The pid of the daemon holding state_dir's lock, or None."""
    try:
        fd = os.open(state_dir / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        content = os.read(fd, 32).decode(errors="replace").strip()
        return int(content) if content.isdigit() else -1
    finally:
        os.close(fd)
    return None
