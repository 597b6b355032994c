"""Claiming a settled file: rename it atomically out of the inbox into the
processing area (same filesystem), then read it once for its hash and type,
and record it in the journal."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from pathlib import Path

from .filetypes import HEAD_BYTES, Verdict, classify
from .journal import Journal
from .settle import Fingerprint

log = logging.getLogger("sensetask_watch")

CHUNK = 1024 * 1024


def processing_name(name: str) -> str:
    """A unique name in the processing area that still shows the original."""
    return f"{secrets.token_hex(4)}--{name}"


def original_name(processing_file: str) -> str:
    head, sep, tail = processing_file.partition("--")
    return tail if sep and len(head) == 8 else processing_file


def digest(path: Path) -> tuple[str, bytes, int]:
    """sha256, first bytes and size of a file, read once in chunks."""
    sha = hashlib.sha256()
    head = b""
    size = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            if len(head) < HEAD_BYTES:
                head += chunk[:HEAD_BYTES - len(head)]
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), head, size


def claim(journal: Journal, folder: str, inbox: Path, processing: Path, name: str,
          fingerprint: Fingerprint) -> tuple[int, Verdict] | None:
    """Take one settled file; None if it changed or vanished since it was seen."""
    source = inbox / name
    try:
        if Fingerprint.of(os.lstat(source)) != fingerprint:
            return None
        with open(source, "rb"):
            pass  # unreadable files stay in the inbox (PermissionError to the caller)
        target = processing / processing_name(name)
        os.rename(source, target)
    except FileNotFoundError:
        return None
    fsync_dir(processing)  # the rename must survive a power cut before the journal names it
    return record_claimed(journal, folder, target, name)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def record_claimed(journal: Journal, folder: str, path: Path, name: str) -> tuple[int, Verdict]:
    """Hash and check a file in the processing area, and record it CLAIMED."""
    before = os.stat(path)
    sha256, head, size = digest(path)
    verdict = classify(name, size, head)
    file_id = journal.claim(folder=folder, name=name, processing_path=str(path), size=size,
                            mtime_ns=before.st_mtime_ns, inode=before.st_ino, sha256=sha256,
                            mime=verdict.mime, now=time.time())
    log.info("claimed %s (%d bytes, sha256 %s) from %s", name, size, sha256[:12], folder)
    return file_id, verdict
