"""Clocks: the runtime's source of time, injected so tests and the simulator control it."""

from __future__ import annotations

import time
from typing import Protocol

import anyio

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """``now()`` in seconds, and a way to sleep until a deadline or an earlier wake-up."""

    def now(self) -> float: ...

    async def sleep_until(self, deadline: float | None, wake: anyio.Event) -> None:
        """Return when ``deadline`` has passed (never, if None) or ``wake`` is set."""
        ...


class SystemClock:
    """Wall-clock time (Unix seconds)."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float | None, wake: anyio.Event) -> None:
        if deadline is None:
            await wake.wait()
            return
        with anyio.move_on_after(max(0.0, deadline - self.now())):
            await wake.wait()


class FakeClock:
    """A clock that moves only when told to: ``advance(seconds)`` or ``set(t)``."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self._moved: anyio.Event | None = None  # made on first wait: Events need a running loop

    def now(self) -> float:
        return self._now

    def set(self, t: float) -> None:
        if t < self._now:
            raise ValueError(f"time cannot go back from {self._now} to {t}")
        self._now = t
        if self._moved is not None:
            self._moved.set()
            self._moved = None

    def advance(self, seconds: float) -> None:
        self.set(self._now + seconds)

    async def sleep_until(self, deadline: float | None, wake: anyio.Event) -> None:
        while not wake.is_set() and (deadline is None or self._now < deadline):
            if self._moved is None:
                self._moved = anyio.Event()
            moved = self._moved
            async with anyio.create_task_group() as tg:

                async def watch(event: anyio.Event) -> None:
                    await event.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(watch, moved)
                tg.start_soon(watch, wake)
