"""``trunkline demo``: an embedded contact centre with simulated customers and agents, shown live.

Nothing here is special to the demo in the core: the configuration is built in code and checked
like a file would be, the contact centre is an ordinary :class:`~trunkline.runtime.Runtime` on
the built-in memory channels, and simulated customers and agents drive it through the public
runtime calls (``deliver``, ``accept``, ``reply``, ``end_contact``…). The figures on screen are
computed from the event stream, the way any wallboard would compute them.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import secrets
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO, TypeVar

import anyio
import anyio.abc
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream
from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from trunkline import (
    AgentStatus,
    Config,
    InboundRejected,
    Offer,
    PluginManager,
    Runtime,
    TemporaryFailure,
    TrunklineError,
    config_from_dict,
    hookspecs,
)
from trunkline import events as ev
from trunkline.cli import config_sources
from trunkline.codec import write_event
from trunkline.metrics import Metrics
from trunkline.routing import CloseContact, EndContact, RoutingError
from trunkline_web.app import web_port
from trunkline_web.users import hash_password

__all__ = [
    "DemoOptions",
    "DemoStats",
    "DemoSummary",
    "demo_config",
    "demo_workspace",
    "run_demo",
]

WORKSPACE: Final = "demo"  # the demo's workspace, unless the distribution's defaults name one
HUMAN: Final = "you"  # an agent nobody simulates: the one you play in the agent desktop
WEBCHAT: Final = "webchat"  # the web-chat channel, when its plugin is installed
MAIL: Final = "mail"  # the email channel (real SMTP), when its plugin is installed
_T = TypeVar("_T")


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"demo option {attribute.name}: must be more than 0, got {value!r}")


@attrs.frozen
class DemoOptions:
    """How big and how busy the simulated contact centre is.

    ``rate`` is customers per second (Poisson arrivals); ``duration`` is seconds to run (None:
    until Ctrl-C); ``interval`` is seconds between summary lines when the output is not a
    terminal. The same ``seed`` gives the same customers (arrival times, channels, patience);
    the agents' choices are seeded too, but real time decides in which order agents draw them.
    """

    agents: int = attrs.field(default=8, validator=_positive)
    rate: float = attrs.field(default=1.5, validator=_positive)
    seed: int | None = None
    duration: float | None = attrs.field(default=None, validator=_positive)
    interval: float = attrs.field(default=2.0, validator=_positive)
    database: str | None = None  # the SQLite file to keep the log in; None: a temporary one
    web: bool = True  # serve the pages and the API
    host: str = "127.0.0.1"
    port: int = 8000
    smtp_port: int | None = 2525  # mail in, with the email plugin installed; None: no mail


@attrs.frozen
class DemoSummary:
    """Totals of a demo run.

    ``offered`` counts contacts that started waiting in a queue (a contact rejected once and
    then answered was offered once). ``service_level`` is the share of contacts answered
    within their queue's threshold, None when no contact counts yet.
    """

    received: int
    offered: int
    answered: int
    abandoned: int
    service_level: float | None
    average_speed_of_answer: float | None = None
    elapsed: float = 0.0

    def line(self) -> str:
        """The one-line form printed at the end of the demo, starting ``demo summary:``."""
        return (
            f"demo summary: {self.elapsed:.1f}s, received={self.received} "
            f"offered={self.offered} answered={self.answered} abandoned={self.abandoned} "
            f"service level={_percent(self.service_level)} "
            f"asa={_seconds(self.average_speed_of_answer)}"
        )


# The contact centre ---------------------------------------------------------------------------


@attrs.frozen
class _Traffic:
    """One channel of the demo, the queue it feeds, and how its customers and agents behave."""

    channel: str
    queue: str
    share: float  # of arriving customers
    handle_time: float  # mean seconds an agent spends on a contact
    patience: tuple[float, float] | None  # seconds before hanging up; None: never abandons
    topics: tuple[tuple[str, str], ...]  # (subject, body)


_TRAFFIC: Final = (
    _Traffic(
        channel="chat",
        queue="sales",
        share=0.45,
        handle_time=20.0,  # a chat agent holds two at once, so chats may last longer
        patience=(10.0, 40.0),
        topics=(
            ("Pricing", "Hi! How much is the team plan?"),
            ("Upgrade", "Can I upgrade in the middle of my contract?"),
            ("Demo", "Could someone show me the product this week?"),
        ),
    ),
    _Traffic(
        channel="voice",
        queue="support",
        share=0.3,
        handle_time=18.0,
        patience=(10.0, 40.0),
        topics=(
            ("Cannot log in", "(call) I reset my password and still cannot log in."),
            ("Outage", "(call) Your app has been down for me since this morning."),
        ),
    ),
    _Traffic(
        channel="email",
        queue="billing",
        share=0.25,
        handle_time=12.0,
        patience=None,  # nobody hangs up on an email
        topics=(
            ("Invoice 2291", "Hello, invoice 2291 charges us twice. Please refund one."),
            ("VAT number", "Please add our VAT number to future invoices."),
            ("Card expired", "Our card expired; how do we change it?"),
        ),
    ),
)
_BY_QUEUE: Final = {traffic.queue: traffic for traffic in _TRAFFIC}

_QUEUES: Final[Mapping[str, Mapping[str, Any]]] = {
    "sales": {"name": "Sales", "skills": {"en": 1}, "service_level_threshold": 15.0},
    "support": {"name": "Support", "skills": {"en": 2}, "service_level_threshold": 20.0},
    "billing": {"name": "Billing", "skills": {"billing": 2}, "service_level_threshold": 30.0},
}
_OFFER_TIMEOUT: Final = 8.0  # short, so an ignored offer visibly goes back to the queue
_WRAP_UP: Final = 2.0

_NAMES: Final = (
    "ada", "ben", "chloe", "dev", "emma", "farid", "grace", "hugo", "ines", "jonas", "kai",
    "lena", "malik", "nora", "omar", "pia", "quinn", "rosa", "sami", "tess", "umar", "vera",
    "wim", "yara",
)  # fmt: skip


def _human_agent() -> dict[str, dict[str, Any]]:
    """The agent you play: every queue and channel, offline until you say you are available."""
    return {
        HUMAN: {
            "name": "You",
            "skills": {"en": 5, "billing": 5},
            "capacity": {"chat": 2, "email": 3, "voice": 1},
            "queues": list(_QUEUES),
        }
    }


def demo_logins() -> list[tuple[str, str, str, str]]:
    """Web users for this run, with fresh passwords: you as an agent, and a supervisor."""
    return [
        ("you", "agent", HUMAN, secrets.token_urlsafe(9)),
        ("sam", "supervisor", "", secrets.token_urlsafe(9)),
    ]


def _agent_table(count: int) -> dict[str, dict[str, Any]]:
    """A fixed, varied team: everyone speaks English, about half know billing well.

    Agent 0 has every skill and capacity for every channel, so each queue is staffed even
    with ``--agents 1``.
    """
    agents: dict[str, dict[str, Any]] = {}
    for i in range(count):
        name = _NAMES[i % len(_NAMES)] + ("" if i < len(_NAMES) else str(i // len(_NAMES) + 1))
        skills = {"en": 2 + i % 4}
        if i % 2 == 0:
            skills["billing"] = 2 + i % 3
        elif i % 3 == 0:
            skills["billing"] = 1
        capacity = {"chat": 3 if i % 4 == 3 else 2, "email": 3}
        if i % 5 != 3:  # a few agents do not take calls
            capacity["voice"] = 1
        queues = [
            q
            for q, spec in _QUEUES.items()
            if all(skills.get(s, 0) >= n for s, n in spec["skills"].items())
        ]
        agents[name] = {
            "name": name.capitalize(),
            "skills": skills,
            "capacity": capacity,
            "queues": queues,
        }
    return agents


def demo_workspace(pm: PluginManager) -> str:
    """The workspace the demo runs in: the one the distribution's defaults name, if they name
    exactly one (its users are told to use it), else ``"demo"``."""
    defaults = pm.distro.defaults if pm.distro is not None else {}
    workspaces = defaults.get("workspaces")
    if isinstance(workspaces, Mapping) and len(workspaces) == 1:
        (name,) = workspaces
        return str(name)
    return WORKSPACE


def _missing(pm: PluginManager, plugin: str, what: str) -> TrunklineError:
    """The demo cannot run without ``plugin``: say who keeps it out."""
    why = pm.not_loaded.get(plugin, "not loaded")
    return TrunklineError(f'{what}, and its plugin "{plugin}" is {why}')


def demo_config(
    options: DemoOptions,
    pm: PluginManager,
    database: str | None = None,
    logins: Sequence[tuple[str, str, str, str]] = (),
) -> Config:
    """The demo's configuration, built in code and checked like a configuration file.

    With ``database``, the event log goes to that SQLite file (the demo's default, as for
    ``trunkline serve``); without it, to memory. ``logins`` are the web users, as
    ``(user name, role, agent, password)``.

    An active distribution's defaults are merged under it as under a file, except their
    ``[store]`` and their workspace's channels: the demo keeps its log where it says and
    simulates its own channels. The demo runs in :func:`demo_workspace`, with the skills of
    the defaults and its own.
    """
    adapters = {a.name: a for a in pm.collect(hookspecs.trunkline_register_channels)}
    stores = {f.name: f.Settings for f in pm.collect(hookspecs.trunkline_register_stores)}
    strategies = {s.name for s in pm.collect(hookspecs.trunkline_register_strategies)}
    if "memory" not in adapters:
        raise _missing(pm, "memory-channel", "the demo runs on the built-in memory channel")
    if not strategies:
        raise _missing(pm, "strategies", "the demo needs a routing strategy and none is loaded")
    product = pm.product_title
    workspace_id = demo_workspace(pm)
    defaults = _demo_defaults(pm, workspace_id)
    tables = defaults.get("workspaces")
    table = tables.get(workspace_id) if isinstance(tables, Mapping) else None
    default_skills = table.get("skills") if isinstance(table, Mapping) else None
    if not isinstance(default_skills, list):
        default_skills = []
    skills = [*default_skills, *(s for s in ("en", "billing") if s not in default_skills)]
    strategy = "longest-idle" if "longest-idle" in strategies else sorted(strategies)[0]
    queues = {
        qid: {
            **spec,
            "strategy": strategy,
            "offer_timeout": _OFFER_TIMEOUT,
            "wrap_up": _WRAP_UP,
            "service_level_target": 0.8,
        }
        for qid, spec in _QUEUES.items()
    }
    channels: dict[str, Any] = {
        t.channel: {"adapter": "memory", "queue": t.queue, "settings": {"kind": t.channel}}
        for t in _TRAFFIC
    }
    data_dir = Path(database).parent if database else Path()
    if options.web and WEBCHAT in adapters:  # you write in as a customer, from a browser
        channels[WEBCHAT] = {
            "adapter": WEBCHAT,
            "queue": "sales",
            "settings": {
                "title": f"{product} demo chat"[:100],
                "files_dir": str(data_dir / "webchat-files"),
                # The printed snippet works on any page, as it says: a demo has no site to name.
                "allowed_origins": ["*"],
            },
        }
    if options.smtp_port is not None and "email" in adapters:  # you write in with swaks
        channels[MAIL] = {
            "adapter": "email",
            "queue": "billing",
            "settings": {
                "smtp_host": options.host,
                "smtp_port": options.smtp_port,
                "hostname": "demo.test",
                "domain": "demo.test",
                "from_address": "support@demo.test",
                "data_dir": str(data_dir / "email-data"),
            },
        }
    data: dict[str, Any] = {
        "workspaces": {
            workspace_id: {
                "name": f"{product} demo",
                "skills": skills,
                # A call takes the agent's whole attention; chats and emails mix.
                "routing": {"blocks": {"voice": ["chat", "email"]}},
                "queues": queues,
                "agents": {**_agent_table(options.agents), **_human_agent()},
                "users": {
                    name: {"role": role, "agent": agent, "password_hash": hash_password(password)}
                    for name, role, agent, password in logins
                },
                "channels": channels,
            }
        },
        "web": {"enabled": options.web, "host": options.host, "port": options.port},
    }
    if database is not None:
        if "sqlite" not in stores:
            raise _missing(pm, "sqlite-store", "the demo keeps its log in SQLite")
        data["store"] = {"backend": "sqlite", "path": database}
    distro = pm.distro
    sources = config_sources(pm, env={})
    return config_from_dict(
        data,
        adapters=adapters,
        strategies=strategies,
        plugin_sections=sources["plugin_sections"],
        tables=sources["tables"],
        workspace_tables=sources["workspace_tables"],
        env={},
        source="<trunkline demo>",
        stores=stores,
        unloaded_adapters=pm.unloaded_adapters(),
        defaults=defaults,
        defaults_source=(
            f'the defaults of distribution "{distro.name}"' if distro is not None else "defaults"
        ),
    )


def _demo_defaults(pm: PluginManager, workspace_id: str) -> dict[str, Any]:
    """The distribution's defaults the demo uses: all but ``[store]`` and the channels."""
    if pm.distro is None:
        return {}
    defaults = {k: v for k, v in pm.distro.defaults.items() if k != "store"}
    workspaces = defaults.get("workspaces")
    if isinstance(workspaces, Mapping):
        defaults["workspaces"] = {
            wid: (
                {k: v for k, v in table.items() if k != "channels"}
                if isinstance(table, Mapping)
                else table
            )
            for wid, table in workspaces.items()
        }
    return copy.deepcopy(defaults)


# Statistics -----------------------------------------------------------------------------------


class DemoStats(Metrics):
    """The live figures (:class:`trunkline.metrics.Metrics`), with the demo's summary and
    status line."""

    def summary(self, elapsed: float = 0.0) -> DemoSummary:
        queues = self.queues.values()
        answered = sum(q.answered for q in queues)
        return DemoSummary(
            received=self.received,
            offered=self.offered,
            answered=answered,
            abandoned=sum(q.abandoned for q in queues),
            service_level=self.service_level,
            average_speed_of_answer=(
                sum(q.answer_time for q in queues) / answered if answered else None
            ),
            elapsed=elapsed,
        )

    def status_line(self, now: float, elapsed: float) -> str:
        """One plain line: each queue's figures, then the agents, for logs and pipes."""
        queues = "; ".join(
            f"{qid} waiting={q.waiting} longest={q.longest_wait(now):.0f}s "
            f"answered={q.answered} abandoned={q.abandoned} sl={_percent(q.service_level)}"
            for qid, q in self.queues.items()
        )
        agents = " ".join(f"{key}={n}" for key, n in self.agent_counts().items())
        return f"t={elapsed:.1f}s queues: {queues} | agents: {agents}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


# The live view --------------------------------------------------------------------------------


def _view(stats: DemoStats, now: float, elapsed: float, product: str) -> RenderableType:
    summary = stats.summary(elapsed)
    header = Text.assemble(
        (f"{product} demo", "bold"),
        f"  t={elapsed:.0f}s  received {summary.received}  answered {summary.answered}  "
        f"abandoned {summary.abandoned}  service level {_percent(summary.service_level)}  "
        "(Ctrl-C stops)",
    )
    # Sized for an 80-column terminal: the goals go in the caption, not in a column.
    goals = ", ".join(
        f"{q.queue.service_level_target:.0%} in {q.queue.service_level_threshold:.0f}s ({qid})"
        for qid, q in stats.queues.items()
    )
    queues = Table(
        title="Queues",
        title_justify="left",
        caption=f"SL goal: {goals}",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
    )
    queues.add_column("Queue", no_wrap=True)
    for heading in ("Waiting", "Longest", "Offered", "Answered", "Abandoned", "SL", "ASA"):
        queues.add_column(heading, justify="right")
    for qid, q in stats.queues.items():
        sl = q.service_level
        style = "" if sl is None else ("green" if sl >= q.queue.service_level_target else "red")
        traffic = _BY_QUEUE.get(qid)
        name = q.queue.name or qid
        queues.add_row(
            name if traffic is None else f"{name} ({traffic.channel})",
            str(q.waiting),
            f"{q.longest_wait(now):.0f}s",
            str(q.offered),
            str(q.answered),
            str(q.abandoned),
            Text(_percent(sl), style=style),
            _seconds(q.asa),
        )
    counts = stats.agent_counts()
    agents = Table(title="Agents", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    for key in counts:
        agents.add_column(key.capitalize(), justify="right")
    agents.add_row(*(str(n) for n in counts.values()))
    return Group(header, queues, agents)


# The simulation -------------------------------------------------------------------------------


class _Simulation:
    """Customers who write in and sometimes give up; agents who answer, reply and take breaks."""

    def __init__(
        self,
        runtime: Runtime,
        options: DemoOptions,
        stats: DemoStats,
        record: Callable[[ev.Event], None] | None = None,
        started: Callable[[], None] | None = None,
        workspace: str = WORKSPACE,
    ) -> None:
        self.runtime = runtime
        self.workspace = workspace
        dispositions = runtime.config.workspaces[workspace].dispositions
        self.disposition = (
            "resolved" if "resolved" in dispositions or not dispositions else dispositions[0]
        )
        self.options = options
        self.stats = stats
        self.record = record
        self.started = started
        # Customers draw from their own generator, in one task, so a seed repeats them exactly
        # whatever the agents (many tasks, ordered by real time) draw from theirs.
        seeded = random.Random(options.seed)
        self.customer_rng = random.Random(seeded.getrandbits(64))
        self.agent_rng = random.Random(seeded.getrandbits(64))
        self.customers = 0
        self.started_at: float | None = None
        self.handling: dict[str, str] = {}  # contact -> the offer its simulated agent accepted

    def elapsed(self) -> float:
        return 0.0 if self.started_at is None else self.runtime.clock.now() - self.started_at

    async def run(self, show: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run the contact centre and the simulation until ``duration`` or cancellation."""
        async with self.runtime.running():
            if self.started is not None:
                self.started()
            events = self.runtime.subscribe()  # before anyone acts, so the figures see it all
            with events:
                self.started_at = self.runtime.clock.now()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._watch, events, tg)
                    for agent_id in self.stats.agents:
                        if agent_id == HUMAN:
                            continue  # you, in the browser
                        tg.start_soon(self._shift, agent_id)
                    tg.start_soon(self._arrivals, tg)
                    tg.start_soon(show)
                    if self.options.duration is not None:
                        await anyio.sleep(self.options.duration)
                        tg.cancel_scope.cancel()

    async def _watch(
        self, events: MemoryObjectReceiveStream[ev.Event], tg: anyio.abc.TaskGroup
    ) -> None:
        async for event in events:
            self.stats.apply(event)
            if self.record is not None:
                self.record(event)
            if isinstance(event, ev.ContactOffered) and event.offer.agent_id != HUMAN:
                tg.start_soon(self._answer, event.offer)
            elif isinstance(event, ev.ContactClosed):
                self.handling.pop(event.contact_id, None)

    async def _attempt(self, call: Awaitable[_T]) -> _T | None:
        """Await a runtime call; None when the state moved on (offer expired, contact gone)."""
        try:
            return await call
        except RoutingError:
            return None

    # Customers ----------------------------------------------------------------------------

    async def _arrivals(self, tg: anyio.abc.TaskGroup) -> None:
        rng = self.customer_rng
        weights = [traffic.share for traffic in _TRAFFIC]
        while True:
            await anyio.sleep(rng.expovariate(self.options.rate))
            self.customers += 1
            traffic = rng.choices(_TRAFFIC, weights)[0]
            subject, body = rng.choice(traffic.topics)
            patience = None if traffic.patience is None else rng.uniform(*traffic.patience)
            customer = f"customer-{self.customers:05d}"
            tg.start_soon(self._customer, customer, traffic, subject, body, patience)

    async def _customer(
        self, customer: str, traffic: _Traffic, subject: str, body: str, patience: float | None
    ) -> None:
        """Write in; hang up if nobody has answered within ``patience`` seconds."""
        try:
            ack = await self.runtime.channel(traffic.channel).deliver(
                customer, body, subject=subject
            )
        except (InboundRejected, TemporaryFailure):
            return  # a plugin's filter refused it, or the store is busy: this customer gives up
        if patience is None:
            return
        await anyio.sleep(patience)
        if self.stats.is_waiting(ack.contact_id):
            await self._attempt(self.runtime.abandon(self.workspace, ack.contact_id))

    # Agents -------------------------------------------------------------------------------

    async def _shift(self, agent_id: str) -> None:
        """Log in, then now and then take a coffee break."""
        runtime, workspace = self.runtime, self.workspace
        await self._attempt(runtime.set_agent_status(workspace, agent_id, AgentStatus.AVAILABLE))
        while True:
            await anyio.sleep(self.agent_rng.expovariate(1 / 60))
            await self._attempt(
                runtime.set_agent_status(workspace, agent_id, AgentStatus.BREAK, "coffee")
            )
            await anyio.sleep(self.agent_rng.uniform(4.0, 10.0))
            await self._attempt(
                runtime.set_agent_status(workspace, agent_id, AgentStatus.AVAILABLE)
            )

    async def _answer(self, offer: Offer) -> None:
        """Look at an offer, then mostly accept it, sometimes reject it, rarely let it ring."""
        rng, runtime, workspace = self.agent_rng, self.runtime, self.workspace
        await anyio.sleep(rng.uniform(0.3, 1.5))
        choice = rng.random()
        if choice < 0.04:
            return  # missed it: the engine times the offer out and routes the contact again
        if choice < 0.12:
            await self._attempt(runtime.reject(workspace, offer.id, "finishing something else"))
            return
        if await self._attempt(runtime.accept(workspace, offer.id)) is None:
            return  # too late: the offer expired or the customer left
        self.handling[offer.contact_id] = offer.id
        mean = _BY_QUEUE[offer.queue].handle_time if offer.queue in _BY_QUEUE else 10.0
        sigma = 0.5  # lognormal: most contacts are quick, a few take long, as in real centres
        await anyio.sleep(rng.lognormvariate(math.log(mean) - sigma**2 / 2, sigma))
        if not self._handles(offer):
            return  # a supervisor transferred it meanwhile: it is its new agent's now
        # Should the reply fail, the demo goes on without it; the contact still ends.
        with contextlib.suppress(TrunklineError):
            await runtime.reply(workspace, offer.contact_id, "Thanks for contacting us: done!")
        # Ended and closed only while still this agent's: the engine checks it (agent_id).
        end = EndContact(offer.contact_id, agent_id=offer.agent_id)
        if await self._attempt(runtime.command(workspace, end)) is None:
            return
        # Notes take a while; when they take longer than the queue's wrap-up, the engine
        # closes the contact on its own timer first and this close finds nothing to do.
        await anyio.sleep(rng.uniform(0.3, 1.2) * _WRAP_UP)
        close = CloseContact(offer.contact_id, self.disposition, agent_id=offer.agent_id)
        await self._attempt(runtime.command(workspace, close))

    def _handles(self, offer: Offer) -> bool:
        """True while the simulated agent who accepted ``offer`` still handles its contact.

        A transfer hands the contact to another agent (you, in the desktop, or another
        simulated agent, whose own offer then takes over here): from then on this agent must
        neither write to the customer nor end or close the contact.
        """
        if self.handling.get(offer.contact_id) != offer.id:
            return False  # transferred, and accepted anew (perhaps by this agent again)
        view = self.runtime.desk(self.workspace).engine.contacts.get(offer.contact_id)
        return view is not None and view.agent_id == offer.agent_id


# Running --------------------------------------------------------------------------------------


def run_demo(
    options: DemoOptions,
    *,
    pm: PluginManager,
    out: TextIO | None = None,
    tty: bool | None = None,
    events: TextIO | None = None,
) -> DemoSummary:
    """Run the demo until ``options.duration`` passes (or Ctrl-C) and return its totals.

    On a terminal the figures are shown live; otherwise one summary line is printed every
    ``options.interval`` seconds. The final ``demo summary:`` line is printed in every case,
    Ctrl-C included; KeyboardInterrupt then propagates to the caller. With ``events``, every
    event is written there as a JSON line (:mod:`trunkline.codec`), for ``trunkline explain``.
    """
    out = sys.stdout if out is None else out
    tty = out.isatty() if tty is None else tty
    scratch = None
    database = options.database
    if database is None:  # a fresh database each run, removed at the end
        scratch = tempfile.TemporaryDirectory(prefix="trunkline-demo-")
        database = str(Path(scratch.name) / "demo.db")
    logins = demo_logins() if options.web else []
    config = demo_config(options, pm, database, logins)
    runtime = Runtime(config, pm, serve=options.web)
    workspace_id = demo_workspace(pm)
    workspace = config.workspaces[workspace_id]
    stats = DemoStats(workspace.queues, workspace.agents)
    record = None
    if events is not None:
        stream = events

        def record(event: ev.Event) -> None:
            write_event(stream, event)

    def started() -> None:
        mail = runtime.channels.get(MAIL)
        if mail is not None:
            port = getattr(mail, "smtp_port", options.smtp_port)
            say(
                f"mail: SMTP on {options.host}:{port}  (swaks --server {options.host}:{port} "
                "--to support@demo.test --from you@example.com --header 'Subject: Hello' "
                "--body 'my invoice is wrong'); replies go to a relay on 127.0.0.1:25, if any"
            )
        port = web_port(runtime)
        if port is None:
            return
        base = f"http://{options.host}:{port}"
        say(f"web: {base}/  (agent desktop {base}/agent, wallboard {base}/wallboard)")
        if any(c.name == WEBCHAT for c in workspace.channels):
            say(
                f"  customer chat: {base}/chat/{WEBCHAT}/  (on any page: "
                f'<script src="{base}/chat/{WEBCHAT}/widget.js" async></script>)'
            )
        for username, role, _, password in logins:
            say(
                f"  sign in as {role}: workspace {workspace_id}, user {username}, "
                f"password {password}"
            )

    sim = _Simulation(runtime, options, stats, record, started, workspace_id)
    console = Console(file=out, force_terminal=True) if tty else None

    until = "" if options.duration is None else f" for {options.duration:g}s"
    banner = (
        f"{pm.product_title} demo: an embedded contact centre with {options.agents} simulated "
        f"agents and about {options.rate:g} customers a second on chat, voice and email "
        f"(memory channels){until}. Ctrl-C stops."
    )

    async def show_live() -> None:
        assert console is not None
        live = Live(
            console=console,
            auto_refresh=False,  # rich refreshes from a thread otherwise; we refresh from a task
            get_renderable=lambda: _view(
                stats, runtime.clock.now(), sim.elapsed(), pm.product_title
            ),
        )
        with live:
            while True:
                await anyio.sleep(0.25)
                live.refresh()

    async def show_lines() -> None:
        assert out is not None
        start = anyio.current_time()
        ticks = 0
        while True:
            ticks += 1
            await anyio.sleep_until(start + ticks * options.interval)
            out.write(stats.status_line(runtime.clock.now(), sim.elapsed()) + "\n")
            out.flush()

    def say(text: str) -> None:
        if console is not None:
            console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            assert out is not None
            out.write(text + "\n")
            out.flush()

    say(banner)
    try:
        anyio.run(sim.run, show_live if tty else show_lines)
    finally:
        summary = stats.summary(sim.elapsed())
        say(summary.line())
        if scratch is not None:
            scratch.cleanup()
    return summary
