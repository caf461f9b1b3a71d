"""Trunkline's router inside your own application: no server, no store, no clock of its own.

The router is a pure state machine. You hand it a command and the current time; it returns
the events it decided (and keeps its own state from them). Nothing sleeps: when an offer may
time out, ask ``router.next_deadline()`` and send a ``Tick`` at that time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from trunkline import (
    Address,
    Agent,
    AgentStatus,
    Contact,
    Direction,
    Offer,
    Queue,
    Router,
    Strategy,
    load_plugins,
)
from trunkline import events as ev
from trunkline.routing import (
    AcceptOffer,
    Command,
    EndContact,
    EnqueueContact,
    RejectOffer,
    SetAgentStatus,
    Tick,
)

__all__ = ["WORKSPACE", "build_router", "chat", "describe", "main", "offers", "strategies"]

WORKSPACE = "shop"


def strategies() -> dict[str, Strategy]:
    """The strategies core ships (longest-idle, …), ignoring any installed plugins."""
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    return {strategy.name: strategy for strategy in pm.collect("trunkline_register_strategies")}


def build_router(offer_timeout: float = 15.0) -> Router:
    """Two queues and two agents: Alice speaks English and knows billing; Bob speaks English."""
    queues = [
        Queue(id=qid, workspace=WORKSPACE, skills=skills, offer_timeout=offer_timeout)
        for qid, skills in (("sales", {"en": 1}), ("billing", {"billing": 3}))
    ]
    agents = [
        Agent(
            id="alice",
            workspace=WORKSPACE,
            skills={"en": 5, "billing": 4},
            capacity={"chat": 1},
            queues=("sales", "billing"),
        ),
        Agent(
            id="bob",
            workspace=WORKSPACE,
            skills={"en": 3},
            capacity={"chat": 2},
            queues=("sales", "billing"),
        ),
    ]
    return Router(WORKSPACE, queues, agents, strategies=strategies())


def chat(contact_id: str, queue: str, *, priority: int = 0) -> Contact:
    """A web-chat contact your application received and wants routed."""
    return Contact(
        id=contact_id,
        workspace=WORKSPACE,
        channel="web",
        channel_kind="chat",
        direction=Direction.INBOUND,
        customer_id=f"cu-{contact_id}",
        address=Address("webchat", contact_id),
        queue=queue,
        priority=priority,
    )


def offers(events: Sequence[ev.Event]) -> list[Offer]:
    """The offers among the events a command produced."""
    return [event.offer for event in events if isinstance(event, ev.ContactOffered)]


_VERBS: Mapping[type[ev.Event], str] = {
    ev.OfferAccepted: "accepted",
    ev.OfferRejected: "rejected",
    ev.OfferTimedOut: "let time out",
}


def describe(event: ev.Event) -> str | None:
    """One line for the routing decisions worth printing; ``None`` for the rest."""
    if isinstance(event, ev.ContactOffered):
        offer = event.offer
        return f"offer   {offer.contact_id} -> {offer.agent_id} (until t={offer.expires_at:g})"
    if isinstance(event, ev.OfferAccepted | ev.OfferRejected | ev.OfferTimedOut):
        return f"{event.agent_id} {_VERBS[type(event)]} {event.contact_id}"
    if isinstance(event, ev.ContactClosed):
        return f"closed  {event.contact_id}"
    return None


def main(out: Callable[[str], object] = print) -> None:
    """A morning rush, with explicit times: contacts wait, agents log in, offers are answered."""
    router = build_router(offer_timeout=15)
    open_offers: dict[str, str] = {}  # contact id -> offer id

    def at(now: float, command: Command) -> None:
        for event in router.handle(command, now):
            if isinstance(event, ev.ContactOffered):
                open_offers[event.offer.contact_id] = event.offer.id
            if line := describe(event):
                out(f"t={now:>4g}  {line}")

    at(0, EnqueueContact(chat("c-early", "sales")))
    at(1, EnqueueContact(chat("c-vip", "sales", priority=5)))
    at(2, EnqueueContact(chat("c-invoice", "billing")))
    at(10, SetAgentStatus("bob", AgentStatus.AVAILABLE))  # the VIP first; no billing for Bob
    at(11, SetAgentStatus("alice", AgentStatus.AVAILABLE))  # c-early has waited longest
    at(12, AcceptOffer(open_offers["c-vip"]))
    at(13, RejectOffer(open_offers["c-early"], "on a call"))  # goes to Bob; Alice takes billing
    at(14, AcceptOffer(open_offers["c-invoice"]))
    at(router.next_deadline() or 28, Tick())  # Bob never answered c-early
    at(30, EndContact("c-vip"))
    waiting = ", ".join(view.contact.id for view in router.waiting("sales")) or "nobody"
    out(f"waiting in sales: {waiting}")
