"""The echo line format on its own: encoding, parsing with clear errors, splitting a stream."""

from __future__ import annotations

import json

import pytest

from trunkline_echo import wire


def test_a_customer_line_round_trips() -> None:
    line = wire.customer_line("ann", "Grüße, ☕", "m-1", key="k")
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    parsed = wire.parse_customer_line(line.rstrip(b"\n"))
    assert parsed == wire.CustomerLine(sender="ann", text="Grüße, ☕", id="m-1", key="k")


def test_a_text_with_newlines_stays_on_one_line() -> None:
    line = wire.customer_line("ann", "two\nlines", "m-1")
    assert line.count(b"\n") == 1
    assert wire.parse_customer_line(line[:-1]).text == "two\nlines"


def test_the_key_is_not_shown_in_the_repr() -> None:
    parsed = wire.parse_customer_line(wire.customer_line("ann", "hi", "m-1", key="s3cret")[:-1])
    assert "s3cret" not in repr(parsed)


def test_answers_and_replies_are_json_lines() -> None:
    ack = wire.ack_line("ms_1", "ct_1", duplicate=False, new_contact=True)
    assert json.loads(ack) == {
        "ack": "ms_1",
        "contact": "ct_1",
        "duplicate": False,
        "new_contact": True,
    }
    assert json.loads(wire.error_line("bad")) == {"error": "bad"}
    assert json.loads(wire.error_line("later", retry=True)) == {"error": "later", "retry": True}
    assert json.loads(wire.reply_line("hello", "ms_2")) == {"reply": "hello", "message_id": "ms_2"}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"hello there", "not JSON (Expecting value at column 1)"),
        (b'{"from": "ann", "text": "hi"', "not JSON"),
        (b"\xff\xfe{}", "not UTF-8 (byte 0)"),
        (b'["ann", "hi", "m-1"]', "expected a JSON object, got a list"),
        (b'{"from": "ann", "text": "hi"}', 'missing field "id" (required: from, text, id)'),
        (b'{"from": "ann", "txt": "hi", "id": "1"}', 'unknown field "txt"'),
        (b'{"from": "ann", "text": 42, "id": "1"}', 'field "text" must be a string, got a number'),
        (b'{"from": " ", "text": "hi", "id": "1"}', 'field "from" must not be empty'),
        (b'{"from": "ann", "text": "", "id": "1"}', 'field "text" must not be empty'),
        (b'{"from": "ann", "text": "hi", "id": "1", "key": null}', 'field "key" must be a string'),
    ],
)
def test_a_malformed_line_is_refused_with_the_problem_named(line: bytes, problem: str) -> None:
    with pytest.raises(wire.WireError) as info:
        wire.parse_customer_line(line)
    assert problem in str(info.value)


def test_the_splitter_joins_chunks_and_handles_crlf() -> None:
    lines = wire.LineSplitter(100)
    assert lines.feed(b'{"a"') == []
    assert lines.feed(b': 1}\r\n{"b": 2}\n{"c"') == [b'{"a": 1}', b'{"b": 2}']
    assert lines.feed(b": 3}\n") == [b'{"c": 3}']


def test_a_line_of_exactly_the_limit_passes_and_one_byte_more_does_not() -> None:
    lines = wire.LineSplitter(10)
    assert lines.feed(b"x" * 10 + b"\r\n") == [b"x" * 10]
    assert lines.feed(b"x" * 11 + b"\n") == [wire.TooLong(size=11, limit=10)]


def test_an_oversize_line_is_dropped_and_the_next_line_is_whole() -> None:
    lines = wire.LineSplitter(10)
    out = lines.feed(b"y" * 25)
    out += lines.feed(b"y" * 25 + b"\nok\n")
    assert out == [wire.TooLong(size=50, limit=10), b"ok"]
    assert isinstance(out[0], wire.TooLong)
    assert "line of 50 bytes exceeds max_line_bytes=10" in out[0].message()


def test_the_splitter_keeps_memory_bounded_while_dropping() -> None:
    lines = wire.LineSplitter(10)
    for _ in range(1000):
        lines.feed(b"z" * 1000)
    assert len(lines._buffer) == 0  # the dropped bytes are counted, not kept
