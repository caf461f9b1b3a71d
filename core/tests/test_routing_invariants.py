"""The routing invariants, checked by hypothesis over thousands of random command sequences.

The engine under test is driven by a rule-based state machine. A small reference model,
written separately here, folds the same events and judges them: capacity and cross-channel
rules, one agent per contact, nothing lost, arrival order within a queue and priority, no
idle agent beside a contact it could serve (none starves: an agent who declined a contact is
kept from it only for its queue's ``reject_delay`` or ``no_answer_delay``, then must be offered
it again if it still waits), and replay giving the same state and decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from trunkline import events as ev
from trunkline.builtin.strategies import trunkline_register_strategies
from trunkline.model import (
    Address,
    Agent,
    AgentStatus,
    Contact,
    ContactState,
    Direction,
    EscalationStep,
    Queue,
    RoutingSettings,
)
from trunkline.requirements import parse_requirement
from trunkline.routing import (
    AbandonContact,
    AcceptOffer,
    CloseContact,
    Command,
    EndContact,
    EnqueueContact,
    RejectOffer,
    Router,
    RoutingError,
    SetAgentStatus,
    Tick,
    TransferContact,
)

W = "acme"
SKILLS = ("en", "de", "billing")
KINDS = ("chat", "voice", "email")
STRATEGIES = {s.name: s for s in trunkline_register_strategies()}
SETTINGS = RoutingSettings(blocks={"voice": ("chat", "email")}, auto_break_after=2)
QUEUES = (
    Queue(
        id="q1",
        workspace=W,
        offer_timeout=7,
        wrap_up=3,
        sticky=20,
        rejoin_window=30,
        max_length=6,
        reject_delay=4,
        no_answer_delay=9,
    ),
    Queue(
        id="q2",
        workspace=W,
        requirement='language == "de" and de >= 2 or language != "de"',
        skills={"en": 1},  # dropped by the first step, whose requirement replaces both
        priority_step=15,
        offer_to=2,
        offer_timeout=5,
        reject_delay=0,  # a rejecting agent may be offered it again at once
        no_answer_delay=12,
        strategy="round-robin",
        escalation=(
            EscalationStep(after=10, requirement="true", groups=("floor",)),
            EscalationStep(after=25, overflow="q1"),
        ),
    ),
    Queue(
        id="q3",
        workspace=W,
        order="lifo",
        skills={"en": 1},
        strategy="random",
        seed=7,
        when_no_agents="refuse",
        leave_when_no_agents=True,
        offer_timeout=4,
        reject_delay=float("inf"),  # never again, as before delays existed
        escalation=(EscalationStep(after=12, skills={}),),  # then any agent of the queue
    ),
)
QUEUE = {q.id: q for q in QUEUES}


def levels(queue: Queue) -> list[tuple[str, Mapping[str, int], set[str]]]:
    """(requirement, minimums, pools) per escalation level, from the configuration alone."""
    requirement, minimums = queue.requirement or "true", queue.skills
    pools = {f"queue:{queue.id}"}
    out = [(requirement, minimums, set(pools))]
    for step in queue.escalation:
        if step.requirement is not None:
            requirement, minimums = step.requirement, {}
        if step.skills is not None:
            minimums = step.skills
        pools |= {f"queue:{q}" for q in step.queues} | {f"group:{g}" for g in step.groups}
        out.append((requirement, minimums, set(pools)))
    return out


LEVELS = {q.id: levels(q) for q in QUEUES}
CONFLICTS = {"voice": {"chat", "email"}, "chat": {"voice"}, "email": {"voice"}}

agent_specs = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5)),
        st.dictionaries(st.sampled_from(KINDS), st.integers(0, 3)),
        st.sets(st.sampled_from([q.id for q in QUEUES]), min_size=1),
        st.booleans(),
    ),
    min_size=1,
    max_size=5,
)


@attrs.define
class Waiting:
    """The reference model's view of a contact that has not ended."""

    contact: Contact
    queue: str
    priority: int
    since: float
    level: int = 0
    preferred: str | None = None
    placed: bool = True  # False while offered or handled
    declined: dict[str, float] = attrs.field(factory=dict)  # agent -> kept from it until
    offers: set[str] = attrs.field(factory=set)
    owner: str | None = None


class Model:
    """Folds events the simple way and raises AssertionError on a broken invariant."""

    def __init__(self, agents: Mapping[str, Agent]) -> None:
        self.agents = agents
        self.status = dict.fromkeys(agents, AgentStatus.OFFLINE)
        self.held: dict[str, dict[str, str]] = {a: {} for a in agents}  # contact -> kind
        self.pending: dict[str, str | None] = dict.fromkeys(agents)  # agent -> offer id
        self.offers: dict[str, ev.Offer] = {}  # type: ignore[name-defined]
        self.open: dict[str, Waiting] = {}
        self.ended: set[str] = set()
        self.received: dict[str, Contact] = {}
        self.now = 0.0  # the time of the command being judged

    def fold(self, event: ev.Event) -> None:
        match event:
            case ev.ContactReceived(contact=c):
                self.received[c.id] = c
            case ev.ContactQueued():
                old = self.open.get(event.contact_id)
                contact = old.contact if old else self._contact(event.contact_id)
                self.open[event.contact_id] = Waiting(
                    contact,
                    event.queue,
                    event.priority,
                    event.at if event.since is None else event.since,
                    event.level,
                    event.preferred_agent,
                )
            case ev.ContactEscalated():
                w = self.open[event.contact_id]
                w.level, w.priority, w.preferred = event.level, event.priority, None
            case ev.ContactOffered(offer=offer):
                w = self.open[offer.contact_id]
                assert w.owner is None, f"{offer.contact_id} offered while handled"
                assert self.pending[offer.agent_id] is None, "two open offers for one agent"
                if event.rule == "transfer":  # a supervisor's choice: any agent with room
                    assert self.could_take(offer.agent_id, w), (
                        f"{offer.contact_id} transferred to {offer.agent_id}, who has no room"
                    )
                else:
                    self.check_order(offer.contact_id, offer.agent_id)
                    assert self.could_serve(offer.agent_id, w, ignore_pending=False), (
                        f"{offer.contact_id} offered to {offer.agent_id}, who cannot serve it"
                    )
                w.placed = False
                w.offers.add(offer.id)
                self.offers[offer.id] = offer
                self.pending[offer.agent_id] = offer.id
                self.held[offer.agent_id][offer.contact_id] = w.contact.channel_kind
                self.check_capacity(offer.agent_id)
            case ev.OfferAccepted():
                w = self.open[event.contact_id]
                assert w.owner is None, f"{event.contact_id} assigned to two agents"
                w.owner = event.agent_id
                w.offers.discard(event.offer_id)
                self.pending[event.agent_id] = None
                self.offers.pop(event.offer_id)
            case ev.OfferRejected() | ev.OfferTimedOut() | ev.OfferRescinded():
                w = self.open[event.contact_id]
                w.offers.discard(event.offer_id)
                offer = self.offers.pop(event.offer_id)
                self.pending[event.agent_id] = None
                del self.held[event.agent_id][event.contact_id]
                if not isinstance(event, ev.OfferRescinded):
                    queue = QUEUE[offer.queue]
                    rejected = isinstance(event, ev.OfferRejected)
                    delay = queue.reject_delay if rejected else queue.no_answer_delay
                    if delay > 0:
                        w.declined[event.agent_id] = event.at + delay
                    if w.preferred == event.agent_id:
                        w.preferred = None
                    if not w.offers and w.owner is None:
                        w.placed = True
            case ev.ExclusionEnded():
                w = self.open[event.contact_id]
                until = w.declined.pop(event.agent_id)
                assert event.at >= until, f"{event.agent_id} let back to {w.contact.id} early"
            case ev.ContactTransferred():
                del self.held[event.from_agent][event.contact_id]
                self.open[event.contact_id].owner = None
            case ev.WrapUpEnded():
                del self.held[event.agent_id][event.contact_id]
            case ev.ContactClosed() | ev.ContactAbandoned() | ev.ContactRefused():
                w = self.open.pop(event.contact_id, None)
                assert w is None or not w.offers, "a contact ended with open offers"
                self.ended.add(event.contact_id)
            case ev.AgentStatusChanged():
                self.status[event.agent_id] = event.status
            case _:
                pass

    def _contact(self, contact_id: str) -> Contact:
        assert contact_id in self.received, f"{contact_id} queued before it was received"
        return self.received[contact_id]

    # Judgements ----------------------------------------------------------------------------

    def check_capacity(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        kinds = list(self.held[agent_id].values())
        for kind in set(kinds):
            assert kinds.count(kind) <= agent.capacity.get(kind, 0), f"{agent_id} over {kind}"
            assert not CONFLICTS.get(kind, set()) & set(kinds), f"{agent_id} mixes {set(kinds)}"

    def meets(self, agent_id: str, w: Waiting) -> bool:
        agent = self.agents[agent_id]
        requirement, minimums, pools = LEVELS[w.queue][w.level]
        member = {f"queue:{q}" for q in agent.queues} | {f"group:{g}" for g in agent.groups}
        if not member & pools:
            return False
        if any(agent.skills.get(s, 0) < n for s, n in minimums.items()):
            return False
        return parse_requirement(requirement, skills=SKILLS).matches(w.contact, agent.skills)

    def could_take(self, agent_id: str, w: Waiting, *, ignore_pending: bool = False) -> bool:
        """Whether the agent has room for this contact now: available, no open offer (unless
        ``ignore_pending``), capacity for its kind and nothing held that rules it out."""
        if self.status[agent_id] is not AgentStatus.AVAILABLE:
            return False
        if not ignore_pending and self.pending[agent_id] is not None:
            return False
        kind = w.contact.channel_kind
        kinds = list(self.held[agent_id].values())
        if kinds.count(kind) >= self.agents[agent_id].capacity.get(kind, 0):
            return False
        return not CONFLICTS.get(kind, set()) & set(kinds)

    def could_serve(self, agent_id: str, w: Waiting, *, ignore_pending: bool = False) -> bool:
        """Whether the agent could be offered this contact right now."""
        if not self.could_take(agent_id, w, ignore_pending=ignore_pending):
            return False
        if w.declined.get(agent_id, -1.0) > self.now:  # still kept from it
            return False
        if w.preferred is not None:
            return agent_id == w.preferred
        return self.meets(agent_id, w)

    def check_order(self, contact_id: str, agent_id: str) -> None:
        """Nobody the agent could serve waited ahead in the same queue at the same priority
        and escalation level (overtaking only by priority or escalation)."""
        chosen = self.open[contact_id]
        lifo = QUEUE[chosen.queue].order == "lifo"
        for other in self.open.values():
            if (
                other is chosen
                or not other.placed
                or other.owner is not None
                or other.queue != chosen.queue
                or other.priority != chosen.priority
                or other.level != chosen.level
                or other.preferred is not None
                or chosen.preferred is not None
            ):
                continue
            ahead = other.since > chosen.since if lifo else other.since < chosen.since
            if ahead and self.could_serve(agent_id, other):
                raise AssertionError(
                    f"{contact_id} overtook {other.contact.id} in {chosen.queue} for {agent_id}"
                )

    def check_work_conserving(self) -> None:
        """No available agent without an offer idles beside a contact it could serve."""
        for w in self.open.values():
            if not w.placed or w.owner is not None or w.offers:
                continue
            for agent_id in self.agents:
                assert not self.could_serve(agent_id, w), (
                    f"{agent_id} is idle while {w.contact.id} waits in {w.queue}"
                )


class RoutingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.log: list[ev.Event] = []
        self.commands: list[tuple[Command, float]] = []
        self.arrived: set[str] = set()
        self.count = 0

    def build(self) -> Router:
        return Router(
            W,
            QUEUES,
            self.agent_list,
            strategies=STRATEGIES,
            skills=SKILLS,
            settings=SETTINGS,
        )

    @initialize(specs=agent_specs)
    def setup(self, specs: list[tuple[dict[str, int], dict[str, int], set[str], bool]]) -> None:
        self.agent_list = [
            Agent(
                id=f"a{n}",
                workspace=W,
                skills=skills,
                capacity=capacity,
                queues=tuple(sorted(queues)),
                groups=("floor",) if floor else (),
            )
            for n, (skills, capacity, queues, floor) in enumerate(specs)
        ]
        self.router = self.build()
        self.model = Model({a.id: a for a in self.agent_list})

    def do(self, command: Command, dt: float = 0.01) -> None:
        self.now += dt
        self.model.now = self.now
        events = self.router.handle(command, self.now)
        self.commands.append((command, self.now))
        self.log += events
        for event in events:
            self.model.fold(event)

    @rule(
        kind=st.sampled_from(KINDS),
        queue=st.sampled_from([q.id for q in QUEUES]),
        priority=st.integers(0, 2),
        customer=st.sampled_from(["ann", "bob", "cy", "dee"]),
        language=st.sampled_from([None, "de", "en"]),
    )
    def arrive(self, kind: str, queue: str, priority: int, customer: str, language: str) -> None:
        self.count += 1
        cid = f"c{self.count}"
        self.arrived.add(cid)
        contact = Contact(
            id=cid,
            workspace=W,
            channel="web",
            channel_kind=kind,
            direction=Direction.INBOUND,
            customer_id=customer,
            address=Address("memory", customer),
            queue=queue,
            priority=priority,
            language=language,
        )
        self.do(EnqueueContact(contact))

    @rule(index=st.integers(0, 4), status=st.sampled_from(list(AgentStatus)))
    def status(self, index: int, status: AgentStatus) -> None:
        agent = self.agent_list[index % len(self.agent_list)]
        self.do(SetAgentStatus(agent.id, status, "test" if status is AgentStatus.BREAK else None))

    @rule(index=st.integers(0, 50), accept=st.booleans())
    def answer(self, index: int, accept: bool) -> None:
        if not self.router.offers:
            return
        offer_id = sorted(self.router.offers)[index % len(self.router.offers)]
        self.do(AcceptOffer(offer_id) if accept else RejectOffer(offer_id))

    def pick(self, index: int, state: ContactState | None) -> str | None:
        ids = sorted(c for c, v in self.router.contacts.items() if state in (None, v.state))
        return ids[index % len(ids)] if ids else None

    @rule(index=st.integers(0, 50), what=st.sampled_from(["end", "close", "abandon"]))
    def finish(self, index: int, what: str) -> None:
        state = {"end": ContactState.ACTIVE, "close": ContactState.WRAP_UP, "abandon": None}[what]
        cid = self.pick(index, state)
        if cid is not None:
            kind = {"end": EndContact, "close": CloseContact, "abandon": AbandonContact}[what]
            self.do(kind(cid))

    @rule(index=st.integers(0, 50), to=st.sampled_from(["q1", "q2", "q3", "agent", "both"]))
    def transfer(self, index: int, to: str) -> None:
        """An agent passes an active contact on; a supervisor sends a waiting one to a queue,
        to any agent, or both. The engine refuses exactly when the model says it must (a
        waiting contact's agent has no room, its own queue again, a contact in wrap-up), and
        a refusal changes nothing."""
        cid = self.pick(index, None)
        if cid is None:
            return
        queue = to if to.startswith("q") else QUEUES[index % 3].id if to == "both" else None
        view = self.router.contacts[cid]
        if view.state is ContactState.ACTIVE:
            if queue is not None and to != "both":
                self.do(TransferContact(cid, queue=queue))
                return
            owner = view.agent_id
            online = [
                a.id
                for a in self.agent_list
                if a.id != owner and self.router.agent(a.id).status is not AgentStatus.OFFLINE
            ]
            if online:
                self.do(TransferContact(cid, queue=queue, agent=online[index % len(online)]))
            return
        w = self.model.open[cid]
        agent_id = None
        if to in ("agent", "both"):  # "agent": anyone; "both": someone with room, if any
            ids = [a.id for a in self.agent_list]
            if to == "both":
                ids = [a for a in ids if self.model.could_take(a, w)] or ids
            agent_id = ids[index % len(ids)]
        if view.state is ContactState.WRAP_UP or view.queue is None:
            refused = True
        elif agent_id is not None:
            refused = not self.model.could_take(agent_id, w)
        else:
            refused = queue == w.queue
        before = state_of(self.router)
        try:
            self.do(TransferContact(cid, queue=queue, agent=agent_id))
        except RoutingError:
            assert refused, f"the transfer of {cid} to {queue}, {agent_id} was refused"
            assert state_of(self.router) == before
        else:
            assert not refused, f"the transfer of {cid} to {queue}, {agent_id} went ahead"
            if agent_id is not None:
                assert offers_to(self.router, agent_id) == [cid]

    @rule(seconds=st.floats(0.1, 30))
    def wait(self, seconds: float) -> None:
        self.do(Tick(), seconds)

    @invariant()
    def nothing_is_lost(self) -> None:
        if not hasattr(self, "router"):
            return
        assert self.arrived == set(self.model.open) | self.model.ended
        assert set(self.router.contacts) == set(self.model.open)
        for cid, w in self.model.open.items():
            view = self.router.contacts[cid]
            assert (view.queue, view.state is ContactState.QUEUED and view.seq != -1) == (
                w.queue,
                w.placed and w.owner is None,
            )

    @invariant()
    def a_handled_contact_belongs_to_one_agent_alone(self) -> None:
        if not hasattr(self, "router"):
            return
        for cid, w in self.model.open.items():
            handlers = [
                aid
                for aid, run in self.router.agents.items()
                if cid in run.active or cid in run.wrap_up
            ]
            if w.owner is None:
                assert handlers == [], f"{cid} is handled by {handlers} and owned by nobody"
            else:
                assert handlers == [w.owner], f"{cid} is handled by {handlers}, not {w.owner}"
                assert self.router.contacts[cid].agent_id == w.owner
                holders = [aid for aid, held in self.model.held.items() if cid in held]
                assert holders == [w.owner], f"{cid} is held by {holders}"

    @invariant()
    def capacity_holds_and_no_agent_idles_beside_work(self) -> None:
        if not hasattr(self, "router"):
            return
        for agent_id in self.model.agents:
            self.model.check_capacity(agent_id)
        self.model.check_work_conserving()

    def teardown(self) -> None:
        if not hasattr(self, "router"):
            return
        # Replaying the log rebuilds the same state...
        replayed = self.build()
        for event in self.log:
            replayed.apply(event)
        assert state_of(replayed) == state_of(self.router)
        # ...and so does a snapshot, restored into a fresh router...
        restored = self.build()
        restored.restore(self.router.snapshot())
        assert state_of(restored) == state_of(self.router)
        later = self.now + 100  # and all three go on to decide alike
        extra: list[tuple[Command, float]] = [
            (SetAgentStatus(agent.id, AgentStatus.AVAILABLE), later) for agent in self.agent_list
        ]
        extra.append((Tick(), later + 50))
        for command, at in extra:
            decided = self.router.handle(command, at)
            assert replayed.handle(command, at) == decided
            assert restored.handle(command, at) == decided
        assert state_of(restored) == state_of(replayed) == state_of(self.router)
        # ...and the same commands at the same times make the same decisions.
        again = self.build()
        events: list[ev.Event] = []
        for command, at in self.commands:
            events += again.handle(command, at)
        assert events == self.log


def offers_to(router: Router, agent_id: str) -> list[str]:
    return [o.contact_id for o in router.offers.values() if o.agent_id == agent_id]


def state_of(router: Router) -> Any:
    contacts = {
        cid: (v.state, v.queue, v.level, v.priority, v.since, v.agent_id, v.declined, v.preferred)
        for cid, v in router.contacts.items()
    }
    agents = {
        aid: (r.status, r.state, dict(r.held), r.active, r.wrap_up, r.idle_since, r.missed)
        for aid, r in router.agents.items()
    }
    waiting = {q: [v.contact.id for v in router.waiting(q)] for q in router.queues}
    return contacts, agents, waiting, router.offers, router.next_deadline()


TestRoutingInvariants = RoutingMachine.TestCase
TestRoutingInvariants.settings = settings(
    max_examples=2000,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
