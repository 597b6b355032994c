"""Exit codes (sysexits.h, as systemd and admins know them) and the errors
that map to them. systemd's unit stops restarting on 78 (bad configuration)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 64
    UNAVAILABLE = 69      # the webhook port cannot be had
    SOFTWARE = 70         # a bug of ours
    CANT_CREATE = 73      # state_dir or the processing area cannot be created
    TEMPFAIL = 75         # another daemon holds the state directory
    CONFIG = 78           # bad configuration: fix it before restarting


class UserError(Exception):
    """A problem the admin can fix; the message names the thing and the fix."""

    exit_code = ExitCode.FAILURE

    def __init__(self, message: str, exit_code: ExitCode | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
