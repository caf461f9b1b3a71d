"""Visitors' attachments: recognising a file's type by its content, keeping it by SHA-256.

A browser's declared type is whatever the visitor's system guessed from the file name, so it is
never trusted alone: the first bytes decide (:func:`sniff`), and a file whose content is not an
accepted type, or is not what it claims to be, is refused. Files are kept under the channel's
``files_dir`` as ``<workspace>/<channel>/<sha256>`` (:func:`channel_directory`) with a
``<sha256>.json`` beside it (name, type, size), written to a temporary file first and renamed,
so a reader never sees half a file. Each channel reads its own directory only: several
channels, of one workspace or of many, may share a ``files_dir`` without seeing each other's
files, and a workspace's files can be counted on disk (:func:`stored_bytes`).
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from pathlib import Path

import anyio

from trunkline import Attachment
from trunkline.durable import write_file

from .protocol import SHA256

__all__ = [
    "KNOWN_TYPES",
    "FileRefused",
    "FileStore",
    "channel_directory",
    "check_type",
    "clean_filename",
    "earlier_layout_files",
    "sniff",
    "stored_bytes",
]

KNOWN_TYPES = (  # the types sniff() recognises; attachment_types must be among them
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
)
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_UNDECLARED = {"", "application/octet-stream"}
_TEXT_CONTROLS = {"\t", "\n", "\r", "\f"}
MAX_FILENAME = 200


class FileRefused(Exception):
    """An upload that is not kept; ``status`` is the HTTP status to answer (413, 415, 507…)."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds, for a 429


def sniff(data: bytes) -> str | None:
    """The type the content is, from its first bytes (or, for text, all of it); None if not
    one of :data:`KNOWN_TYPES`."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if _is_text(data):
        return "text/plain"
    return None


def _is_text(data: bytes) -> bool:
    if not data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(
        unicodedata.category(c) == "Cc" and c not in _TEXT_CONTROLS for c in text[:65536]
    )


def check_type(data: bytes, declared: str, accepted: tuple[str, ...]) -> str:
    """The content type to keep the file as; raises :class:`FileRefused` (415) when the content
    is not an accepted type or not the type the browser declared."""
    declared = declared.split(";", 1)[0].strip().lower()
    declared = _ALIASES.get(declared, declared)
    actual = sniff(data)
    listed = ", ".join(accepted)
    if actual is None:
        raise FileRefused(415, f"the file's content is not one of the accepted types ({listed})")
    if declared not in _UNDECLARED and declared != actual:
        raise FileRefused(
            415,
            f"the file is declared as {declared[:80]} but its content is {actual}; "
            f"accepted types: {listed}",
        )
    if actual not in accepted:
        raise FileRefused(415, f"files of type {actual} are not accepted (accepted: {listed})")
    return actual


def clean_filename(name: str) -> str:
    """A file name fit to show and to offer for download: no path, no control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip(" .")
    return name[:MAX_FILENAME] or "file"


class FileStore:
    """Files kept by the SHA-256 of their content in one directory (one channel's)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, sha256: str) -> Path:
        if not SHA256.fullmatch(sha256):
            raise ValueError(f"not a SHA-256: {sha256[:80]!r}")
        return self.directory / sha256

    async def save(self, data: bytes, filename: str, content_type: str) -> Attachment:
        """Keep ``data`` (already checked) and describe it; keeping it twice changes nothing
        but the name the next message gets it under."""
        attachment = Attachment(
            filename=clean_filename(filename),
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        await anyio.to_thread.run_sync(self._write, attachment, data)
        return attachment

    async def describe(self, sha256: str) -> Attachment | None:
        """The file kept under ``sha256``, or None when there is none."""
        if not SHA256.fullmatch(sha256):
            return None
        return await anyio.to_thread.run_sync(self._read_meta, sha256)

    def _write(self, attachment: Attachment, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(attachment.sha256)
        if not target.exists():
            write_file(target, data)
        meta = {
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "size": attachment.size,
        }
        write_file(target.with_suffix(".json"), json.dumps(meta).encode())

    def _read_meta(self, sha256: str) -> Attachment | None:
        path = self.path(sha256)
        try:
            meta = json.loads(path.with_suffix(".json").read_bytes())
            size = path.stat().st_size
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("size") != size:
            return None
        return Attachment(
            filename=str(meta.get("filename") or "file"),
            content_type=str(meta.get("content_type") or "application/octet-stream"),
            size=size,
            sha256=sha256,
        )


# Where files are kept -----------------------------------------------------------------------

_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def path_part(name: str) -> str:
    """``name`` as one path component: letters, digits, ``_`` and ``-`` stay, every other byte
    of its UTF-8 is written ``%XX`` (so ``..``, ``/`` or ``.`` can never leave the directory,
    and two names never share a component)."""
    return "".join(
        c if c in _PLAIN else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        for c in name
    )


def channel_directory(files_dir: Path, workspace: str, channel: str) -> Path:
    """The directory a channel keeps its files in: ``<files_dir>/<workspace>/<channel>``."""
    return files_dir / path_part(workspace) / path_part(channel)


def stored_bytes(workspace_directory: Path) -> int:
    """The bytes of the files (not their descriptions) kept under a workspace's directory,
    by all of its channels, also those no longer configured; 0 when there is none."""
    total = 0
    try:
        channels = list(os.scandir(workspace_directory))
    except OSError:
        return 0
    for channel in channels:
        try:
            if not channel.is_dir(follow_symlinks=False):
                continue
            with os.scandir(channel.path) as entries:
                for entry in entries:
                    if SHA256.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue  # removed while counting, or unreadable: nothing to count there
    return total


def earlier_layout_files(files_dir: Path) -> int:
    """How many files the earlier layout kept straight in ``files_dir`` (``<sha256>``, shared
    by every channel); they are no longer served (see the channel's documentation)."""
    try:
        with os.scandir(files_dir) as entries:
            return sum(1 for entry in entries if SHA256.fullmatch(entry.name))
    except OSError:
        return 0
