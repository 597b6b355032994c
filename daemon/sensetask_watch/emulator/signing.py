"""Signed storage URLs, in the manner of S3 pre-signed URLs.

A URL carries its slot id, an expiry (unix seconds) and an HMAC-SHA256 of
both under a key that lives only in this emulator's memory.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from typing import Callable


class UrlSigner:
    def __init__(self, ttl_seconds: float, key: bytes | None = None, clock: Callable[[], float] = time.time) -> None:
        self.ttl_seconds = ttl_seconds
        self._key = key if key is not None else secrets.token_bytes(32)
        self._clock = clock

    def _mac(self, slot_id: str, expires: str) -> str:
        return hmac.new(self._key, f"{slot_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def query(self, slot_id: str) -> str:
        """The query string of a fresh URL for `slot_id`. With a ttl of 0 the
        URL is already expired (useful to rehearse a client's recovery)."""
        expires = str(math.floor(self._clock() + self.ttl_seconds))
        return f"expires={expires}&signature={self._mac(slot_id, expires)}"

    def refusal(self, slot_id: str, expires: str | None, signature: str | None) -> str | None:
        """Why a URL is refused, or None if it is valid."""
        if not expires or not signature:
            return "the URL is not signed (expires and signature are required)"
        if not hmac.compare_digest(self._mac(slot_id, expires).encode(), signature.encode()):
            return "the signature does not match"
        if not expires.isdigit() or self._clock() >= int(expires):
            return "the signed URL has expired"
        return None
