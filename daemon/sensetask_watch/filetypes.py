"""Which files are ours: junk to leave alone, and supported documents by
extension AND content. Pure functions of a name and the file's first bytes."""

from __future__ import annotations

import dataclasses
import fnmatch
import os

# Left alone, never moved: what desktops, scanners and copy tools leave behind.
BUILTIN_IGNORE = (
    ".*",             # dotfiles, including .DS_Store and AppleDouble ._* files
    "Thumbs.db", "desktop.ini", "~$*",
    "*.tmp", "*.part", "*.partial", "*.crdownload", "*.swp", "*~",
)

# The guide's table: extension -> the fileType it sends (sic: image/jpg).
MIME_BY_EXTENSION = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpg",
    ".jpeg": "image/jpg",
}

HEAD_BYTES = 1024  # PDF readers accept the %PDF- header anywhere in the first KiB


def is_ignored(name: str, extra_patterns: tuple[str, ...] = ()) -> bool:
    """True for junk and dotfiles (built-in list, case-insensitive) and the admin's globs."""
    lowered = name.lower()
    if any(fnmatch.fnmatchcase(lowered, p.lower()) for p in BUILTIN_IGNORE):
        return True
    return any(fnmatch.fnmatch(name, p) for p in extra_patterns)


def _content_kind(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpg"
    if b"%PDF-" in head[:HEAD_BYTES]:
        return "application/pdf"
    return None


@dataclasses.dataclass(frozen=True)
class Verdict:
    mime: str | None     # the fileType to send, when the file is supported
    reason: str | None   # why it is refused, when it is not

    @property
    def supported(self) -> bool:
        return self.mime is not None


def classify(name: str, size: int, head: bytes) -> Verdict:
    """Decide whether a complete file may be uploaded, and as what."""
    extension = os.path.splitext(name)[1].lower()
    expected = MIME_BY_EXTENSION.get(extension)
    if expected is None:
        shown = extension or "no extension"
        return Verdict(None, f"unsupported file type ({shown}); SenseTask accepts .pdf, .png, .jpg and .jpeg")
    if size == 0:
        return Verdict(None, "the file is empty (0 bytes); check the scanner or the copy that produced it")
    found = _content_kind(head)
    if found != expected:
        what = f"looks like {found}" if found else "matches no PDF, PNG or JPEG signature"
        return Verdict(None, f"content does not match the {extension} extension: it {what}")
    return Verdict(expected, None)
