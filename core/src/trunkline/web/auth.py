"""Who is calling: API tokens, login sessions, roles, and the limit on login attempts."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping

import anyio.to_thread
import attrs

from ..config import Config
from ..ratelimit import RateLimiter
from ..users import check_password, hash_token

__all__ = ["SESSION_COOKIE", "Auth", "User"]

SESSION_COOKIE = "trunkline_session"
_RANK = {"agent": 0, "supervisor": 1, "admin": 2}


@attrs.frozen
class User:
    """A signed-in user of one workspace."""

    workspace: str
    username: str
    role: str
    agent: str = ""
    name: str = ""

    def at_least(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]

    def json(self) -> dict[str, str]:
        return {
            "workspace": self.workspace,
            "username": self.username,
            "role": self.role,
            "agent": self.agent,
            "name": self.name or self.username,
        }


class Auth:
    """Users from the configuration; sessions live in this process only (a restart signs
    everyone out, which is the safe default for a contact centre's shared desks)."""

    def __init__(self, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.session_seconds = config.web.session_hours * 3600
        self._users: dict[tuple[str, str], tuple[User, str]] = {}  # -> (user, password hash)
        self._tokens: dict[str, User] = {}  # token hash -> user
        for wid, workspace in config.workspaces.items():
            for username, settings in workspace.users.items():
                user = User(wid, username, settings.role, settings.agent, settings.name)
                self._users[(wid, username)] = (user, settings.password_hash)
                if settings.token_hash:
                    self._tokens[settings.token_hash] = user
        self._sessions: dict[str, tuple[User, float]] = {}
        self.logins = RateLimiter(config.web.login_attempts_per_minute, window=60.0)

    def users(self, workspace: str) -> Mapping[str, User]:
        return {name: u for (w, name), (u, _) in self._users.items() if w == workspace}

    def by_token(self, token: str) -> User | None:
        return self._tokens.get(hash_token(token))

    async def login(self, workspace: str, username: str, password: str) -> str | None:
        """A new session id for good credentials, else None (as slow for unknown users)."""
        found = self._users.get((workspace, username))
        stored = found[1] if found is not None else _DUMMY_HASH
        # scrypt is deliberately slow: off the event loop.
        good = await anyio.to_thread.run_sync(check_password, password, stored)
        if found is None or not good or not found[1]:
            return None
        session = secrets.token_urlsafe(32)
        self._sessions[session] = (found[0], self.clock() + self.session_seconds)
        return session

    def by_session(self, session: str) -> User | None:
        entry = self._sessions.get(session)
        if entry is None:
            return None
        if entry[1] < self.clock():
            del self._sessions[session]
            return None
        return entry[0]

    def logout(self, session: str) -> None:
        self._sessions.pop(session, None)

    @property
    def session_max_age(self) -> int:
        return math.ceil(self.session_seconds)


# Checked against when the user name is unknown, so a wrong name costs as long as a wrong
# password (no timing oracle for which users exist). The password is random and discarded.
_DUMMY_HASH = (
    "scrypt$16384$8$1$00000000000000000000000000000000$"
    "0000000000000000000000000000000000000000000000000000000000000000"
)
