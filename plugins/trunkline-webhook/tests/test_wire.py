"""The webhook's JSON bodies and signatures on their own: encoding, parsing, HMAC."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

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


def test_the_signature_is_the_hex_hmac_sha256_of_the_timestamp_a_dot_and_the_body() -> None:
    # The well-known HMAC-SHA256 test value (key "key", the quick brown fox), with the
    # timestamp and dot in front ("1700000000.The quick…" signed by hand).
    body = b"The quick brown fox jumps over the lazy dog"
    expected = hmac.new(b"key", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert wire.sign("key", body, timestamp=1700000000) == f"v1={expected}"
    assert wire.signature_headers("key", body, timestamp=1700000000) == {
        "X-Trunkline-Timestamp": "1700000000",
        "X-Trunkline-Signature": f"v1={expected}",
    }


def test_the_legacy_signature_is_the_hex_hmac_sha256_of_the_body_alone() -> None:
    signature = wire.legacy_sign("key", b"The quick brown fox jumps over the lazy dog")
    assert signature == ("sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")


NOW = 1_700_000_000.0


def problem(body: bytes, signature: str | None, timestamp: str | None, **options: Any) -> Any:
    return wire.signature_problem("k", body, signature, timestamp, now=NOW, **options)


def test_a_signature_is_checked_against_the_exact_bytes_and_the_timestamp() -> None:
    body = b'{"sender": "ann", "text": "hi"}'
    good = wire.sign("k", body, timestamp=int(NOW))
    assert problem(body, good, str(int(NOW))) is None
    assert problem(body, f"  {good.upper()} ", f" {int(NOW)} ") is None
    assert problem(body + b" ", good, str(int(NOW))) is not None
    assert problem(body, good, str(int(NOW) + 1)) is not None  # the timestamp is signed
    assert wire.signature_problem("other", body, good, str(int(NOW)), now=NOW) is not None
    assert problem(body, "v1=ünicode", str(int(NOW))) is not None
    missing = problem(body, None, None)
    assert missing is not None
    assert 'missing header "X-Trunkline-Signature"' in missing
    no_time = problem(body, good, None)
    assert no_time is not None
    assert 'missing header "X-Trunkline-Timestamp"' in no_time


@pytest.mark.parametrize("timestamp", ["1.7e9", "-5", "soon", "", "9" * 13, "１７"])
def test_a_timestamp_must_be_whole_seconds(timestamp: str) -> None:
    found = problem(b"{}", wire.sign("k", b"{}", timestamp=int(NOW)), timestamp)
    assert found is not None
    assert "must be whole seconds since the epoch" in found


@pytest.mark.parametrize(("skew", "ok"), [(0, True), (-300, True), (300, True), (-301, False)])
def test_a_timestamp_must_be_within_the_tolerance_either_way(skew: int, ok: bool) -> None:
    for sign in (1, -1):
        when = int(NOW) + sign * skew
        found = problem(b"{}", wire.sign("k", b"{}", timestamp=when), str(when))
        assert (found is None) == ok, found
    found = problem(b"{}", wire.sign("k", b"{}", timestamp=int(NOW) - 60), str(int(NOW) - 60),
                    tolerance=30)  # fmt: skip
    assert found is not None
    assert '"X-Trunkline-Timestamp" is 60 s behind this server\'s clock' in found
    assert "more than the 30 s allowed (signature_tolerance)" in found


def test_the_old_form_is_refused_unless_allowed() -> None:
    body = b'{"sender": "ann", "text": "hi"}'
    old = wire.legacy_sign("k", body)
    refused = problem(body, old, None)
    assert refused is not None
    assert "is the old form, without a timestamp" in refused
    assert "legacy_signatures = true" in refused
    assert problem(body, old, None, legacy=True) is None
    assert problem(body + b" ", old, None, legacy=True) is not None
    # With the old form allowed, the new one is checked as always.
    assert (
        problem(body, wire.sign("k", body, timestamp=int(NOW)), str(int(NOW)), legacy=True) is None
    )


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("application/json", True),
        ("Application/JSON; charset=UTF-8", True),
        ('application/json; charset="utf-8"', True),
        (None, False),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("multipart/form-data; boundary=x", False),
        ("application/json; charset=latin-1", False),
        ("application/jsonp", False),
    ],
)
def test_only_json_in_utf8_is_a_message(header: str | None, ok: bool) -> None:
    assert (wire.content_type_problem(header) is None) == ok


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
