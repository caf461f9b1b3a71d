"""What a workspace's web chat may take in, whoever asks: new chats a minute, upload storage.

A visitor chooses their id and a flood can come from many addresses, so the limits per visitor
and per address cannot bound what one workspace takes. These caps do, and they are shared by
every web-chat channel of a workspace in one runtime (:func:`caps_of`): a workspace with two
chat channels is not allowed twice as much. Each channel checks the shared count against its
own setting (``max_new_chats_per_minute``, ``max_upload_storage_bytes``), so a channel with a
lower cap refuses first.

- **New chats**: the contacts the workspace's web-chat channels started in the last minute (a
  message from a visitor with no open contact starts one), counted in memory.
- **Upload storage**: the bytes of the files kept for the workspace on disk
  (:func:`~trunkline_webchat.files.stored_bytes` over each of its channels' ``files_dir``),
  counted when the first upload after start-up arrives and again every
  :data:`RECOUNT_EVERY` seconds, so it survives restarts and sees files deleted by hand; in
  between each file kept adds its size.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

import anyio

from trunkline import Runtime

from .adapter import WebChatChannel
from .files import stored_bytes

__all__ = [
    "NEW_CHAT_WINDOW",
    "RECOUNT_EVERY",
    "WorkspaceCaps",
    "caps_of",
    "workspace_directories",
]

NEW_CHAT_WINDOW = 60.0  # seconds over which max_new_chats_per_minute counts new chats
RECOUNT_EVERY = 300.0  # seconds after which a workspace's stored files are counted again


class WorkspaceCaps:
    """The counts behind one workspace's caps (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._started: deque[float] = deque()
        self._stored: int | None = None
        self._counted_at = 0.0
        self._counting = anyio.Lock()

    def new_chat(self, limit: int) -> float:
        """Count one new chat: 0.0 when fewer than ``limit`` started in the last minute; else,
        counting nothing, the seconds until one more may start (more than zero)."""
        now = self.clock()
        started = self._started
        while started and started[0] <= now - NEW_CHAT_WINDOW:
            started.popleft()
        if len(started) >= limit:
            # The chats one channel's lower cap refuses must wait for all but limit - 1 to pass.
            return max(started[len(started) - limit] + NEW_CHAT_WINDOW - now, 0.001)
        started.append(now)
        return 0.0

    async def reserve(self, directories: Iterable[Path], size: int, limit: int) -> int | None:
        """Count ``size`` more bytes kept: None when the workspace's files stay within
        ``limit``; else, counting nothing, the bytes kept now. ``directories`` are the
        workspace's directories under each ``files_dir`` its channels use."""
        async with self._counting:
            now = self.clock()
            if self._stored is None or now - self._counted_at >= RECOUNT_EVERY:
                where = sorted(set(directories))
                self._stored = await anyio.to_thread.run_sync(_count, where)
                self._counted_at = now
        if self._stored + size > limit:
            return self._stored
        self._stored += size
        return None

    def release(self, size: int) -> None:
        """Uncount ``size`` bytes reserved for a file that was not kept after all."""
        if self._stored is not None:
            self._stored = max(0, self._stored - size)


def _count(directories: list[Path]) -> int:
    return sum(stored_bytes(directory) for directory in directories)


_CAPS: weakref.WeakKeyDictionary[Runtime, dict[str, WorkspaceCaps]] = weakref.WeakKeyDictionary()


def caps_of(runtime: Runtime, workspace: str) -> WorkspaceCaps:
    """The caps' counts of ``workspace`` in ``runtime`` (made on first use; gone with it)."""
    return _CAPS.setdefault(runtime, {}).setdefault(workspace, WorkspaceCaps())


def workspace_directories(runtime: Runtime, workspace: str) -> list[Path]:
    """The directories the workspace's web-chat channels keep files under, one per
    ``files_dir`` (``<files_dir>/<workspace>``)."""
    return sorted(
        {
            adapter.files.directory.parent
            for adapter in runtime.channels.values()
            if isinstance(adapter, WebChatChannel) and adapter.workspace == workspace
        }
    )
