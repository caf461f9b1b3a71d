"""Attachments and raw messages kept on disk by the SHA-256 of their content.

A file is written to a temporary name in the same directory, flushed to disk and renamed, so
a reader never sees half a file and a crash leaves either the whole file or nothing. The same
content is kept once, however many messages carry it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from trunkline.durable import write_file

__all__ = ["BlobStore"]


class BlobStore:
    """Content-addressed files under one directory: ``<dir>/<sha256>``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"{sha256!r} is not a SHA-256 in lower-case hex")
        return self.directory / sha256

    def put(self, data: bytes) -> str:
        """Keep ``data`` durably; return its SHA-256. Idempotent."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        self.directory.mkdir(parents=True, exist_ok=True)
        write_file(target, data)
        return digest

    def get(self, sha256: str) -> bytes:
        """The content with this hash; FileNotFoundError when it is not kept here."""
        return self.path(sha256).read_bytes()
