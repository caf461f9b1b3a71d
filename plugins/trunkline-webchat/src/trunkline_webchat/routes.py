"""The web-chat's HTTP and WebSocket routes, mounted under ``/chat/`` by core's HTTP server.

``trunkline_register_routes`` returns :func:`chat_routes`; each path names the channel
(``/chat/<channel>/…``), so one server carries every web-chat channel of every workspace:

- ``GET widget.js``: the script a website embeds (a button and a panel framing the page below);
- ``GET /`` (with ``chat.js`` and ``chat.css``): the customer's chat page;
- ``WS ws``: the customer's socket (:mod:`~trunkline_webchat.protocol`,
  :mod:`~trunkline_webchat.session`);
- ``POST files`` and ``GET files/<sha256>``: attachments (:mod:`~trunkline_webchat.files`),
  uploaded within an open chat only, each channel serving its own files.

Limits per client address (``request.client.host``; behind a reverse proxy, the browser's
when ``[web] proxy_headers`` is on) come first, then the visitor's and the workspace's caps
(:mod:`~trunkline_webchat.caps`).

This is the plugin's only module that imports Starlette; the entry point imports it inside
the hook, when the server starts.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import re
import urllib.parse
from collections.abc import AsyncGenerator, Mapping
from importlib import resources
from typing import Any

import anyio
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from trunkline import Attachment, PluginRuntime
from trunkline.ratelimit import RateLimiter
from trunkline_web.settings import web_settings

from . import protocol
from .adapter import RATE_WINDOW, WebChatChannel, WebChatSettings, retry_after
from .caps import caps_of, workspace_directories
from .files import FileRefused, check_type
from .protocol import TOKEN, ProtocolError
from .session import ChatSession, IdentityRefused, open_contact, visitor_address

__all__ = ["PREFIX", "chat_routes", "origin_allowed"]

log = logging.getLogger("trunkline_webchat")

PREFIX = "/chat"
FORM_OVERHEAD = 16 * 1024  # bytes of multipart framing and the token field around a file
DRAIN_FACTOR = 4  # an oversized upload up to this many times the limit is read to the end,
# so the browser gets its 413 instead of a reset connection
SOCKET_BUFFER = 256  # frames queued for a visitor's socket before it counts as not keeping up
FRAMES_PER_10S = 100  # frames of any kind a socket may send in 10 seconds before it is closed

_STATIC = resources.files("trunkline_webchat") / "static"
_PLACEHOLDER = re.compile(r"\{\{(page_title|title|config|features)\}\}")


def _asset(name: str) -> str:
    return (_STATIC / name).read_text(encoding="utf-8")


def chat_routes(runtime: PluginRuntime) -> list[BaseRoute]:
    """The routes of every web-chat channel of ``runtime``, under ``/chat/<channel>/``."""
    page_template = _asset("chat.html")
    widget_template = _asset("widget.js")
    script = _asset("chat.js")
    style = _asset("chat.css")

    def channel_of(connection: HTTPConnection) -> WebChatChannel | None:
        adapter = runtime.channels.get(connection.path_params.get("channel", ""))
        return adapter if isinstance(adapter, WebChatChannel) else None

    def no_channel(connection: HTTPConnection) -> Response:
        name = connection.path_params.get("channel", "")
        return _error(404, f'no web-chat channel "{name[:80]}" here')

    async def widget(request: Request) -> Response:
        channel = channel_of(request)
        if channel is None:
            return no_channel(request)
        config = json.dumps({"title": channel.settings.title, "channel": channel.instance})
        return Response(
            widget_template.replace("__CONFIG__", config),
            media_type="text/javascript; charset=utf-8",
            headers={
                "Cache-Control": "no-cache",
                "Cross-Origin-Resource-Policy": "cross-origin",  # any site may load the script
            },
        )

    async def page(request: Request) -> Response:
        channel = channel_of(request)
        if channel is None:
            return no_channel(request)
        settings = channel.settings
        config = {
            "channel": channel.instance,
            "title": settings.title,
            "max_text_length": settings.max_text_length,
            "max_attachment_bytes": settings.max_attachment_bytes,
            "attachment_types": list(settings.attachment_types),
            # Whose page may hand the chat a signed-in visitor's identity (as frame-ancestors).
            "embed_origins": list(settings.allowed_origins),
        }
        page_title = settings.title
        if runtime.pm.distro is not None:  # a vendor distribution's name shows here too
            page_title = f"{settings.title} — {runtime.pm.product_title}"
        values = {
            "page_title": html.escape(page_title),
            "title": html.escape(settings.title),
            "config": html.escape(json.dumps(config), quote=True),
            "features": html.escape(json.dumps(_page_features(settings)), quote=True),
        }
        # One pass, so a setting's text that looks like a placeholder stays text.
        body = _PLACEHOLDER.sub(lambda found: values[found[1]], page_template)
        return Response(
            body,
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": _page_policy(settings.allowed_origins),
                # Browsers obey frame-ancestors above; X-Frame-Options is for those that do not.
                "X-Frame-Options": "SAMEORIGIN",
                "Cache-Control": "no-cache",
            },
        )

    async def page_script(request: Request) -> Response:
        if channel_of(request) is None:
            return no_channel(request)
        return Response(
            script,
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def page_style(request: Request) -> Response:
        if channel_of(request) is None:
            return no_channel(request)
        return Response(
            style, media_type="text/css; charset=utf-8", headers={"Cache-Control": "no-cache"}
        )

    async def socket(websocket: WebSocket) -> None:
        channel = channel_of(websocket)
        await websocket.accept()
        if channel is None:
            name = websocket.path_params.get("channel", "")[:80]
            await websocket.close(1008, f'no web-chat channel "{name}" here')
            return
        if not origin_allowed(channel, websocket, web_settings(runtime.config).public_url):
            origin = websocket.headers.get("origin", "")[:100]
            await websocket.close(1008, f"origin {origin} may not open this chat")
            return
        address = client_address(websocket)
        wait = channel.address_sockets.take(address)
        if wait:
            limit = channel.settings.address_sockets_per_minute
            await websocket.close(
                1013,
                f"too many chats opened from your address (more than {limit} a minute); "
                f"try again in {_whole_seconds(wait)} seconds",
            )
            return
        if not channel.ready:
            await websocket.close(1013, "the chat is not running; try again later")
            return
        session = ChatSession(channel, runtime, _Socket(), address=address)
        await _serve_socket(websocket, session, channel)

    async def upload(request: Request) -> Response:
        channel = channel_of(request)
        if channel is None:
            return no_channel(request)
        if not origin_allowed(channel, request, web_settings(runtime.config).public_url):
            origin = request.headers.get("origin", "")[:100]
            return _error(403, f"origin {origin} may not upload to this chat")
        try:
            return await _upload(runtime, channel, request)
        except FileRefused as refused:
            headers = None
            if refused.retry_after is not None:
                headers = {"Retry-After": str(_whole_seconds(refused.retry_after))}
            return _error(refused.status, str(refused), headers)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it; nothing was kept

    async def download(request: Request) -> Response:
        channel = channel_of(request)
        if channel is None:
            return no_channel(request)
        sha256 = request.path_params["sha256"]
        attachment = await channel.files.describe(sha256)  # this channel's files only
        if attachment is None:
            return _error(404, f"no file with the SHA-256 {sha256[:64]} here")
        return FileResponse(
            channel.files.path(sha256),
            media_type=attachment.content_type,
            filename=attachment.filename,
            content_disposition_type="attachment",
            headers={
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, max-age=31536000, immutable",
            },
        )

    return [
        Mount(
            PREFIX,
            routes=[
                Route("/{channel}/", page, methods=["GET"]),
                Route("/{channel}/widget.js", widget, methods=["GET"]),
                Route("/{channel}/chat.js", page_script, methods=["GET"]),
                Route("/{channel}/chat.css", page_style, methods=["GET"]),
                WebSocketRoute("/{channel}/ws", socket),
                Route("/{channel}/files", upload, methods=["POST"]),
                Route("/{channel}/files/{sha256}", download, methods=["GET"]),
            ],
        )
    ]


def _page_features(settings: WebChatSettings) -> dict[str, Any]:
    """What the chat page shows besides the conversation: the greeting and the forms."""
    return {
        "greeting": settings.greeting,
        "prechat": {"name": settings.prechat_name, "email": settings.prechat_email},
        "offline_form": settings.offline_form,
        "offline_message": settings.offline_message,
    }


# Origins ------------------------------------------------------------------------------------


def origin_allowed(channel: WebChatChannel, connection: HTTPConnection, public_url: str) -> bool:
    """May a browser page of this request's ``Origin`` talk to the chat?

    Allowed: no ``Origin`` (not a browser: nothing to protect from), the server's own origin
    (the chat page itself, also behind a proxy that terminates TLS), ``[web] public_url``'s
    origin, and the channel's ``allowed_origins`` (``"*"``: any).
    """
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    allowed = channel.settings.allowed_origins
    if "*" in allowed or origin in allowed:
        return True
    parts = urllib.parse.urlsplit(origin)
    host = connection.headers.get("host", "")
    if parts.scheme in ("http", "https") and host and parts.netloc.lower() == host.lower():
        return True
    if public_url:
        public = urllib.parse.urlsplit(public_url)
        return origin == f"{public.scheme}://{public.netloc}"
    return False


def _page_policy(allowed_origins: tuple[str, ...]) -> str:
    ancestors = "*" if "*" in allowed_origins else " ".join(("'self'", *allowed_origins))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"connect-src 'self'; frame-ancestors {ancestors}; base-uri 'none'; "
        "form-action 'none'; object-src 'none'"
    )


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def client_address(connection: HTTPConnection) -> str:
    """The client's address as the HTTP server sees it: the peer's, or with ``[web]
    proxy_headers`` a trusted proxy's ``X-Forwarded-For``; "" when the server has none."""
    return connection.client.host if connection.client is not None else ""


def _whole_seconds(wait: float) -> int:
    """Seconds to tell a client to wait, as a whole number (at least 1)."""
    return max(1, math.ceil(wait))


# The socket ---------------------------------------------------------------------------------


class _Socket:
    """A visitor's socket as the adapter sees it: frames queued for one writer task."""

    def __init__(self) -> None:
        self._send, self.frames = anyio.create_memory_object_stream[dict[str, Any]](SOCKET_BUFFER)
        self.closing: tuple[int, str] | None = None

    def push(self, frame: Mapping[str, Any]) -> None:
        if self.closing is not None:
            return
        try:
            self._send.send_nowait(dict(frame))
        except anyio.WouldBlock:
            # The visitor does not read: drop the socket rather than hold replies up. The
            # widget reconnects and gets everything from the store.
            self.close(1013, "the chat could not keep up; reconnect")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    def close(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)
            self._send.close()


async def _serve_socket(
    websocket: WebSocket, session: ChatSession, channel: WebChatChannel
) -> None:
    """Read frames into the session; a second task writes what it and the adapter push."""
    connection = session.connection
    assert isinstance(connection, _Socket)
    frames = RateLimiter(FRAMES_PER_10S, RATE_WINDOW)
    limit = channel.max_frame_bytes()

    async def write(scope: anyio.CancelScope) -> None:
        try:
            async with connection.frames:
                async for frame in connection.frames:
                    await websocket.send_text(protocol.encode(frame))
            code, reason = connection.closing or (1000, "")
            await websocket.close(code, reason)
        except Exception:  # the visitor is gone: nothing left to write to
            log.debug("%s: a socket closed while writing", channel.what, exc_info=True)
        scope.cancel()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(write, tg.cancel_scope)
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if connection.closing is not None:
                    continue  # closing: what still arrives is not read
                text = message.get("text")
                if text is None:
                    connection.push(protocol.error("send JSON in text frames, not binary ones"))
                    continue
                size = len(text.encode("utf-8", "surrogatepass"))
                if size > limit:
                    connection.push(
                        protocol.error(f"a frame of {size} bytes is too big (at most {limit})")
                    )
                    connection.close(1009, "frame too big")
                    continue
                if frames.take(""):
                    connection.close(1008, "too many frames; slow down")
                    continue
                await session.handle(text)
            tg.cancel_scope.cancel()
    finally:
        session.leave()
        connection.close(1000, "")


# Uploads ------------------------------------------------------------------------------------


async def _upload(runtime: PluginRuntime, channel: WebChatChannel, request: Request) -> Response:
    settings = channel.settings
    limit = settings.max_attachment_bytes
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return _error(400, 'send multipart/form-data with the fields "file" (one file) and "token"')
    cap = limit + FORM_OVERHEAD
    body = await _read_capped(request, cap, max(cap, DRAIN_FACTOR * limit))
    wait = channel.address_uploads.take(client_address(request))  # read first: see _read_capped
    if wait:
        raise FileRefused(
            429,
            f"too many uploads from your address (more than "
            f"{settings.address_uploads_per_minute} a minute); try again in "
            f"{_whole_seconds(wait)} seconds",
            retry_after=wait,
        )
    if body is None:
        raise FileRefused(413, _too_big(limit))
    try:
        form = await MultiPartParser(
            Headers(raw=request.headers.raw),
            _once(body),
            max_files=1,
            max_fields=1,
            max_part_size=1024,
        ).parse()
    except MultiPartException as exc:
        return _error(400, f"the form could not be read: {exc.message}")
    try:
        try:
            visitor = _uploader(channel, form.get("token"), form.get("identity"))
        except ProtocolError as refused:
            return _error(403 if isinstance(refused, IdentityRefused) else 400, str(refused))
        if await open_contact(runtime, channel, visitor) is None:
            return _error(
                409,
                "files are taken within an open chat only: send a message first, then "
                "attach the file",
            )
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return _error(400, 'the field "file" must be a file')
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise FileRefused(413, _too_big(limit))
        if not data:
            return _error(400, "the file is empty")
        wait = channel.rates.take(visitor)
        if wait:
            seconds = retry_after(wait)
            return _error(429, "slow down", {"Retry-After": str(max(1, round(seconds)))})
        kind = check_type(data, upload.content_type or "", settings.attachment_types)
        attachment = await _keep(runtime, channel, data, upload.filename or "file", kind)
    finally:
        await form.close()
    return JSONResponse(
        {
            "sha256": attachment.sha256,
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "size": attachment.size,
        }
    )


async def _keep(
    runtime: PluginRuntime, channel: WebChatChannel, data: bytes, filename: str, kind: str
) -> Attachment:
    """Keep a checked file, within the workspace's ``max_upload_storage_bytes``: a file this
    channel already keeps takes no more room; one that would pass the cap is refused (507),
    and nothing kept before is touched."""
    if await channel.files.describe(hashlib.sha256(data).hexdigest()) is not None:
        return await channel.files.save(data, filename, kind)  # a new name, no new bytes
    most = channel.settings.max_upload_storage_bytes
    caps = caps_of(runtime, channel.workspace)
    directories = workspace_directories(runtime, channel.workspace)
    kept = await caps.reserve(directories, len(data), most)
    if kept is not None:
        raise FileRefused(
            507,
            f"this chat cannot keep more files: they would take more than {most} bytes "
            f"(max_upload_storage_bytes; {kept} kept); send your message without the file",
        )
    try:
        return await channel.files.save(data, filename, kind)
    except BaseException:
        caps.release(len(data))
        raise


def _uploader(channel: WebChatChannel, token: object, identity: object) -> str:
    """Who uploads: the address of the form's ``token``, or of a signed-in visitor's
    ``identity`` (the JSON the hello carries); raises ProtocolError (IdentityRefused)."""
    if isinstance(token, str) and TOKEN.fullmatch(token):
        return visitor_address(channel, token=token)
    if isinstance(identity, str):
        try:
            data = json.loads(identity)
        except ValueError:
            data = None
        return visitor_address(channel, identity=protocol.parse_identity(data))
    raise ProtocolError(
        'the field "token" must be the token the chat\'s welcome gave (or, for a signed-in '
        'visitor, the field "identity" the JSON of the hello\'s identity)'
    )


def _too_big(limit: int) -> str:
    return f"the file is larger than {limit} bytes (max_attachment_bytes)"


async def _read_capped(request: Request, cap: int, drain: int) -> bytes | None:
    """The body, or None when it is over ``cap`` bytes (declared or counted). An oversized
    body up to ``drain`` bytes is read to its end first, so the client can read the answer."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise FileRefused(400, f"Content-Length {declared[:40]!r} is not a number") from None
        if size > cap:
            if size <= drain:
                async for _ in request.stream():
                    pass
            return None
    received = bytearray()
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > drain:
            return None
        if seen <= cap:
            received += chunk
    return bytes(received) if seen <= cap else None


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body
