"""The REST API and the agents' and supervisors' WebSockets (see ``docs/web-api.md``)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import anyio
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from trunkline import (
    AgentStatus,
    Contact,
    PluginRuntime,
    ReadsAttachments,
    TemporaryFailure,
    TrunklineError,
)
from trunkline import events as ev
from trunkline.routing import RoutingEngine, RoutingError
from trunkline_web.auth import SESSION_COOKIE, Auth, User
from trunkline_web.canned import render
from trunkline_web.hub import SIGNED_OUT, Connection, Hub
from trunkline_web.settings import workspace_canned
from trunkline_web.users import hash_token
from trunkline_web.views import (
    agent_json,
    author_name,
    contact_detail,
    contact_json,
    customer_profile,
    note_json,
    offer_json,
    queue_json,
    router_of,
)

__all__ = ["ApiError", "api_routes"]

log = logging.getLogger("trunkline.web")

MAX_BODY = 64 * 1024  # bytes of a JSON request body
MAX_TEXT = 10_000  # characters of a reply or a note
MAX_REASON = 200  # characters of a break reason or of a reason for rejecting an offer
MAX_DISPOSITION = 100  # characters of a disposition (wrap-up) code
MAX_QUERY = 200  # characters of a search
MAX_RESULTS = 50  # customers, and contacts, one search answers with at most
SHA256 = re.compile(r"[0-9a-f]{64}")
# The filters of GET …/contacts: a contact's state, queue, channel kind, agent, and a text.
CONTACT_FILTERS = ("state", "queue", "kind", "agent", "q")
# Attachment types a browser may show in place (the agent's preview); any other is offered
# as a download of application/octet-stream, so no file is ever run as a page.
INLINE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
)


class ApiError(Exception):
    """An error answered as ``{"error": …}`` with its status code."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)


class Api:
    """The endpoints, bound to one runtime, its users and its hub."""

    def __init__(self, runtime: PluginRuntime, auth: Auth, hub: Hub) -> None:
        self.runtime = runtime
        self.auth = auth
        self.hub = hub

    # Who is calling -----------------------------------------------------------------------

    def user_of(self, conn: HTTPConnection) -> User | None:
        header = conn.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return self.auth.by_token(header[7:].strip())
        session = conn.cookies.get(SESSION_COOKIE)
        if session:
            if conn.scope["type"] == "websocket" or conn.scope.get("method") not in (
                "GET",
                "HEAD",
            ):
                self.same_origin(conn)
            return self.auth.by_session(session)
        return None

    def credential_of(self, conn: HTTPConnection) -> str:
        """How ``conn`` signs in, for :meth:`Auth.by_credential` to check again later."""
        header = conn.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return "token:" + hash_token(header[7:].strip())
        return "session:" + conn.cookies.get(SESSION_COOKIE, "")

    def same_origin(self, conn: HTTPConnection) -> None:
        """A cookie-authenticated request that changes state must come from our own pages."""
        refused = self.auth.cross_site(conn)
        if refused is not None:
            raise ApiError(403, refused)

    def require(self, conn: HTTPConnection, role: str = "agent") -> User:
        user = self.user_of(conn)
        if user is None:
            raise ApiError(401, "sign in, or send Authorization: Bearer <token>")
        if not user.at_least(role):
            raise ApiError(403, f"this needs the role {role}")
        return user

    def workspace(self, request: Request, role: str = "agent") -> tuple[User, RoutingEngine]:
        """The caller and the engine of the workspace in the path (404 for another's).

        The workspace is checked before the role, so another workspace's path answers 404
        whatever the caller's role: its existence is not confirmed by a 403.
        """
        user = self.require(request, "agent")
        wid = request.path_params["workspace"]
        if wid != user.workspace or wid not in self.runtime.desks:
            raise ApiError(404, f'no workspace "{wid}"')
        if not user.at_least(role):
            raise ApiError(403, f"this needs the role {role}")
        desk = self.runtime.desks[wid]
        if not desk.owned:
            raise ApiError(503, "this node does not route the workspace; ask the one that does")
        return user, router_of(desk)

    async def body(self, request: Request, fields: dict[str, type]) -> dict[str, Any]:
        """A JSON object with only ``fields`` (all optional here; the caller checks)."""
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise ApiError(413, f"the body is larger than {MAX_BODY} bytes")
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object")
        for key, value in data.items():
            if key not in fields:
                raise ApiError(400, f'unknown field "{key}" (allowed: {", ".join(fields)})')
            if value is not None and not isinstance(value, fields[key]):
                raise ApiError(400, f'field "{key}" must be a {fields[key].__name__}')
        return data

    # Reading ------------------------------------------------------------------------------

    async def me(self, request: Request) -> JSONResponse:
        return JSONResponse(self.require(request).json())

    async def workspace_info(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request)
        config = self.runtime.config.workspaces[user.workspace]
        return JSONResponse(
            {
                "id": user.workspace,
                "name": config.workspace.name or user.workspace,
                "queues": list(router.queues),
                "skills": list(config.skills),
                "dispositions": list(config.dispositions),
            }
        )

    async def queues(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request, "supervisor")
        now = self.runtime.clock.now()
        metrics = self.hub.metrics[user.workspace]
        figures = metrics.figures(now)["queues"]
        return JSONResponse(
            [queue_json(router, figures.get(q), q, now, metrics) for q in router.queues]
        )

    async def agents(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request)
        ids = list(router.agents) if user.at_least("supervisor") else [user.agent]
        return JSONResponse([agent_json(router, a) for a in ids if a in router.agents])

    async def offers(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request)
        return JSONResponse(
            [
                offer_json(o)
                for o in router.offers.values()
                if user.at_least("supervisor") or o.agent_id == user.agent
            ]
        )

    async def contacts(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request)
        open_views = [v for v in router.contacts.values() if v.queue is not None]
        if user.at_least("supervisor"):
            views = open_views
        else:
            offered = {o.contact_id for o in router.offers.values() if o.agent_id == user.agent}
            views = [v for v in open_views if v.agent_id == user.agent or v.contact.id in offered]
        names = self.hub.names
        await names.read(user.workspace, (v.contact for v in views))
        shown = [
            contact_json(v.contact, router, names.get(user.workspace, v.contact.customer_id))
            for v in views
        ]
        return JSONResponse(_filtered(shown, request.query_params))

    def _may_see(self, user: User, router: RoutingEngine, contact_id: str) -> None:
        """Supervisors read every contact of the workspace; an agent reads those offered to
        it or held by it, and every contact that is no longer open (the centre's history,
        as a returning customer's history shows it). A colleague's open conversation stays
        the colleague's."""
        if user.at_least("supervisor"):
            return
        view = router.contacts.get(contact_id)
        offered = any(
            o.contact_id == contact_id and o.agent_id == user.agent for o in router.offers.values()
        )
        if view is not None and view.agent_id != user.agent and not offered:
            raise ApiError(404, f'no contact "{contact_id}" of yours')

    async def contact(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request)
        cid = request.path_params["contact"]
        self._may_see(user, router, cid)
        contact = await self.runtime.store.contact(user.workspace, cid)
        if contact is None:
            raise ApiError(404, f'no contact "{cid}"')
        return JSONResponse(await contact_detail(self.runtime, user.workspace, contact, router))

    async def summary(self, request: Request) -> JSONResponse:
        user, _ = self.workspace(request, "supervisor")
        now = self.runtime.clock.now()
        return JSONResponse(self.hub.metrics[user.workspace].figures(now)["workspace"])

    async def prometheus(self, request: Request) -> Response:
        """The caller's workspace's figures in Prometheus' text format (``GET /metrics``)."""
        user = self.require(request, "supervisor")
        desk = self.runtime.desks.get(user.workspace)
        if desk is None or not desk.owned:
            raise ApiError(503, "this node does not route the workspace; ask the one that does")
        from trunkline_web.prometheus import CONTENT_TYPE_LATEST, exposition

        metrics = {user.workspace: self.hub.metrics[user.workspace]}
        router = router_of(desk)

        def live(workspace: str, queue_id: str, now: float) -> dict[str, Any]:
            if queue_id not in router.queues:  # known to the log only
                return {}
            row = queue_json(router, None, queue_id, now)
            return {key: row[key] for key in ("waiting", "ringing", "longest_wait")}

        text = exposition(metrics, self.runtime.clock.now, live)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    # Acting -------------------------------------------------------------------------------

    async def set_status(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request)
        agent_id = request.path_params["agent"]
        if agent_id not in router.agents:
            raise ApiError(404, f'no agent "{agent_id}"')
        if not user.at_least("supervisor") and agent_id != user.agent:
            raise ApiError(403, "an agent sets their own status only")
        data = await self.body(request, {"status": str, "reason": str})
        status = _status(data.get("status"))
        reason = _short(data.get("reason"), "reason", MAX_REASON)
        await self.act(self.runtime.set_agent_status(user.workspace, agent_id, status, reason))
        return JSONResponse(agent_json(router_of(self.runtime.desk(user.workspace)), agent_id))

    def _own_offer(self, user: User, router: RoutingEngine, offer_id: str) -> None:
        offer = router.offers.get(offer_id)
        if offer is None:
            raise ApiError(409, f'offer "{offer_id}" is not open (accepted, rejected or expired)')
        if offer.agent_id != user.agent:
            raise ApiError(403, "only the agent offered it may answer an offer")

    async def accept(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request)
        offer_id = request.path_params["offer"]
        self._own_offer(user, router, offer_id)
        await self.act(self.runtime.accept(user.workspace, offer_id))
        return JSONResponse({"ok": True})

    async def reject(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request)
        offer_id = request.path_params["offer"]
        self._own_offer(user, router, offer_id)
        data = await self.body(request, {"reason": str})
        reason = _short(data.get("reason"), "reason", MAX_REASON) or ""
        await self.act(self.runtime.reject(user.workspace, offer_id, reason))
        return JSONResponse({"ok": True})

    def _handling(self, user: User, router: RoutingEngine, contact_id: str) -> None:
        view = router.contacts.get(contact_id)
        if view is None:
            raise ApiError(404, f'no open contact "{contact_id}"')
        if not user.at_least("supervisor") and view.agent_id != user.agent:
            raise ApiError(404, f'no contact "{contact_id}" of yours')

    async def reply(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request)
        cid = request.path_params["contact"]
        self._handling(user, router, cid)
        data = await self.body(request, {"text": str})
        text = _text(data.get("text"))
        message = await self.act(self.runtime.reply(user.workspace, cid, text))
        return JSONResponse({"id": message.id}, status_code=202)

    async def end(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request)
        cid = request.path_params["contact"]
        self._handling(user, router, cid)
        await self.act(self.runtime.end_contact(user.workspace, cid))
        return JSONResponse({"ok": True})

    async def close(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request)
        cid = request.path_params["contact"]
        self._handling(user, router, cid)
        data = await self.body(request, {"disposition": str})
        disposition = _short(data.get("disposition"), "disposition", MAX_DISPOSITION)
        await self.act(self.runtime.close_contact(user.workspace, cid, disposition))
        return JSONResponse({"ok": True})

    async def transfer(self, request: Request) -> JSONResponse:
        user, router = self.workspace(request)
        cid = request.path_params["contact"]
        self._handling(user, router, cid)
        data = await self.body(request, {"queue": str, "agent": str})
        if not data.get("queue") and not data.get("agent"):
            raise ApiError(400, 'give "queue", "agent" or both')
        events = await self.act(
            self.runtime.transfer(user.workspace, cid, data.get("queue"), data.get("agent"))
        )
        offer = next(  # made at once: to the named agent, or the queue's pick
            (
                e.offer
                for e in events
                if isinstance(e, ev.ContactOffered) and e.offer.contact_id == cid
            ),
            None,
        )
        return JSONResponse({"ok": True, "offer": None if offer is None else offer_json(offer)})

    async def act(self, call: Awaitable[Any]) -> Any:
        """Run a runtime call, its refusals answered as API errors."""
        try:
            return await call
        except RoutingError as exc:
            raise ApiError(409, str(exc)) from None
        except TemporaryFailure as exc:
            raise ApiError(503, f"try again: {exc}", {"Retry-After": "1"}) from None
        except TrunklineError as exc:
            raise ApiError(400, str(exc)) from None

    # The desk: profile, notes, canned responses, search, attachments, directory -----------

    async def _readable(self, request: Request) -> tuple[User, RoutingEngine, Contact]:
        """The caller, the engine and the contact in the path, if the caller may read it."""
        user, router = self.workspace(request)
        cid = request.path_params["contact"]
        self._may_see(user, router, cid)
        contact = await self.runtime.store.contact(user.workspace, cid)
        if contact is None:
            raise ApiError(404, f'no contact "{cid}"')
        return user, router, contact

    async def add_note(self, request: Request) -> JSONResponse:
        """``POST …/contacts/{contact}/notes``: a private note, never sent to the customer."""
        user, router = self.workspace(request)
        cid = request.path_params["contact"]
        if not user.at_least("supervisor"):
            self._handling(user, router, cid)
        elif await self.runtime.store.contact(user.workspace, cid) is None:
            raise ApiError(404, f'no contact "{cid}"')
        data = await self.body(request, {"text": str})
        text = _text(data.get("text"))
        agent = user.agent or None
        note = await self.act(
            self.runtime.add_note(user.workspace, cid, text, author=user.username, agent_id=agent)
        )
        name = author_name(self.runtime, user.workspace, user.username, agent)
        return JSONResponse(note_json(note, name), status_code=201)

    async def canned(self, request: Request) -> JSONResponse:
        """``GET …/canned``: the workspace's canned responses as configured."""
        user, _ = self.workspace(request)
        config = self.runtime.config.workspaces[user.workspace]
        return JSONResponse([response.json() for response in workspace_canned(config)])

    async def contact_canned(self, request: Request) -> JSONResponse:
        """``GET …/contacts/{contact}/canned``: the canned responses with the contact's
        placeholders filled in; those without a value are left as written, in ``missing``."""
        user, router, contact = await self._readable(request)
        config = self.runtime.config.workspaces[user.workspace]
        customer = await self.runtime.store.customer_by_address(user.workspace, contact.address)
        run = router.agents.get(user.agent)
        queue_id = contact.queue or ""
        queue = router.queues.get(queue_id)
        values = {
            "customer.name": customer.name if customer is not None else "",
            "customer.address": contact.address.value,
            "agent.name": (run.agent.name if run is not None else "") or user.name,
            "agent.id": user.agent,
            "contact.id": contact.id,
            "contact.subject": contact.subject,
            "queue.name": (queue.name if queue is not None else "") or queue_id,
            "workspace.name": config.workspace.name or user.workspace,
        }
        answer = []
        for response in workspace_canned(config):
            rendered = render(response.text, values)
            answer.append({**response.json(), "text": rendered.text, "missing": rendered.missing})
        return JSONResponse(answer)

    async def search(self, request: Request) -> JSONResponse:
        """``GET …/search?q=…``: customers and contacts of the caller's workspace."""
        user, router = self.workspace(request)
        text = request.query_params.get("q", "").strip()
        if len(text) < 2 or len(text) > MAX_QUERY:
            raise ApiError(
                400,
                f'"q" must have from 2 to {MAX_QUERY} characters (a name, an address, '
                "a subject, or an id)",
            )
        limit = _whole(request.query_params.get("limit"), "limit", 1, MAX_RESULTS, 20)
        store = self.runtime.store
        found = await store.search(user.workspace, text, limit)
        customers = {c.id: c for c in found.customers}
        contacts = []
        for contact in found.contacts:
            entry = contact_json(contact, router)
            customer = customers.get(contact.customer_id) or await store.customer_by_address(
                user.workspace, contact.address
            )
            entry["customer"] = {
                **entry["customer"],
                "name": customer.name if customer is not None else "",
            }
            try:
                self._may_see(user, router, contact.id)
                entry["readable"] = True
            except ApiError:
                entry["readable"] = False  # a colleague's open conversation
            contacts.append(entry)
        return JSONResponse(
            {
                "customers": [customer_profile(c) for c in found.customers],
                "contacts": contacts,
            }
        )

    async def attachment(self, request: Request) -> Response:
        """``GET …/contacts/{contact}/attachments/{sha256}``: a file a message carries, from
        the channel that keeps it, for whoever may read the contact."""
        user, _, contact = await self._readable(request)
        sha256 = request.path_params["sha256"]
        messages = await self.runtime.store.messages(user.workspace, contact.id)
        found = next(((m, a) for m in messages for a in m.attachments if a.sha256 == sha256), None)
        if not SHA256.fullmatch(sha256) or found is None:
            raise ApiError(404, f'contact "{contact.id}" has no attachment "{sha256[:64]}"')
        message, file = found
        adapter = self.runtime.channels.get(message.channel)
        if not isinstance(adapter, ReadsAttachments):
            raise ApiError(
                404, f'channel "{message.channel}" does not keep its attachments for agents'
            )
        data = await adapter.read_attachment(sha256)
        if not isinstance(data, bytes) or hashlib.sha256(data).hexdigest() != sha256:
            if data is not None:
                log.error('channel "%s" gave another file for %s', message.channel, sha256)
            raise ApiError(404, f'channel "{message.channel}" no longer has "{file.filename}"')
        inline = file.content_type in INLINE_TYPES
        media_type = file.content_type if inline else "application/octet-stream"
        if media_type == "text/plain":
            media_type = "text/plain; charset=utf-8"
        disposition = "inline" if inline else "attachment"
        # A PDF needs the browser's viewer, which a sandboxed document cannot start.
        sandbox = "" if file.content_type == "application/pdf" else "; sandbox"
        policy = f"default-src 'none'{sandbox}"
        return Response(
            data,
            media_type=media_type,
            headers={
                "Content-Disposition": f"{disposition}; filename*=UTF-8''{_quoted(file.filename)}",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": policy,
            },
        )

    async def directory(self, request: Request) -> JSONResponse:
        """``GET …/directory``: the queues and agents a contact can be transferred to."""
        _, router = self.workspace(request)
        return JSONResponse(
            {
                "queues": [{"id": q.id, "name": q.name or q.id} for q in router.queues.values()],
                "agents": [
                    {
                        "id": agent_id,
                        "name": run.agent.name or agent_id,
                        "status": run.status.value,
                        "state": run.state.value,
                        "queues": list(run.agent.queues),
                    }
                    for agent_id, run in router.agents.items()
                ],
            }
        )

    # WebSockets ---------------------------------------------------------------------------

    async def agent_socket(self, socket: WebSocket) -> None:
        await self._socket(socket, "agent")

    async def supervisor_socket(self, socket: WebSocket) -> None:
        await self._socket(socket, "supervisor")

    async def _socket(self, socket: WebSocket, kind: str) -> None:
        try:
            user = self.require(socket, "agent" if kind == "agent" else "supervisor")
            if kind == "agent" and user.role != "agent":
                raise ApiError(403, "the agent socket is for agents")
            desk = self.runtime.desks.get(user.workspace)
            if desk is None or not desk.owned:
                raise ApiError(503, "this node does not route the workspace")
        except ApiError as exc:
            await socket.close(code=1008, reason=exc.message[:120])
            return
        await socket.accept()
        if kind == "agent":  # the names its offers show, read before anything is pushed
            offers = router_of(desk).offers.values()
            contacts = router_of(desk).contacts
            offered = [contacts[o.contact_id].contact for o in offers if o.contact_id in contacts]
            await self.hub.names.read(user.workspace, offered)
        connection = Connection.open(user, self.credential_of(socket))
        self.hub.join(connection)
        try:
            router = router_of(desk)
            if kind == "agent":
                connection.push(
                    {
                        "type": "hello",
                        "user": user.json(),
                        "at": self.runtime.clock.now(),
                        "agent": agent_json(router, user.agent),
                        "offers": [
                            {
                                "offer": offer_json(o),
                                "contact": contact_json(
                                    router.contacts[o.contact_id].contact,
                                    router,
                                    self.hub.names.get(
                                        user.workspace,
                                        router.contacts[o.contact_id].contact.customer_id,
                                    ),
                                ),
                            }
                            for o in router.offers.values()
                            if o.agent_id == user.agent and o.contact_id in router.contacts
                        ],
                        "contacts": agent_json(router, user.agent)["contacts"],
                    }
                )
            else:
                connection.push({"type": "hello", "user": user.json()})
                connection.push(self.hub.board(user.workspace))
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._writer, socket, connection)
                tg.start_soon(self._expire, connection)
                await self._reader(socket, connection)
                tg.cancel_scope.cancel()
        except WebSocketDisconnect:
            pass
        finally:
            self.hub.leave(connection)

    async def _writer(self, socket: WebSocket, connection: Connection) -> None:
        try:
            async with connection.receive:
                async for message in connection.receive:
                    await socket.send_text(json.dumps(message))
            code, reason = connection.closing or (1013, "too slow")
            await socket.close(code=code, reason=reason)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client went away while we were writing

    async def _reader(self, socket: WebSocket, connection: Connection) -> None:
        handlers: dict[str, Callable[[User, dict[str, Any], Connection], Awaitable[Any]]] = {
            "accept": self._ws_accept,
            "reject": self._ws_reject,
            "reply": self._ws_reply,
            "status": self._ws_status,
            "end": self._ws_end,
            "close": self._ws_close,
            "typing": self._ws_typing,
            "monitor": self._ws_monitor,
            "unmonitor": self._ws_unmonitor,
        }
        while True:
            try:
                raw = await socket.receive_text()
            except WebSocketDisconnect:
                return
            ref = None
            if connection.closing is not None:
                continue  # ended: nothing more is done for it, whatever it still sends
            if self.auth.by_credential(connection.credential) != connection.user:
                # Signed out, expired or changed since the last command, and not yet closed.
                connection.push({"type": "error", "ref": None, "error": "signed out"})
                connection.end(SIGNED_OUT, "signed out")
                continue
            try:
                if len(raw) > MAX_BODY:
                    raise ApiError(413, f"a message is larger than {MAX_BODY} bytes")
                try:
                    message = json.loads(raw)
                except ValueError:
                    raise ApiError(400, "not JSON") from None
                if not isinstance(message, dict):
                    raise ApiError(400, "a message is a JSON object")
                ref = message.get("ref")
                handler = handlers.get(message.get("type", ""))
                if handler is None:
                    raise ApiError(400, f"unknown type {message.get('type')!r}")
                answer = await handler(connection.user, message, connection)
                if ref is not None:
                    connection.push({"type": "ack", "ref": ref, **(answer or {})})
            except ApiError as exc:
                connection.push({"type": "error", "ref": ref, "error": exc.message})

    async def _expire(self, connection: Connection) -> None:
        """End a session's socket when the session ends by itself (``session_hours``)."""
        kind, _, session = connection.credential.partition(":")
        expires = self.auth.session_expires(session) if kind == "session" else None
        if expires is None:
            return
        await anyio.sleep(max(0.0, expires - self.auth.clock()))
        connection.end(SIGNED_OUT, "the session expired")

    def _ws_router(self, user: User) -> RoutingEngine:
        desk = self.runtime.desks[user.workspace]
        if not desk.owned:
            raise ApiError(503, "this node does not route the workspace any more")
        return router_of(desk)

    async def _ws_accept(self, user: User, message: dict[str, Any], _: Connection) -> None:
        offer_id = _field(message, "offer_id")
        self._own_offer(user, self._ws_router(user), offer_id)
        await self.act(self.runtime.accept(user.workspace, offer_id))

    async def _ws_reject(self, user: User, message: dict[str, Any], _: Connection) -> None:
        offer_id = _field(message, "offer_id")
        self._own_offer(user, self._ws_router(user), offer_id)
        reason = _short(message.get("reason"), "reason", MAX_REASON) or ""
        await self.act(self.runtime.reject(user.workspace, offer_id, reason))

    async def _ws_reply(self, user: User, message: dict[str, Any], _: Connection) -> dict[str, Any]:
        cid = _field(message, "contact_id")
        self._handling(user, self._ws_router(user), cid)
        sent = await self.act(self.runtime.reply(user.workspace, cid, _text(message.get("text"))))
        return {"message_id": sent.id}

    async def _ws_status(self, user: User, message: dict[str, Any], _: Connection) -> None:
        agent_id = message.get("agent_id") or user.agent
        if agent_id != user.agent and not user.at_least("supervisor"):
            raise ApiError(403, "an agent sets their own status only")
        if agent_id not in self._ws_router(user).agents:
            raise ApiError(404, f'no agent "{agent_id}"')
        status = _status(message.get("status"))
        reason = _short(message.get("reason"), "reason", MAX_REASON)
        await self.act(self.runtime.set_agent_status(user.workspace, str(agent_id), status, reason))

    async def _ws_end(self, user: User, message: dict[str, Any], _: Connection) -> None:
        cid = _field(message, "contact_id")
        self._handling(user, self._ws_router(user), cid)
        await self.act(self.runtime.end_contact(user.workspace, cid))

    async def _ws_close(self, user: User, message: dict[str, Any], _: Connection) -> None:
        cid = _field(message, "contact_id")
        self._handling(user, self._ws_router(user), cid)
        disposition = _short(message.get("disposition"), "disposition", MAX_DISPOSITION)
        await self.act(self.runtime.close_contact(user.workspace, cid, disposition))

    async def _ws_typing(self, user: User, message: dict[str, Any], _: Connection) -> None:
        from trunkline import Signal

        cid = _field(message, "contact_id")
        self._handling(user, self._ws_router(user), cid)
        await self.runtime.signal(Signal(user.workspace, cid, "typing", "agent", user.agent))

    async def _ws_monitor(
        self, user: User, message: dict[str, Any], connection: Connection
    ) -> None:
        if not user.at_least("supervisor"):
            raise ApiError(403, "monitoring is for supervisors")
        cid = _field(message, "contact_id")
        if cid not in self._ws_router(user).contacts:
            raise ApiError(404, f'no open contact "{cid}"')
        connection.monitoring.add(cid)

    async def _ws_unmonitor(
        self, user: User, message: dict[str, Any], connection: Connection
    ) -> None:
        connection.monitoring.discard(_field(message, "contact_id"))

    # Routes -------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        w = "/api/v1/workspaces/{workspace}"
        table: list[tuple[str, Callable[[Request], Awaitable[Response]], str]] = [
            ("/api/v1/me", self.me, "GET"),
            (w, self.workspace_info, "GET"),
            (f"{w}/queues", self.queues, "GET"),
            (f"{w}/agents", self.agents, "GET"),
            (f"{w}/agents/{{agent}}/status", self.set_status, "PUT"),
            (f"{w}/offers", self.offers, "GET"),
            (f"{w}/offers/{{offer}}/accept", self.accept, "POST"),
            (f"{w}/offers/{{offer}}/reject", self.reject, "POST"),
            (f"{w}/contacts", self.contacts, "GET"),
            (f"{w}/contacts/{{contact}}", self.contact, "GET"),
            (f"{w}/contacts/{{contact}}/messages", self.reply, "POST"),
            (f"{w}/contacts/{{contact}}/end", self.end, "POST"),
            (f"{w}/contacts/{{contact}}/close", self.close, "POST"),
            (f"{w}/contacts/{{contact}}/transfer", self.transfer, "POST"),
            (f"{w}/reports/summary", self.summary, "GET"),
        ]
        c = f"{w}/contacts/{{contact}}"
        table += [  # the agent desktop's
            (f"{c}/notes", self.add_note, "POST"),
            (f"{c}/canned", self.contact_canned, "GET"),
            (f"{c}/attachments/{{sha256}}", self.attachment, "GET"),
            (f"{w}/canned", self.canned, "GET"),
            (f"{w}/search", self.search, "GET"),
            (f"{w}/directory", self.directory, "GET"),
        ]
        routes: list[BaseRoute] = [
            Route(path, _answering(endpoint), methods=[method]) for path, endpoint, method in table
        ]
        routes.append(Route("/metrics", _answering(self.prometheus), methods=["GET"]))
        routes.append(WebSocketRoute("/ws/agent", self.agent_socket))
        routes.append(WebSocketRoute("/ws/supervisor", self.supervisor_socket))
        return routes


def _answering(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def wrapped(request: Request) -> Response:
        try:
            _json_only(request)
            return await endpoint(request)
        except ApiError as exc:
            return error_response(exc)

    wrapped.__name__ = endpoint.__name__
    wrapped.__doc__ = endpoint.__doc__
    return wrapped


def _json_only(request: Request) -> None:
    """A write's body is JSON, declared so (``415`` otherwise); one made with the session
    cookie declares JSON even with no body. A page of another site can send a ``text/plain``
    or form body without asking the browser's leave, never an ``application/json`` one."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    declared = request.headers.get("content-type")
    if (declared or "").split(";")[0].strip().lower() == "application/json":
        return
    has_body = request.headers.get("content-length", "0").strip() not in ("", "0")
    by_cookie = SESSION_COOKIE in request.cookies and not request.headers.get(
        "authorization", ""
    ).lower().startswith("bearer ")
    if has_body or "transfer-encoding" in request.headers or by_cookie:
        raise ApiError(
            415,
            "the body must be JSON: send Content-Type: application/json "
            f"(not {(declared or 'none')[:100]})",
        )


def _short(value: Any, name: str, limit: int) -> str | None:
    """Free text of at most ``limit`` characters (None stays None)."""
    if value is None:
        return None
    text = str(value)
    if len(text) > limit:
        raise ApiError(400, f'"{name}" is {len(text)} characters long; at most {limit} are allowed')
    return text


def _field(message: dict[str, Any], name: str) -> str:
    value = message.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f'"{name}" must be a non-empty string')
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, '"text" must be a non-empty string')
    if len(value) > MAX_TEXT:
        raise ApiError(400, f'"text" is longer than {MAX_TEXT} characters')
    return value


def _whole(value: str | None, name: str, least: int, most: int, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = least - 1
    if not least <= number <= most:
        raise ApiError(400, f'"{name}" must be a whole number from {least} to {most}')
    return number


def _quoted(filename: str) -> str:
    return quote(filename, safe="")


def _filtered(contacts: list[dict[str, Any]], query: Any) -> list[dict[str, Any]]:
    """The open contacts that match every filter given (see :data:`CONTACT_FILTERS`)."""
    unknown = sorted(set(query) - set(CONTACT_FILTERS))
    if unknown:
        raise ApiError(
            400, f'unknown filter "{unknown[0]}" (filters: {", ".join(CONTACT_FILTERS)})'
        )
    state, queue, kind, agent = (query.get(k) for k in ("state", "queue", "kind", "agent"))
    text = (query.get("q") or "").strip().lower()
    return [
        c
        for c in contacts
        if (state is None or c["state"] == state)
        and (queue is None or c["queue"] == queue)
        and (kind is None or c["kind"] == kind)
        and (agent is None or (c["agent_id"] or "") == agent)
        and (
            not text
            or text in c["id"].lower()
            or text in (c["subject"] or "").lower()
            or text in c["customer"]["address"].lower()
            or text in (c["customer"].get("name") or "").lower()
        )
    ]


def _status(value: Any) -> AgentStatus:
    try:
        return AgentStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in AgentStatus)
        raise ApiError(400, f'"status" must be one of {allowed}') from None


def api_routes(runtime: PluginRuntime, auth: Auth, hub: Hub) -> list[BaseRoute]:
    return Api(runtime, auth, hub).routes()
