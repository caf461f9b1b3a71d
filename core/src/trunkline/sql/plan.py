"""Work in several statements written once for every SQL store, whatever its driver's style.

A plan is a generator: it yields each statement (``?`` placeholders) and is sent the rows that
statement returned (an empty list for one that returns none); what it returns is the result.
So the logic of retention, say, lives in one place: the SQLite store runs a plan in a worker
thread with :func:`run_plan`, the PostgreSQL store on its event loop with :func:`arun_plan`,
each inside a transaction of its own making.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, TypeVar

from .dialect import Statement

__all__ = ["Plan", "arun_plan", "run_plan", "single"]

T = TypeVar("T")

Rows = list[Sequence[Any]]
Plan = Generator[Statement, Rows, T]


def run_plan(plan: Plan[T], execute: Callable[[str, tuple[Any, ...]], Rows]) -> T:
    """Run ``plan``, each statement through ``execute`` (which returns its rows)."""
    try:
        statement = next(plan)
        while True:
            statement = plan.send(execute(*statement))
    except StopIteration as done:
        result: T = done.value
        return result


async def arun_plan(plan: Plan[T], execute: Callable[[str, tuple[Any, ...]], Awaitable[Rows]]) -> T:
    """Run ``plan``, each statement through the coroutine ``execute``."""
    try:
        statement = next(plan)
        while True:
            statement = plan.send(await execute(*statement))
    except StopIteration as done:
        result: T = done.value
        return result


def single(statement: str, params: tuple[Any, ...]) -> Plan[None]:
    """The plan of one statement whose rows do not matter."""
    yield statement, params
