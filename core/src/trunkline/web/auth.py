"""Who is calling: API tokens, login sessions, roles, the limit on login attempts, and whether
a browser's request comes from the server's own pages."""

from __future__ import annotations

import math
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping

import anyio.to_thread
import attrs
from starlette.requests import HTTPConnection

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
        public = urllib.parse.urlsplit(config.web.public_url)
        # The origin of [web] public_url (a path after it is not part of an origin).
        self.public_origin = f"{public.scheme}://{public.netloc}" if public.netloc else None

    def cross_site(self, conn: HTTPConnection) -> str | None:
        """Why a browser request that touches the session is refused, or None when it comes
        from the server's own pages.

        Applies to every request that signs in, signs out, or changes state with the session
        cookie: otherwise another site's page could act in the user's name, or sign the
        browser in to an account of the attacker's (login CSRF). The browser's word is taken
        two ways: ``Origin`` must be the server's own origin (or ``[web] public_url``'s), and
        ``Sec-Fetch-Site``, which the browser computes itself (a proxy cannot change what it
        means), must be ``same-origin`` or ``none`` (typed by the user). A request with
        neither header is not a browser's cross-site request, and passes.
        """
        site = conn.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return (
                f"cross-site request refused (Sec-Fetch-Site: {site[:40]}): the browser says "
                "it comes from another site's page; use this server's own pages"
            )
        origin = conn.headers.get("origin")
        if origin is None:
            return None
        own = f"{conn.url.scheme.replace('ws', 'http')}://{conn.url.netloc}"
        if origin in (own, self.public_origin):
            return None
        return (
            f"cross-site request refused (origin {origin[:100]}): only this server's own "
            f"pages ({own}) may sign in or change state with a session; if browsers reach "
            "the server at that origin through a proxy, set [web] public_url to it"
        )

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
