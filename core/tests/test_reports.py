"""Historical reports (trunkline.reports) through ``trunkline report``, on a real SQLite file.

The log is made by the production routing engine (a Switchboard with virtual time), stored in
the SQLite file the configuration uses, and read back by the command. Every expected figure
is worked out by hand from the day described in :func:`a_morning`.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from trunkline import Switchboard
from trunkline import events as ev
from trunkline.errors import TrunklineError
from trunkline.model import Queue
from trunkline.reports import ReportOptions, report_from_events
from trunkline.sql import SqliteStore

T0 = datetime(2024, 3, 4, 8, 0, tzinfo=UTC).timestamp()  # Monday 08:00 UTC
DAY = 86_400.0
NOW = T0 + 7 * DAY + 3600  # a week and an hour later
CONFIG = """
[workspaces.acme.queues.sales]
service_level_threshold = 20
wrap_up = 30
offer_timeout = 10

[workspaces.acme.queues.support]
service_level_threshold = 60
offer_timeout = 30

[workspaces.acme.agents.ada]
queues = ["sales", "support"]
capacity = { chat = 1 }

[workspaces.acme.agents.ben]
queues = ["sales"]
capacity = { chat = 1 }
"""


def a_morning() -> list[ev.Event]:
    """Five contacts of workspace "acme" (times in seconds after 08:00 UTC):

    - c1 (alice, sales) at 0: offered to ada at once, accepted at 5, ended at 65, closed at
      75 (talk 60, wrap 10);
    - c2 (bob, sales) at 75: offered to ada at once, times out at 85; ben comes in at 85 and
      is offered it, rejects at 90; bob hangs up at 100, after 25 s;
    - both go on break at 100; c3 (carol, sales) arrives at 100 and waits; ada is back at 130,
      accepts at 132, ends at 152; the 30 s wrap-up runs out at 182;
    - c4 (dave, sales) at 3595 (08:59:55): offered to ada at once, accepted at 3600 (09:00),
      ended at 3660, closed at 3670;
    - c5 (alice again, support) at 5400 (09:30): offered to ada at once, accepted at 5420,
      ended at 5480 (no wrap-up in support: closed at once).

    Then the surveys: c1 5/5, c3 2/5, c5 4/5, answered at 5500, 5510 and 5520.
    """
    board = Switchboard("acme", start=T0)
    board.add_queue("sales", service_level_threshold=20, wrap_up=30, offer_timeout=10)
    board.add_queue("support", service_level_threshold=60, offer_timeout=30)
    board.add_agent("ada", queues=["sales", "support"])
    board.add_agent("ben", queues=["sales"])

    def at(seconds: float) -> None:
        board.advance(T0 + seconds - board.now)

    def accept(agent: str) -> None:
        (offer,) = board.offers(agent)
        board.accept(offer.id)

    board.set_status("ada", "available")
    board.submit("sales", contact_id="c1", customer="alice")
    at(5)
    accept("ada")
    at(65)
    board.end("c1")
    at(75)
    board.close("c1")
    board.submit("sales", contact_id="c2", customer="bob")
    at(85)  # ada's offer times out
    board.set_status("ben", "available")
    at(90)
    (offer,) = board.offers("ben")
    board.reject(offer.id)
    at(100)
    board.abandon("c2")
    board.set_status("ada", "break")
    board.set_status("ben", "break")
    board.submit("sales", contact_id="c3", customer="carol")
    at(130)
    board.set_status("ada", "available")
    at(132)
    accept("ada")
    at(152)
    board.end("c3")
    at(3595)  # the wrap-up of c3 ran out at 182
    board.submit("sales", contact_id="c4", customer="dave")
    at(3600)
    accept("ada")
    at(3660)
    board.end("c4")
    at(3670)
    board.close("c4")
    at(5400)
    board.submit("support", contact_id="c5", customer="alice")
    at(5420)
    accept("ada")
    at(5480)
    board.end("c5")
    surveys = [
        ev.SurveyAnswered(
            workspace="acme",
            at=T0 + when,
            contact_id=cid,
            score=score,
            scale=5,
            agent_id="ada",
            queue=queue,
        )
        for when, cid, score, queue in (
            (5500, "c1", 5, "sales"),
            (5510, "c3", 2, "sales"),
            (5520, "c5", 4, "support"),
        )
    ]
    return [*board.log, *surveys]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """acme.toml, with the morning stored in trunkline.db beside it (the default store)."""
    path = tmp_path / "acme.toml"
    path.write_text(textwrap.dedent(CONFIG))

    async def fill() -> None:
        store = SqliteStore(tmp_path / "trunkline.db")
        await store.open()
        await store.append(a_morning())
        await store.aclose()

    anyio.run(fill)
    return path


def trunkline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from trunkline.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def report(config_file: Path, *args: str) -> dict[str, Any]:
    result = trunkline("report", str(config_file), "--format", "json", "--now", str(NOW), *args)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def rows_by(data: dict[str, Any], *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(row[k] for k in keys): row for row in data["rows"]}


# By interval ---------------------------------------------------------------------------------


def test_hourly_rows_give_every_figure_of_the_morning_by_hand(config_file: Path) -> None:
    data = report(config_file)  # --by interval, hourly
    assert (data["by"], data["interval"], data["now"]) == (
        "interval",
        "hour",
        "2024-03-11T09:00:00Z",
    )
    rows = rows_by(data, "interval", "queue")
    assert list(rows) == [("2024-03-04T08:00:00Z", "sales"), ("2024-03-04T09:00:00Z", "support")]
    sales = rows[("2024-03-04T08:00:00Z", "sales")]
    assert sales["interval_end"] == "2024-03-04T09:00:00Z"
    assert (sales["offered"], sales["answered"], sales["abandoned"], sales["handled"]) == (
        4,
        3,
        1,
        3,
    )
    # Counted: c1 and c4 in 5 s (within 20 s), c3 in 32 s, c2 abandoned after 25 s.
    assert sales["service_level"] == pytest.approx(2 / 4)
    assert sales["asa"] == pytest.approx((5 + 32 + 5) / 3)
    assert sales["aht"] == pytest.approx((70 + 50 + 70) / 3)
    assert sales["average_talk_time"] == pytest.approx((60 + 20 + 60) / 3)
    assert sales["average_wrap_time"] == pytest.approx((10 + 30 + 10) / 3)
    assert sales["abandonment_rate"] == pytest.approx(1 / 4)
    assert sales["wait_probability"] == pytest.approx(1 / 4)  # only c3 was not offered at once
    assert (sales["csat"], sales["csat_responses"], sales["average_score"]) == (0.5, 2, 3.5)
    support = rows[("2024-03-04T09:00:00Z", "support")]
    assert (support["offered"], support["answered"], support["service_level"]) == (1, 1, 1.0)
    assert (support["asa"], support["aht"], support["average_wrap_time"]) == (20.0, 60.0, 0.0)
    assert (support["csat"], support["average_score"]) == (1.0, 4.0)  # 4 of 5 is satisfied


def test_totals_are_worked_out_from_the_counts_not_by_averaging_rows(config_file: Path) -> None:
    totals = report(config_file)["totals"]
    assert (totals["offered"], totals["answered"], totals["abandoned"], totals["handled"]) == (
        5,
        4,
        1,
        4,
    )
    assert totals["service_level"] == pytest.approx(3 / 5)
    assert totals["asa"] == pytest.approx((5 + 32 + 5 + 20) / 4)
    assert totals["aht"] == pytest.approx((70 + 50 + 70 + 60) / 4)
    assert totals["csat"] == pytest.approx(2 / 3)
    assert totals["average_score"] == pytest.approx((5 + 2 + 4) / 3)


def test_a_contact_counts_in_the_interval_it_was_first_queued_in(config_file: Path) -> None:
    rows = rows_by(report(config_file, "--interval", "15m"), "interval", "queue")
    assert sorted(rows) == [
        ("2024-03-04T08:00:00Z", "sales"),
        ("2024-03-04T08:45:00Z", "sales"),  # c4, queued at 08:59:55, answered at 09:00:00
        ("2024-03-04T09:30:00Z", "support"),
    ]
    late = rows[("2024-03-04T08:45:00Z", "sales")]
    assert (late["interval_end"], late["offered"], late["answered"], late["asa"]) == (
        "2024-03-04T09:00:00Z",
        1,
        1,
        5.0,
    )
    days = rows_by(report(config_file, "--interval", "day"), "interval", "queue")
    assert {key: row["offered"] for key, row in days.items()} == {
        ("2024-03-04T00:00:00Z", "sales"): 4,
        ("2024-03-04T00:00:00Z", "support"): 1,
    }


def test_from_and_to_keep_the_contacts_first_queued_in_between(config_file: Path) -> None:
    data = report(config_file, "--from", "2024-03-04T08:30:00Z", "--to", "2024-03-04T09:30")
    assert [(r["queue"], r["offered"], r["answered"]) for r in data["rows"]] == [("sales", 1, 1)]
    assert (data["from"], data["to"]) == ("2024-03-04T08:30:00Z", "2024-03-04T09:30:00Z")
    after = report(config_file, "--from", "2024-03-04T09:30:00+00:00")
    assert [r["queue"] for r in after["rows"]] == ["support"]  # from is inclusive


# First-contact resolution --------------------------------------------------------------------


def test_fcr_counts_a_contact_as_reopened_when_the_customer_comes_back_within_the_window(
    config_file: Path,
) -> None:
    rows = rows_by(report(config_file), "interval", "queue")
    sales = rows[("2024-03-04T08:00:00Z", "sales")]
    # c1: alice came back (c5) 88 minutes after its close: not resolved. c3: resolved.
    # c4 closed at 09:01:10; its 7 days end after now (a week and an hour after 08:00): pending.
    # c2 was never answered: not counted.
    assert (sales["fcr"], sales["fcr_contacts"], sales["fcr_pending"]) == (0.5, 2, 1)
    support = rows[("2024-03-04T09:00:00Z", "support")]
    assert (support["fcr"], support["fcr_contacts"], support["fcr_pending"]) == (None, 0, 1)


def test_a_shorter_fcr_window_lets_more_contacts_count_as_resolved(config_file: Path) -> None:
    # 0.05 days is 72 minutes: alice's second contact came 88 minutes after c1 closed.
    data = report(config_file, "--fcr-days", "0.05")
    sales = rows_by(data, "interval", "queue")[("2024-03-04T08:00:00Z", "sales")]
    assert (sales["fcr"], sales["fcr_contacts"], sales["fcr_pending"]) == (1.0, 3, 0)
    assert (data["totals"]["fcr"], data["totals"]["fcr_contacts"]) == (1.0, 4)


# By agent ------------------------------------------------------------------------------------


def test_agent_rows_give_handling_offers_and_occupancy_by_hand(config_file: Path) -> None:
    data = report(config_file, "--by", "agent")
    rows = rows_by(data, "agent")
    ada, ben = rows[("ada",)], rows[("ben",)]
    assert "interval" not in ada
    assert (ada["offers"], ada["answered"], ada["rejected"], ada["missed"]) == (5, 4, 0, 1)
    assert (ada["handled"], ada["talk_time_total"], ada["wrap_time_total"]) == (4, 200.0, 50.0)
    assert ada["aht"] == pytest.approx(250 / 4)
    # ada handles 5-75, 132-182, 3600-3670 and 5420-5480 (250 s). She is available 0-100 and
    # from 130 to the log's last event at 5520 (5,490 s).
    assert (ada["busy_time"], ada["available_time"]) == (250.0, 5490.0)
    assert ada["occupancy"] == pytest.approx(250 / 5490)
    assert (ada["fcr"], ada["fcr_pending"], ada["csat"], ada["csat_responses"]) == (
        0.5,
        2,
        pytest.approx(2 / 3),
        3,
    )
    assert (ben["offers"], ben["rejected"], ben["answered"], ben["aht"]) == (1, 1, 0, None)
    assert (ben["available_time"], ben["occupancy"]) == (15.0, 0.0)
    assert data["totals"]["offers"] == 6


def test_agent_rows_by_hour_cut_occupancy_at_the_boundary(config_file: Path) -> None:
    rows = rows_by(report(config_file, "--by", "agent", "--interval", "hour"), "agent", "interval")
    morning, later = rows[("ada", "2024-03-04T08:00:00Z")], rows[("ada", "2024-03-04T09:00:00Z")]
    # c4 was queued before 09:00: its handling counts at 08:00, its busy time (from 09:00) at 09:00.
    assert (morning["offers"], morning["handled"], morning["aht"]) == (4, 3, pytest.approx(190 / 3))
    assert (morning["busy_time"], morning["available_time"]) == (120.0, 100.0 + 3470.0)
    assert (later["offers"], later["handled"], later["aht"]) == (1, 1, 60.0)
    assert (later["busy_time"], later["available_time"]) == (130.0, 1920.0)
    assert rows[("ben", "2024-03-04T08:00:00Z")]["available_time"] == 15.0


# Output --------------------------------------------------------------------------------------


def test_csv_has_a_header_and_one_line_per_row_with_empty_cells_for_no_value(
    config_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.csv"
    result = trunkline("report", str(config_file), "--now", str(NOW), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(line["interval"], line["queue"], line["offered"]) for line in lines] == [
        ("2024-03-04T08:00:00Z", "sales", "4"),
        ("2024-03-04T09:00:00Z", "support", "1"),
    ]
    assert float(lines[0]["asa"]) == pytest.approx(42 / 3)
    assert lines[1]["fcr"] == ""  # pending only: no value
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("queue,interval,interval_end,offered,answered,abandoned,handled,")


def test_an_empty_store_gives_no_rows_and_empty_totals(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(textwrap.dedent(CONFIG))
    data = report(path)
    assert data["rows"] == []
    assert (data["totals"]["offered"], data["totals"]["service_level"]) == (0, None)
    result = trunkline("report", str(path), "--by", "agent")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "agent,offers,answered,rejected,missed,handled,talk_time_total,wrap_time_total,aht,"
        "average_talk_time,average_wrap_time,busy_time,available_time,occupancy,fcr,"
        "fcr_contacts,fcr_pending,csat,csat_responses,average_score"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--by", "queue"), "Invalid value for '--by': 'queue' is not one of 'interval', 'agent'"),
        (("--interval", "week"), "Invalid value for '--interval': 'week' is not one of"),
        (("--format", "xml"), "Invalid value for '--format'"),
        (("--fcr-days", "-1"), "Invalid value for '--fcr-days'"),
        (
            ("--from", "yesterday"),
            'trunkline: error: --from "yesterday": not an ISO 8601 date or time',
        ),
        (
            ("--from", "2024-03-05", "--to", "2024-03-04"),
            "trunkline: error: --to (2024-03-04T00:00:00Z) must be after --from "
            "(2024-03-05T00:00:00Z)",
        ),
        (
            ("--workspace", "nope"),
            'trunkline: error: --workspace: unknown workspace "nope" (known: acme)',
        ),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(
    config_file: Path, args: tuple[str, ...], message: str
) -> None:
    result = trunkline("report", str(config_file), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_several_workspaces_need_one_chosen(tmp_path: Path) -> None:
    path = tmp_path / "two.toml"
    path.write_text(textwrap.dedent(CONFIG) + "\n[workspaces.beta.queues.q]\n")
    result = trunkline("report", str(path))
    assert result.returncode == 2
    assert "has 2 workspaces: choose one with --workspace (acme, beta)" in result.stderr
    assert trunkline("report", str(path), "--workspace", "beta").returncode == 0


# The fold itself ----------------------------------------------------------------------------


def test_the_fold_reads_any_sequence_of_events_and_pages_do_not_matter() -> None:
    queues = [Queue(id="sales", workspace="acme", service_level_threshold=20)]
    options = ReportOptions(now=NOW)
    whole = report_from_events(a_morning(), queues, options)
    assert whole.rows[0]["offered"] == 4
    assert whole.rows[1]["queue"] == "support"
    assert whole.rows[1]["service_level"] == 1.0  # unknown queue: the default 20 s threshold

    async def paged() -> list[dict[str, Any]]:
        from trunkline.builtin.memory_store import MemoryStore
        from trunkline.reports import build_report

        store = MemoryStore()
        await store.open()
        await store.append(a_morning())
        result = await build_report(store, "acme", queues, options, page=7)
        return result.rows

    assert anyio.run(paged) == whole.rows


def test_options_are_checked() -> None:
    with pytest.raises(TrunklineError, match='unknown interval "week"'):
        ReportOptions(now=0.0, interval="week")
    with pytest.raises(TrunklineError, match='unknown report shape "queue"'):
        ReportOptions(now=0.0, by="queue")


def five_waits(queue: str = "sales") -> list[ev.Event]:
    """Five contacts queued at T0 + 100 in ``queue`` (10 s threshold): c1 answered after 4 s
    (within), c2 after 15 s (late); c3 abandons after 2 s, c4 after 6 s, c5 after 30 s. The
    same contacts as in test_metrics.py, so live figures and reports can be compared."""
    from trunkline.model import Offer

    def at(seconds: float) -> float:
        return T0 + 100.0 + seconds

    def answer(n: int, agent: str, wait: float) -> list[ev.Event]:
        cid = f"{queue}-c{n}"
        offer = Offer(
            id=f"of-{cid}",
            workspace="acme",
            contact_id=cid,
            agent_id=agent,
            queue=queue,
            created_at=at(wait),
            expires_at=at(wait) + 10,
        )
        return [
            ev.ContactOffered(workspace="acme", at=at(wait), offer=offer),
            ev.OfferAccepted(
                workspace="acme", at=at(wait), offer_id=offer.id, contact_id=cid, agent_id=agent
            ),
        ]

    def leave(n: int, wait: float) -> ev.Event:
        return ev.ContactAbandoned(
            workspace="acme", at=at(wait), contact_id=f"{queue}-c{n}", waited=wait
        )

    return [
        *(
            ev.ContactQueued(
                workspace="acme", at=at(0), contact_id=f"{queue}-c{n}", queue=queue, priority=0
            )
            for n in range(1, 6)
        ),
        leave(3, 2.0),
        *answer(1, "ada", 4.0),
        leave(4, 6.0),
        *answer(2, "ben", 15.0),
        leave(5, 30.0),
    ]


@pytest.mark.parametrize(
    ("abandons", "short", "expected"),
    [
        # By hand (see test_metrics.py): c3 is a short abandon at S = 3 s, c5 always misses.
        ("ignored", 0.0, 1 / 3),  # 1 / (2 answered + c5)
        ("ignored", 3.0, 1 / 3),
        ("missed", 0.0, 1 / 5),  # 1 / (2 answered + 3 abandoned)
        ("missed", 3.0, 1 / 4),  # c3 left out
        ("met", 0.0, 3 / 5),  # (c1 + c3 + c4) / 5
        ("met", 3.0, 2 / 4),  # (c1 + c4) / 4
    ],
)
def test_service_level_counts_abandons_as_the_queue_defines(
    abandons: str, short: float, expected: float
) -> None:
    queue = Queue(
        id="sales",
        workspace="acme",
        service_level_threshold=10.0,
        service_level_abandons=abandons,
        service_level_short_abandon=short,
    )
    report = report_from_events(five_waits(), [queue], ReportOptions(now=NOW))
    (row,) = report.rows
    assert row["service_level"] == pytest.approx(expected)
    assert (row["answered"], row["abandoned"], row["abandonment_rate"]) == (2, 3, 0.6)
    assert report.totals["service_level"] == pytest.approx(expected)


def test_report_totals_add_queues_each_by_its_own_definition() -> None:
    queues = [
        Queue(id=q, workspace="acme", service_level_threshold=10.0, service_level_abandons=how)
        for q, how in (("sales", "missed"), ("support", "met"))
    ]
    report = report_from_events(
        five_waits("sales") + five_waits("support"), queues, ReportOptions(now=NOW)
    )
    rows = {row["queue"]: row["service_level"] for row in report.rows}
    assert rows == pytest.approx({"sales": 1 / 5, "support": 3 / 5})
    assert report.totals["service_level"] == pytest.approx(4 / 10)
