"""What a workspace's web chat may take in, whoever asks: new chats a minute, upload storage.

A visitor chooses their id and a flood can come from many addresses, so the limits per visitor
and per address cannot bound what one workspace takes. These caps do, and they are shared by
every web-chat channel of a workspace in one runtime (:func:`caps_of`): a workspace with two
chat channels is not allowed twice as much. Each channel checks the shared count against its
own setting (``max_new_chats_per_minute``, ``max_upload_storage_bytes``), so a channel with a
lower cap refuses first.

- **New chats**: the contacts the workspace's web-chat channels started in the last minute (the
  runtime's Ack says when a message started one), counted in memory, with the first messages
  of sockets being stored meanwhile. Only when that reaches the cap is the store asked whether
  the visitor has an open contact (who may go on), so a message costs no lookup in the
  ordinary case.
- **Upload storage**: the bytes of the files kept for the workspace on disk
  (:func:`~trunkline_webchat.files.stored_bytes` over each of its channels' ``files_dir``),
  counted when the first upload after start-up arrives and again every
  :data:`RECOUNT_EVERY` seconds, so it survives restarts and sees files deleted by hand; in
  between each file kept adds its size.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import anyio

from trunkline import PluginRuntime

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
STORING_WAIT = 1.0  # seconds to wait when the cap is full of messages still being stored


class WorkspaceCaps:
    """The counts behind one workspace's caps (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._started: deque[float] = deque()
        self._starting = 0
        self._stored: int | None = None
        self._counted_at = 0.0
        self._counting = anyio.Lock()

    def room_for_new_chats(self, limit: int) -> float:
        """0.0 while fewer than ``limit`` new chats started in the last minute or are being
        started (:meth:`starting`); else the seconds until that is so again (more than 0)."""
        now = self.clock()
        started = self._started
        while started and started[0] <= now - NEW_CHAT_WINDOW:
            started.popleft()
        if len(started) + self._starting < limit:
            return 0.0
        if len(started) < limit:  # filled by messages being stored: known in a moment
            return STORING_WAIT
        # A channel with a lower cap waits for all but limit - 1 of the chats to pass.
        return max(started[len(started) - limit] + NEW_CHAT_WINDOW - now, 0.001)

    @contextlib.contextmanager
    def starting(self, maybe_new: bool) -> Iterator[None]:
        """While the runtime stores a message that ``maybe_new`` starts a new chat (the first
        of its socket), hold a place for it, so messages stored at once cannot all pass."""
        self._starting += maybe_new
        try:
            yield
        finally:
            self._starting -= maybe_new

    def started(self) -> None:
        """A new chat was started (the runtime's Ack said ``new_contact``)."""
        self._started.append(self.clock())

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


_CAPS: weakref.WeakKeyDictionary[PluginRuntime, dict[str, WorkspaceCaps]] = (
    weakref.WeakKeyDictionary()
)


def caps_of(runtime: PluginRuntime, workspace: str) -> WorkspaceCaps:
    """The caps' counts of ``workspace`` in ``runtime`` (made on first use; gone with it)."""
    return _CAPS.setdefault(runtime, {}).setdefault(workspace, WorkspaceCaps())


def workspace_directories(runtime: PluginRuntime, workspace: str) -> list[Path]:
    """The directories the workspace's web-chat channels keep files under, one per
    ``files_dir`` (``<files_dir>/<workspace>``)."""
    return sorted(
        {
            adapter.files.directory.parent
            for adapter in runtime.channels.values()
            if isinstance(adapter, WebChatChannel) and adapter.workspace == workspace
        }
    )
