"""What the agent desktop stands on, below the web: private notes and status timers. (Canned
responses are trunkline-web's, in its ``tests/test_canned.py``; the endpoints in its
``test_desk_api.py``, the pages in ``tests/test_pages.py``.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trunkline import FakeClock, Runtime, load_plugins
from trunkline import events as ev
from trunkline.builtin.strategies import LongestIdle
from trunkline.codec import dump_event, load_event
from trunkline.errors import TrunklineError
from trunkline.model import Agent, AgentStatus, Queue
from trunkline.retention import anonymise_event
from trunkline.routing import Router, SetAgentStatus
from trunkline.sql import SqliteStore
from trunkline.testing import build_runtime

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def config_data(**workspace: Any) -> dict[str, Any]:
    return {
        "workspaces": {
            "acme": {
                "queues": {"support": {"offer_timeout": 30}},
                "agents": {"ada": {"capacity": {"chat": 2}, "queues": ["support"]}},
                "channels": {"web": {"adapter": "memory", "queue": "support"}},
                **workspace,
            }
        }
    }


def runtime(tmp_path: Path | None = None, **workspace: Any) -> Runtime:
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    store = None if tmp_path is None else SqliteStore(tmp_path / "log.db")
    return build_runtime(pm, config_data(**workspace), clock=FakeClock(), store=store)


# Private notes ----------------------------------------------------------------------------


async def test_a_note_is_stored_on_the_contact_and_never_reaches_the_outbox(
    tmp_path: Path,
) -> None:
    rt = runtime(tmp_path)
    async with rt.running():
        ack = await rt.channel("web").deliver("carol", "my order is late")
        note = await rt.add_note("acme", ack.contact_id, "Called twice.", author="sue")
        timeline = [s.event for s in await rt.store.contact_events("acme", ack.contact_id)]
        assert timeline[-1] == note
        assert (note.author, note.text, note.agent_id) == ("sue", "Called twice.", None)
        assert await rt.store.outbox_due(float("inf")) == []
        assert rt.channel("web").sent == []
        assert [m.body for m in await rt.store.messages("acme", ack.contact_id)] == [
            "my order is late"
        ]
    again = runtime(tmp_path)  # the same log, read after a restart
    async with again.running():
        notes = [
            s.event
            for s in await again.store.contact_events("acme", ack.contact_id)
            if isinstance(s.event, ev.NoteAdded)
        ]
        assert notes == [note]


async def test_a_note_needs_text_and_a_contact_of_the_workspace() -> None:
    rt = runtime()
    async with rt.running():
        ack = await rt.channel("web").deliver("carol", "hi")
        with pytest.raises(TrunklineError, match="a note needs some text"):
            await rt.add_note("acme", ack.contact_id, "  \n", author="sue")
        with pytest.raises(TrunklineError, match='unknown contact "ct_nope"'):
            await rt.add_note("acme", "ct_nope", "hello", author="sue")
        assert [type(s.event) for s in await rt.store.contact_events("acme", ack.contact_id)] == [
            ev.ContactReceived,
            ev.MessageReceived,
            ev.ContactQueued,
        ]


def test_a_note_round_trips_through_the_codec_and_retention_blanks_its_text() -> None:
    note = ev.NoteAdded(
        workspace="acme",
        at=12.5,
        contact_id="ct_1",
        note_id="nt_1",
        author="ada",
        agent_id="ada",
        text="VIP — handle with care",
    )
    data = dump_event(note)
    assert data["type"] == "NoteAdded"
    assert load_event(data) == note
    assert ev.contact_id_of(note) == "ct_1"
    assert anonymise_event(note) == ev.NoteAdded(
        workspace="acme",
        at=12.5,
        contact_id="ct_1",
        note_id="nt_1",
        author="ada",
        agent_id="ada",
        text="",
    )


# Canned responses -------------------------------------------------------------------------


def test_an_agents_status_since_changes_with_the_status_and_survives_a_snapshot() -> None:
    def router() -> Router:
        return Router(
            "acme",
            [Queue(id="support", workspace="acme")],
            [Agent(id="ada", workspace="acme", capacity={"chat": 1}, queues=("support",))],
            strategies={"longest-idle": LongestIdle()},
        )

    r = router()
    assert r.agents["ada"].status_since == 0.0  # never set: no time to show
    r.handle(SetAgentStatus("ada", AgentStatus.AVAILABLE), 10)
    r.handle(SetAgentStatus("ada", AgentStatus.AVAILABLE), 25)  # no change
    assert r.agents["ada"].status_since == 10
    r.handle(SetAgentStatus("ada", AgentStatus.BREAK, "lunch"), 40)
    r.handle(SetAgentStatus("ada", AgentStatus.BREAK, "meeting"), 70)  # another break
    assert r.agents["ada"].status_since == 70
    restored = router()
    restored.restore(r.snapshot())
    assert restored.agents["ada"].status_since == 70
