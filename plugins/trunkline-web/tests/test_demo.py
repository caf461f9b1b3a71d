"""``trunkline demo``: the wallboard figures, the configuration, and real runs of the demo."""

from __future__ import annotations

import io
import random
import re
import signal
import subprocess
import sys

import anyio
import pytest

from trunkline import events as ev
from trunkline.errors import TrunklineError
from trunkline.model import (
    Address,
    Agent,
    AgentStatus,
    Contact,
    ContactState,
    Direction,
    Offer,
    Queue,
)
from trunkline.plugins import load_plugins
from trunkline.routing import Router
from trunkline.runtime import Runtime
from trunkline.testing import wait_for_event
from trunkline_web.demo import (
    HUMAN,
    DemoOptions,
    DemoStats,
    _Simulation,
    demo_config,
    demo_logins,
    run_demo,
)
from trunkline_web.settings import workspace_users
from trunkline_web.users import check_password

W = "demo"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Port 0: tests run side by side, each demo's web server on a free port.
CLI = [
    sys.executable,
    "-c",
    "from trunkline.cli import main; main()",
    "demo",
    "--port",
    "0",
    "--smtp-port",
    "0",
]


def stats_for_one_queue(threshold: float = 10.0) -> DemoStats:
    queue = Queue(id="sales", workspace=W, service_level_threshold=threshold)
    agents = [Agent(id="ada", workspace=W), Agent(id="ben", workspace=W)]
    return DemoStats([queue], agents)


def queued(cid: str, at: float) -> ev.ContactQueued:
    return ev.ContactQueued(workspace=W, at=at, contact_id=cid, queue="sales", priority=0)


def offered(cid: str, agent: str, at: float, oid: str | None = None) -> ev.ContactOffered:
    offer = Offer(
        id=oid or f"of-{cid}",
        workspace=W,
        contact_id=cid,
        agent_id=agent,
        queue="sales",
        created_at=at,
        expires_at=at + 8,
    )
    return ev.ContactOffered(workspace=W, at=at, offer=offer)


def accepted(cid: str, agent: str, at: float) -> ev.OfferAccepted:
    return ev.OfferAccepted(
        workspace=W, at=at, offer_id=f"of-{cid}", contact_id=cid, agent_id=agent
    )


def contact(cid: str) -> Contact:
    return Contact(
        id=cid,
        workspace=W,
        channel="web",
        channel_kind="chat",
        direction=Direction.INBOUND,
        customer_id=f"cu-{cid}",
        address=Address("memory", cid),
    )


# Statistics (the figures themselves are tested in test_metrics.py) --------------------------


def test_the_summary_and_status_line_show_the_figures_since_start() -> None:
    stats = stats_for_one_queue(threshold=10.0)
    for event in [
        ev.ContactReceived(workspace=W, at=100.0, contact=contact("c1")),
        queued("c1", 100.0),
        offered("c1", "ada", 101.0),
        accepted("c1", "ada", 104.0),  # answered in 4 s: within
        ev.ContactReceived(workspace=W, at=100.0, contact=contact("c2")),
        queued("c2", 100.0),
        ev.ContactAbandoned(workspace=W, at=130.0, contact_id="c2", waited=30.0),  # against
        queued("c3", 105.0),
    ]:
        stats.apply(event)
    summary = stats.summary(elapsed=30.0)
    assert (summary.received, summary.offered, summary.answered, summary.abandoned) == (
        2,
        3,
        1,
        1,
    )
    assert (summary.service_level, summary.average_speed_of_answer) == (0.5, 4.0)
    assert "asa=4.0s" in summary.line()
    line = stats.status_line(111.0, elapsed=11.0)
    assert "sales waiting=1 longest=6s answered=1 abandoned=1 sl=50%" in line
    assert "| agents: idle=0 offered=0 busy=0 wrap-up=0 break=0 offline=2" in line


# Configuration ------------------------------------------------------------------------------


def test_the_demo_centre_has_three_channel_kinds_and_staffs_every_queue_with_one_agent() -> None:
    config = demo_config(DemoOptions(agents=1), load_plugins({}))
    workspace = config.workspaces["demo"]
    simulated_channels = [c for c in workspace.channels if c.adapter == "memory"]
    assert sorted(c.settings.kind for c in simulated_channels) == ["chat", "email", "voice"]
    assert all(c.queue for c in workspace.channels)
    # With the web-chat plugin installed (it is, in this repository), you can write in too.
    (webchat,) = [c for c in workspace.channels if c.adapter == "webchat"]
    assert webchat.queue == "sales"
    # So is the email plugin: mail comes in over SMTP (on 2525 unless told otherwise).
    (mail,) = [c for c in workspace.channels if c.adapter == "email"]
    assert (mail.queue, mail.settings.smtp_port) == ("billing", 2525)
    no_web = demo_config(DemoOptions(agents=1, web=False), load_plugins({}))
    assert {c.adapter for c in no_web.workspaces["demo"].channels} == {"memory", "email"}
    plain = demo_config(DemoOptions(agents=1, web=False, smtp_port=None), load_plugins({}))
    assert all(c.adapter == "memory" for c in plain.workspaces["demo"].channels)
    simulated = [a for a in workspace.agents if a.id != HUMAN]
    (agent,) = simulated
    assert set(agent.queues) == {q.id for q in workspace.queues}
    assert all(q.offer_timeout <= 10 and q.wrap_up <= 2 for q in workspace.queues)
    many = demo_config(DemoOptions(agents=30), load_plugins({})).workspaces["demo"].agents
    assert len([a for a in many if a.id != HUMAN]) == 30


def test_the_demo_adds_an_agent_for_you_and_web_logins_with_hashed_passwords() -> None:
    logins = demo_logins()
    config = demo_config(DemoOptions(agents=2), load_plugins({}), logins=logins)
    workspace = config.workspaces["demo"]
    you = next(a for a in workspace.agents if a.id == HUMAN)
    assert set(you.queues) == {q.id for q in workspace.queues}
    assert {name: user.role for name, user in workspace_users(workspace).items()} == {
        "you": "agent",
        "sam": "supervisor",
    }
    for name, _, _, password in logins:
        stored = workspace_users(workspace)[name].password_hash
        assert password not in stored
        assert check_password(password, stored)


def test_the_demo_says_which_plugin_to_enable_when_the_memory_channel_is_disabled() -> None:
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGINS": "memory-channel"})
    with pytest.raises(TrunklineError, match="memory-channel"):
        demo_config(DemoOptions(), pm)


def test_options_refuse_a_rate_of_zero() -> None:
    with pytest.raises(ValueError, match="rate"):
        DemoOptions(rate=0)


# The simulated agents ------------------------------------------------------------------------

CLOSING = "Thanks for contacting us: done!"  # what a simulated agent writes before ending


class QuickAgents(random.Random):
    """The simulated agents' draws made short and certain: look at an offer at once, accept
    it, talk for the given times in turn, write the notes at once."""

    def __init__(self, *talks: float) -> None:
        super().__init__(0)
        self.talks = list(talks)

    def random(self) -> float:
        return 0.5  # neither missed (< 0.04) nor rejected (< 0.12)

    def uniform(self, a: float, b: float) -> float:
        return 0.0

    def lognormvariate(self, mu: float, sigma: float) -> float:
        return self.talks.pop(0)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("to", "talks"),
    [(HUMAN, (1.0,)), ("ben", (1.0, 0.2)), ("ada", (1.0, 2.0))],
    ids=["to you", "to another simulated agent", "back to the same agent through the queue"],
)
async def test_a_chat_transferred_away_from_a_simulated_agent_is_its_new_agents_alone(
    to: str, talks: tuple[float, ...]
) -> None:
    options = DemoOptions(agents=2, web=False, smtp_port=None, seed=1)  # ada and ben
    pm = load_plugins({})
    config = demo_config(options, pm)
    runtime = Runtime(config, pm)
    workspace = config.workspaces[W]
    sim = _Simulation(runtime, options, DemoStats(workspace.queues, workspace.agents))
    sim.agent_rng = QuickAgents(*talks)  # ada talks for a second: time to transfer her chat
    handlers = {HUMAN: ["ada"], "ben": ["ada", "ben"], "ada": ["ada", "ada"]}[to]
    returned: list[str] = []  # the simulated agents whose handling of the chat is over
    all_returned = anyio.Event()
    answer = sim._answer

    async def answer_and_say_so(offer: Offer) -> None:
        try:
            await answer(offer)
        finally:
            returned.append(offer.agent_id)
            if sorted(returned) == handlers:
                all_returned.set()

    sim._answer = answer_and_say_so  # type: ignore[method-assign]
    async with runtime.running():
        router = runtime.desk(W).engine
        assert isinstance(router, Router)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sim._watch, runtime.subscribe(), tg)
            log = runtime.subscribe()
            await runtime.set_agent_status(W, "ada", AgentStatus.AVAILABLE)
            ack = await runtime.channel("chat").deliver("cu-1", "How much is the team plan?")
            cid = ack.contact_id
            await wait_for_event(log, lambda e: isinstance(e, ev.OfferAccepted))
            assert router.contacts[cid].agent_id == "ada"
            # A supervisor hands ada's chat on while ada is still talking: to an agent, or
            # to the queue, which offers it to ada again (the only agent available).
            if to == "ada":
                await runtime.transfer(W, cid, queue="sales")
            else:
                await runtime.set_agent_status(W, to, AgentStatus.AVAILABLE)
                await runtime.transfer(W, cid, agent=to)
            if to == HUMAN:
                (offer,) = [o for o in router.offers.values() if o.contact_id == cid]
                await runtime.accept(W, offer.id)
            with anyio.fail_after(10):
                await all_returned.wait()
            if to == HUMAN:  # still yours, on your desktop; you finish it yourself
                view = router.contacts.get(cid)
                now = None if view is None else (view.state, view.agent_id)
                assert now == (ContactState.ACTIVE, HUMAN), f"the chat is {now or 'closed'}"
                await runtime.reply(W, cid, "Hello, I am the human.")
                await runtime.end_contact(W, cid)
                await runtime.close_contact(W, cid, "resolved")
            seen = [s.event for s in await runtime.store.read(W)]  # everything, as stored
            tg.cancel_scope.cancel()
    moved = next(i for i, e in enumerate(seen) if isinstance(e, ev.ContactTransferred))
    later = [e for e in seen[moved + 1 :] if ev.contact_id_of(e) == cid]
    by = [
        (type(e).__name__, e.agent_id)
        for e in later
        if isinstance(e, ev.OfferAccepted | ev.ContactEnded | ev.WrapUpEnded)
    ]
    assert by == [("OfferAccepted", to), ("ContactEnded", to), ("WrapUpEnded", to)]
    if to != HUMAN:  # ended by the new handling, after its own talk, not by a stale one
        accepted, ended = (e for e in later if isinstance(e, ev.OfferAccepted | ev.ContactEnded))
        assert ended.at - accepted.at >= talks[-1] - 0.05
    written = [e.message.body for e in later if isinstance(e, ev.OutboundQueued)]
    assert written == (["Hello, I am the human."] if to == HUMAN else [CLOSING])
    closed = [e for e in later if isinstance(e, ev.ContactClosed)]
    assert [e.disposition for e in closed] == ["resolved"]


# Running ------------------------------------------------------------------------------------


@pytest.mark.timeout(15)
def test_run_prints_a_summary_line_per_interval_when_not_a_terminal() -> None:
    out = io.StringIO()
    summary = run_demo(
        DemoOptions(agents=4, rate=5, seed=1, duration=3, interval=0.5, web=False),
        pm=load_plugins({}),
        out=out,
        tty=False,
    )
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Trunkline demo:")
    ticks = [line for line in lines if line.startswith("t=")]
    assert len(ticks) >= 4
    assert all(" queues: sales waiting=" in line and " | agents: idle=" in line for line in ticks)
    assert lines[-1].startswith("demo summary:")
    assert f"received={summary.received} " in lines[-1]
    assert summary.received > 0
    assert summary.answered > 0
    assert summary.offered >= summary.answered
    assert "\x1b[" not in out.getvalue()


@pytest.mark.timeout(15)
def test_run_on_a_terminal_shows_queue_and_agent_tables() -> None:
    out = io.StringIO()
    summary = run_demo(
        DemoOptions(agents=3, rate=5, seed=2, duration=1.5, web=False),
        pm=load_plugins({}),
        out=out,
        tty=True,
    )
    text = ANSI.sub("", out.getvalue())
    for expected in ("Queues", "Longest", "Abandoned", "Sales (chat)", "Agents", "Wrap-up"):
        assert expected in text
    assert not any(line.startswith("t=") for line in text.splitlines())
    assert text.rstrip().splitlines()[-1].startswith("demo summary:")
    assert summary.received > 0


@pytest.mark.timeout(20)
def test_cli_demo_with_piped_output_prints_plain_lines_and_a_summary() -> None:
    result = subprocess.run(
        [*CLI, "--duration", "3", "--seed", "1", "--rate", "4", "--interval", "1"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("t=") for line in lines) >= 2
    assert lines[-1].startswith("demo summary:")
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
@pytest.mark.timeout(20)
def test_cli_demo_stops_on_ctrl_c_with_a_summary_and_no_traceback() -> None:
    # The default SIGINT handler is restored in the child: a shell may have ignored it.
    process = subprocess.Popen(
        [*CLI, "--seed", "1", "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Trunkline demo:")
        assert process.stdout.readline().startswith("mail: SMTP on 127.0.0.1:")
        assert process.stdout.readline().startswith("web: http://127.0.0.1:")
        assert "customer chat: http://127.0.0.1:" in process.stdout.readline()
        assert "sign in as agent" in process.stdout.readline()
        assert "sign in as supervisor" in process.stdout.readline()
        assert process.stdout.readline().startswith("t=")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "demo summary:" in out
    assert "Traceback" not in err
