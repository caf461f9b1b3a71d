"""`trunkline explain` and the JSON event log it reads. (Explaining a log of `trunkline demo
--events` is trunkline-web's, in its ``tests/test_explain_demo.py``.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline import events as ev
from trunkline.codec import CodecError, dump_event, load_event
from trunkline.model import Address, AgentStatus, Contact, Direction, Message, Offer

TRUNKLINE = [sys.executable, "-c", "from trunkline.cli import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRUNKLINE, *args], capture_output=True, text=True, timeout=60)


def test_explain_without_a_log_says_how_to_get_one() -> None:
    result = run("explain", "ct_1")
    assert result.returncode == 2
    assert "--events FILE" in result.stderr


def test_a_malformed_log_names_the_line_and_nothing_is_guessed(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"type": "ContactClosed", "workspace": "w", "at": 1, "contact_id": "c"}\n{oops\n'
    )
    result = run("explain", "c", "--events", str(path))
    assert result.returncode == 2
    assert f"{path}:2:" in result.stderr


# The codec ---------------------------------------------------------------------------------

CONTACT = Contact(
    id="c1",
    workspace="w",
    channel="web",
    channel_kind="chat",
    direction=Direction.INBOUND,
    customer_id="cu",
    address=Address("webchat", "v1"),
    attributes={"plan": "gold", "seats": 3},
    required_skills={"en": 2},
    language="de",
)
OFFER = Offer(
    id="c1:o0", workspace="w", contact_id="c1", agent_id="a", queue="q", created_at=1, expires_at=2
)
SAMPLES = [
    ev.ContactReceived(workspace="w", at=1.5, contact=CONTACT),
    ev.ContactQueued(
        workspace="w", at=2, contact_id="c1", queue="q", priority=1, preferred_until=float("inf")
    ),
    ev.ContactOffered(workspace="w", at=3, offer=OFFER, level=1, rule="longest-idle"),
    ev.AgentStatusChanged(workspace="w", at=4, agent_id="a", status=AgentStatus.BREAK, reason="x"),
    ev.ContactRefused(workspace="w", at=5, contact_id="c1", queue="q", reason="full"),
    ev.ExclusionEnded(workspace="w", at=6, contact_id="c1", agent_id="a"),
    ev.MessageReceived(
        workspace="w",
        at=7,
        message=Message(
            id="m1",
            workspace="w",
            contact_id="c1",
            direction=Direction.INBOUND,
            channel="web",
            created_at=7,
            sent_at=-623.5,  # the customer's time, by the provider's clock
        ),
    ),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type)
def test_every_event_survives_a_json_round_trip(event: ev.Event) -> None:
    text = json.dumps(dump_event(event))
    assert load_event(json.loads(text)) == event


@settings(max_examples=100, deadline=None)
@given(st.text(), st.floats(allow_nan=False), st.integers(-5, 5))
def test_queued_events_round_trip_for_any_values(queue: str, at: float, priority: int) -> None:
    event = ev.ContactQueued(workspace="w", at=at, contact_id="c", queue=queue, priority=priority)
    assert load_event(json.loads(json.dumps(dump_event(event)))) == event


def test_an_unknown_type_or_a_missing_field_is_named() -> None:
    with pytest.raises(CodecError, match="unknown event type 'Nope'"):
        load_event({"type": "Nope"})
    with pytest.raises(CodecError, match="event ContactClosed: missing field 'contact_id'"):
        load_event({"type": "ContactClosed", "workspace": "w", "at": 1})
