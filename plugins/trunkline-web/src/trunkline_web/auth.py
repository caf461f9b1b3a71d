"""Who is calling: API tokens, login sessions, roles, the throttle on failed sign-ins, the
browsers known to a user, and whether a browser's request comes from the server's own pages."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping

import anyio.to_thread
import attrs
from starlette.requests import HTTPConnection

from trunkline import Config
from trunkline.ratelimit import FORGET_AFTER_KEYS, RateLimiter
from trunkline_web.settings import WebSettings, web_settings, workspace_users
from trunkline_web.users import UserSettings, check_password, hash_token

__all__ = [
    "DEVICE_COOKIE",
    "SESSION_COOKIE",
    "Auth",
    "Held",
    "LoginThrottle",
    "User",
    "client_address",
]

SESSION_COOKIE = "trunkline_session"
DEVICE_COOKIE = "trunkline_device_"  # + 16 hex digits of the workspace and user name
DEVICE_DAYS = 90  # how long a browser stays known to a user after a sign-in on it
ADDRESS_WINDOW = 600.0  # seconds over which one address's failed sign-ins are counted
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


def client_address(conn: HTTPConnection) -> str:
    """The client's address as the server sees it (``scope["client"]``, which a proxy-headers
    middleware of ``[web]`` sets to the address a trusted proxy forwards for). Every limit per
    address reads it here."""
    return conn.client.host if conn.client else "?"


@attrs.frozen
class Held:
    """A sign-in attempt refused before the password is checked: how long to wait, and why."""

    seconds: float
    reason: str

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.seconds))


@attrs.frozen
class _Attempt:
    """A sign-in attempt let through, counted as a failure until it succeeds."""

    address: str
    account: tuple[str, str]
    device: str | None  # the known browser it came from, when it counted as one


@attrs.define
class _Run:
    failures: int = 0  # failed sign-ins in a row from browsers not known to the account
    last: float = 0.0  # when the last of them was


class LoginThrottle:
    """Slows down failed sign-ins without locking out the account's owner.

    Only failures count: each attempt is counted as one before the password is checked (so
    attempts sent at once cannot all slip through) and given back when it succeeds.

    - An account that failed ``login_failures_before_backoff`` times in a row, from anywhere,
      backs off: the next attempt waits 1 s after the last failure, then 2 s, 4 s … up to
      ``login_backoff_max``. A sign-in through the wait ends the run.
    - Browsers that signed in as the account before (a device cookie, OWASP's "device
      cookies") skip that wait and the address limit, so a guesser never locks the owner out
      of their own desk. A known browser that fails as many times in a row is known no more.
    - One address may fail ``login_failures_per_address`` times in 10 minutes, across all
      accounts: spraying one password over every user name is held up.
    """

    def __init__(
        self,
        web: WebSettings,
        clock: Callable[[], float],
        known: Callable[[tuple[str, str]], bool] = lambda account: True,
    ) -> None:
        self.free = web.login_failures_before_backoff
        self.max_wait = web.login_backoff_max
        self.per_address = web.login_failures_per_address
        self.clock = clock
        self.known = known  # accounts that exist: the others' runs are dropped first
        self._accounts: dict[tuple[str, str], _Run] = {}
        self._devices: dict[str, int] = {}  # known browser -> its failures in a row
        self._addresses = RateLimiter(self.per_address, ADDRESS_WINDOW, clock)

    def start(self, address: str, account: tuple[str, str], device: str | None) -> Held | _Attempt:
        """Let an attempt go ahead (then call :meth:`succeeded` if it does), or hold it."""
        if device is not None and self._devices.get(device, 0) < self.free:
            self._devices[device] = self._devices.get(device, 0) + 1
            return _Attempt(address, account, device)
        now = self.clock()
        run = self._accounts.get(account)
        if run is not None and run.failures >= self.free:
            wait = run.last + min(2.0 ** (run.failures - self.free), self.max_wait) - now
            if wait > 0:
                n = max(1, math.ceil(wait))
                return Held(
                    wait,
                    f'too many failed sign-ins as "{account[1][:100]}"; wait {n} '
                    f"second{'s' if n > 1 else ''} and try again, or sign in from a browser "
                    "that signed in as this user before",
                )
        wait = self._addresses.take(address)
        if wait:
            n = max(1, math.ceil(wait))
            return Held(
                wait,
                f"too many failed sign-ins from your address ({self.per_address} in "
                f"{ADDRESS_WINDOW / 60:g} minutes); wait {n} second{'s' if n > 1 else ''} "
                "and try again",
            )
        run = self._accounts.setdefault(account, _Run())
        run.failures += 1
        run.last = now
        if len(self._accounts) > FORGET_AFTER_KEYS:
            self._forget(now)
        return _Attempt(address, account, None)

    def succeeded(self, attempt: _Attempt) -> None:
        """The attempt signed in: it was no failure."""
        if attempt.device is not None:
            self._devices.pop(attempt.device, None)
            return
        self._addresses.give_back(attempt.address)
        self._accounts.pop(attempt.account, None)

    def _forget(self, now: float) -> None:
        # Runs of user names that do not exist guard nothing; they are kept alike only so
        # that the answers do not tell which names exist. Under pressure, they go first.
        for account in [
            a
            for a, r in self._accounts.items()
            if not self.known(a) and r.last < now - self.max_wait
        ]:
            del self._accounts[account]


class Auth:
    """Users from the configuration; sessions live in this process only (a restart signs
    everyone out, which is the safe default for a contact centre's shared desks)."""

    def __init__(
        self,
        config: Config,
        clock: Callable[[], float] = time.time,
        throttle_clock: Callable[[], float] | None = None,
    ) -> None:
        self.clock = clock
        self.session_seconds = web_settings(config).session_hours * 3600
        self._settings: dict[tuple[str, str], UserSettings] = {}
        self._users: dict[tuple[str, str], tuple[User, str]] = {}  # -> (user, password hash)
        self._tokens: dict[str, User] = {}  # token hash -> user
        self._load_users(config)
        self._sessions: dict[str, tuple[User, float]] = {}
        self.logins = LoginThrottle(
            web_settings(config),
            throttle_clock or time.monotonic,
            lambda account: account in self._users,
        )
        public = urllib.parse.urlsplit(web_settings(config).public_url)
        # The origin of [web] public_url (a path after it is not part of an origin).
        self.public_origin = f"{public.scheme}://{public.netloc}" if public.netloc else None

    def cross_site(self, conn: HTTPConnection, *, signing_in: bool = False) -> str | None:
        """Why a browser request that touches the session is refused, or None when it comes
        from the server's own pages.

        Applies to every request that signs in, signs out, or changes state with the session
        cookie: otherwise another site's page could act in the user's name, or sign the
        browser in to an account of the attacker's (login CSRF). The browser's word is taken
        two ways: ``Origin`` must be the server's own origin (or ``[web] public_url``'s), and
        ``Sec-Fetch-Site``, which the browser computes itself (a proxy cannot change what it
        means), must be ``same-origin`` or ``none`` (typed by the user). A request with
        neither header is not a browser's cross-site request.

        A change made with the session cookie must also show it comes from our pages: a
        matching ``Origin`` or ``Sec-Fetch-Site: same-origin`` (every browser sends one of
        them; a request with neither is refused, since an old browser, an extension or a proxy
        may have stripped them). Signing in (``signing_in``) needs no such proof: there is no
        session yet to act with, and a browser's cross-site form always says where it is from.
        """
        site = conn.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return (
                f"cross-site request refused (Sec-Fetch-Site: {site[:40]}): the browser says "
                "it comes from another site's page; use this server's own pages"
            )
        origin = conn.headers.get("origin")
        if origin is None:
            if site == "same-origin" or signing_in:
                return None
            return (
                "request refused: a change made with the session cookie must come from this "
                "server's own pages (the browser sends Origin or Sec-Fetch-Site: same-origin); "
                "scripts use an API token (Authorization: Bearer <token>)"
            )
        own = f"{conn.url.scheme.replace('ws', 'http')}://{conn.url.netloc}"
        if origin in (own, self.public_origin):
            return None
        return (
            f"cross-site request refused (origin {origin[:100]}): only this server's own "
            f"pages ({own}) may sign in or change state with a session; if browsers reach "
            "the server at that origin through a proxy, set [web] public_url to it"
        )

    def _load_users(self, config: Config) -> None:
        self._settings = {
            (wid, username): settings
            for wid, workspace in config.workspaces.items()
            for username, settings in workspace_users(workspace).items()
        }
        self._users, self._tokens = {}, {}
        for (wid, username), settings in self._settings.items():
            user = User(wid, username, settings.role, settings.agent, settings.name)
            self._users[(wid, username)] = (user, settings.password_hash)
            if settings.token_hash:
                self._tokens[settings.token_hash] = user

    def replace_users(self, config: Config) -> set[tuple[str, str]]:
        """Take the users of ``config``; the (workspace, user name) of each user whose entry
        changed in any way or who is gone. Their sessions end here; the caller closes their
        sockets. Their known browsers are forgotten with a changed password (the device
        cookie is signed with a key drawn from the password's hash)."""
        before = self._settings
        self._load_users(config)
        changed = {key for key, settings in before.items() if self._settings.get(key) != settings}
        for session, (user, _) in list(self._sessions.items()):
            if (user.workspace, user.username) in changed:
                del self._sessions[session]
        return changed

    def by_credential(self, credential: str) -> User | None:
        """The user a socket's credential (``session:<id>`` or ``token:<hash>``) still
        stands for, or None once it was signed out, expired, changed or removed."""
        kind, _, value = credential.partition(":")
        if kind == "session":
            return self.by_session(value)
        if kind == "token":
            return self._tokens.get(value)
        return None

    def session_expires(self, session: str) -> float | None:
        entry = self._sessions.get(session)
        return None if entry is None else entry[1]

    # Known browsers (device cookies) ------------------------------------------------------

    def device_cookie(self, workspace: str, username: str) -> str:
        """The name of the cookie that marks a browser known to this user."""
        digest = hashlib.sha256(f"{workspace}\n{username}".encode()).hexdigest()[:16]
        return DEVICE_COOKIE + digest

    def _device_mac(self, workspace: str, username: str, body: str) -> str | None:
        found = self._users.get((workspace, username))
        if found is None or not found[1]:
            return None
        # Keyed by the password's hash: a changed password forgets every known browser, and
        # nothing new needs keeping secret (who can read the hash can guess offline anyway).
        key = hashlib.sha256(b"trunkline device cookie\0" + found[1].encode()).digest()
        message = f"{workspace}\n{username}\n{body}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def new_device(self, workspace: str, username: str) -> str:
        """A device cookie's value for a browser that just signed in: a random id, when it
        was issued, and their MAC."""
        body = f"{secrets.token_urlsafe(16)}.{int(self.clock())}"
        mac = self._device_mac(workspace, username, body)
        assert mac is not None, "a device cookie is for a user who signed in"
        return f"{body}.{mac}"

    def known_device(self, workspace: str, username: str, value: str | None) -> str | None:
        """The browser's id when ``value`` is this user's valid device cookie, else None."""
        if not value or value.count(".") != 2:
            return None
        body, mac = value.rsplit(".", 1)
        expected = self._device_mac(workspace, username, body)
        if expected is None or not hmac.compare_digest(expected, mac):
            return None
        issued = body.split(".")[1]
        if not issued.isdigit() or int(issued) + DEVICE_DAYS * 86_400 < self.clock():
            return None
        return f"{workspace}\n{username}\n{body}"

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
