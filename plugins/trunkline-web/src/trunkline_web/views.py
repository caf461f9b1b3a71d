"""The JSON shapes of the API, read from the runtime: queues, agents, offers, contacts, messages.

Live routing state comes from the workspace's engine (the node routing it); history comes
from the store; counts since start (answered, abandoned, service level, ASA…) from the
figures folded from events (:mod:`trunkline.metrics`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from trunkline import (
    AgentStatus,
    Contact,
    ContactState,
    Customer,
    DeskView,
    Message,
    Offer,
    PluginRuntime,
    Queue,
)
from trunkline import events as ev
from trunkline.metrics import Metrics
from trunkline.routing import RoutingEngine
from trunkline_web.settings import workspace_users

__all__ = [
    "ALERT_KINDS",
    "agent_json",
    "attachment_url",
    "author_name",
    "contact_detail",
    "contact_json",
    "customer_json",
    "customer_profile",
    "message_json",
    "note_json",
    "offer_json",
    "queue_alerts",
    "queue_json",
    "router_of",
]


def router_of(desk: DeskView) -> RoutingEngine:
    """The desk's routing engine, read through the RoutingEngine protocol alone (so any
    ``engine_factory``'s engine serves the API)."""
    return desk.engine


def agent_json(router: RoutingEngine, agent_id: str) -> dict[str, Any]:
    run = router.agents[agent_id]
    return {
        "id": agent_id,
        "name": run.agent.name or agent_id,
        "status": run.status.value,
        "reason": run.reason,
        "status_since": run.status_since or None,
        "state": run.state.value,
        "held": dict(run.held),
        "capacity": dict(run.capacity),
        "contacts": sorted([*run.active, *run.wrap_up]),
        "queues": list(run.agent.queues),
    }


def offer_json(offer: Offer) -> dict[str, Any]:
    return {
        "id": offer.id,
        "contact_id": offer.contact_id,
        "agent_id": offer.agent_id,
        "queue": offer.queue,
        "created_at": offer.created_at,
        "expires_at": offer.expires_at,
    }


def contact_json(
    contact: Contact, router: RoutingEngine | None = None, name: str = ""
) -> dict[str, Any]:
    """A contact as the API lists it; ``name`` is its customer's (``""``: none given, or not
    looked up: see :class:`~trunkline_web.names.CustomerNames`)."""
    view = None if router is None else router.contacts.get(contact.id)
    state = view.state.value if view is not None else "closed"
    return {
        "id": contact.id,
        "queue": view.queue if view is not None and view.queue else contact.queue,
        "state": state,
        "channel": contact.channel,
        "kind": contact.channel_kind,
        "subject": contact.subject,
        "customer": {"id": contact.customer_id, "name": name, "address": str(contact.address)},
        "agent_id": view.agent_id if view is not None else None,
        "created_at": contact.created_at,
        "attributes": dict(contact.attributes),
    }


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "contact_id": message.contact_id,
        "direction": message.direction.value,
        "channel": message.channel,
        "body": message.body,
        "created_at": message.created_at,
        "sent_at": message.sent_at,
        "sender": None if message.sender is None else str(message.sender),
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "url": attachment_url(message, a.sha256),
            }
            for a in message.attachments
        ],
    }


def attachment_url(message: Message, sha256: str) -> str:
    """Where the centre's users fetch an attachment of a message (see the API's
    ``…/contacts/{contact}/attachments/{sha256}``)."""
    return (
        f"/api/v1/workspaces/{quote(message.workspace, safe='')}/contacts/"
        f"{quote(message.contact_id, safe='')}/attachments/{quote(sha256, safe='')}"
    )


def customer_json(customer: Customer | None, contact: Contact) -> dict[str, Any]:
    """The customer of ``contact`` as the profile shows them: name and every address.

    ``customer`` is the store's record (None when it has none: the contact's own address
    is then all that is known). ``name`` is empty when the customer never gave one.
    """
    if customer is None:
        customer = Customer(id=contact.customer_id, workspace="", addresses=(contact.address,))
    return {**customer_profile(customer), "address": str(contact.address)}


def customer_profile(customer: Customer) -> dict[str, Any]:
    """A customer: id, name (empty when never given) and addresses."""
    return {
        "id": customer.id,
        "name": customer.name,
        "addresses": [{"kind": a.kind, "value": a.value} for a in customer.addresses],
    }


def author_name(runtime: PluginRuntime, workspace: str, username: str, agent_id: str | None) -> str:
    """The name people read for a note's author: the user's, the agent's, or the user name."""
    config = runtime.config.workspaces.get(workspace)
    user = None if config is None else workspace_users(config).get(username)
    if user is not None and user.name:
        return user.name
    agent = None if config is None else next((a for a in config.agents if a.id == agent_id), None)
    return agent.name if agent is not None and agent.name else username


def note_json(note: ev.NoteAdded, author: str) -> dict[str, Any]:
    return {
        "id": note.note_id,
        "contact_id": note.contact_id,
        "author": note.author,
        "author_name": author,
        "agent_id": note.agent_id,
        "text": note.text,
        "created_at": note.at,
    }


async def contact_detail(
    runtime: PluginRuntime, workspace: str, contact: Contact, router: RoutingEngine | None
) -> dict[str, Any]:
    """The contact, its messages and notes, its customer's profile, and the customer's other
    contacts with their messages and notes (newest first)."""
    store = runtime.store
    detail = contact_json(contact, router)
    profile = customer_json(await store.customer_by_address(workspace, contact.address), contact)
    summary = detail["customer"]  # a name the summary already gives is kept when none is stored
    detail["customer"] = {**summary, **profile, "name": profile["name"] or summary.get("name", "")}
    detail["messages"] = [message_json(m) for m in await store.messages(workspace, contact.id)]
    detail.update(await _timeline(runtime, workspace, contact.id))
    history = []
    for other in await store.contacts_of(workspace, contact.customer_id, limit=20):
        if other.id == contact.id:
            continue
        entry = contact_json(other, router, detail["customer"]["name"])
        entry["messages"] = [message_json(m) for m in await store.messages(workspace, other.id)]
        entry["notes"] = (await _timeline(runtime, workspace, other.id))["notes"]
        history.append(entry)
    detail["history"] = history
    return detail


async def _timeline(runtime: PluginRuntime, workspace: str, contact_id: str) -> dict[str, Any]:
    """From the contact's events: its notes, and when its agent accepted it (the start of
    the handle time; None while nobody holds it)."""
    notes = []
    accepted_at: float | None = None
    for stored in await runtime.store.contact_events(workspace, contact_id):
        match stored.event:
            case ev.NoteAdded() as note:
                name = author_name(runtime, workspace, note.author, note.agent_id)
                notes.append(note_json(note, name))
            case ev.OfferAccepted(at=at):
                accepted_at = at
            case ev.ContactTransferred():
                accepted_at = None
            case _:
                pass
    return {"notes": notes, "accepted_at": accepted_at}


# The figures since start a queue's JSON carries, with their value before any event.
SINCE_START: dict[str, Any] = {
    "offered": 0,
    "answered": 0,
    "abandoned": 0,
    "handled": 0,
    "service_level": None,
    "asa": None,
    "aht": None,
    "average_talk_time": None,
    "average_wrap_time": None,
    "abandonment_rate": None,
    "wait_probability": None,
    "csat": None,
    "csat_responses": 0,
}


# What a queue's alerts watch: (kind, the figure, the queue's threshold key, "under"/"over").
ALERT_KINDS = (
    ("service_level", "service_level", "alert_service_level", "under"),
    ("longest_wait", "longest_wait", "alert_longest_wait", "over"),
    ("abandonment", "abandonment_rate", "alert_abandonment", "over"),
)


def queue_alerts(queue: Queue, row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The queue's alerts raised now, from its JSON ``row`` (see :func:`queue_json`).

    Service level under ``alert_service_level`` (by default the queue's target), longest wait
    over ``alert_longest_wait`` seconds, abandonment rate over ``alert_abandonment``; a
    threshold of 0 watches nothing, and a figure not defined yet (``None``) raises nothing.
    """
    raised = []
    for kind, figure, key, direction in ALERT_KINDS:
        threshold = getattr(queue, key)
        if threshold is None:  # alert_service_level left out: the target
            threshold = queue.service_level_target
        value = row.get(figure)
        if not threshold or value is None:
            continue
        if (value < threshold) if direction == "under" else (value > threshold):
            raised.append({"queue": queue.id, "kind": kind, "value": value, "threshold": threshold})
    return raised


def queue_json(
    router: RoutingEngine,
    figures: Mapping[str, Any] | None,
    queue_id: str,
    now: float,
    metrics: Metrics | None = None,
) -> dict[str, Any]:
    """A queue now (from the engine) and since start (``figures``: the queue's entry of
    :meth:`trunkline.metrics.Metrics.figures`), with its alerts and, given ``metrics``, its
    service level over the last intervals (``service_level_trend``)."""
    queue = router.queues[queue_id]
    present = [v for v in router.contacts.values() if v.queue == queue_id]
    queued = [v for v in present if v.state is ContactState.QUEUED]
    ringing = [v for v in present if v.state is ContactState.OFFERED]
    agents = dict.fromkeys(
        ("available", "idle", "offered", "busy", "wrap_up", "break", "offline"), 0
    )
    for run in router.queue_agents(queue_id):
        if run.status is AgentStatus.AVAILABLE:
            agents["available"] += 1
            agents[run.state.value.replace("-", "_")] += 1
        else:
            agents[run.status.value] += 1
    since_start = {key: (figures or {}).get(key, default) for key, default in SINCE_START.items()}
    row = {
        "id": queue_id,
        "name": queue.name or queue_id,
        "waiting": len(queued),
        "ringing": len(ringing),
        "longest_wait": max((now - v.since for v in queued + ringing), default=0.0),
        **since_start,
        "service_level_threshold": queue.service_level_threshold,
        "service_level_target": queue.service_level_target,
        "agents": agents,
    }
    row["alerts"] = queue_alerts(queue, row)
    if metrics is not None:
        row["service_level_trend"] = metrics.service_level_trend(queue_id, now)
    return row
