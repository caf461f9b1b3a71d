"""The HTTP server's application: API, WebSockets, pages, login, plugins' routes, headers.

:func:`create_app` builds the Starlette app for a running runtime; :func:`run_web` serves it
as a task of the runtime (``trunkline serve`` and ``trunkline demo`` start it).
"""

from __future__ import annotations

import html
import logging
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trunkline import Config, PluginError, PluginRuntime
from trunkline_web import server
from trunkline_web.api import ApiError, api_routes, error_response
from trunkline_web.auth import DEVICE_DAYS, SESSION_COOKIE, Auth, Held, client_address
from trunkline_web.hookspecs import RESERVED, trunkline_register_routes
from trunkline_web.hub import Hub
from trunkline_web.openapi import openapi_document
from trunkline_web.settings import web_settings

__all__ = ["RESERVED", "SecureHeaders", "create_app", "run_web", "web_port"]

log = logging.getLogger("trunkline.web")

STATIC = Path(str(resources.files("trunkline_web") / "static"))

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
# No page uses these browser features; a page that comes to need one (the agent desktop's
# softphone: microphone=(self)) sends its own Permissions-Policy, which SecureHeaders keeps.
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), "
    "display-capture=()"
)
NO_STORE = ("/api/", "/metrics")  # answers with a workspace's data: never kept by a cache


class SecureHeaders:
    """Adds the usual protective headers to every HTTP answer that does not set its own, and
    ``Cache-Control: no-store`` to the API's answers."""

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app = app
        self.headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
            (b"content-security-policy", PAGE_POLICY.encode()),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", PERMISSIONS_POLICY.encode()),
        ]
        if secure:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = self.headers
        if str(scope.get("path", "")).startswith(NO_STORE):
            headers = [*headers, (b"cache-control", b"no-store")]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in headers if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _page(name: str, product: str) -> str:
    """A page, with ``{{product}}`` (its title and brand) filled in: ``product_title``."""
    text = (STATIC / name).read_text(encoding="utf-8")
    return text.replace("{{product}}", html.escape(product))


def create_app(runtime: PluginRuntime, hub: Hub | None = None) -> Starlette:
    """The app for a running ``runtime``. ``hub.run()`` must run beside it (run_web does)."""
    auth = Auth(runtime.config, throttle_clock=runtime.clock.now)
    hub = hub or Hub(runtime)
    web = web_settings(runtime.config)
    product = runtime.pm.product_title  # a distribution's title on every page

    def page_for(request: Request, role: str) -> Response:
        session = request.cookies.get(SESSION_COOKIE)
        user = auth.by_session(session) if session else None
        if user is None:
            return RedirectResponse("/login", status_code=303)
        if role == "supervisor" and not user.at_least("supervisor"):
            return RedirectResponse("/agent", status_code=303)
        if role == "agent" and user.role != "agent":
            return RedirectResponse("/wallboard", status_code=303)
        return HTMLResponse(_page(f"{role_page[role]}.html", product))

    role_page = {"agent": "agent", "supervisor": "wallboard"}

    async def home(request: Request) -> Response:
        session = request.cookies.get(SESSION_COOKIE)
        user = auth.by_session(session) if session else None
        if user is None:
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse("/agent" if user.role == "agent" else "/wallboard", 303)

    async def login_page(request: Request) -> Response:
        return HTMLResponse(_page("login.html", product))

    async def login(request: Request) -> Response:
        # Another site's page must not sign this browser in (to the attacker's account, whose
        # desktop would then see what the victim types): the check every cookie write gets.
        # Before the attempt counts, so another site cannot lock the user out either.
        refused = auth.cross_site(request, signing_in=True)
        if refused is not None:
            return error_response(ApiError(403, refused))
        form = await request.form()
        workspace = str(form.get("workspace", ""))
        username = str(form.get("username", ""))
        password = str(form.get("password", ""))
        wants_json = "application/json" in request.headers.get("accept", "")
        device_cookie = auth.device_cookie(workspace, username)
        device = auth.known_device(workspace, username, request.cookies.get(device_cookie))
        attempt = auth.logins.start(client_address(request), (workspace, username), device)
        if isinstance(attempt, Held):
            if not wants_json:  # the sign-in page says how long, from its address
                return RedirectResponse(f"/login?wait={attempt.retry_after}", status_code=303)
            return error_response(
                ApiError(429, attempt.reason, {"Retry-After": str(attempt.retry_after)})
            )
        session = await auth.login(workspace, username, password)
        if session is None:
            if wants_json:
                return error_response(ApiError(401, "wrong workspace, user name or password"))
            return RedirectResponse("/login?failed=1", status_code=303)
        auth.logins.succeeded(attempt)
        user = auth.by_session(session)
        assert user is not None
        target = "/agent" if user.role == "agent" else "/wallboard"
        response: Response = RedirectResponse(target, status_code=303)
        if wants_json:
            response = JSONResponse(user.json())
        response.set_cookie(
            SESSION_COOKIE,
            session,
            max_age=auth.session_max_age,
            httponly=True,
            samesite="strict",
            secure=web.secure_cookies,
        )
        # This browser is now known to the user: later, it skips the backoff that failed
        # sign-ins as the user cause elsewhere. Sent back to the sign-in form only.
        response.set_cookie(
            device_cookie,
            auth.new_device(workspace, username),
            max_age=DEVICE_DAYS * 86_400,
            path="/login",
            httponly=True,
            samesite="strict",
            secure=web.secure_cookies,
        )
        return response

    async def logout(request: Request) -> Response:
        refused = auth.cross_site(request)
        if refused is not None:
            return error_response(ApiError(403, refused))
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            auth.logout(session)
            # Its sockets too, at once: a socket is no way to act after signing out.
            hub.disconnect(lambda c: c.credential == f"session:{session}", "signed out")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def agent_page(request: Request) -> Response:
        return page_for(request, "agent")

    async def wallboard(request: Request) -> Response:
        return page_for(request, "supervisor")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    routes: list[BaseRoute] = [
        Route("/", home),
        Route("/healthz", healthz),
        Route("/openapi.json", openapi),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/agent", agent_page),
        Route("/wallboard", wallboard),
        *api_routes(runtime, auth, hub),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    routes.extend(_plugin_routes(runtime))

    def update_users(config: Config) -> None:
        changed = auth.replace_users(config)
        if changed:
            log.info("web: %d users changed or removed; signing them out", len(changed))
            hub.disconnect(
                lambda c: (c.user.workspace, c.user.username) in changed,
                "your account changed; sign in again",
            )

    middleware = [Middleware(SecureHeaders, secure=web.secure_cookies)]
    if web.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(web.cors_origins),
                allow_methods=["GET", "POST", "PUT"],
                allow_headers=["Authorization", "Content-Type"],
            )
        )
    app = Starlette(routes=routes, middleware=middleware)
    app.state.update_users = update_users  # run_web passes Runtime.reload on to it
    return app


def _plugin_routes(runtime: PluginRuntime) -> list[BaseRoute]:
    """The routes plugins add (``trunkline_register_routes``); one under a prefix of
    :data:`RESERVED` stops the start with a :class:`~trunkline.PluginError` naming it."""
    found: list[BaseRoute] = []
    routes = runtime.pm.collect_by_plugin(trunkline_register_routes, runtime=runtime)
    for plugin, route in routes:
        path = getattr(route, "path", "")
        clash = next((p for p in RESERVED if path.startswith(p.rstrip("/"))), None)
        if clash is not None:
            raise PluginError(
                f'plugin "{plugin}": route {path} is under {clash}, which trunkline-web keeps '
                f"(reserved: {', '.join(RESERVED)}); prefix it with the plugin's name"
            )
        found.append(route)
    return found


async def run_web(
    runtime: PluginRuntime, *, task_status: anyio.abc.TaskStatus[Any] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Serve the app on ``[web] host:port`` until cancelled; ``started`` gives its address,
    ``http://host:port/`` (``runtime.addresses["web"]``, read back by :func:`web_port`)."""
    web = web_settings(runtime.config)
    what = "the web server"
    sock = await server.listen(web.host, web.port, what=what)
    port = sock.getsockname()[1]
    hub = Hub(runtime)
    app = create_app(runtime, hub)
    stop_listening = runtime.on_reload(app.state.update_users)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(hub.run)
            serving = partial(
                server.serve,
                app,
                sock,
                what=what,
                websockets=True,
                proxy_headers=web.proxy_headers,
                forwarded_allow_ips=web.forwarded_allow_ips,
            )
            await tg.start(serving)
            task_status.started(f"http://{web.host}:{port}/")
    finally:
        stop_listening()


def web_port(runtime: PluginRuntime) -> int | None:
    """The port the runtime's web server listens on, once it does; None when it serves none."""
    address = runtime.addresses.get("web")
    if address is None:
        return None
    return urlsplit(address).port
