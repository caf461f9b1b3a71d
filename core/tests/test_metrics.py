"""Real-time figures folded from events (trunkline.metrics); ``GET /metrics`` for Prometheus is
trunkline-web's, in its ``tests/test_prometheus.py``.

The scenarios run on the production routing engine (a Switchboard with virtual time), so the
events are the ones the engine really emits; every expected figure is worked out by hand in
the comments beside it.
"""

from __future__ import annotations

import json
import time

import attrs
import pytest

from trunkline import Switchboard
from trunkline import events as ev
from trunkline.metrics import Metrics
from trunkline.model import Agent, AgentStatus, EscalationStep, Offer, Queue
from trunkline.reports import ReportOptions, report_from_events

W = "acme"


def queued(cid: str, at: float, queue: str = "sales") -> ev.ContactQueued:
    return ev.ContactQueued(workspace=W, at=at, contact_id=cid, queue=queue, priority=0)


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


def accepted(cid: str, agent: str, at: float, oid: str | None = None) -> ev.OfferAccepted:
    return ev.OfferAccepted(
        workspace=W, at=at, offer_id=oid or f"of-{cid}", contact_id=cid, agent_id=agent
    )


def status(agent: str, value: AgentStatus, at: float = 0.0) -> ev.AgentStatusChanged:
    return ev.AgentStatusChanged(workspace=W, at=at, agent_id=agent, status=value)


def one_queue(threshold: float = 10.0) -> Metrics:
    queue = Queue(id="sales", workspace=W, service_level_threshold=threshold)
    agents = [Agent(id=a, workspace=W, queues=("sales",)) for a in ("ada", "ben")]
    return Metrics([queue], agents)


# Folding single events ------------------------------------------------------------------------


def test_service_level_counts_answers_within_threshold_and_long_abandons_only() -> None:
    metrics = one_queue(threshold=10.0)
    for event in [
        queued("c1", 100.0),
        offered("c1", "ada", 101.0),
        accepted("c1", "ada", 104.0),  # answered in 4 s: within
        queued("c2", 100.0),
        offered("c2", "ben", 110.0),
        accepted("c2", "ben", 115.0),  # answered in 15 s: outside
        queued("c3", 100.0),
        ev.ContactAbandoned(workspace=W, at=103.0, contact_id="c3", waited=3.0),  # short: ignored
        queued("c4", 100.0),
        ev.ContactAbandoned(workspace=W, at=130.0, contact_id="c4", waited=30.0),  # counts against
    ]:
        metrics.apply(event)

    sales = metrics.figures(now=130.0)["queues"]["sales"]
    assert (sales["offered"], sales["answered"], sales["abandoned"]) == (4, 2, 2)
    assert (sales["answered_within_threshold"], sales["counted_for_service_level"]) == (1, 3)
    assert sales["service_level"] == pytest.approx(1 / 3)
    assert sales["asa"] == pytest.approx((4 + 15) / 2)
    assert sales["abandonment_rate"] == pytest.approx(2 / 4)
    assert metrics.service_level == pytest.approx(1 / 3)


def abandoned(cid: str, at: float, waited: float) -> ev.ContactAbandoned:
    return ev.ContactAbandoned(workspace=W, at=at, contact_id=cid, waited=waited)


def five_waits(queue: str = "sales") -> list[ev.Event]:
    """Five contacts queued at 100 in ``queue``, with a 10 s threshold: c1 answered after 4 s
    (within), c2 after 15 s (late); c3 abandons after 2 s, c4 after 6 s, c5 after 30 s."""

    def cid(n: int) -> str:
        return f"{queue}-c{n}"

    def offer(n: int, agent: str, at: float) -> ev.ContactOffered:
        event = offered(cid(n), agent, at)
        return attrs.evolve(event, offer=attrs.evolve(event.offer, queue=queue))

    return [
        *(queued(cid(n), 100.0, queue) for n in range(1, 6)),
        offer(1, "ada", 100.0),
        accepted(cid(1), "ada", 104.0),
        abandoned(cid(3), 102.0, 2.0),
        abandoned(cid(4), 106.0, 6.0),
        offer(2, "ben", 112.0),
        accepted(cid(2), "ben", 115.0),
        abandoned(cid(5), 130.0, 30.0),
    ]


# By hand, with a short-abandon threshold of 3 s, c3 (2 s) is left out entirely; c4 (6 s) is
# abandoned within the threshold; c5 (30 s) abandoned late, which counts as missed in every
# definition. Without one, c3 is abandoned within the threshold like c4.
#   ignored: answered within / (answered + abandoned late)       = 1/3 either way
#   missed:  answered within / (answered + abandoned)            = 1/4 (S = 3), 1/5 (S = 0)
#   met:     (answered within + abandoned within) / the same     = 2/4 (S = 3), 3/5 (S = 0)
SERVICE_LEVELS = [
    # abandons, short abandon, (met, counted), abandoned within, short abandons
    ("ignored", 0.0, (1, 3), 2, 0),
    ("ignored", 3.0, (1, 3), 1, 1),
    ("missed", 0.0, (1, 5), 2, 0),
    ("missed", 3.0, (1, 4), 1, 1),
    ("met", 0.0, (3, 5), 2, 0),
    ("met", 3.0, (2, 4), 1, 1),
]


@pytest.mark.parametrize(("abandons", "short", "parts", "within", "short_count"), SERVICE_LEVELS)
def test_service_level_counts_abandons_as_the_queue_defines(
    abandons: str, short: float, parts: tuple[int, int], within: int, short_count: int
) -> None:
    queue = Queue(
        id="sales",
        workspace=W,
        service_level_threshold=10.0,
        service_level_abandons=abandons,
        service_level_short_abandon=short,
    )
    metrics = Metrics([queue], [Agent(id=a, workspace=W, queues=("sales",)) for a in "ab"])
    for event in five_waits():
        metrics.apply(event)
    figures = metrics.figures(now=130.0)
    sales = figures["queues"]["sales"]
    met, counted = parts
    assert (sales["within_service_level"], sales["counted_for_service_level"]) == parts
    assert sales["service_level"] == pytest.approx(met / counted)
    assert sales["answered_within_threshold"] == 1
    assert (sales["abandoned_within_threshold"], sales["short_abandoned"]) == (within, short_count)
    assert (sales["service_level_abandons"], sales["service_level_short_abandon"]) == (
        abandons,
        short,
    )
    # The rest does not depend on the definition.
    assert (sales["answered"], sales["abandoned"], sales["abandonment_rate"]) == (2, 3, 0.6)
    assert figures["workspace"]["service_level"] == pytest.approx(met / counted)
    assert metrics.service_level == pytest.approx(met / counted)


def test_the_workspace_service_level_adds_queues_each_by_its_own_definition() -> None:
    # sales counts abandons as missed (1/5), support as met (3/5): 4 of 10 overall.
    queues = [
        Queue(id=q, workspace=W, service_level_threshold=10.0, service_level_abandons=how)
        for q, how in (("sales", "missed"), ("support", "met"))
    ]
    metrics = Metrics(queues, [])
    for event in five_waits("sales") + five_waits("support"):
        metrics.apply(event)
    figures = metrics.figures(now=130.0)
    assert figures["queues"]["sales"]["service_level"] == pytest.approx(1 / 5)
    assert figures["queues"]["support"]["service_level"] == pytest.approx(3 / 5)
    workspace = figures["workspace"]
    assert (workspace["within_service_level"], workspace["counted_for_service_level"]) == (4, 10)
    assert workspace["service_level"] == pytest.approx(0.4)


def test_offered_counts_contacts_and_offers_counts_offers_answer_time_from_first_queued() -> None:
    metrics = one_queue(threshold=10.0)
    metrics.apply(queued("c1", 100.0))
    metrics.apply(offered("c1", "ada", 100.5, oid="first"))
    metrics.apply(
        ev.OfferRejected(workspace=W, at=101.0, offer_id="first", contact_id="c1", agent_id="ada")
    )
    metrics.apply(offered("c1", "ben", 108.0))
    metrics.apply(accepted("c1", "ben", 112.0))
    figures = metrics.figures(now=112.0)
    sales = figures["queues"]["sales"]
    assert (sales["offered"], sales["offers"]) == (1, 2)
    assert sales["asa"] == pytest.approx(12.0)
    assert sales["service_level"] == 0.0
    assert figures["agents"]["ada"]["rejected"] == 1
    assert (figures["agents"]["ben"]["offers"], figures["agents"]["ben"]["answered"]) == (1, 1)


def test_a_ringing_contact_is_not_waiting_but_its_wait_goes_on() -> None:
    metrics = one_queue()
    metrics.apply(queued("c1", 100.0))
    metrics.apply(queued("c2", 105.0))
    metrics.apply(offered("c1", "ada", 106.0))
    sales = metrics.queues["sales"]
    assert (sales.waiting, sales.ringing) == (1, 1)
    assert sales.longest_wait(now=110.0) == pytest.approx(10.0)  # c1, ringing, since 100
    assert metrics.is_waiting("c1")
    metrics.apply(accepted("c1", "ada", 111.0))
    assert (sales.waiting, sales.ringing) == (1, 0)
    assert sales.longest_wait(now=111.0) == pytest.approx(6.0)
    assert not metrics.is_waiting("c1")


def test_agents_are_counted_by_state_while_available_and_by_status_otherwise() -> None:
    metrics = one_queue()
    assert metrics.agent_counts()["offline"] == 2
    metrics.apply(status("ada", AgentStatus.AVAILABLE))
    metrics.apply(status("ben", AgentStatus.AVAILABLE))
    metrics.apply(queued("c1", 1.0))
    metrics.apply(offered("c1", "ada", 1.0))
    assert metrics.agent_counts() == {
        "idle": 1,
        "offered": 1,
        "busy": 0,
        "wrap-up": 0,
        "break": 0,
        "offline": 0,
    }
    metrics.apply(accepted("c1", "ada", 2.0))
    assert metrics.agent_counts()["busy"] == 1
    metrics.apply(
        ev.ContactEnded(workspace=W, at=3.0, contact_id="c1", agent_id="ada", wrap_up_until=5.0)
    )
    assert metrics.agent_counts()["wrap-up"] == 1
    metrics.apply(ev.WrapUpEnded(workspace=W, at=5.0, contact_id="c1", agent_id="ada"))
    metrics.apply(ev.ContactClosed(workspace=W, at=5.0, contact_id="c1"))
    metrics.apply(status("ben", AgentStatus.BREAK, 6.0))
    counts = metrics.agent_counts()
    assert (counts["idle"], counts["break"], counts["wrap-up"]) == (1, 1, 0)
    assert metrics.agent_counts("sales") == counts
    assert metrics.agent_counts("elsewhere") == dict.fromkeys(counts, 0)


def test_a_customer_hanging_up_while_it_rings_frees_the_agent() -> None:
    metrics = one_queue()
    metrics.apply(status("ada", AgentStatus.AVAILABLE))
    metrics.apply(queued("c1", 1.0))
    metrics.apply(offered("c1", "ada", 2.0))
    metrics.apply(ev.ContactAbandoned(workspace=W, at=4.0, contact_id="c1", waited=3.0))
    assert metrics.agent_counts()["offered"] == 0
    assert metrics.agent_counts()["idle"] == 1
    sales = metrics.queues["sales"]
    assert (sales.waiting, sales.ringing, sales.unanswered) == (0, 0, {})


def test_nothing_is_kept_of_a_contact_once_it_closed_was_abandoned_or_refused() -> None:
    metrics = one_queue()
    for n, gone in enumerate(
        [
            ev.ContactClosed(workspace=W, at=9.0, contact_id="c0"),
            ev.ContactAbandoned(workspace=W, at=9.0, contact_id="c1", waited=8.0),
            ev.ContactRefused(workspace=W, at=9.0, contact_id="c2", queue="sales", reason="full"),
        ]
    ):
        metrics.apply(queued(f"c{n}", 1.0))
        metrics.apply(offered(f"c{n}", "ada", 2.0))
        metrics.apply(gone)
    assert metrics._contacts == {}
    assert metrics._offers == {}
    assert metrics.agents["ada"].open_offers == set()


def test_an_empty_workspace_has_counts_of_zero_and_no_averages() -> None:
    figures = one_queue().figures(now=0.0)
    json.dumps(figures, allow_nan=False)  # JSON as it is
    for scope in (figures["workspace"], figures["queues"]["sales"]):
        assert (scope["offered"], scope["answered"], scope["waiting"]) == (0, 0, 0)
        for key in ("service_level", "asa", "aht", "abandonment_rate", "wait_probability", "csat"):
            assert scope[key] is None, key
    assert figures["workspace"]["occupancy"] is None
    assert figures["agents"]["ada"]["occupancy"] is None


def test_a_queue_that_is_not_configured_is_counted_with_the_default_threshold() -> None:
    metrics = one_queue()
    metrics.apply(queued("c1", 0.0, queue="gone"))
    metrics.apply(offered("c1", "ada", 0.0))
    metrics.apply(accepted("c1", "ada", 15.0))  # within the default 20 s
    gone = metrics.figures(15.0)["queues"]["gone"]
    assert (gone["answered"], gone["service_level"], gone["service_level_threshold"]) == (
        1,
        1.0,
        20.0,
    )


def test_events_about_contacts_from_before_the_figures_started_count_for_agents_only() -> None:
    metrics = one_queue()
    metrics.apply(offered("c1", "ada", 10.0))
    metrics.apply(accepted("c1", "ada", 12.0))
    figures = metrics.figures(12.0)
    assert figures["queues"]["sales"]["answered"] == 0  # its wait is unknown
    assert figures["agents"]["ada"]["answered"] == 1
    assert metrics.agents["ada"].state.value == "busy"


def test_survey_answers_count_for_their_queue_and_agent() -> None:
    metrics = one_queue()
    for score, scale, agent in ((5, 5, "ada"), (3, 5, "ada"), (8, 10, "ben")):
        metrics.apply(
            ev.SurveyAnswered(
                workspace=W,
                at=1.0,
                contact_id="c",
                score=score,
                scale=scale,
                agent_id=agent,
                queue="sales",
            )
        )
    figures = metrics.figures(1.0)
    sales = figures["queues"]["sales"]
    # 5/5 and 8/10 are satisfied (at least 0.8 of the scale), 3/5 is not.
    assert (sales["csat_responses"], sales["csat"]) == (3, pytest.approx(2 / 3))
    assert sales["average_score"] == pytest.approx((5 + 3 + 4) / 3)  # 8/10 is 4 of 5
    assert figures["agents"]["ada"]["csat"] == pytest.approx(1 / 2)
    assert figures["workspace"]["csat"] == pytest.approx(2 / 3)


# A day on the production engine ---------------------------------------------------------------


def sales_day() -> tuple[Switchboard, Metrics]:
    """Three contacts in "sales" (threshold 20 s, wrap-up 30 s, offers ring 10 s):

    - c1 at 0: offered to ada at once, accepted at 5, ended at 65, closed at 75;
    - c2 at 75: offered to ada at once, times out at 85; offered to ben at 85 (he just came
      in), rejected at 90; the customer hangs up at 100 (waited 25 s);
    - both agents take a break at 100; c3 arrives at 100 and waits; ada is back at 130 and is
      offered it, accepts at 132, ends at 152; wrap-up runs out at 182. Now is 200.
    """
    board = Switchboard(W)
    queue = board.add_queue("sales", service_level_threshold=20, wrap_up=30, offer_timeout=10)
    agents = [board.add_agent(a, queues=["sales"]) for a in ("ada", "ben")]
    metrics = Metrics([queue], agents)
    board.subscribe(metrics.apply)

    board.set_status("ada", "available")
    board.submit("sales", contact_id="c1", customer="alice")
    board.advance(5)
    board.accept(board.offers("ada")[0].id)
    board.advance(60)
    board.end("c1")
    board.advance(10)
    board.close("c1")  # t = 75
    board.submit("sales", contact_id="c2", customer="bob")
    board.advance(5)
    assert (metrics.queues["sales"].waiting, metrics.queues["sales"].ringing) == (0, 1)
    board.advance(5)  # t = 85: ada's offer times out
    board.set_status("ben", "available")
    board.advance(5)
    board.reject(board.offers("ben")[0].id)  # t = 90
    board.advance(5)
    assert metrics.queues["sales"].waiting == 1
    assert metrics.queues["sales"].longest_wait(board.now) == 20.0
    board.advance(5)
    board.abandon("c2")  # t = 100, after 25 s
    board.set_status("ada", "break")
    board.set_status("ben", "break")
    board.submit("sales", contact_id="c3", customer="carol")
    board.advance(30)
    board.set_status("ada", "available")  # t = 130: c3 is offered to ada
    board.advance(2)
    board.accept(board.offers("ada")[0].id)  # answered after 32 s
    board.advance(20)
    board.end("c3")  # t = 152
    board.advance(48)  # the wrap-up ends at 182 on its own; now is 200
    return board, metrics


def test_a_day_in_sales_gives_service_level_asa_and_abandonment_by_hand() -> None:
    board, metrics = sales_day()
    sales = metrics.figures(board.now)["queues"]["sales"]
    assert (sales["offered"], sales["answered"], sales["abandoned"]) == (3, 2, 1)
    assert sales["offers"] == 4  # c1 to ada; c2 to ada, then ben; c3 to ada
    # c1 within 20 s, c3 after 32 s, c2 abandoned after 25 s (counts, outside).
    assert sales["service_level"] == pytest.approx(1 / 3)
    assert sales["asa"] == pytest.approx((5 + 32) / 2)
    assert sales["abandonment_rate"] == pytest.approx(1 / 3)
    # c1 and c2 were offered the instant they queued; c3 waited for an agent.
    assert sales["wait_probability"] == pytest.approx(1 / 3)
    assert (sales["waiting"], sales["ringing"], sales["longest_wait"]) == (0, 0, 0.0)


def test_a_day_in_sales_gives_talk_wrap_and_handle_times_by_hand() -> None:
    board, metrics = sales_day()
    figures = metrics.figures(board.now)
    sales = figures["queues"]["sales"]
    assert sales["handled"] == 2
    assert sales["average_talk_time"] == pytest.approx((60 + 20) / 2)
    assert sales["average_wrap_time"] == pytest.approx((10 + 30) / 2)
    assert sales["aht"] == pytest.approx((70 + 50) / 2)
    ada = figures["agents"]["ada"]
    assert (ada["offers"], ada["answered"], ada["missed"], ada["rejected"]) == (3, 2, 1, 0)
    assert (ada["handled"], ada["aht"]) == (2, pytest.approx(60.0))
    assert (ada["talk_time_total"], ada["wrap_time_total"]) == (80.0, 40.0)
    ben = figures["agents"]["ben"]
    assert (ben["offers"], ben["rejected"], ben["handled"], ben["aht"]) == (1, 1, 0, None)


def test_occupancy_is_time_handling_over_time_available_per_agent_and_workspace() -> None:
    board, metrics = sales_day()
    figures = metrics.figures(board.now)
    ada, ben = figures["agents"]["ada"], figures["agents"]["ben"]
    # ada handles 5-75 and 132-182 (120 s); she is available 0-100 and 130-200 (170 s).
    assert (ada["busy_time"], ada["available_time"]) == (120.0, 170.0)
    assert ada["occupancy"] == pytest.approx(120 / 170)
    # ben is available 85-100 and handles nothing.
    assert (ben["busy_time"], ben["available_time"], ben["occupancy"]) == (0.0, 15.0, 0.0)
    assert figures["workspace"]["occupancy"] == pytest.approx(120 / 185)
    # Later, with ada idle and available, her occupancy falls as time passes.
    later = metrics.figures(board.now + 50)["agents"]["ada"]
    assert later["occupancy"] == pytest.approx(120 / 220)


def test_time_handling_while_on_break_counts_as_busy_and_available() -> None:
    metrics = one_queue()
    metrics.apply(status("ada", AgentStatus.AVAILABLE, 0.0))
    metrics.apply(queued("c1", 0.0))
    metrics.apply(offered("c1", "ada", 0.0))
    metrics.apply(accepted("c1", "ada", 10.0))
    metrics.apply(status("ada", AgentStatus.BREAK, 20.0))  # still talking
    metrics.apply(
        ev.ContactEnded(workspace=W, at=40.0, contact_id="c1", agent_id="ada", wrap_up_until=40)
    )
    metrics.apply(ev.WrapUpEnded(workspace=W, at=40.0, contact_id="c1", agent_id="ada"))
    ada = metrics.figures(100.0)["agents"]["ada"]
    assert (ada["busy_time"], ada["available_time"]) == (30.0, 40.0)  # 10-40 busy; 0-40 counts


def test_the_workspace_adds_up_its_queues_each_with_its_own_threshold() -> None:
    board = Switchboard(W)
    fast = board.add_queue("fast", service_level_threshold=5)
    slow = board.add_queue("slow", service_level_threshold=60)
    ada = board.add_agent("ada", queues=["fast", "slow"], capacity={"chat": 2})
    metrics = Metrics([fast, slow], [ada])
    board.subscribe(metrics.apply)
    board.submit("fast", contact_id="f1")
    board.submit("slow", contact_id="s1")
    board.advance(10)
    board.set_status("ada", "available")  # one offer at a time, both at 10: waited 10 s
    while board.offers("ada"):
        board.accept(board.offers("ada")[0].id)
    figures = metrics.figures(board.now)
    assert figures["queues"]["fast"]["service_level"] == 0.0  # 10 s > 5 s
    assert figures["queues"]["slow"]["service_level"] == 1.0  # 10 s <= 60 s
    workspace = figures["workspace"]
    assert (workspace["received"], workspace["offered"], workspace["answered"]) == (2, 2, 2)
    assert workspace["service_level"] == 0.5
    assert workspace["asa"] == 10.0
    assert workspace["agents"]["busy"] == 1


def test_an_overflow_counts_in_both_queues_once_in_the_workspace_and_keeps_its_wait() -> None:
    board = Switchboard(W)
    second = board.add_queue("second", service_level_threshold=60)
    first = board.add_queue("first", escalation=[EscalationStep(after=30, overflow="second")])
    ben = board.add_agent("ben", queues=["second"])
    metrics = Metrics([first, second], [ben])
    board.subscribe(metrics.apply)
    board.set_status("ben", "available")
    board.set_status("ben", "break")
    board.submit("first", contact_id="c1")
    board.advance(30)  # overflows to "second" and waits there
    assert (metrics.queues["first"].waiting, metrics.queues["second"].waiting) == (0, 1)
    board.advance(10)
    board.set_status("ben", "available")
    board.accept(board.offers("ben")[0].id)  # answered 40 s after it first queued
    figures = metrics.figures(board.now)
    assert (figures["queues"]["first"]["offered"], figures["queues"]["second"]["offered"]) == (
        1,
        1,
    )
    assert figures["workspace"]["offered"] == 1
    assert figures["queues"]["first"]["answered"] == 0
    assert (figures["queues"]["second"]["answered"], figures["queues"]["second"]["asa"]) == (
        1,
        40.0,
    )


def test_a_transfer_splits_talk_between_agents_and_starts_a_new_wait() -> None:
    board = Switchboard(W)
    sales = board.add_queue("sales")
    support = board.add_queue("support")
    agents = [board.add_agent("ada", queues=["sales"]), board.add_agent("ben", queues=["support"])]
    metrics = Metrics([sales, support], agents)
    board.subscribe(metrics.apply)
    board.set_status("ada", "available")
    board.submit("sales", contact_id="c1")
    board.accept(board.offers("ada")[0].id)
    board.advance(10)
    board.transfer("c1", queue="support")  # ada talked 10 s
    board.advance(5)
    board.set_status("ben", "available")
    board.accept(board.offers("ben")[0].id)  # waited 5 s in support
    board.advance(20)
    board.end("c1")  # ben talked 20 s; no wrap-up: closed at once
    figures = metrics.figures(board.now)
    assert figures["agents"]["ada"]["talk_time_total"] == 10.0
    assert figures["agents"]["ada"]["handled"] == 0
    assert (figures["agents"]["ben"]["talk_time_total"], figures["agents"]["ben"]["aht"]) == (
        20.0,
        20.0,
    )
    moved = figures["queues"]["support"]
    assert (moved["offered"], moved["answered"], moved["asa"]) == (1, 1, 5.0)
    assert (moved["handled"], moved["aht"]) == (1, 30.0)  # the contact's whole talk
    assert figures["workspace"]["offered"] == 2  # two waits
    assert metrics._contacts == {}


# Cost -----------------------------------------------------------------------------------------


def closing_time(ringing: int) -> float:
    """Seconds to run 2,000 contacts through while ``ringing`` other contacts ring."""
    metrics = one_queue()
    for n in range(ringing):
        metrics.apply(queued(f"r{n}", 0.0))
        metrics.apply(offered(f"r{n}", "ben", 0.0))
    events = []
    for n in range(2000):
        cid = f"c{n}"
        events += [
            queued(cid, 1.0),
            offered(cid, "ada", 1.0),
            ev.ContactAbandoned(workspace=W, at=2.0, contact_id=cid, waited=1.0),
        ]
    started = time.perf_counter()
    for event in events:
        metrics.apply(event)
    return time.perf_counter() - started


def test_an_event_costs_the_same_however_many_contacts_are_ringing() -> None:
    alone = min(closing_time(0) for _ in range(3))
    crowded = min(closing_time(20_000) for _ in range(3))
    # Scanning the open offers on each close would make this about a thousand times slower.
    assert crowded < alone * 10


# The wallboard: service level per interval, time in state -------------------------------------


def test_the_service_level_trend_counts_each_contact_in_the_interval_it_started_waiting() -> None:
    board = Switchboard(W)
    sales = board.add_queue("sales", service_level_threshold=20, offer_timeout=60)
    ada = board.add_agent("ada", queues=["sales"])
    metrics = Metrics([sales], [ada])
    board.subscribe(metrics.apply)
    board.submit("sales", contact_id="c1")
    board.advance(5)
    board.set_status("ada", "available")
    board.accept(board.offers("ada")[0].id)  # c1: answered after 5 s, within
    board.advance(5)
    board.submit("sales", contact_id="c2")  # at 10; ada is busy
    board.advance(940)
    board.abandon("c2")  # at 950, in the next interval, after 940 s: counts in the first
    board.end("c1")
    board.advance(50)
    board.submit("sales", contact_id="c3")  # at 1000: offered at once, answered 30 s later
    board.advance(30)
    board.accept(board.offers("ada")[0].id)
    board.advance(870)  # now 1900: the third interval has begun, with nothing counted yet

    trend = metrics.service_level_trend("sales", board.now)
    assert [t["start"] for t in trend] == [900.0 * n for n in range(-5, 3)]
    assert [t["service_level"] for t in trend] == [None] * 5 + [0.5, 0.0, None]
    assert [t["counted_for_service_level"] for t in trend] == [0] * 5 + [2, 1, 0]
    # trunkline report's 15-minute rows say the same.
    report = report_from_events(board.log, [sales], ReportOptions(now=board.now, interval="15m"))
    assert [(r["interval"], r["service_level"]) for r in report.rows] == [
        ("1970-01-01T00:00:00Z", 0.5),
        ("1970-01-01T00:15:00Z", 0.0),
    ]

    # Two hours on, those intervals are out of the window: a contact counts in its own.
    board.end("c3")
    board.advance(2 * 3600)
    board.submit("sales", contact_id="c4")
    board.accept(board.offers("ada")[0].id)
    assert [t["service_level"] for t in metrics.service_level_trend("sales", board.now)] == (
        [None] * 7 + [1.0]
    )
    assert list(metrics.queues["sales"].trend) == [9000.0]  # the old ones are forgotten
    assert metrics.service_level_trend("nowhere", board.now)[-1]["service_level"] is None


def test_time_in_state_runs_from_the_last_change_of_what_the_agent_is_seen_doing() -> None:
    metrics = one_queue()

    def ada(now: float) -> tuple[str, str, float | None, float | None]:
        figures = metrics.figures(now)["agents"]["ada"]
        shown = figures["state"] if figures["status"] == "available" else figures["status"]
        return shown, figures["status"], figures["state_since"], figures["time_in_state"]

    assert ada(5.0) == ("offline", "offline", None, None)  # nothing seen of ada yet
    metrics.apply(status("ada", AgentStatus.AVAILABLE, 10.0))
    assert ada(25.0) == ("idle", "available", 10.0, 15.0)
    metrics.apply(queued("c1", 30.0))
    metrics.apply(offered("c1", "ada", 30.0))
    assert ada(31.0) == ("offered", "available", 30.0, 1.0)
    metrics.apply(accepted("c1", "ada", 34.0))
    assert ada(40.0) == ("busy", "available", 34.0, 6.0)
    metrics.apply(status("ada", AgentStatus.BREAK, 50.0))  # still talking, but on break
    ended = ev.ContactEnded(workspace=W, at=60.0, contact_id="c1", agent_id="ada", wrap_up_until=90)
    metrics.apply(ended)
    assert ada(65.0) == ("break", "break", 50.0, 15.0)  # the end changes nothing she shows
    metrics.apply(status("ada", AgentStatus.AVAILABLE, 70.0))
    assert ada(75.0) == ("wrap-up", "available", 70.0, 5.0)
    metrics.apply(ev.WrapUpEnded(workspace=W, at=80.0, contact_id="c1", agent_id="ada"))
    assert ada(100.0) == ("idle", "available", 80.0, 20.0)
    metrics.apply(status("ada", AgentStatus.AVAILABLE, 90.0))  # the same again: no change
    assert ada(100.0)[2] == 80.0
