"""Workforce math (`trunkline_workforce.erlang`) and the `trunkline erlang` command.

Every expected figure below is either a published one that an independent computation here
reproduces, an identity of queueing theory, or the result of a brute-force method written
separately from the module (exact rationals, uniformization of the chain).
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.cli import _State, cli
from trunkline.errors import TrunklineError
from trunkline_workforce.erlang import (
    ErlangError,
    Figures,
    agents_for,
    erlang_a,
    erlang_b,
    erlang_c,
    traffic,
    with_shrinkage,
)

# The worked example of the issue (and of callcentrehelper.com's "Erlang C formula – made
# simple"): 100 calls in 30 minutes, 3 minutes handle time, 80% answered in 20 seconds.
EXAMPLE = {"arrivals": 100, "interval": 1800, "aht": 180}


# Independent references ------------------------------------------------------------------------


def exact_erlang_c(load: int, agents: int) -> Fraction:
    """Erlang C from its textbook definition, in exact rationals (so no recursion, no rounding):
    (A^N/N! · N/(N-A)) / (Σ_{k<N} A^k/k! + A^N/N! · N/(N-A)), all over N! to stay integral."""
    rising = [1] * (agents + 1)  # rising[k] = N!/k!
    for k in range(agents - 1, -1, -1):
        rising[k] = rising[k + 1] * (k + 1)
    below: int = sum(load**k * rising[k] for k in range(agents))
    top = Fraction(load**agents * agents, agents - load)
    return top / (below + top)


def brute_force_erlang_a(
    load: float, aht: float, agents: int, patience: float, target: float, states: int = 300
) -> dict[str, float]:
    """Erlang A the slow way: the stationary distribution by the plain product form, and the
    tagged contact's fate by uniformization of its queue-position chain (no beta functions)."""
    mu, theta = 1.0 / aht, 1.0 / patience
    lam = load * mu
    pi = [1.0]
    for n in range(1, agents + states):
        pi.append(pi[-1] * lam / (min(n, agents) * mu + max(n - agents, 0) * theta))
    total = sum(pi)
    pi = [p / total for p in pi]
    ahead = pi[agents:]  # ahead[j]: an arrival finds every agent busy and j contacts waiting
    queue = sum(j * p for j, p in enumerate(ahead))  # mean number waiting
    # First-step analysis: served with probability h, wait·1{served} with mean g.
    served = wait_served = 0.0
    h, g = 1.0, 0.0  # stage "-1": served at once
    for j, p in enumerate(ahead):
        advance, leave = agents * mu + j * theta, agents * mu + (j + 1) * theta
        h, g = advance / leave * h, h * advance / leave / leave + advance / leave * g
        served += p * h
        wait_served += p * g
    # Uniformization: stage j moves to j-1 (or service from 0) at rate Nμ + jθ, abandons at θ;
    # in steps short enough that e^{-rate·step} stays far from underflow.
    rate = agents * mu + len(ahead) * theta
    steps = math.ceil(rate * target / 20)
    stage, served_by, abandoned_by = list(ahead), 0.0, 0.0
    for _ in range(steps):
        jump = rate * target / steps
        vector, absorbed = stage, (0.0, 0.0)
        weight = math.exp(-jump)
        result = [weight * p for p in vector]
        result_absorbed = [0.0, 0.0]
        for n in range(1, int(jump + 40 + 10 * math.sqrt(jump))):
            absorbed = (
                absorbed[0] + vector[0] * agents * mu / rate,
                absorbed[1] + sum(vector) * theta / rate,
            )
            vector = [
                p * (1 - (agents * mu + (j + 1) * theta) / rate)
                + (
                    vector[j + 1] * (agents * mu + (j + 1) * theta) / rate
                    if j + 1 < len(vector)
                    else 0.0
                )
                for j, p in enumerate(vector)
            ]
            weight *= jump / n
            result = [r + weight * p for r, p in zip(result, vector, strict=True)]
            result_absorbed = [
                r + weight * a for r, a in zip(result_absorbed, absorbed, strict=True)
            ]
        stage = result
        served_by += result_absorbed[0]
        abandoned_by += result_absorbed[1]
    waits = sum(ahead)
    return {
        "wait_probability": waits,
        "abandonment": 1 - (1 - waits) - served,
        "asa": wait_served / ((1 - waits) + served),
        "average_wait": queue / lam,  # Little's law
        "service_level": ((1 - waits) + served_by) / (1 - abandoned_by),
        # The parts of the other service level definitions: answered within the target, and
        # abandoned within it.
        "_answered_by": (1 - waits) + served_by,
        "_abandoned_by": abandoned_by,
    }


def normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


# Erlang C: the published example ---------------------------------------------------------------


def test_the_worked_example_with_14_agents() -> None:
    figures = erlang_c(**EXAMPLE, agents=14, target=20)
    assert figures.traffic == pytest.approx(10.0)
    assert round(figures.service_level, 3) == 0.888
    assert round(figures.wait_probability, 3) == 0.174
    assert round(figures.occupancy, 3) == 0.714
    # ASA = C·AHT/(N - A) = 0.17413·180/4 = 7.84 s (not the 8.7 s sometimes quoted for it).
    assert figures.asa == pytest.approx(0.17413193 * 180 / 4, rel=1e-6)
    assert round(figures.asa, 1) == 7.8
    assert figures.average_wait == figures.asa
    assert figures.abandonment == 0.0
    assert (figures.model, figures.patience, figures.target) == ("erlang-c", None, 20.0)


def test_the_worked_example_needs_14_agents_since_13_answer_only_79_6_percent() -> None:
    assert round(erlang_c(**EXAMPLE, agents=13).service_level, 3) == 0.796
    assert agents_for(**EXAMPLE, target=20, service_level=0.8).agents == 14


def test_the_worked_example_with_30_percent_shrinkage_schedules_20_agents() -> None:
    # 14 / (1 - 0.3) is 20 exactly, though 14 / 0.7 is 20.000000000000004 in floating point.
    assert with_shrinkage(14, 0.3) == 20
    assert with_shrinkage(13, 0.3) == 19


@pytest.mark.parametrize(
    ("agents", "grade", "published"),
    [
        # The standard Erlang B table ("erlangs offered at grade of service"), as printed in
        # traffic engineering handbooks and on every Erlang B calculator site.
        (10, 0.001, 3.09),
        (10, 0.01, 4.46),
        (10, 0.02, 5.08),
        (10, 0.05, 6.22),
        (20, 0.01, 12.03),
        (20, 0.02, 13.18),
        (50, 0.01, 37.90),
        (50, 0.02, 40.26),
        (100, 0.001, 75.24),
        (100, 0.01, 84.06),
        (100, 0.02, 87.97),
        (100, 0.05, 95.24),
    ],
)
def test_erlang_b_reproduces_the_published_table(
    agents: int, grade: float, published: float
) -> None:
    low, high = 0.0, 2.0 * agents
    for _ in range(100):  # the load at which blocking is exactly `grade`
        middle = (low + high) / 2
        low, high = (middle, high) if erlang_b(middle, agents) < grade else (low, middle)
    assert round(low, 2) == published


# Erlang C: identities and large N --------------------------------------------------------------


def test_erlang_c_with_one_agent_is_m_m_1() -> None:
    # λ = 1/60 per s, AHT 45 s: ρ = 0.75, P(wait) = ρ, ASA = ρ·AHT/(1-ρ), SL = 1 - ρe^{-(μ-λ)t}.
    figures = erlang_c(arrivals=30, interval=1800, aht=45, agents=1, target=30)
    assert figures.wait_probability == pytest.approx(0.75, rel=1e-12)
    assert figures.asa == pytest.approx(0.75 * 45 / 0.25, rel=1e-12)
    assert figures.service_level == pytest.approx(1 - 0.75 * math.exp(-(1 / 45 - 1 / 60) * 30))


def test_erlang_c_with_two_agents_has_the_closed_form() -> None:
    # M/M/2 with ρ = A/2: P(wait) = 2ρ²/(1 + ρ).
    figures = erlang_c(arrivals=120, interval=3600, aht=45, agents=2)  # A = 1.5, ρ = 0.75
    assert figures.wait_probability == pytest.approx(2 * 0.75**2 / 1.75, rel=1e-12)


@pytest.mark.parametrize(("load", "agents"), [(10, 14), (40, 45), (180, 190), (2450, 2500)])
def test_erlang_c_matches_exact_rational_arithmetic(load: int, agents: int) -> None:
    expected = float(exact_erlang_c(load, agents))
    figures = erlang_c(arrivals=load, interval=3600, aht=3600, agents=agents)
    assert figures.traffic == load
    assert figures.wait_probability == pytest.approx(expected, rel=1e-11)


def test_erlang_b_at_thousands_of_servers_is_finite_and_matches_its_bounds() -> None:
    # Naive A^N/N! overflows long before N = 20000; the recursion does not.
    b = erlang_b(19_800.0, 20_000)
    assert 0 < b < 1
    # At N = A + β√A agents, √A·B → φ(β)/Φ(β) as A grows (Jagerman; Halfin and Whitt).
    beta = 1.0
    load = 10_000.0
    agents = int(load + beta * math.sqrt(load))
    phi = math.exp(-(beta**2) / 2) / math.sqrt(2 * math.pi)
    assert erlang_b(load, agents) * math.sqrt(load) == pytest.approx(
        phi / normal_cdf(beta), rel=0.02
    )


def test_erlang_c_at_thousands_of_agents_approaches_the_halfin_whitt_limit() -> None:
    # N = A + β√A agents: P(wait) → 1 / (1 + β·Φ(β)/φ(β)) as A grows.
    beta, load = 1.0, 40_000.0
    agents = round(load + beta * math.sqrt(load))
    phi = math.exp(-(beta**2) / 2) / math.sqrt(2 * math.pi)
    limit = 1 / (1 + beta * normal_cdf(beta) / phi)
    figures = erlang_c(arrivals=load, interval=1, aht=1, agents=agents)
    assert figures.wait_probability == pytest.approx(limit, abs=0.01)
    # The classic figures from C keep their usual relation at this size too.
    assert figures.asa == pytest.approx(figures.wait_probability / (agents - load))


def test_erlang_c_below_the_load_is_unstable_and_says_so() -> None:
    figures = erlang_c(**EXAMPLE, agents=10)  # A = 10 exactly: unstable too
    assert not figures.stable
    assert (figures.wait_probability, figures.service_level, figures.occupancy) == (1, 0, 1)
    assert figures.asa == math.inf == figures.average_wait
    data = figures.as_dict()
    assert data["asa"] is None
    assert data["average_wait"] is None
    json.dumps(data, allow_nan=False)


def test_no_arrivals_means_no_waiting() -> None:
    for figures in (
        erlang_c(arrivals=0, interval=1800, aht=180, agents=1),
        erlang_a(arrivals=0, interval=1800, aht=180, agents=1, patience=60),
    ):
        assert (figures.wait_probability, figures.asa, figures.service_level) == (0, 0, 1)
        assert figures.occupancy == 0
    assert agents_for(arrivals=0, interval=1800, aht=180).agents == 1


# Erlang A --------------------------------------------------------------------------------------


@pytest.mark.parametrize("agents", [11, 12, 14, 20])
def test_erlang_a_converges_to_erlang_c_as_patience_grows(agents: int) -> None:
    c = erlang_c(**EXAMPLE, agents=agents)
    a = erlang_a(**EXAMPLE, agents=agents, patience=1e10)
    for name in ("wait_probability", "service_level", "asa", "average_wait", "occupancy"):
        assert getattr(a, name) == pytest.approx(getattr(c, name), rel=1e-6), name
    assert a.abandonment == pytest.approx(c.average_wait / 1e10, rel=1e-6)
    assert (a.model, a.patience) == ("erlang-a", 1e10)


@pytest.mark.parametrize(
    ("agents", "patience", "target"),
    [
        (14, 600, 20),
        (12, 120, 20),
        (10, 60, 30),
        (6, 300, 20),
        (3, 90, 10),
        (14, 200, 0),
        (9, 30, 120),
    ],
)
def test_erlang_a_matches_a_brute_force_computation(
    agents: int, patience: float, target: float
) -> None:
    figures = erlang_a(**EXAMPLE, agents=agents, patience=patience, target=target)
    expected = brute_force_erlang_a(10.0, 180.0, agents, patience, target)
    for name, value in expected.items():
        if name.startswith("_"):
            continue
        assert getattr(figures, name) == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert figures.occupancy == pytest.approx(10 * (1 - expected["abandonment"]) / agents)


@pytest.mark.parametrize(
    ("agents", "patience", "target", "short"),
    [(12, 120, 20, 0), (12, 120, 20, 5), (10, 60, 30, 10), (6, 300, 20, 3), (9, 30, 20, 40)],
)
@pytest.mark.parametrize("abandons", ["ignored", "missed", "met"])
def test_erlang_a_service_level_follows_the_definition_of_abandons(
    agents: int, patience: float, target: float, short: float, abandons: str
) -> None:
    # By brute force, A(t) the probability of abandoning within t and P the probability of
    # being answered within the target: abandons within max(T, S) are left out ("ignored"),
    # or only those within S, counting the ones between S and T as missed or as met.
    at_target = brute_force_erlang_a(10.0, 180.0, agents, patience, target)
    at_short = brute_force_erlang_a(10.0, 180.0, agents, patience, short)
    answered = at_target["_answered_by"]
    within_t, within_s = at_target["_abandoned_by"], at_short["_abandoned_by"]
    expected = {
        "ignored": answered / (1 - max(within_t, within_s)),
        "missed": answered / (1 - within_s),
        "met": (answered + max(within_t - within_s, 0)) / (1 - within_s),
    }[abandons]
    figures = erlang_a(
        **EXAMPLE,
        agents=agents,
        patience=patience,
        target=target,
        abandons=abandons,
        short_abandon=short,
    )
    assert figures.service_level == pytest.approx(expected, rel=1e-9)
    assert (figures.abandons, figures.short_abandon) == (abandons, short)
    # The definition changes service level only.
    default = erlang_a(**EXAMPLE, agents=agents, patience=patience, target=target)
    assert (figures.abandonment, figures.asa) == (default.abandonment, default.asa)


@pytest.mark.parametrize("abandons", ["missed", "met"])
def test_erlang_c_has_no_abandons_so_every_definition_gives_its_service_level(
    abandons: str,
) -> None:
    default = erlang_c(**EXAMPLE, agents=14)
    figures = erlang_c(**EXAMPLE, agents=14, abandons=abandons, short_abandon=5)
    assert figures.service_level == pytest.approx(default.service_level, rel=1e-15)
    assert figures.abandons == abandons


def test_erlang_a_with_fewer_agents_than_the_load_is_finite_and_sensible() -> None:
    figures = erlang_a(**EXAMPLE, agents=8, patience=120)
    assert figures.stable
    assert 0.5 < figures.wait_probability < 1
    # At most N of the A Erlangs can be carried, so at least (A - N)/A must abandon.
    assert figures.abandonment > (10 - 8) / 10
    assert figures.occupancy < 1
    assert 0 < figures.asa < figures.average_wait * 2
    # Every waiting contact leaves at rate 1/patience: P(abandon) = E[wait]/patience.
    assert figures.average_wait == pytest.approx(figures.abandonment * 120, rel=1e-9)


def test_erlang_a_far_below_the_load_follows_the_fluid_limit() -> None:
    # 4000 agents for 4900 Erlangs: all agents busy, (A - N)/A of the arrivals abandon.
    figures = erlang_a(arrivals=4900, interval=180, aht=180, agents=4000, patience=300)
    assert figures.abandonment == pytest.approx(900 / 4900, rel=1e-6)
    assert figures.occupancy == pytest.approx(1.0)
    assert figures.average_wait == pytest.approx(900 / 4900 * 300, rel=1e-6)


def test_erlang_a_at_thousands_of_agents_is_close_to_erlang_c_with_patience_to_spare() -> None:
    a = erlang_a(arrivals=4900, interval=180, aht=180, agents=5000, patience=1e9, target=20)
    c = erlang_c(arrivals=4900, interval=180, aht=180, agents=5000, target=20)
    assert a.wait_probability == pytest.approx(c.wait_probability, rel=1e-5)
    assert a.asa == pytest.approx(c.asa, rel=1e-5)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-9)


@pytest.mark.parametrize("load", [995.0, 999.5])
def test_erlang_a_with_a_long_target_does_not_lose_the_figures_to_underflow(load: float) -> None:
    # Nμt = 1000·300/180 is far beyond exp's range (e^-1667 is 0 in floating point), and tens of
    # thousands of contacts may wait: the tail of the service level must still come out exact.
    # With next to no abandonment, Erlang C's 1 - C·e^{-(N-A)t/AHT} is the answer. (The gap
    # shrinks in proportion to 1/patience: it is the model's, not rounding.)
    a = erlang_a(arrivals=load, interval=180, aht=180, agents=1000, patience=1e16, target=300)
    c = erlang_c(arrivals=load, interval=180, aht=180, agents=1000, target=300)
    assert 1 - a.service_level == pytest.approx(1 - c.service_level, rel=1e-9)
    assert a.wait_probability == pytest.approx(c.wait_probability, rel=1e-9)
    assert a.asa == pytest.approx(c.asa, rel=1e-9)


# Staffing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("patience", [None, 60.0, 600.0])
@pytest.mark.parametrize("goal", [0.5, 0.8, 0.9, 0.95])
def test_agents_for_finds_the_fewest_agents(patience: float | None, goal: float) -> None:
    found = agents_for(**EXAMPLE, target=20, service_level=goal, patience=patience)

    def at(agents: int) -> Figures:
        if patience is None:
            return erlang_c(**EXAMPLE, agents=agents)
        return erlang_a(**EXAMPLE, agents=agents, patience=patience)

    assert found == at(found.agents)
    assert found.service_level >= goal
    assert found.agents == 1 or at(found.agents - 1).service_level < goal


def test_agents_for_meets_every_goal_given() -> None:
    occupancy = agents_for(**EXAMPLE, service_level=None, max_occupancy=0.6)
    assert occupancy.agents == 17  # 10/17 = 0.588, 10/16 = 0.625
    asa = agents_for(**EXAMPLE, service_level=None, asa=5.0)
    assert asa.agents == 15  # ASA 3.7 s with 15, 7.8 s with 14
    both = agents_for(**EXAMPLE, service_level=0.8, max_occupancy=0.65)
    assert both.agents == 16
    assert agents_for(**EXAMPLE, service_level=0.8, patience=300).model == "erlang-a"


@pytest.mark.parametrize(
    ("load", "patience", "goal", "service_level"),
    [
        (10.0, 120.0, 0.05, None),
        (10.0, 120.0, 0.01, None),
        (10.0, 30.0, 0.10, None),
        (10.0, 600.0, 0.02, 0.8),  # both goals: the abandonment one needs more agents
        (10.0, 60.0, 0.20, 0.9),  # both goals: the service level one needs more agents
        (45.0, 200.0, 0.03, None),
        (0.5, 60.0, 0.05, None),
    ],
)
def test_agents_for_an_abandonment_goal_is_the_fewest_agents_a_search_finds(
    load: float, patience: float, goal: float, service_level: float | None
) -> None:
    arrivals = load * 1800 / 180

    def meets(agents: int) -> bool:
        figures = erlang_a(
            arrivals=arrivals, interval=1800, aht=180, agents=agents, patience=patience
        )
        return figures.abandonment <= goal and (
            service_level is None or figures.service_level >= service_level
        )

    fewest = next(n for n in range(1, 1000) if meets(n))  # brute force, agent by agent
    found = agents_for(
        arrivals=arrivals,
        interval=1800,
        aht=180,
        patience=patience,
        abandonment=goal,
        service_level=service_level,
    )
    assert found.agents == fewest
    assert found.abandonment <= goal


def test_an_abandonment_goal_needs_patience() -> None:
    with pytest.raises(ErlangError, match="abandonment goal needs patience"):
        agents_for(**EXAMPLE, abandonment=0.05)


def test_agents_for_at_thousands_of_agents() -> None:
    found = agents_for(arrivals=4900, interval=180, aht=180, target=20, service_level=0.8)
    assert found.service_level >= 0.8
    assert (
        erlang_c(arrivals=4900, interval=180, aht=180, agents=found.agents - 1).service_level < 0.8
    )
    assert 4900 < found.agents < 4950


# Properties ------------------------------------------------------------------------------------

loads = st.floats(min_value=0.0, max_value=60.0)
ahts = st.floats(min_value=10.0, max_value=900.0)
patiences = st.one_of(st.none(), st.floats(min_value=5.0, max_value=3600.0))
targets = st.floats(min_value=0.0, max_value=300.0)


def figures_at(
    load: float, aht: float, agents: int, patience: float | None, target: float
) -> Figures:
    arrivals = load * 1800 / aht
    if patience is None:
        return erlang_c(arrivals=arrivals, interval=1800, aht=aht, agents=agents, target=target)
    return erlang_a(
        arrivals=arrivals, interval=1800, aht=aht, agents=agents, patience=patience, target=target
    )


@settings(max_examples=150, deadline=None)
@given(loads, ahts, st.integers(1, 80), patiences, targets)
def test_figures_are_probabilities_and_add_up(
    load: float, aht: float, agents: int, patience: float | None, target: float
) -> None:
    figures = figures_at(load, aht, agents, patience, target)
    for name in ("wait_probability", "service_level", "occupancy", "abandonment"):
        assert 0.0 <= getattr(figures, name) <= 1.0, name
    assert figures.asa >= 0
    assert figures.average_wait >= 0
    if patience is not None:
        assert figures.stable
        served = 1 - figures.abandonment
        assert figures.occupancy == pytest.approx(min(load * served / agents, 1.0), abs=1e-12)
        assert figures.average_wait == pytest.approx(
            figures.abandonment * patience, rel=1e-7, abs=1e-9
        )
        assert figures.abandonment <= figures.wait_probability + 1e-12
    json.dumps(figures.as_dict(), allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(loads, ahts, st.integers(1, 60), patiences, targets)
def test_more_agents_never_make_things_worse(
    load: float, aht: float, agents: int, patience: float | None, target: float
) -> None:
    fewer = figures_at(load, aht, agents, patience, target)
    more = figures_at(load, aht, agents + 1, patience, target)
    assert more.service_level >= fewer.service_level - 1e-9
    assert more.wait_probability <= fewer.wait_probability + 1e-9
    assert more.asa <= fewer.asa * (1 + 1e-9) + 1e-9
    assert more.occupancy <= fewer.occupancy + 1e-9  # agents_for relies on this
    assert more.abandonment <= fewer.abandonment + 1e-9


@settings(max_examples=100, deadline=None)
@given(loads, ahts, st.integers(1, 60), patiences, targets, targets)
def test_a_longer_target_never_lowers_the_service_level(
    load: float, aht: float, agents: int, patience: float | None, first: float, second: float
) -> None:
    short, long = sorted((first, second))
    assert (
        figures_at(load, aht, agents, patience, long).service_level
        >= figures_at(load, aht, agents, patience, short).service_level - 1e-9
    )


@given(st.integers(0, 10_000), st.floats(0, 0.95), st.floats(0, 0.95))
def test_shrinkage_is_monotone(agents: int, first: float, second: float) -> None:
    low, high = sorted((first, second))
    assert agents <= with_shrinkage(agents, low) <= with_shrinkage(agents, high)
    assert with_shrinkage(agents, low) <= with_shrinkage(agents + 1, low)
    assert with_shrinkage(agents, low) * (1 - low) >= agents - 1e-9


def test_shrinkage_edges() -> None:
    assert with_shrinkage(14, 0) == 14
    assert with_shrinkage(0, 0.5) == 0
    assert with_shrinkage(10, 0.5) == 20
    assert with_shrinkage(10, 0.25) == 14  # 13.33


# Bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: traffic(100, 0, 180), "interval must be greater than 0, not 0"),
        (lambda: traffic(100, -1800, 180), "interval must be greater than 0"),
        (lambda: traffic(-1, 1800, 180), "arrivals must be 0 or more, not -1"),
        (lambda: traffic(100, 1800, 0), "aht must be greater than 0"),
        (lambda: traffic(math.nan, 1800, 180), "arrivals must be a finite number"),
        (lambda: traffic(100, math.inf, 180), "interval must be a finite number"),
        (lambda: erlang_c(**EXAMPLE, agents=0), "agents must be at least 1, not 0"),
        (lambda: erlang_c(**EXAMPLE, agents=14.5), "agents must be a whole number"),  # type: ignore[arg-type]
        (lambda: erlang_c(**EXAMPLE, agents=14, target=-1), "target must be 0 or more"),
        (lambda: erlang_a(**EXAMPLE, agents=14, patience=0), "patience must be greater than 0"),
        (lambda: erlang_a(**EXAMPLE, agents=14, patience=-5), "patience must be greater than 0"),
        (lambda: agents_for(**EXAMPLE, service_level=1.0), "service_level must be in (0, 1)"),
        (lambda: agents_for(**EXAMPLE, service_level=0), "service_level must be in (0, 1)"),
        (lambda: agents_for(**EXAMPLE, max_occupancy=1.5), "max_occupancy must be in (0, 1]"),
        (lambda: agents_for(**EXAMPLE, asa=0), "asa must be greater than 0"),
        (lambda: agents_for(**EXAMPLE, service_level=None), "give at least one goal"),
        (
            lambda: agents_for(**EXAMPLE, patience=60, abandonment=0),
            "abandonment must be in (0, 1), not 0",
        ),
        (
            lambda: erlang_a(**EXAMPLE, agents=14, patience=60, abandons="negative"),
            'abandons must be one of "ignored", "missed", "met", not \'negative\'',
        ),
        (
            lambda: erlang_c(**EXAMPLE, agents=14, short_abandon=-1),
            "short_abandon must be 0 or more, not -1",
        ),
        (lambda: with_shrinkage(14, 1.0), "shrinkage must be in [0, 1)"),
        (lambda: with_shrinkage(14, -0.1), "shrinkage must be in [0, 1)"),
        (lambda: with_shrinkage(-1, 0.3), "agents must be at least 0"),
        (lambda: erlang_b(5.0, -1), "servers must be at least 0"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(call: object, message: str) -> None:
    with pytest.raises(ErlangError) as caught:
        call()  # type: ignore[operator]
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, TrunklineError)


def test_erlang_a_refuses_a_queue_too_long_to_compute() -> None:
    with pytest.raises(ErlangError, match="too long for Erlang A"):
        erlang_a(arrivals=1000, interval=60, aht=180, agents=1, patience=1e9)


# The command line ------------------------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["erlang", *args], obj=_State(None))
    return result.exit_code, result.stdout, result.stderr


def test_the_command_prints_the_worked_example() -> None:
    code, out, _ = invoke(
        "--arrivals", "100", "--interval", "1800", "--aht", "180", "--agents", "14"
    )
    assert code == 0
    assert out.splitlines()[0].split() == ["model", "Erlang", "C", "(no", "abandonment)"]
    for shown in ("17.4%", "88.8% within 20 s", "71.4%", "7.8 s"):
        assert shown in out


def test_the_command_prints_json_with_every_documented_field() -> None:
    code, out, _ = invoke(
        "--arrivals", "100", "--interval", "1800", "--aht", "180", "--shrinkage", "0.3", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert list(data) == [
        "model",
        "arrivals",
        "interval",
        "aht",
        "agents",
        "traffic",
        "wait_probability",
        "asa",
        "service_level",
        "occupancy",
        "abandonment",
        "average_wait",
        "target",
        "patience",
        "abandons",
        "short_abandon",
        "service_level_goal",
        "abandonment_goal",
        "shrinkage",
        "scheduled_agents",
    ]
    assert (data["agents"], data["scheduled_agents"]) == (14, 20)
    assert (data["service_level_goal"], data["model"]) == (0.8, "erlang-c")
    assert data["service_level"] == pytest.approx(0.88835, abs=1e-5)


def test_the_command_uses_erlang_a_with_patience_and_a_service_level_goal() -> None:
    code, out, _ = invoke(
        *("--arrivals", "100", "--interval", "1800", "--aht", "180"),
        *("--patience", "120", "--service-level", "0.9", "--target", "30", "--json"),
    )
    assert code == 0
    data = json.loads(out)
    expected = agents_for(**EXAMPLE, target=30, service_level=0.9, patience=120)
    assert (data["model"], data["patience"]) == ("erlang-a", 120)
    assert data["agents"] == expected.agents
    assert data["abandonment"] == pytest.approx(expected.abandonment)


def test_the_command_staffs_for_an_abandonment_goal_alone_or_with_a_service_level() -> None:
    base = ("--arrivals", "100", "--interval", "1800", "--aht", "180", "--patience", "120")
    code, out, err = invoke(*base, "--abandonment", "0.02", "--json")
    assert code == 0, err
    data = json.loads(out)
    alone = agents_for(**EXAMPLE, patience=120, service_level=None, abandonment=0.02)
    assert (data["agents"], data["abandonment_goal"], data["service_level_goal"]) == (
        alone.agents,
        0.02,
        None,
    )
    assert data["abandonment"] <= 0.02
    code, out, err = invoke(*base, "--abandonment", "0.1", "--service-level", "0.9", "--json")
    assert code == 0, err
    data = json.loads(out)
    both = agents_for(**EXAMPLE, patience=120, service_level=0.9, abandonment=0.1)
    assert (data["agents"], data["service_level_goal"]) == (both.agents, 0.9)
    code, out, _ = invoke(*base, "--abandonment", "0.02")
    assert f"{alone.agents} (the fewest for at most 2% abandoning)" in out


def test_the_command_counts_abandons_for_service_level_as_asked() -> None:
    base = ("--arrivals", "100", "--interval", "1800", "--aht", "180", "--agents", "11")
    code, out, err = invoke(
        *base, "--patience", "60", "--abandons", "met", "--short-abandon", "5", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    expected = erlang_a(
        **EXAMPLE, agents=11, patience=60, abandons="met", short_abandon=5, target=20
    )
    assert (data["abandons"], data["short_abandon"]) == ("met", 5)
    assert data["service_level"] == expected.service_level
    code, out, err = invoke(*base, "--patience", "60", "--abandons", "missed")
    assert "service level" in out
    assert "abandons within 20 s count as missed" in out


def test_the_command_reports_an_unstable_erlang_c_queue_in_valid_json() -> None:
    code, out, _ = invoke(
        "--arrivals", "100", "--interval", "1800", "--aht", "180", "--agents", "9", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert (data["asa"], data["average_wait"], data["service_level"]) == (None, None, 0)
    code, out, _ = invoke(
        "--arrivals", "100", "--interval", "1800", "--aht", "180", "--agents", "9"
    )
    assert "unbounded" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "0", "--agents", "14"], "interval must be greater than 0"),
        (["--interval", "1800", "--agents", "0"], "agents must be at least 1"),
        (["--interval", "1800", "--agents", "14", "--patience", "-1"], "patience must be"),
        (["--interval", "1800", "--service-level", "1.5"], "service_level must be in (0, 1)"),
        (["--interval", "1800", "--agents", "14", "--service-level", "0.8"], "--service-level"),
        (["--interval", "1800", "--agents", "14", "--shrinkage", "1"], "shrinkage must be"),
        (["--interval", "1800", "--abandonment", "0.05"], "abandonment goal needs patience"),
        (
            ["--interval", "1800", "--agents", "14", "--abandonment", "0.05"],
            "--abandonment is a goal without --agents",
        ),
        (["--interval", "1800", "--abandons", "negative"], "abandons must be one of"),
    ],
)
def test_the_command_refuses_bad_input_with_status_2(args: list[str], message: str) -> None:
    code, out, err = invoke("--arrivals", "100", "--aht", "180", *args)
    assert code == 2
    assert out == ""
    assert err.startswith("trunkline: error: ")
    assert message in err
