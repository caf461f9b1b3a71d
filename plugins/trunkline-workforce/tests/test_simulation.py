"""The simulator: the production engine in virtual time, judged against queueing theory.

The Erlang checks run enough contacts (100,000, after a warm-up) for a 95% interval a few
percent wide, with fixed seeds so a run is repeatable. They can fail: the test that breaks
first-come-first-served order inside the engine sees service level leave the interval.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trunkline import events as ev
from trunkline.cli import main
from trunkline.routing.state import Line
from trunkline.switchboard import builtin_strategies
from trunkline_workforce import erlang
from trunkline_workforce.errors import ScenarioError
from trunkline_workforce.simulation import compare, estimate, simulate, single_queue, summary
from trunkline_workforce.simulation.scenario import load_scenario

# The worked example of issue 7: 100 calls per 30 minutes, AHT 180 s, 20 s target, 14 agents.
EXAMPLE = {"arrivals": 100.0, "interval": 1800.0, "aht": 180.0, "agents": 14}


def _run(contacts: int = 100_000, seed: int = 1, **overrides: Any) -> Any:
    params = {**EXAMPLE, **overrides}
    scenario = single_queue(**params, contacts=contacts, seed=seed, warmup=3600.0)
    return simulate(scenario)


def _assert_within(comparison: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        figure = comparison["figures"][name]
        assert figure["within"], (name, figure)


def test_erlang_c_lies_within_the_simulated_confidence_intervals() -> None:
    run = _run()
    comparison = compare(run)
    assert comparison["model"] == "erlang-c"
    model = erlang.erlang_c(**EXAMPLE, target=20.0)
    assert comparison["figures"]["service_level"]["model"] == pytest.approx(0.888, abs=5e-4)
    assert model.wait_probability == pytest.approx(0.174, abs=5e-4)
    _assert_within(comparison, ("wait_probability", "asa", "service_level"))
    # An interval that means something: a few points wide, not 0-1.
    sl = comparison["figures"]["service_level"]
    assert sl["ci_high"] - sl["ci_low"] < 0.03


def test_erlang_a_lies_within_the_intervals_when_customers_give_up() -> None:
    run = _run(patience=120.0)
    comparison = compare(run)
    assert comparison["model"] == "erlang-a"
    _assert_within(comparison, ("wait_probability", "asa", "service_level", "abandonment"))
    assert comparison["figures"]["abandonment"]["value"] > 0.01


def test_a_large_center_near_full_load_matches_erlang_c() -> None:
    # 200 agents at 95% load: waiting is common, and the model still holds.
    run = _run(arrivals=190 * 3600 / 180.0, interval=3600.0, aht=180.0, agents=200)
    comparison = compare(run)
    assert comparison["figures"]["wait_probability"]["model"] > 0.3
    _assert_within(comparison, ("wait_probability", "asa", "service_level"))


def test_breaking_first_come_first_served_in_the_engine_moves_service_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fair = compare(_run(patience=120.0))
    _assert_within(fair, ("service_level",))

    push = Line.push

    def newest_first(self: Line, entry: tuple[float, int, Any]) -> None:
        push(self, (-entry[0], entry[1], entry[2]))  # the newest contact jumps the line

    monkeypatch.setattr(Line, "push", newest_first)
    broken = compare(_run(patience=120.0))
    figure = broken["figures"]["service_level"]
    assert not figure["within"], figure
    assert abs(figure["value"] - fair["figures"]["service_level"]["value"]) > 0.01


def test_the_same_seed_repeats_a_run_and_another_seed_does_not() -> None:
    first, again, other = (_run(contacts=3000, seed=s) for s in (7, 7, 8))
    assert list(first.records.answered) == list(again.records.answered)
    assert list(first.records.answered) != list(other.records.answered)


def test_production_metrics_agree_with_the_simulators_own_count() -> None:
    # Two computations of the same figures: the Metrics fold over the engine's events, and
    # the simulator's per-contact records. No warm-up, so both see every contact.
    scenario = single_queue(**EXAMPLE, contacts=20_000, seed=3, patience=90.0)
    run = simulate(scenario)
    est = estimate(run)
    figures = run.metrics.figures(run.end)
    queue = figures["queues"]["q"]
    assert queue["answered"] + queue["abandoned"] == len(run.records)
    assert queue["service_level"] == pytest.approx(est["service_level"].value)
    assert queue["asa"] == pytest.approx(est["asa"].value)
    assert queue["abandonment_rate"] == pytest.approx(est["abandonment"].value)
    assert queue["wait_probability"] == pytest.approx(est["wait_probability"].value)


@pytest.mark.parametrize(("abandons", "short"), [("missed", 0.0), ("met", 5.0)])
def test_the_simulated_service_level_follows_the_queues_definition_as_erlang_a_does(
    abandons: str, short: float
) -> None:
    # 9 agents, patience 60 s: a fifth abandon, many within the 20 s threshold, so the
    # definition moves the figure: the default definition's value lies outside the interval.
    run = _run(agents=9, patience=60.0, abandons=abandons, short_abandon=short)
    comparison = compare(run)
    assert (comparison["erlang"]["abandons"], comparison["erlang"]["short_abandon"]) == (
        abandons,
        short,
    )
    _assert_within(comparison, ("service_level", "abandonment"))
    default = erlang.erlang_a(**{**EXAMPLE, "agents": 9}, patience=60.0)
    assert not estimate(run)["service_level"].covers(default.service_level)


@pytest.mark.parametrize(("abandons", "short"), [("ignored", 8.0), ("missed", 8.0), ("met", 0.0)])
def test_production_metrics_and_the_simulator_count_service_level_alike(
    abandons: str, short: float
) -> None:
    scenario = single_queue(
        **EXAMPLE,
        contacts=5000,
        seed=5,
        patience=40.0,
        abandons=abandons,
        short_abandon=short,
    )
    run = simulate(attrs.evolve(scenario, interval=1e9))  # one interval row holds every contact
    queue = run.metrics.figures(run.end)["queues"]["q"]
    assert queue["service_level_abandons"] == abandons
    assert queue["service_level"] == pytest.approx(estimate(run)["service_level"].value)
    (row,) = summary(run)["intervals"]
    assert row["service_level"] == pytest.approx(queue["service_level"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    agents=st.integers(1, 6),
    load=st.floats(0.2, 1.5),
    patience=st.one_of(st.none(), st.floats(5.0, 600.0)),
    seed=st.integers(0, 2**16),
)
def test_every_contact_is_accounted_for(
    agents: int, load: float, patience: float | None, seed: int
) -> None:
    scenario = single_queue(
        arrivals=load * agents,
        interval=60.0,
        aht=60.0,
        agents=agents,
        patience=patience,
        contacts=300,
        seed=seed,
    )
    run = simulate(scenario)
    r = run.records
    for i in range(len(r)):
        answered, abandoned = r.answered[i], r.abandoned[i]
        # Exactly one fate: answered (then ended and closed) or abandoned.
        assert (answered == answered) != (abandoned == abandoned)
        if answered == answered:
            assert r.queued[i] <= r.first_offer[i] <= answered <= r.ended[i] <= r.closed[i]
        else:
            assert abandoned >= r.queued[i]
            assert patience is not None
    # Nobody waits while an agent idles: a contact waits only when every agent was busy.
    figures = run.metrics.figures(run.end)
    assert figures["queues"]["q"]["answered"] + figures["queues"]["q"]["abandoned"] == len(r)


def test_summary_is_json_and_every_top_level_field_is_documented() -> None:
    data = summary(_run(contacts=5000))
    back = json.loads(json.dumps(data, allow_nan=False))
    page = (Path(__file__).resolve().parents[3] / "docs" / "simulation.md").read_text()
    table = page[page.index("With `--json`, one object") : page.index("## From Python")]
    documented = {
        name
        for row in table.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`(\w+)`", row.split(" | ")[0])
    }
    assert documented == set(back)
    assert back["contacts"] == 5000
    assert sum(i["arrivals"] for i in back["intervals"]) == 5000
    documented_interval = "`start`, `arrivals`, `answered`, `abandoned`, `service_level`, `asa`"
    assert documented_interval in table
    assert set(back["intervals"][0]) == {
        *re.findall(r"`(\w+)`", documented_interval),
        "waiting",
        "handling",
    }


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_single_queue_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli([*_flags(agents=14, contacts=20_000), "--seed", "4", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["comparison"]["model"] == "erlang-c"
    assert data["comparison"]["erlang"]["agents"] == 14
    assert data["scenario"]["warmup"] == 1800.0  # 10 x AHT by default
    assert 0.8 < data["estimates"]["service_level"]["value"] < 0.95


def test_cli_refuses_half_the_flags_and_unknown_strategies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _cli(["simulate", "--arrivals", "100", "--agents", "3"], capsys)
    assert code == 2
    assert "missing: --interval, --aht" in err
    code, _, err = _cli([*_flags(), "--strategy", "coin-toss"], capsys)
    assert code == 2
    assert 'unknown strategy "coin-toss"' in err
    code, _, err = _cli(_flags(agents=0), capsys)
    assert code == 2
    assert "agents: must be at least 1" in err


def test_a_run_whose_warm_up_takes_every_contact_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 100 contacts at 100 per 30 minutes arrive within about 1800 s: the default warm-up
    # (10 x AHT = 1800 s) takes nearly all of them.
    code, out, err = _cli([*_flags(agents=14, contacts=20), "--json"], capsys)
    assert code == 2
    assert out == ""
    (line,) = err.splitlines()
    assert line == (
        "trunkline: error: the run has 20 contacts and the warm-up (1800 s) takes 20 of "
        "them, so 0 would be measured: give more --contacts or a shorter --warmup"
    )
    # A shorter warm-up measures them.
    code, out, err = _cli([*_flags(agents=14, contacts=20), "--warmup", "0", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["measured"] == 20


def test_a_scenario_file_whose_warm_up_takes_every_contact_names_its_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _scenario_files(
        tmp_path, SCENARIO.replace("duration = 28800", "duration = 3600\nwarmup = 7200")
    )
    code, _, err = _cli(["simulate", str(path)], capsys)
    assert code == 2
    assert "so 0 would be measured: give more simulation.contacts or simulation.duration" in err
    assert "or a shorter simulation.warmup" in err


def _flags(agents: int = 2, contacts: int = 100) -> list[str]:
    """``trunkline simulate`` of the worked example's load (100 per 30 min, AHT 180 s)."""
    flags = {"arrivals": 100, "interval": 1800, "aht": 180, "agents": agents, "contacts": contacts}
    return [
        "simulate",
        *(part for name, value in flags.items() for part in (f"--{name}", str(value))),
    ]


SCENARIO = """
[workspaces.acme]
skills = ["en", "de"]

[workspaces.acme.queues.sales]
service_level_threshold = 30.0
wrap_up = 60.0

[workspaces.acme.queues.support]
skills = { de = 1 }

[workspaces.acme.agents.ada]
capacity = { voice = 1, chat = 2 }
queues = ["sales", "support"]
skills = { en = 5, de = 3 }

[simulation]
seed = 11
duration = 28800
interval = 3600

[[simulation.teams]]
name = "night"
count = 4
queues = ["sales"]
capacity = { voice = 1 }
shifts = [[0, 14400]]

[[simulation.shifts]]
agents = ["ada"]
start = 3600
end = 28800

[[simulation.arrivals]]
queue = "sales"
profile = [20, 40, 60, 40, 20, 10, 5, 5]
interval = 3600
handle = { dist = "lognormal", mean = 240, sd = 120 }
patience = { dist = "exponential", mean = 180 }
wrap_up = { dist = "fixed", value = 20 }

[[simulation.arrivals]]
queue = "support"
kind = "chat"
csv = "day.csv"
handle = { dist = "empirical", values = [60, 120, 600] }
"""


def _scenario_files(tmp_path: Path, text: str = SCENARIO) -> Path:
    (tmp_path / "day.csv").write_text(
        "at,handle,patience\n100,30,\n200,,50\n2026-11-23T01:00:00Z,45,\n", encoding="utf-8"
    )
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _load(path: Path) -> Any:
    return load_scenario(path, adapters={}, strategies=set(builtin_strategies()))


def test_a_scenario_file_runs_several_queues_channels_shifts_and_recorded_arrivals(
    tmp_path: Path,
) -> None:
    scenario = _load(_scenario_files(tmp_path))
    assert len(scenario.workspace.agents) == 5
    run = simulate(scenario)
    r = run.records
    support = run.queues.index("support")
    recorded = [i for i in range(len(r)) if r.queue[i] == support]
    assert [r.queued[i] for i in recorded] == [100.0, 200.0, 3600.0]
    # Only ada serves support; she starts at 3600 s, so the first two wait for her unless
    # they give up: the second has a patience of 50 s and leaves.
    assert r.abandoned[recorded[1]] == 250.0
    assert r.answered[recorded[0]] >= 3600.0
    # Recorded handle times are used as given.
    assert r.ended[recorded[0]] - r.answered[recorded[0]] == 30.0
    # Sales contacts wrap up for 20 s (less than the queue's 60 s limit).
    sales = [i for i in range(len(r)) if r.queue[i] != support and r.closed[i] == r.closed[i]]
    assert sales
    assert all(r.closed[i] - r.ended[i] == pytest.approx(20.0) for i in sales)
    data = summary(run)
    assert data["comparison"]["model"] is None
    assert data["comparison"]["reason"] == "more than one arrival stream"
    # Arrivals follow the profile: most in the third hour.
    per_hour = [i["arrivals"] for i in data["intervals"]]
    assert per_hour.index(max(per_hour)) in (1, 2, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("[simulation]\nseed = 11", "simulation.speed: unknown key"),
        ('queue = "sales"\nprofile', "simulation.arrivals[0].wait: unknown key"),
        ('dist = "lognormal", mean = 240, sd = 120', "arrivals[0].handle.dist: expected one of"),
        ("count = 4", "simulation.teams[0].count: expected a whole number"),
        ("shifts = [[0, 14400]]", "simulation.teams[0].shifts[0]: ends (10.0) before it starts"),
        ('agents = ["ada"]', 'simulation.shifts[0].agents: unknown agent "bob"'),
        ('csv = "day.csv"', "missing.csv: cannot read the file"),
    ],
)
def test_a_bad_scenario_names_the_key(tmp_path: Path, change: str, message: str) -> None:
    replacements = {
        "[simulation]\nseed = 11": "[simulation]\nspeed = 2\nseed = 11",
        'queue = "sales"\nprofile': 'queue = "sales"\nwait = 3\nprofile',
        'dist = "lognormal", mean = 240, sd = 120': 'dist = "gamma", mean = 240',
        "count = 4": "count = 4.5",
        "shifts = [[0, 14400]]": "shifts = [[100, 10]]",
        'agents = ["ada"]': 'agents = ["bob"]',
        'csv = "day.csv"': 'csv = "missing.csv"',
    }
    text = SCENARIO.replace(change, replacements[change], 1)
    with pytest.raises(ScenarioError, match=None) as info:
        _load(_scenario_files(tmp_path, text))
    assert message in str(info.value)


def test_a_scenario_with_a_bad_csv_row_names_the_line(tmp_path: Path) -> None:
    path = _scenario_files(tmp_path)
    (tmp_path / "day.csv").write_text("at,handle\n100,30\nsoon,40\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"day.csv:3: "):
        _load(path)


def test_cli_runs_a_scenario_file_and_writes_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _scenario_files(tmp_path)
    png, html = tmp_path / "day.png", tmp_path / "day.html"
    code, out, err = _cli(["simulate", str(path), "--plot", str(png), "--html", str(html)], capsys)
    assert code == 0, err
    assert "no Erlang comparison: more than one arrival stream" in out
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    page = html.read_text(encoding="utf-8")
    assert "<svg" in page
    assert "service level" in page.lower()
    code, _, err = _cli(["simulate", str(path), "--agents", "3"], capsys)
    assert code == 2
    assert "not both" in err


def test_the_chart_and_the_table_bin_by_the_interval_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trunkline_workforce.simulation.plots import figure

    html = tmp_path / "run.html"
    args = [*_flags(agents=14, contacts=3000), "--warmup", "0", "--html", str(html), "--json"]
    code, out, err = _cli(args, capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["scenario"]["interval"] == 1800.0
    starts = [row["start"] for row in data["intervals"]]
    assert starts[:3] == [0.0, 1800.0, 3600.0]
    assert sum(row["arrivals"] for row in data["intervals"]) == 3000
    # The chart is built from those rows: one bar per half hour.
    run = simulate(single_queue(**EXAMPLE, contacts=3000, warmup=0.0))
    chart = figure(run, summary(run))
    top = chart.axes[0]
    lefts = sorted({round(bar.get_x(), 6) for bar in top.patches})
    assert lefts[:3] == [0.0, 0.5, 1.0]
    assert "1800 s intervals" in top.get_title() + top.get_ylabel()
    page = html.read_text(encoding="utf-8")
    assert "intervals of 1800 s" in page


def test_the_chart_labels_the_target_line_and_the_table_gives_units(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trunkline_workforce.simulation.plots import figure

    run = simulate(single_queue(**EXAMPLE, contacts=2000, warmup=0.0))
    chart = figure(run, summary(run))
    middle = chart.axes[1]
    legend = middle.get_legend()
    assert legend is not None
    labels = [text.get_text() for text in legend.get_texts()]
    assert "target 80%" in labels
    html = tmp_path / "run.html"
    code, _, err = _cli(
        [*_flags(agents=14, contacts=2000), "--warmup", "0", "--html", str(html)], capsys
    )
    assert code == 0, err
    page = html.read_text(encoding="utf-8")
    headers = re.findall(r"<th>(.*?)</th>", page)
    for header in (
        "start (h)",
        "arrivals (contacts)",
        "answered (contacts)",
        "abandoned (contacts)",
        "service level (%)",
        "ASA (s)",
        "waiting at end (contacts)",
        "held at end (contacts)",
    ):
        assert header in headers, headers
    figures = re.findall(r"<tr><td>([^<]*)</td>", page)
    assert {"wait probability (%)", "ASA (s)", "service level (%)", "abandonment (%)"} <= set(
        figures
    )


def test_unstable_erlang_c_is_reported_without_infinities(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Fewer agents than the load: Erlang C has no steady state; JSON carries null, not Infinity.
    code, out, err = _cli([*_flags(agents=9, contacts=3000), "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["comparison"]["figures"]["asa"]["model"] is None
    assert not math.isnan(data["estimates"]["asa"]["value"])


def test_the_scenario_in_the_docs_runs(tmp_path: Path) -> None:
    page = Path(__file__).resolve().parents[3] / "docs" / "simulation.md"
    text = page.read_text(encoding="utf-8")
    start = text.index("```toml\n", text.index("## Scenario files")) + len("```toml\n")
    scenario_text = text[start : text.index("```", start)]
    path = tmp_path / "acme-day.toml"
    path.write_text(scenario_text, encoding="utf-8")
    scenario = _load(path)
    assert len(scenario.workspace.agents) == 40
    run = simulate(scenario)
    data = summary(run)
    assert data["contacts"] > 4000
    assert data["unfinished"] == 0
    # The day team's break (6 h to 7 h) shows: billing has nobody, support only the late team.
    sl = [row["service_level"] for row in data["intervals"]]
    assert sl[6] < 0.5 < sl[5]
    assert sl[7] > 0.8


def test_replications_in_two_processes_add_up_and_still_match_erlang_c() -> None:
    from trunkline_workforce.simulation.run import simulate_parallel

    scenario = single_queue(**EXAMPLE, contacts=100_000, seed=1, warmup=3600.0)
    run = simulate_parallel(scenario, 2)
    assert len(run.records) == 100_000
    # Replication 0 is the same run as one process with the scenario's seed and half the contacts.
    alone = simulate(single_queue(**EXAMPLE, contacts=50_000, seed=1, warmup=3600.0))
    assert list(run.records.answered[:50_000]) == list(alone.records.answered)
    figures = run.metrics.figures(run.end)
    queue = figures["queues"]["q"]
    assert queue["answered"] == 100_000
    assert queue["asa"] == pytest.approx(
        sum(run.records.answered[i] - run.records.queued[i] for i in range(100_000)) / 100_000
    )
    occupancy = figures["workspace"]["occupancy"]
    assert occupancy == pytest.approx(0.714, abs=0.02)
    # The merged estimate is the pooled one: replication 1 is seed 2 with the other half.
    other = simulate(single_queue(**EXAMPLE, contacts=50_000, seed=2, warmup=3600.0))
    answered = [
        (part.records.answered[i] - part.records.queued[i])
        for part in (alone, other)
        for i in range(len(part.records))
        if part.records.queued[i] >= 3600.0
    ]
    assert estimate(run)["asa"].value == pytest.approx(sum(answered) / len(answered))


def test_replications_need_a_contact_count() -> None:
    from trunkline_workforce.simulation.run import simulate_parallel

    scenario = single_queue(**EXAMPLE, contacts=1000)
    with pytest.raises(ScenarioError, match="workers: must be at least 1"):
        simulate_parallel(scenario, 0)
    with pytest.raises(ScenarioError, match="give contacts, not duration"):
        simulate_parallel(attrs.evolve(scenario, duration=3600.0), 2)


RINGING = """
[workspaces.acme.routing]
auto_break_after = 2

[workspaces.acme.queues.support]
offer_timeout = 10.0

[simulation]
contacts = 40
{extra}

[[simulation.teams]]
name = "t"
count = 2
queues = ["support"]

[[simulation.arrivals]]
queue = "support"
arrivals = 20
per = 3600
handle = {{ dist = "fixed", value = 60 }}
answer = {{ dist = "fixed", value = 15 }}
patience = {{ dist = "fixed", value = 900 }}
"""


@pytest.mark.parametrize("extra", ["", "break_return = 0"])
def test_agents_put_on_break_by_the_engine_come_back_after_break_return(
    tmp_path: Path, extra: str
) -> None:
    # Every offer rings 15 s against a 10 s timeout: two misses and the engine puts the agent
    # on break. A person comes back after break_return (300 s by default); with 0, never.
    path = tmp_path / "ringing.toml"
    path.write_text("[workspaces.acme]\n" + RINGING.format(extra=extra), encoding="utf-8")
    seen: list[ev.Event] = []
    run = simulate(_load(path), observe=seen.append)
    breaks = [e for e in seen if isinstance(e, ev.AgentStatusChanged) and e.status == "break"]
    back = [e for e in seen if isinstance(e, ev.AgentStatusChanged) and e.status == "available"]
    assert breaks
    if extra:
        assert len(back) == 2  # only the start of the run
    else:
        assert len(back) > 2
        first_break = min(e.at for e in breaks if e.agent_id == "t-1")
        assert any(e.agent_id == "t-1" and e.at == first_break + 300.0 for e in back)
    # Nobody is ever answered (every offer times out), and every contact gives up.
    assert all(r != r for r in run.records.answered)
    assert all(r == r for r in run.records.abandoned)


def test_a_profile_of_zeros_brings_nobody_and_ends(tmp_path: Path) -> None:
    text = SCENARIO.replace("profile = [20, 40, 60, 40, 20, 10, 5, 5]", "profile = [0, 0]")
    run = simulate(_load(_scenario_files(tmp_path, text)))
    support = run.queues.index("support")
    assert all(q == support for q in run.records.queue)  # only the CSV's three contacts
    assert len(run.records) == 3
