"""The webhook's JSON bodies and signatures on their own: encoding, parsing, HMAC."""

from __future__ import annotations

import json

import pytest

from trunkline import Address, OutboundMessage
from trunkline_webhook import wire


def test_a_message_body_round_trips() -> None:
    body = wire.message_body(
        "ann",
        "Grüße, ☕",
        id="m-1",
        thread="order-7",
        subject="Order 7",
        attributes={"order": 7},
    )
    assert "Grüße".encode() in body  # UTF-8, not \\u escapes
    assert wire.parse_message(body) == wire.InboundBody(
        sender="ann",
        text="Grüße, ☕",
        id="m-1",
        thread="order-7",
        subject="Order 7",
        attributes={"order": 7},
    )


def test_optional_fields_may_be_left_out_or_null() -> None:
    minimal = wire.parse_message(b'{"sender": "ann", "text": "hi"}')
    nulls = wire.parse_message(
        b'{"sender": "ann", "text": "hi", "id": null, "thread": null, "subject": null,'
        b' "attributes": null}'
    )
    assert minimal == nulls == wire.InboundBody(sender="ann", text="hi")
    assert json.loads(wire.message_body("ann", "hi")) == {"sender": "ann", "text": "hi"}


def test_an_error_names_the_field() -> None:
    with pytest.raises(
        wire.WireError, match='field "thread" must be a string, got a boolean'
    ) as info:
        wire.parse_message(b'{"sender": "ann", "text": "hi", "thread": true}')
    assert info.value.field == "thread"


def test_the_signature_is_the_hex_hmac_sha256_of_the_body() -> None:
    # The well-known HMAC-SHA256 test value (key "key", the quick brown fox).
    signature = wire.sign("key", b"The quick brown fox jumps over the lazy dog")
    assert signature == ("sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")


def test_a_signature_is_checked_against_the_exact_bytes() -> None:
    body = b'{"sender": "ann", "text": "hi"}'
    good = wire.sign("k", body)
    assert wire.signature_problem("k", body, good) is None
    assert wire.signature_problem("k", body, f"  {good.upper()} ") is None
    assert wire.signature_problem("k", body + b" ", good) is not None
    assert wire.signature_problem("other", body, good) is not None
    assert wire.signature_problem("k", body, "sha256=ünicode") is not None
    missing = wire.signature_problem("k", body, None)
    assert missing is not None
    assert 'missing header "X-Trunkline-Signature"' in missing


def test_a_reply_callback_carries_every_field() -> None:
    message = OutboundMessage(
        message_id="ms_1", contact_id="ct_1", body="It ships today.", subject="Re", dedupe_key="k"
    )
    assert json.loads(wire.callback_body(Address("webhook", "ann"), message)) == {
        "to": "ann",
        "contact_id": "ct_1",
        "message_id": "ms_1",
        "text": "It ships today.",
        "subject": "Re",
        "dedupe_key": "k",
    }
