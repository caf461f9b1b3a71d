"""The webhook channel adapter: messages POSTed as JSON, answered only once they are stored.

``run`` serves a small Starlette app with uvicorn (see :mod:`trunkline_web.server`):
``POST /v1/messages`` turns a JSON body into an :class:`~trunkline.InboundMessage` from
``Address("webhook", <sender>)`` and answers **202 only after the runtime's handler returned
an Ack**, that is, once the message is durably stored; a store that cannot take it now gives
503 with ``Retry-After``, and nothing else is ever answered with a 2xx. ``send`` POSTs each
reply as JSON to ``callback_url`` with httpx. This is the only module (with ``server`` and
``receiver``) that imports Starlette, uvicorn or httpx; the entry point imports it lazily.
"""

from __future__ import annotations

import collections
import json
import logging
import time
import urllib.parse
from functools import partial
from importlib import metadata
from typing import Any, ClassVar

import anyio
import anyio.abc
import attrs
import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import trunkline
from trunkline import (
    Ack,
    Address,
    Capabilities,
    InboundHandler,
    InboundMalformed,
    InboundMessage,
    InboundRejected,
    OutboundMessage,
    PermanentSendError,
    Receipt,
    Secret,
    TemporaryFailure,
)
from trunkline_web import server

from . import wire
from .wire import ADDRESS_KIND

__all__ = ["ADDRESS_KIND", "CallbackUnavailable", "WebhookChannel", "WebhookSettings"]

log = logging.getLogger("trunkline_webhook")

MESSAGES_PATH = "/v1/messages"
HEALTH_PATH = "/healthz"
RETRY_AFTER = "1"  # seconds, in the Retry-After header of a 503
SEND_TIMEOUT = 10.0  # seconds for one callback POST (connect, write and read)
MAX_CALLBACK_ANSWER = 65536  # bytes of a callback's answer read (for its "id"); the rest dropped
RECENT = 1000  # receipts remembered by dedupe key


# Settings -----------------------------------------------------------------------------------


def _port(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"port {value} is not from 0 to 65535 (0 picks any free port)")


def _at_least(minimum: int) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}, got {value}")

    return check


def _not_blank(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be empty")


def _callback_url(instance: Any, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "callback_url must be an http:// or https:// URL with a host, "
            "e.g. https://crm.example.com/trunkline/replies"
        )


def _describe_url(url: str) -> str:
    """The URL without credentials or query string, fit for errors and logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@attrs.frozen
class WebhookSettings:
    """Settings of a webhook channel (``[workspaces.<w>.channels.<name>.settings]``).

    ``port = 0`` listens on any free port; the adapter's ``port`` attribute tells which.
    ``secret``, when set, is the HMAC-SHA256 key every request must be signed with, with its
    time (``X-Trunkline-Timestamp`` and ``X-Trunkline-Signature``); a timestamp more than
    ``signature_tolerance`` seconds from the channel's clock is refused, so a captured request
    cannot be replayed later. ``legacy_signatures`` also accepts the old form (the body alone,
    no timestamp) and signs replies that way, while senders and receivers move over.
    ``max_body_bytes`` bounds a request body (413 past it),
    ``max_text_length`` the message text in characters (422 past it). Replies are POSTed to
    ``callback_url``, signed with ``callback_secret`` when set; without a ``callback_url``
    the channel is inbound only. Give secrets as ``{ env = "VARIABLE" }``.
    """

    host: str = attrs.field(default="127.0.0.1", validator=_not_blank)
    port: int = attrs.field(default=8080, validator=_port)
    kind: str = attrs.field(default="chat", validator=_not_blank)
    secret: Secret | None = trunkline.secret()
    signature_tolerance: int = attrs.field(default=wire.TOLERANCE, validator=_at_least(1))
    legacy_signatures: bool = False
    max_body_bytes: int = attrs.field(default=65536, validator=_at_least(256))
    max_text_length: int = attrs.field(default=4096, validator=_at_least(1))
    callback_url: str | None = attrs.field(default=None, validator=_callback_url)
    callback_secret: Secret | None = trunkline.secret()


# Errors -------------------------------------------------------------------------------------


class CallbackUnavailable(Exception):
    """Raised by ``send`` when the callback could not take a reply now (a network error, a
    timeout, 5xx, 408 or 429): an ordinary exception, so the runtime's outbox retries it."""


class _Refused(Exception):
    """A request answered with an error; nothing was handed to the runtime."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        retry: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.retry = retry
        self.headers = headers

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": str(self)}
        if self.field is not None:
            body["field"] = self.field
        if self.retry:
            body["retry"] = True
        return JSONResponse(body, status_code=self.status, headers=self.headers)


# The adapter --------------------------------------------------------------------------------


class WebhookChannel:
    """A JSON-over-HTTP channel. See the module docstring and :mod:`trunkline_webhook.wire`."""

    name: ClassVar[str] = "webhook"
    kind: str = "chat"
    capabilities: Capabilities = Capabilities(
        inbound=True, outbound=True, dedupe_key=True, max_body_length=4096
    )
    Settings: ClassVar[type[WebhookSettings]] = WebhookSettings

    def __init__(self, settings: WebhookSettings, *, instance: str, workspace: str) -> None:
        self.settings = settings
        self.instance = instance
        self.workspace = workspace
        self.kind = settings.kind
        # The class declares what the adapter can do; an instance without a callback_url
        # cannot send, and its text limit is its own.
        self.capabilities = attrs.evolve(
            type(self).capabilities,
            outbound=settings.callback_url is not None,
            max_body_length=settings.max_text_length,
        )
        self.port: int | None = None  # the bound port, while listening
        self._what = f'webhook channel "{instance}"'
        self._client: httpx.AsyncClient | None = None
        self._receipts: collections.OrderedDict[str, Receipt] = collections.OrderedDict()

    @property
    def url(self) -> str | None:
        """``http://host:port`` of the running channel (None when not listening)."""
        if self.port is None:
            return None
        host = self.settings.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    # The adapter protocol -----------------------------------------------------------------

    async def run(
        self,
        inbound: InboundHandler,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve HTTP until cancelled; ``task_status.started()`` once the socket listens.

        When cancelled, new connections are refused and requests in flight finish (their
        messages stored and answered) for at most ``server.GRACEFUL_SHUTDOWN`` seconds.
        """
        sock = await server.listen(self.settings.host, self.settings.port, what=self._what)
        serving = partial(server.serve, self._app(inbound), sock, what=self._what)
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(serving)
                self.port = int(sock.getsockname()[1])
                log.info("%s listening on %s%s", self._what, self.url, MESSAGES_PATH)
                task_status.started()
        finally:
            self.port = None
            sock.close()  # serve() closes it; this covers a failure before serve() ran

    async def send(self, to: Address, message: OutboundMessage) -> Receipt:
        """POST the reply as JSON to ``callback_url``; return the callback's ``"id"``.

        A 2xx answer is success. 4xx (but 408 and 429) raises
        :class:`~trunkline.PermanentSendError`; 5xx, 408, 429, timeouts and connection errors
        raise :class:`CallbackUnavailable`, which the outbox retries. The same ``dedupe_key``
        is POSTed once per process (the last 1000 keys are remembered); it travels as
        ``Idempotency-Key`` so the receiver can drop a repeat sent after a restart.
        """
        url = self.settings.callback_url
        if url is None:
            raise PermanentSendError(
                f"{self._what} has no callback_url, so it cannot deliver replies; "
                "set callback_url in the channel's settings"
            )
        if to.kind != ADDRESS_KIND:
            raise PermanentSendError(
                f'{self._what}: cannot reach {to} (expected an address of kind "{ADDRESS_KIND}")'
            )
        key = message.dedupe_key
        if key is not None and key in self._receipts:
            return self._receipts[key]
        body = wire.callback_body(to, message)
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers[wire.IDEMPOTENCY_HEADER] = key
        if self.settings.callback_secret is not None:
            secret = self.settings.callback_secret.get()
            if self.settings.legacy_signatures:  # a receiver not yet moved to timestamps
                headers[wire.SIGNATURE_HEADER] = wire.legacy_sign(secret, body)
            else:  # signed now, for each attempt: a retry is not outside the window
                headers.update(wire.signature_headers(secret, body))
        target = _describe_url(url)
        try:
            async with self._http().stream("POST", url, content=body, headers=headers) as answer:
                data = await _read_at_most(answer, MAX_CALLBACK_ANSWER)
        except httpx.HTTPError as exc:
            raise CallbackUnavailable(
                f"{self._what}: callback {target} failed: {type(exc).__name__}: {exc}"
            ) from exc
        status = answer.status_code
        if 200 <= status < 300:
            receipt = Receipt(provider_id=_provider_id(data))
            if key is not None:
                self._receipts[key] = receipt
                if len(self._receipts) > RECENT:
                    self._receipts.popitem(last=False)
            return receipt
        problem = f"{self._what}: callback {target} answered {status} {answer.reason_phrase}"
        detail = _snippet(data)
        if detail:
            problem += f": {detail}"
        if status >= 500 or status in (408, 429):
            raise CallbackUnavailable(problem)
        if 300 <= status < 400:
            problem += " (redirects are not followed: set callback_url to the final URL)"
        raise PermanentSendError(problem)

    async def aclose(self) -> None:
        """Close the callback client's connections."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # HTTP in ------------------------------------------------------------------------------

    def _app(self, inbound: InboundHandler) -> Starlette:
        async def messages(request: Request) -> Response:
            return await self._post_message(inbound, request)

        async def health(request: Request) -> Response:
            return JSONResponse({"ok": True})

        async def no_such_endpoint(request: Request, exc: Exception) -> Response:
            status, headers = 404, None
            if isinstance(exc, HTTPException):
                status, headers = exc.status_code, exc.headers  # 405 keeps its Allow header
            return JSONResponse(
                {
                    "error": f"no such endpoint: {request.method} {request.url.path} "
                    f"(endpoints: POST {MESSAGES_PATH}, GET {HEALTH_PATH})"
                },
                status_code=status,
                headers=headers,
            )

        return Starlette(
            routes=[
                Route(MESSAGES_PATH, messages, methods=["POST"]),
                Route(HEALTH_PATH, health, methods=["GET"]),
            ],
            exception_handlers={404: no_such_endpoint, 405: no_such_endpoint},
        )

    async def _post_message(self, inbound: InboundHandler, request: Request) -> Response:
        """Check the request, hand the message to the runtime, answer from what it said."""
        try:
            problem = wire.content_type_problem(request.headers.get("content-type"))
            if problem is not None:
                raise _Refused(415, problem)
            body = await self._read_body(request)
            self._check_signature(request, body)
            message = self._normalise(body)
        except _Refused as refused:
            return refused.response()
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it; nothing was stored
        try:
            ack = await inbound(message)
        except InboundMalformed as exc:  # bad input, the same every time: never a retry
            return _malformed(exc).response()
        except InboundRejected as exc:
            return _Refused(403, f"refused: {exc}").response()
        except TemporaryFailure as exc:
            return _Refused(
                503,
                f"not stored, send it again later: {exc}",
                retry=True,
                headers={"Retry-After": RETRY_AFTER},
            ).response()
        except Exception:
            log.exception("%s: the runtime failed on a message", self._what)
            return _Refused(
                500,
                "internal error: the message may not be stored; send it again later "
                '(with the same "id" it is never stored twice)',
                retry=True,
            ).response()
        return _ack_response(ack)

    async def _read_body(self, request: Request) -> bytes:
        """The request body, at most max_body_bytes: the declared length is checked before
        reading, and the bytes are counted while reading (a chunked body declares none)."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise _Refused(400, f"Content-Length {declared!r} is not a number") from None
            if size > limit:
                raise _Refused(
                    413,
                    f"body of {size} bytes exceeds max_body_bytes={limit}; "
                    "send one message per request, with a shorter text",
                )
        received = bytearray()
        async for chunk in request.stream():
            received += chunk
            if len(received) > limit:
                raise _Refused(
                    413,
                    f"body exceeds max_body_bytes={limit} (more than {limit} bytes arrived); "
                    "send one message per request, with a shorter text",
                )
        return bytes(received)

    def _check_signature(self, request: Request, body: bytes) -> None:
        secret = self.settings.secret
        if secret is None:
            return
        problem = wire.signature_problem(
            secret.get(),
            body,
            request.headers.get(wire.SIGNATURE_HEADER),
            request.headers.get(wire.TIMESTAMP_HEADER),
            now=time.time(),
            tolerance=self.settings.signature_tolerance,
            legacy=self.settings.legacy_signatures,
        )
        if problem is not None:
            raise _Refused(401, problem)

    def _normalise(self, body: bytes) -> InboundMessage:
        try:
            parsed = wire.parse_message(body)
        except wire.WireError as exc:
            raise _Refused(400, str(exc), field=exc.field) from None
        limit = self.settings.max_text_length
        if len(parsed.text) > limit:
            raise _Refused(
                422,
                f"text of {len(parsed.text)} characters exceeds max_text_length={limit}",
                field="text",
            )
        return InboundMessage(
            channel=self.instance,
            sender=Address(ADDRESS_KIND, parsed.sender),
            body=parsed.text,
            subject=parsed.subject,
            provider_id=parsed.id,  # the sender's id: a redelivery is recognised by it
            thread_hint=parsed.thread,
            attributes=parsed.attributes,
        )

    # HTTP out -----------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=SEND_TIMEOUT,
                follow_redirects=False,
                headers={"User-Agent": f"trunkline-webhook/{_version()}"},
            )
        return self._client


# The InboundMessage fields core names, as the fields of the JSON body they came from.
_WIRE_FIELDS = {"provider_id": "id", "thread_hint": "thread", "body": "text"}


def _malformed(exc: InboundMalformed) -> _Refused:
    """400 naming the body's field, for a string core refused (see trunkline.check_inbound)."""
    field = _WIRE_FIELDS.get(exc.field, exc.field)
    if field == "attributes":  # core's message says which attribute
        return _Refused(400, f'field "attributes": {exc}', field=field)
    return _Refused(400, f'field "{field}" {exc.problem}', field=field)


def _ack_response(ack: Ack) -> JSONResponse:
    return JSONResponse(
        {
            "contact_id": ack.contact_id,
            "message_id": ack.message_id,
            "duplicate": ack.duplicate,
            "new_contact": ack.new_contact,
        },
        status_code=202,
    )


async def _read_at_most(answer: httpx.Response, limit: int) -> bytes:
    data = bytearray()
    async for chunk in answer.aiter_bytes():
        data += chunk[: limit - len(data)]
        if len(data) >= limit:
            break
    return bytes(data)


def _provider_id(data: bytes) -> str | None:
    """The ``"id"`` of a callback's JSON answer, if it has one."""
    try:
        obj = json.loads(data)
    except ValueError:
        return None
    value = obj.get("id") if isinstance(obj, dict) else None
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _snippet(data: bytes, limit: int = 200) -> str:
    text = " ".join(data.decode("utf-8", errors="replace").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _version() -> str:
    try:
        return metadata.version("trunkline-webhook")
    except metadata.PackageNotFoundError:
        return "0"
