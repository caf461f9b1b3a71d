"""The webhook channel inside a runtime: 202 only once stored, clear refusals, replies POSTed.

Every request here is real HTTP over loopback: httpx for well-formed clients, a raw socket
for clients that lie about their body. Every refusal is checked twice: nothing new is in the
store, and a message accepted before it is still there.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from trunkline import (
    Address,
    ConfigError,
    FakeClock,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    Runtime,
    config_from_dict,
    hookimpl,
    load_config,
)
from trunkline import events as ev
from trunkline.testing import wait_for_event
from trunkline_webhook import wire
from trunkline_webhook.adapter import CallbackUnavailable, WebhookChannel, WebhookSettings
from trunkline_webhook.receiver import CallbackReceiver

pytestmark = pytest.mark.anyio

RunWebhook = Callable[..., AbstractAsyncContextManager[tuple[Runtime, WebhookChannel]]]
WORKSPACE = "acme"  # as configured by the run_webhook fixture (conftest.py)
SECRET = "s3cret-for-tests"
JSON = {"Content-Type": "application/json"}


async def stored(runtime: Runtime) -> list[ev.Event]:
    return [s.event for s in await runtime.store.read(WORKSPACE)]


async def post(
    http: httpx.AsyncClient,
    channel: WebhookChannel,
    body: bytes | Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    path: str = "/v1/messages",
    content_type: str | None = "application/json",
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {} if content_type is None else {"Content-Type": content_type}
    return await http.post(
        f"{channel.url}{path}", content=content, headers=sent | dict(headers or {})
    )


async def accepted(http: httpx.AsyncClient, channel: WebhookChannel, **fields: Any) -> Any:
    """POST a message that must be accepted; return the 202's JSON."""
    answer = await post(http, channel, {"sender": "ann", "text": "kept", **fields})
    assert answer.status_code == 202, answer.text
    return answer.json()


async def raw_exchange(channel: WebhookChannel, request: bytes, *, close: bool = False) -> bytes:
    """Send bytes as they are to the channel; read one answer, or until it closes (5 s at most).

    ``close`` shuts our side for writing after sending, as a client that gives up does.
    """
    assert channel.port is not None
    received = b""
    with anyio.fail_after(5):
        async with await anyio.connect_tcp("127.0.0.1", channel.port) as stream:
            await stream.send(request)
            if close:
                await stream.send_eof()
            try:
                while not _complete(received):
                    received += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
                pass
    return received


def _complete(raw: bytes) -> bool:
    head, found, body = raw.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw else 0


# Inbound: the happy path ----------------------------------------------------------------------


async def test_a_message_is_answered_202_once_it_is_stored(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with run_webhook() as (runtime, channel):
        answer = await post(http, channel, {"sender": "ann", "text": "Where is my order?"})
        assert answer.status_code == 202
        assert answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert set(body) == {"contact_id", "message_id", "duplicate", "new_contact"}
        assert (body["duplicate"], body["new_contact"]) == (False, True)
        # The answer names what is already in the store: it was sent after the append.
        messages = await runtime.store.messages(WORKSPACE, body["contact_id"])
        assert [(m.id, m.body, m.sender) for m in messages] == [
            (body["message_id"], "Where is my order?", Address("webhook", "ann"))
        ]
        contact = await runtime.store.contact(WORKSPACE, body["contact_id"])
        assert contact is not None
        assert (contact.channel, contact.channel_kind) == (channel.instance, "chat")


async def test_subject_thread_and_attributes_reach_the_contact(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with run_webhook({"kind": "email"}) as (runtime, channel):
        first = await accepted(
            http,
            channel,
            id="m-1",
            thread="order-7",
            subject="Order 7",
            attributes={"order": 7, "vip": True},
        )
        contact = await runtime.store.contact(WORKSPACE, first["contact_id"])
        assert contact is not None
        assert contact.channel_kind == "email"
        assert contact.subject == "Order 7"
        assert dict(contact.attributes) == {"order": 7, "vip": True}
        # Another sender writing in the same thread joins the same contact.
        second = await post(
            http, channel, {"sender": "bob", "text": "me too", "id": "m-2", "thread": "order-7"}
        )
        assert second.json()["contact_id"] == first["contact_id"]
        assert second.json()["new_contact"] is False


async def test_a_redelivered_id_is_answered_202_as_a_duplicate(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with run_webhook() as (runtime, channel):
        first = await accepted(http, channel, id="m-1")
        again = await post(http, channel, {"sender": "ann", "text": "kept", "id": "m-1"})
        assert again.status_code == 202
        assert again.json() == {**first, "duplicate": True, "new_contact": False}
        assert len(await runtime.store.messages(WORKSPACE, first["contact_id"])) == 1


async def test_the_health_endpoint_answers_ok(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with run_webhook() as (_runtime, channel):
        answer = await http.get(f"{channel.url}/healthz")
        assert (answer.status_code, answer.json()) == (200, {"ok": True})


async def test_an_unknown_endpoint_or_method_gets_a_json_error(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with run_webhook() as (runtime, channel):
        missing = await post(http, channel, {"sender": "ann", "text": "hi"}, path="/v2/messages")
        assert missing.status_code == 404
        assert "no such endpoint: POST /v2/messages" in missing.json()["error"]
        wrong_method = await http.get(f"{channel.url}/v1/messages")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["allow"] == "POST"
        assert await stored(runtime) == []


# Inbound: refusals store nothing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem", "field"),
    [
        (b"hello, is anyone there?", "not JSON (Expecting value at line 1 column 1)", None),
        (b"", "not JSON", None),
        (b"\xc3\x28", "not UTF-8 (byte 0)", None),
        (b'["ann", "hi"]', "expected a JSON object, got a list", None),
        (b'{"text": "hi"}', 'missing field "sender" (required: sender, text)', "sender"),
        (b'{"sender": "ann"}', 'missing field "text"', "text"),
        (
            b'{"sender": 42, "text": "hi"}',
            'field "sender" must be a string, got a number',
            "sender",
        ),
        (b'{"sender": "ann", "text": ["hi"]}', 'field "text" must be a string, got a list', "text"),
        (b'{"sender": " ", "text": "hi"}', 'field "sender" must not be empty', "sender"),
        (b'{"sender": "ann", "text": ""}', 'field "text" must not be empty', "text"),
        (b'{"sender": "ann", "text": "hi", "id": 7}', 'field "id" must be a string', "id"),
        (
            b'{"sender": "ann", "text": "hi", "attributes": [1]}',
            'field "attributes" must be an object, got a list',
            "attributes",
        ),
        (
            b'{"sender": "ann", "message": "hi"}',
            'unknown field "message" (allowed: sender, text, id, thread, subject, attributes)',
            "message",
        ),
        (
            b'{"sender": "ann", "sender": "bob", "text": "hi"}',
            'field "sender" appears twice',
            "sender",
        ),
        (b'{"sender": "ann", "text": "hi", "attributes": {"x": NaN}}', "NaN is not JSON", None),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply", None),
    ],
)
async def test_a_malformed_request_gets_400_naming_the_problem_and_stores_nothing(
    run_webhook: RunWebhook, http: httpx.AsyncClient, body: bytes, problem: str, field: str | None
) -> None:
    async with run_webhook({"max_body_bytes": 20000}) as (runtime, channel):
        kept = await accepted(http, channel, id="m-1")
        before = await stored(runtime)
        answer = await post(http, channel, body)
        assert answer.status_code == 400
        assert problem in answer.json()["error"]
        assert answer.json().get("field") == field
        assert await stored(runtime) == before
        assert len(await runtime.store.messages(WORKSPACE, kept["contact_id"])) == 1


async def test_a_text_longer_than_max_text_length_gets_422_and_stores_nothing(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with run_webhook({"max_text_length": 10}) as (runtime, channel):
        assert channel.capabilities.max_body_length == 10
        kept = await accepted(http, channel, text="ten chars!")
        before = await stored(runtime)
        answer = await post(http, channel, {"sender": "ann", "text": "x" * 11})
        assert answer.status_code == 422
        assert answer.json() == {
            "error": "text of 11 characters exceeds max_text_length=10",
            "field": "text",
        }
        assert await stored(runtime) == before
        assert len(await runtime.store.messages(WORKSPACE, kept["contact_id"])) == 1


async def test_a_body_over_max_body_bytes_gets_413_and_stores_nothing(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with run_webhook({"max_body_bytes": 1024}) as (runtime, channel):
        kept = await accepted(http, channel)
        before = await stored(runtime)
        answer = await post(http, channel, {"sender": "ann", "text": "x" * 2000})
        assert answer.status_code == 413
        assert "body of 2029 bytes exceeds max_body_bytes=1024" in answer.json()["error"]
        assert await stored(runtime) == before
        assert len(await runtime.store.messages(WORKSPACE, kept["contact_id"])) == 1


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(
    run_webhook: RunWebhook,
) -> None:
    async with run_webhook({"max_body_bytes": 1024}) as (runtime, channel):
        # Headers only: the body never comes, yet the answer does (no waiting for it).
        head = (
            b"POST /v1/messages HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n"
        )
        raw = await raw_exchange(channel, head)
        assert status_of(raw) == 413
        assert b"body of 100000000 bytes exceeds max_body_bytes=1024" in raw
        assert await stored(runtime) == []


async def test_a_chunked_body_is_counted_while_it_is_read(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with run_webhook({"max_body_bytes": 1024}) as (runtime, channel):
        kept = await accepted(http, channel)
        before = await stored(runtime)

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
            yield b'{"sender": "ann", "text": "'
            for _ in range(10):
                yield b"x" * 200
            yield b'"}'

        answer = await http.post(f"{channel.url}/v1/messages", content=chunks(), headers=JSON)
        assert answer.request.headers.get("transfer-encoding") == "chunked"
        assert answer.status_code == 413
        assert "body exceeds max_body_bytes=1024" in answer.json()["error"]
        assert await stored(runtime) == before
        assert len(await runtime.store.messages(WORKSPACE, kept["contact_id"])) == 1


async def test_a_client_sending_more_than_its_content_length_gets_only_that_much_read(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with run_webhook({"max_body_bytes": 1024}) as (runtime, channel):
        kept = await accepted(http, channel)
        before = await stored(runtime)
        body = b'{"sender": "ann", "text": "' + b"x" * 100_000 + b'"}'
        lie = (
            b"POST /v1/messages HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 40\r\n\r\n" + body
        )
        raw = await raw_exchange(channel, lie)
        # The 40 declared bytes are cut-off JSON; the rest is not taken as part of the body.
        assert status_of(raw) == 400
        assert b"not JSON" in raw
        assert await stored(runtime) == before
        assert len(await runtime.store.messages(WORKSPACE, kept["contact_id"])) == 1


async def test_a_client_that_leaves_before_its_body_is_complete_stores_nothing(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with run_webhook() as (runtime, channel):
        kept = await accepted(http, channel)
        before = await stored(runtime)
        body = b'{"sender": "ann", "text": "cut short"}'
        head = b"POST /v1/messages HTTP/1.1\r\nHost: test\r\nContent-Length: 500\r\n\r\n"
        raw = await raw_exchange(channel, head + body, close=True)
        assert not raw.startswith(b"HTTP/1.1 2")
        assert await stored(runtime) == before
        assert len(await runtime.store.messages(WORKSPACE, kept["contact_id"])) == 1
        assert (await accepted(http, channel))["new_contact"] is False  # still serving


def now() -> int:
    return int(time.time())


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({}, 'missing header "X-Trunkline-Signature"'),
        (
            {"X-Trunkline-Signature": "v1=" + "0" * 64, "X-Trunkline-Timestamp": "NOW"},
            'wrong "X-Trunkline-Signature"',
        ),
        (
            {"X-Trunkline-Signature": "not-even-the-format"},
            'missing header "X-Trunkline-Timestamp"',
        ),
        (
            {"X-Trunkline-Signature": "not-even-the-format", "X-Trunkline-Timestamp": "NOW"},
            'wrong "X-Trunkline-Signature"',
        ),
        (wire.signature_headers("another-secret", b"{}"), 'wrong "X-Trunkline-Signature"'),
        ({"X-Trunkline-Signature": "v1=00", "X-Trunkline-Timestamp": "soon"}, "whole seconds"),
    ],
)
async def test_with_a_secret_an_unsigned_or_badly_signed_request_gets_401(
    run_webhook: RunWebhook, http: httpx.AsyncClient, headers: dict[str, str], problem: str
) -> None:
    settings = {"secret": {"env": "HOOK_SECRET"}}
    async with run_webhook(settings, env={"HOOK_SECRET": SECRET}) as (runtime, channel):
        good = wire.message_body("ann", "signed", id="m-1")
        answer = await post(http, channel, good, headers=wire.signature_headers(SECRET, good))
        assert answer.status_code == 202, answer.text
        kept = answer.json()
        before = await stored(runtime)

        bad = wire.message_body("ann", "not signed", id="m-2")
        given = {k: str(now()) if v == "NOW" else v for k, v in headers.items()}
        refused = await post(http, channel, bad, headers=given)
        assert refused.status_code == 401
        assert problem in refused.json()["error"]
        assert SECRET not in refused.text
        assert wire.sign(SECRET, bad, timestamp=now()) not in refused.text
        assert await stored(runtime) == before
        assert len(await runtime.store.messages(WORKSPACE, kept["contact_id"])) == 1


async def test_the_signature_covers_the_exact_bytes_and_takes_upper_case_hex(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    settings = {"secret": {"env": "HOOK_SECRET"}}
    async with run_webhook(settings, env={"HOOK_SECRET": SECRET}) as (_runtime, channel):
        body = b'{ "sender" : "ann",\n  "text": "Gr\xc3\xbc\xc3\x9fe" }'
        headers = wire.signature_headers(SECRET, body)
        upper = {**headers, wire.SIGNATURE_HEADER: headers[wire.SIGNATURE_HEADER].upper()}
        answer = await post(http, channel, body, headers=upper)
        assert answer.status_code == 202, answer.text
        # The same JSON re-encoded is other bytes: its signature does not vouch for them.
        reencoded = wire.message_body("ann", "Grüße")
        answer = await post(http, channel, reencoded, headers=headers)
        assert answer.status_code == 401


@pytest.mark.parametrize(("age", "tolerance"), [(301, None), (-301, None), (61, 60), (3600, None)])
async def test_a_signed_request_replayed_outside_the_window_gets_401_and_stores_nothing(
    run_webhook: RunWebhook, http: httpx.AsyncClient, age: int, tolerance: int | None
) -> None:
    # A request captured on the way carries a valid signature for ever, and without an "id"
    # nothing told a replay from a new message. Now the signed timestamp says when it was sent.
    settings: dict[str, Any] = {"secret": {"env": "HOOK_SECRET"}}
    if tolerance is not None:
        settings["signature_tolerance"] = tolerance
    async with run_webhook(settings, env={"HOOK_SECRET": SECRET}) as (runtime, channel):
        body = wire.message_body("ann", "pay the refund to my new account")  # no id
        captured = wire.signature_headers(SECRET, body, timestamp=now() - age)
        fresh = await post(http, channel, body, headers=wire.signature_headers(SECRET, body))
        assert fresh.status_code == 202, fresh.text
        before = await stored(runtime)
        replayed = await post(http, channel, body, headers=captured)
        assert replayed.status_code == 401, replayed.text
        side = "behind" if age > 0 else "ahead of"
        assert f"s {side} this server's clock, more than the" in replayed.json()["error"]
        assert f"{tolerance or 300} s allowed (signature_tolerance)" in replayed.json()["error"]
        assert await stored(runtime) == before
        assert len(await runtime.store.messages(WORKSPACE, fresh.json()["contact_id"])) == 1


async def test_a_request_signed_a_little_while_ago_is_within_the_window(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    settings = {"secret": {"env": "HOOK_SECRET"}}
    async with run_webhook(settings, env={"HOOK_SECRET": SECRET}) as (_runtime, channel):
        body = wire.message_body("ann", "slow network", id="m-1")
        for age in (280, -280):  # a sender's clock a little off, either way
            signed = wire.signature_headers(SECRET, body, timestamp=now() - age)
            answer = await post(http, channel, body, headers=signed)
            assert answer.status_code == 202, answer.text


async def test_the_old_signature_form_is_refused_unless_legacy_signatures_is_set(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    body = wire.message_body("ann", "signed the old way", id="m-1")
    old = {wire.SIGNATURE_HEADER: wire.legacy_sign(SECRET, body)}
    settings: dict[str, Any] = {"secret": {"env": "HOOK_SECRET"}}
    async with run_webhook(settings, env={"HOOK_SECRET": SECRET}) as (runtime, channel):
        refused = await post(http, channel, body, headers=old)
        assert refused.status_code == 401
        assert "is the old form, without a timestamp" in refused.json()["error"]
        assert "legacy_signatures = true" in refused.json()["error"]
        assert await stored(runtime) == []
    settings["legacy_signatures"] = True
    async with run_webhook(settings, env={"HOOK_SECRET": SECRET}) as (runtime, channel):
        assert (await post(http, channel, body, headers=old)).status_code == 202
        forged = {wire.SIGNATURE_HEADER: wire.legacy_sign("another-secret", body)}
        assert (await post(http, channel, body, headers=forged)).status_code == 401
        # The new form is accepted as always.
        signed = wire.signature_headers(SECRET, body)
        assert (await post(http, channel, body, headers=signed)).json()["duplicate"] is True


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=iso-8859-1",
    ],
)
async def test_a_body_that_is_not_json_by_its_content_type_gets_415_and_stores_nothing(
    run_webhook: RunWebhook, http: httpx.AsyncClient, content_type: str | None
) -> None:
    # A browser may send a form or text/plain across sites without asking (no CORS
    # preflight); a JSON endpoint takes only what says it is JSON.
    async with run_webhook() as (runtime, channel):
        kept = await accepted(http, channel, id="m-1")
        before = await stored(runtime)
        body = {"sender": "ann", "text": "hello", "id": "m-2"}
        answer = await post(http, channel, body, content_type=content_type)
        assert answer.status_code == 415, answer.text
        assert "send application/json" in answer.json()["error"]
        assert await stored(runtime) == before
        assert len(await runtime.store.messages(WORKSPACE, kept["contact_id"])) == 1
        utf8 = await post(http, channel, body, content_type="application/json; charset=utf-8")
        assert utf8.status_code == 202, utf8.text


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        (
            b'{"sender": "ann", "text": "hi", "id": "m-\\udfff"}',
            "id",
            'field "id" contains a lone UTF-16 surrogate U+DFFF (at character 3)',
        ),
        (
            b'{"sender": "ann\\ud800", "text": "hi", "id": "m-2"}',
            "sender",
            'field "sender" contains a lone UTF-16 surrogate U+D800',
        ),
        (
            b'{"sender": "ann", "text": "hi", "id": "m-2", "thread": "\\ud800"}',
            "thread",
            'field "thread" contains a lone UTF-16 surrogate U+D800',
        ),
        (b'{"sender": "ann", "text": "caf\\udce9", "id": "m-2"}', "text", "the byte 0xE9"),
        (b'{"sender": "ann", "text": "hi", "subject": "\\udfff"}', "subject", "U+DFFF"),
        (
            b'{"sender": "ann", "text": "hi", "attributes": {"tier": "\\ud800"}}',
            "attributes",
            'field "attributes": the attribute "tier" contains a lone UTF-16 surrogate',
        ),
        (
            b'{"sender": "a\\u0000b", "text": "hi", "id": "m-2"}',
            "sender",
            'field "sender" contains a NUL character (at character 2)',
        ),
        (b'{"sender": "ann", "text": "hi", "id": "\\u0000"}', "id", "contains a NUL"),
    ],
)
async def test_a_string_no_store_can_encode_gets_400_never_a_retry_and_stores_nothing(
    run_webhook: RunWebhook,
    http: httpx.AsyncClient,
    tmp_path: Any,
    body: bytes,
    field: str,
    problem: str,
) -> None:
    # With SQLite, a lone surrogate in a key was a UnicodeEncodeError in the store's lookup:
    # 500 with "retry": true, for input that fails the same way every time. And a NUL in the
    # sender got 403, which the docs keep for inbound filters.
    store = {"backend": "sqlite", "path": str(tmp_path / "hook.db")}
    async with run_webhook(store=store) as (runtime, channel):
        kept = await accepted(http, channel, id="m-1")
        before = await stored(runtime)
        answer = await post(http, channel, body)
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"error": answer.json()["error"], "field": field}
        assert problem in answer.json()["error"]
        assert "send valid Unicode text" in answer.json()["error"] or "NUL" in problem
        assert await stored(runtime) == before
        assert len(await runtime.store.messages(WORKSPACE, kept["contact_id"])) == 1
        assert (await accepted(http, channel, id="m-1"))["duplicate"] is True


class NoSpam:
    """An inbound filter plugin: refuses messages that shout about prizes."""

    @hookimpl
    def trunkline_inbound_filter(self, message: InboundMessage) -> str | None:
        return "looks like spam" if "PRIZE" in message.body else None


async def test_a_message_a_filter_refuses_gets_403_with_its_reason(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with run_webhook(plugins=[("no-spam", NoSpam())]) as (runtime, channel):
        answer = await post(http, channel, {"sender": "ann", "text": "You won a PRIZE!"})
        assert answer.status_code == 403
        assert answer.json() == {"error": "refused: looks like spam"}
        assert await stored(runtime) == []
        assert (await accepted(http, channel))["new_contact"]


async def test_when_the_store_fails_the_sender_gets_503_with_retry_after(
    run_webhook: RunWebhook, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_webhook() as (runtime, channel):
        kept = await accepted(http, channel, sender="bob", id="m-0")
        before = await stored(runtime)
        append = runtime.store.append

        async def unavailable(events: Any) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(runtime.store, "append", unavailable)
        answer = await post(http, channel, {"sender": "ann", "text": "hello", "id": "m-1"})
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["retry"] is True
        assert "not stored, send it again later" in answer.json()["error"]
        assert await stored(runtime) == before
        assert len(await runtime.store.messages(WORKSPACE, kept["contact_id"])) == 1

        monkeypatch.setattr(runtime.store, "append", append)
        again = await post(http, channel, {"sender": "ann", "text": "hello", "id": "m-1"})
        assert again.status_code == 202  # the same request, sent again, is new: it was lost
        assert again.json()["duplicate"] is False
        assert len(await runtime.store.messages(WORKSPACE, again.json()["contact_id"])) == 1


class SlowFilter:
    """An inbound filter that takes its time, so a request is in flight when we stop."""

    def __init__(self) -> None:
        self.entered = anyio.Event()

    @hookimpl
    async def trunkline_inbound_filter(self, message: InboundMessage) -> str | None:
        self.entered.set()
        await anyio.sleep(0.3)
        return None


async def stop_with_a_request_in_flight(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> tuple[Runtime, httpx.Response]:
    """Start a runtime, POST a message, and stop the runtime while the runtime handles it."""
    slow = SlowFilter()
    answers: list[httpx.Response] = []
    # Leaving the block stops the runtime first, then waits for the request's task.
    async with (
        anyio.create_task_group() as tg,
        run_webhook(plugins=[("slow", slow)]) as (runtime, channel),
    ):
        url = f"{channel.url}/v1/messages"

        async def send() -> None:
            body = wire.message_body("ann", "in flight", id="m-1")
            answers.append(await http.post(url, content=body, headers=JSON))

        tg.start_soon(send)
        await slow.entered.wait()
    with pytest.raises(httpx.ConnectError):
        await http.post(url, content=b"{}", headers=JSON)
    [answer] = answers
    return runtime, answer


async def test_stopping_lets_a_request_in_flight_finish_and_never_acks_what_is_not_stored(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    runtime, answer = await stop_with_a_request_in_flight(run_webhook, http)
    received = [e for e in await stored(runtime) if isinstance(e, ev.MessageReceived)]
    assert [e.message.body for e in received] == ["in flight"]  # finished, not cut off
    assert answer.status_code == 202, answer.text
    assert answer.json()["message_id"] == received[0].message.id


async def test_stopping_answers_a_request_in_flight_with_202(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    _runtime, answer = await stop_with_a_request_in_flight(run_webhook, http)
    assert answer.status_code == 202, answer.text


# Listening ----------------------------------------------------------------------------------


async def test_the_port_is_known_while_running_only(run_webhook: RunWebhook) -> None:
    async with run_webhook() as (_runtime, channel):
        port = channel.port
        assert port is not None
        assert port > 0
        assert channel.url == f"http://127.0.0.1:{port}"
    assert channel.port is None
    assert channel.url is None
    with pytest.raises(OSError):  # noqa: PT011 - refused connections vary by platform
        await anyio.connect_tcp("127.0.0.1", port)


async def test_a_busy_port_fails_with_the_address_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        channel = WebhookChannel(WebhookSettings(port=port), instance="hook", workspace="acme")

        async def handler(message: InboundMessage) -> Any:
            raise AssertionError("no message expected")

        with pytest.raises(
            OSError, match=rf'webhook channel "hook": cannot listen on 127.0.0.1:{port}'
        ):
            await channel.run(handler)
        assert channel.port is None


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_the_channel_says_it_needs_asyncio() -> None:
    channel = WebhookChannel(WebhookSettings(port=0), instance="hook", workspace="acme")

    async def handler(message: InboundMessage) -> Any:
        raise AssertionError("no message expected")

    with pytest.raises(RuntimeError, match="uvicorn serves HTTP on asyncio only"):
        await channel.run(handler)


# Outbound -----------------------------------------------------------------------------------


async def test_a_reply_is_posted_to_the_callback_url_signed_with_an_idempotency_key(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with CallbackReceiver(secret=SECRET).running() as receiver:
        settings = {"callback_url": receiver.url, "callback_secret": {"env": "CB_SECRET"}}
        async with run_webhook(settings, env={"CB_SECRET": SECRET}) as (runtime, channel):
            assert channel.capabilities.outbound
            ack = await accepted(http, channel, sender="ann", id="m-1")
            events = runtime.subscribe()
            reply = await runtime.reply(
                WORKSPACE, ack["contact_id"], "It ships today.", subject="Re"
            )
            sent = await wait_for_event(
                events, lambda e: isinstance(e, ev.MessageSent) and e.message_id == reply.id
            )
            assert isinstance(sent, ev.MessageSent)
            assert sent.provider_id == "cb-1"  # the "id" of the callback's answer
            [callback] = receiver.received
            assert callback.json() == {
                "to": "ann",
                "contact_id": ack["contact_id"],
                "message_id": reply.id,
                "text": "It ships today.",
                "subject": "Re",
                "dedupe_key": reply.id,
            }
            assert callback.headers["idempotency-key"] == reply.id
            assert callback.headers["content-type"] == "application/json"
            assert callback.headers["user-agent"].startswith("trunkline-webhook/")
            assert callback.signature_ok is True
            # Signed with the time it was sent, so the receiver can refuse a replay.
            assert abs(int(callback.headers["x-trunkline-timestamp"]) - time.time()) < 60
            assert callback.headers["x-trunkline-signature"] == wire.sign(
                SECRET, callback.body, timestamp=int(callback.headers["x-trunkline-timestamp"])
            )


async def test_with_legacy_signatures_a_reply_is_signed_the_old_way(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with CallbackReceiver(secret=SECRET, legacy=True).running() as receiver:
        settings = {
            "callback_url": receiver.url,
            "callback_secret": {"env": "CB_SECRET"},
            "legacy_signatures": True,
        }
        async with run_webhook(settings, env={"CB_SECRET": SECRET}) as (_runtime, channel):
            ack = await accepted(http, channel, id="m-1")
            message = OutboundMessage(message_id="ms_1", contact_id=ack["contact_id"], body="hi")
            await channel.send(Address("webhook", "ann"), message)
            [callback] = receiver.received
            assert callback.headers["x-trunkline-signature"] == wire.legacy_sign(
                SECRET, callback.body
            )
            assert "x-trunkline-timestamp" not in callback.headers
            assert callback.signature_ok is True


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
async def test_a_4xx_answer_is_a_permanent_failure(
    run_webhook: RunWebhook, receiver: CallbackReceiver, status: int
) -> None:
    async with run_webhook({"callback_url": receiver.url}) as (_runtime, channel):
        receiver.answer_next(status, {"error": "no such customer"})
        message = OutboundMessage(message_id="ms_1", contact_id="ct_1", body="hello")
        with pytest.raises(PermanentSendError) as info:
            await channel.send(Address("webhook", "ann"), message)
        assert f'webhook channel "support-hook": callback {receiver.url} answered {status}' in str(
            info.value
        )
        assert "no such customer" in str(info.value)


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
async def test_a_5xx_408_or_429_answer_is_retryable(
    run_webhook: RunWebhook, receiver: CallbackReceiver, status: int
) -> None:
    async with run_webhook({"callback_url": receiver.url}) as (_runtime, channel):
        receiver.answer_next(status)
        message = OutboundMessage(
            message_id="ms_1", contact_id="ct_1", body="hello", dedupe_key="k"
        )
        with pytest.raises(CallbackUnavailable, match=f"answered {status}") as info:
            await channel.send(Address("webhook", "ann"), message)
        assert not isinstance(info.value, PermanentSendError)
        # The next attempt goes out again (a failure is not remembered as sent) and succeeds.
        assert await channel.send(Address("webhook", "ann"), message) is not None
        assert len(receiver.received) == 2


async def test_a_reply_the_callback_refuses_for_now_is_retried_by_the_outbox(
    run_webhook: RunWebhook, receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    async with run_webhook({"callback_url": receiver.url}, clock=clock) as (runtime, channel):
        ack = await accepted(http, channel, id="m-1")
        receiver.answer_next(503, {"error": "maintenance"})
        events = runtime.subscribe()
        reply = await runtime.reply(WORKSPACE, ack["contact_id"], "the answer")
        failed = await wait_for_event(events, lambda e: isinstance(e, ev.SendAttemptFailed))
        assert isinstance(failed, ev.SendAttemptFailed)
        assert "CallbackUnavailable" in failed.error
        assert 'answered 503 Service Unavailable: {"error":"maintenance"}' in failed.error
        clock.advance(5)  # the outbox's backoff
        await wait_for_event(
            events, lambda e: isinstance(e, ev.MessageSent) and e.message_id == reply.id
        )
        assert [c.headers["idempotency-key"] for c in receiver.received] == [reply.id] * 2


async def test_a_reply_the_callback_refuses_for_good_fails_without_retry(
    run_webhook: RunWebhook, receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    async with run_webhook({"callback_url": receiver.url}) as (runtime, channel):
        ack = await accepted(http, channel, id="m-1")
        receiver.answer_next(404, {"error": "unknown conversation"})
        events = runtime.subscribe()
        reply = await runtime.reply(WORKSPACE, ack["contact_id"], "the answer")
        failed = await wait_for_event(
            events, lambda e: isinstance(e, ev.MessageFailed | ev.SendAttemptFailed)
        )
        assert isinstance(failed, ev.MessageFailed)
        assert failed.message_id == reply.id
        assert "answered 404 Not Found" in failed.error
        assert len(receiver.received) == 1


async def test_an_unreachable_callback_is_retryable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = WebhookSettings(callback_url=f"http://127.0.0.1:{port}/replies?token=abc")
    channel = WebhookChannel(settings, instance="hook", workspace="acme")
    try:
        message = OutboundMessage(message_id="ms_1", contact_id="ct_1", body="hello")
        with pytest.raises(CallbackUnavailable, match="ConnectError") as info:
            await channel.send(Address("webhook", "ann"), message)
        assert f"callback http://127.0.0.1:{port}/replies failed" in str(info.value)
        assert "token=abc" not in str(info.value)  # the query may hold a credential
    finally:
        await channel.aclose()


async def test_the_same_dedupe_key_is_posted_once(
    run_webhook: RunWebhook, receiver: CallbackReceiver
) -> None:
    async with run_webhook({"callback_url": receiver.url}) as (_runtime, channel):
        to = Address("webhook", "ann")
        first = OutboundMessage(message_id="ms_1", contact_id="ct_1", body="hi", dedupe_key="k-1")
        other = OutboundMessage(message_id="ms_2", contact_id="ct_1", body="hi", dedupe_key="k-2")
        receipt = await channel.send(to, first)
        assert receipt.provider_id == "cb-1"
        assert await channel.send(to, first) == receipt
        assert (await channel.send(to, other)).provider_id == "cb-2"
        assert [c.headers["idempotency-key"] for c in receiver.received] == ["k-1", "k-2"]


@pytest.mark.parametrize(
    ("answer", "provider_id"),
    [({"id": "crm-77"}, "crm-77"), ({"id": 77}, "77"), ({}, None), (None, None), ("ok", None)],
)
async def test_the_receipt_carries_the_id_of_the_callbacks_answer_if_any(
    run_webhook: RunWebhook, receiver: CallbackReceiver, answer: Any, provider_id: str | None
) -> None:
    async with run_webhook({"callback_url": receiver.url}) as (_runtime, channel):
        receiver.answer_next(200, answer)
        message = OutboundMessage(message_id="ms_1", contact_id="ct_1", body="hi")
        assert (await channel.send(Address("webhook", "ann"), message)).provider_id == provider_id


async def test_without_a_callback_url_the_channel_is_inbound_only(
    run_webhook: RunWebhook, http: httpx.AsyncClient
) -> None:
    async with run_webhook() as (runtime, channel):
        assert not channel.capabilities.outbound
        assert WebhookChannel.capabilities.outbound  # the adapter can, this instance cannot
        message = OutboundMessage(message_id="ms_1", contact_id="ct_1", body="hello")
        with pytest.raises(PermanentSendError, match="has no callback_url"):
            await channel.send(Address("webhook", "ann"), message)
        ack = await accepted(http, channel, id="m-1")
        events = runtime.subscribe()
        await runtime.reply(WORKSPACE, ack["contact_id"], "nobody will get this")
        failed = await wait_for_event(events, lambda e: isinstance(e, ev.MessageFailed))
        assert isinstance(failed, ev.MessageFailed)
        assert "set callback_url in the channel's settings" in failed.error


async def test_an_address_of_another_kind_is_refused_for_good(
    run_webhook: RunWebhook, receiver: CallbackReceiver
) -> None:
    async with run_webhook({"callback_url": receiver.url}) as (_runtime, channel):
        message = OutboundMessage(message_id="ms_1", contact_id="ct_1", body="hello")
        with pytest.raises(PermanentSendError, match='expected an address of kind "webhook"'):
            await channel.send(Address("email", "ann@example.com"), message)
        assert receiver.received == []


# Settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"port": 70000}, "port 70000 is not from 0 to 65535"),
        ({"max_body_bytes": 10}, "max_body_bytes must be at least 256, got 10"),
        ({"max_text_length": 0}, "max_text_length must be at least 1, got 0"),
        ({"signature_tolerance": 0}, "signature_tolerance must be at least 1, got 0"),
        ({"legacy_signatures": "yes"}, "legacy_signatures: expected true or false"),
        ({"kind": " "}, "kind must not be empty"),
        (
            {"callback_url": "ftp://crm.example.com/x"},
            "callback_url must be an http:// or https://",
        ),
        ({"callback_url": "crm.example.com"}, "callback_url must be an http:// or https://"),
        ({"secret": "plain"}, 'is a secret: write { env = "VARIABLE" }'),
        ({"callback_secret": "plain"}, 'is a secret: write { env = "VARIABLE" }'),
        ({"max_body_bytes": "64k"}, "expected a whole number, got str '64k'"),
        ({"callback": "https://crm.example.com"}, "callback: unknown key"),
    ],
)
def test_bad_settings_are_refused_with_the_key_named(
    make_config: Callable[[Mapping[str, Any]], dict[str, Any]], settings: Any, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(
            make_config(settings), adapters={"webhook": WebhookChannel}, strategies={"longest-idle"}
        )
    assert problem in str(info.value)
    assert f"workspaces.{WORKSPACE}.channels.support-hook.settings" in str(info.value)


HOOK_FILE = """\
[workspaces.acme.queues.support]

[workspaces.acme.channels.hook]
adapter = "webhook"
queue = "support"

[workspaces.acme.channels.hook.settings]
port = 8080
max_body_bytes = 65536
signature_tolerance = 300
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "max_body_bytes = 65536",
            "max_body_bytes = 10",
            "9:1: workspaces.acme.channels.hook.settings.max_body_bytes: max_body_bytes must be "
            "at least 256, got 10",
        ),
        (
            "port = 8080",
            "port = 70000",
            "8:1: workspaces.acme.channels.hook.settings.port: port 70000 is not from 0 to 65535",
        ),
        (
            "signature_tolerance = 300",
            "signature_tolerance = 0",
            "10:1: workspaces.acme.channels.hook.settings.signature_tolerance: signature_tolerance "
            "must be at least 1",
        ),
    ],
    ids=["max_body_bytes", "port", "signature_tolerance"],
)
def test_a_setting_out_of_range_is_reported_at_its_key_in_the_file(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    path = tmp_path / "trunkline.toml"
    path.write_text(HOOK_FILE.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, adapters={"webhook": WebhookChannel}, strategies={"longest-idle"})
    assert str(info.value).startswith(f"{path}:{expected}"), str(info.value)


def test_secrets_are_masked_in_the_settings_repr() -> None:
    from trunkline import Secret

    settings = WebhookSettings(secret=Secret("in"), callback_secret=Secret("out"))
    assert "'in'" not in repr(settings)
    assert "'out'" not in repr(settings)
