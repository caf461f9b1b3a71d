"""What a visitor is told while their chat is open: their place in line as it moves, the name
of the agent who takes it, whether anyone can answer, and the pre-chat and offline forms'
details on the contact. Real sockets against a real runtime (see conftest)."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from trunkline import AgentStatus, Router, config_from_dict, load_plugins
from trunkline import events as ev
from trunkline_webchat.adapter import WebChatChannel, WebChatSettings

from .conftest import CHANNEL, WORKSPACE, Chat, RunChat, Visitor, webchat_config

pytestmark = pytest.mark.anyio


async def contact_of(chat: Chat, visitor: Visitor) -> Any:
    contact = await chat.runtime.store.open_contact(
        WORKSPACE, f"{chat.channel.instance}:{visitor.id}"
    )
    assert contact is not None
    return contact


def offer_to_alice(chat: Chat) -> Any:
    engine = chat.runtime.desk(WORKSPACE).engine
    assert isinstance(engine, Router)
    return next((o for o in engine.offers.values() if o.agent_id == "alice"), None)


async def offered(chat: Chat) -> Any:
    with anyio.fail_after(5):
        while True:
            offer = offer_to_alice(chat)
            if offer is not None:
                return offer
            await anyio.sleep(0.01)


def positions(visitor: Visitor) -> list[int]:
    return [f["position"] for f in visitor.frames if f["type"] == "position"]


# The place in line ---------------------------------------------------------------------------


async def test_each_visitor_is_told_their_place_in_line_as_it_moves(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        ana, ben, cy = [await chat.visitor() for _ in range(3)]
        for visitor in (ana, ben, cy):
            assert (await visitor.say("hello"))["type"] == "ack"
            await visitor.expect("position")  # after the ack, never before it
        assert (positions(ana), positions(ben), positions(cy)) == ([1], [2], [3])

        await chat.runtime.abandon(WORKSPACE, (await contact_of(chat, ana)).id)
        assert (await ben.expect("position"))["position"] == 1
        assert (await cy.expect("position"))["position"] == 2

        # Alice becomes available: ben's chat is put through to her (0), and she takes it.
        await chat.runtime.set_agent_status(WORKSPACE, "alice", AgentStatus.AVAILABLE)
        assert (await ben.expect("position"))["position"] == 0
        await chat.runtime.accept(WORKSPACE, (await offered(chat)).id)
        assert await ben.expect("agent") == {"type": "agent", "name": "Alice"}
        await ben.nothing_more()
        # cy was next once ben was put through, and is put through to alice (one offer at a
        # time) once she took ben's.
        await cy.seen(lambda f: f.get("position") == 0)
        assert positions(cy) == [3, 2, 1, 0]


async def test_the_welcome_says_where_the_contact_is_after_a_reconnection(
    run_chat: RunChat,
) -> None:
    async with run_chat() as chat:
        ana, ben = await chat.visitor(), await chat.visitor()
        await ana.say("first")
        await ben.say("second")
        await ben.expect("position")
        back = await chat.visitor(ben.token)
        assert back.frames[-1]["type"] == "welcome"
        assert back.frames[-1]["position"] == 2
        assert "agent" not in back.frames[-1]

        await chat.runtime.set_agent_status(WORKSPACE, "alice", AgentStatus.AVAILABLE)
        await chat.runtime.accept(WORKSPACE, (await offered(chat)).id)  # ana's
        again = await chat.visitor(ana.token)
        welcome = again.frames[-1]
        assert (welcome["type"], welcome["agent"]) == ("welcome", "Alice")
        assert "position" not in welcome
        assert "available" not in welcome


async def test_places_are_worked_out_once_per_change_not_once_per_event(
    run_chat: RunChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    waiting = Router.waiting

    def counted(self: Router, queue_id: str) -> Any:
        reads.append(queue_id)
        return waiting(self, queue_id)

    monkeypatch.setattr(Router, "waiting", counted)
    async with run_chat() as chat:
        # With nobody waiting, no event reads a line.
        for status in (AgentStatus.BREAK, AgentStatus.OFFLINE) * 5:
            await chat.runtime.set_agent_status(WORKSPACE, "alice", status)
        visitors = [await chat.visitor() for _ in range(10)]
        await anyio.sleep(0.2)
        assert reads == []
        # Ten visitors writing at once: their line is read a few times, not once per event.
        async with anyio.create_task_group() as tg:
            for visitor in visitors:
                tg.start_soon(visitor.say, "hello")
        for visitor in visitors:
            await visitor.expect("position", within=5)
        assert sorted(positions(v)[-1] for v in visitors) == list(range(1, 11))
        assert 1 <= len(reads) <= 5, reads  # 10 ContactQueued, each moving the line


# Availability and the offline form ------------------------------------------------------------


async def test_the_welcome_says_whether_anyone_can_answer_and_the_socket_when_that_changes(
    run_chat: RunChat,
) -> None:
    async with run_chat({"offline_form": True}) as chat:
        visitor = await chat.visitor()
        welcome = visitor.frames[-1]
        assert (welcome["available"], welcome["reason"]) == (False, "no_agents")
        await chat.runtime.set_agent_status(WORKSPACE, "alice", AgentStatus.AVAILABLE)
        assert await visitor.expect("availability") == {"type": "availability", "available": True}
        await chat.runtime.set_agent_status(WORKSPACE, "alice", AgentStatus.BREAK, "lunch")
        assert await visitor.expect("availability") == {
            "type": "availability",
            "available": False,
            "reason": "no_agents",
        }


async def test_a_queue_closed_by_its_business_hours_is_not_available(run_chat: RunChat) -> None:
    closed = {"never": {"timezone": "UTC"}}  # no opening hours at all
    async with run_chat({"offline_form": True}, queue={"hours": "never"}, hours=closed) as chat:
        await chat.runtime.set_agent_status(WORKSPACE, "alice", AgentStatus.AVAILABLE)
        welcome = (await chat.visitor()).frames[-1]
        assert (welcome["available"], welcome["reason"]) == (False, "closed")


async def test_a_message_left_offline_opens_a_contact_with_the_visitors_details(
    run_chat: RunChat,
) -> None:
    async with run_chat({"offline_form": True}) as chat:
        visitor = await chat.visitor()
        refused = await visitor.say("call me back", id="c-1", offline=True)
        assert refused == {
            "type": "error",
            "id": "c-1",
            "error": 'a message left offline needs an email address to answer: send {"type": '
            '"details", "email": "…"} first',
        }
        await visitor.send_json({"type": "details", "name": " Ana  Lima ", "email": "ana@ex.com"})
        ack = await visitor.say("Please call me back about order 12.", id="c-1", offline=True)
        assert ack["type"] == "ack"
        contact = await contact_of(chat, visitor)
        assert dict(contact.attributes) == {
            "name": "Ana Lima",
            "email": "ana@ex.com",
            "offline": True,
        }
        assert contact.subject == "Message left while the chat was offline"
        [message] = await chat.runtime.store.messages(WORKSPACE, contact.id)
        assert message.body == "Please call me back about order 12."
        # It waits in the queue for an agent, like any contact.
        events = [s.event for s in await chat.runtime.store.read(WORKSPACE)]
        assert any(isinstance(e, ev.ContactQueued) and e.contact_id == contact.id for e in events)


# The pre-chat form's details -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (
            {"type": "details", "email": "ana@ex.com"},
            'this chat asks for your name before it starts: send {"type": "details", "name": "…"}',
        ),
        (
            {"type": "details", "name": "Ana", "email": "ana at example"},
            '"email" "ana at example" is not an email address; write it as name@example.com '
            "(at most 254 characters)",
        ),
        ({"type": "details", "name": 7}, '"name" must be a string of at most 100 characters'),
        (
            {"type": "details", "phone": "123"},
            '"details" has no field "phone" (fields: email, name, type)',
        ),
    ],
)
async def test_bad_details_are_refused_with_what_to_send(
    run_chat: RunChat, frame: dict[str, Any], error: str
) -> None:
    async with run_chat({"prechat_name": "required", "prechat_email": "optional"}) as chat:
        visitor = await chat.visitor()
        await visitor.send_json(frame)
        assert (await visitor.expect("error"))["error"] == error
        await visitor.say("hello")  # the socket is still open; nothing was kept
        assert "name" not in (await contact_of(chat, visitor)).attributes


async def test_the_pre_chat_details_go_on_the_contact(run_chat: RunChat) -> None:
    async with run_chat({"prechat_name": "required", "prechat_email": "required"}) as chat:
        visitor = await chat.visitor()
        await visitor.send_json({"type": "details", "name": "Ana", "email": "ana@example.com"})
        await visitor.say("hello")
        contact = await contact_of(chat, visitor)
        assert dict(contact.attributes) == {"name": "Ana", "email": "ana@example.com"}
        assert contact.subject == ""


def test_an_agent_is_named_by_their_display_name_and_by_id_only_without_one() -> None:
    data = webchat_config({})
    data["workspaces"][WORKSPACE]["agents"]["bo"] = {"queues": ["support"]}  # no name
    pm = load_plugins({"TRUNKLINE_PLUGINS": "webchat,web"})
    config = config_from_dict(
        data,
        adapters={a.name: a for a in pm.collect("trunkline_register_channels")},
        strategies={s.name for s in pm.collect("trunkline_register_strategies")},
    )
    channel = WebChatChannel(WebChatSettings(), instance=CHANNEL, workspace=WORKSPACE)
    sent: list[tuple[str, dict[str, Any]]] = []

    def push(visitor: str, frame: Mapping[str, Any]) -> int:
        sent.append((visitor, dict(frame)))
        return 1

    channel.push = push  # type: ignore[method-assign]
    runtime: Any = SimpleNamespace(config=config)  # all that naming agents reads
    channel.progress.track("ct_1", "visitor-one")
    channel.progress.track("ct_2", "visitor-two")
    for contact_id, agent_id in (("ct_1", "alice"), ("ct_2", "bo")):
        accepted = ev.OfferAccepted(
            workspace=WORKSPACE,
            at=1.0,
            offer_id=f"of_{contact_id}",
            contact_id=contact_id,
            agent_id=agent_id,
        )
        channel.progress.observe(accepted, runtime)
    assert sent == [
        ("visitor-one", {"type": "agent", "name": "Alice"}),
        ("visitor-two", {"type": "agent", "name": "bo"}),
    ]
