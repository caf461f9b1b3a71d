"""Workforce math: Erlang C, Erlang A, the agents a goal needs, and shrinkage.

Pure Python and import-light (attrs, :class:`trunkline.TrunklineError` and
:mod:`trunkline.servicelevel` only), so a command line or a simulator can use it without
starting anything. See ``docs/workforce.md``.

The two models:

* **Erlang C** (M/M/N): Poisson arrivals, exponential handling times, ``N`` agents and an
  infinite FCFS queue nobody leaves. With ``N <= A`` agents (``A`` the offered load in
  Erlangs) the queue grows without bound: :func:`erlang_c` then returns figures that say so
  (wait probability 1, service level 0, occupancy 1, infinite waits) rather than raising.
* **Erlang A** (M/M/N+M): the same, plus exponential patience: each waiting contact abandons
  at rate ``1/patience``. It is stable with any number of agents.

Every figure has one definition, shared with the production metrics and the simulator:

``wait_probability``
    the probability that an arriving contact finds every agent busy (it waits more than 0).
``asa``
    the mean wait, in seconds, of the contacts that are answered (those answered at once
    count, with 0).
``service_level``
    by the queue's definition (:func:`trunkline.servicelevel.service_level_parts`, with
    ``abandons`` and ``short_abandon``); by default (contacts answered within ``target``
    seconds) / (arrivals - contacts that abandoned within ``target`` seconds).
``abandonment``
    the probability that an arriving contact abandons (0 in Erlang C).
``occupancy``
    carried load / agents = ``A * (1 - abandonment) / N``.
``average_wait``
    the mean wait over all arrivals, abandoners counted until they leave.

How Erlang A is computed: the number of contacts in the system is a birth-death chain (births
at rate λ, deaths at ``min(n, N)·μ + max(n - N, 0)·θ``), truncated where its tail is below
1e-17 of the whole. An arrival that finds ``j`` contacts waiting ahead of it (PASTA) is served
with probability ``Nμ / (Nμ + (j+1)θ)``. Its wait ``S`` to service if it never abandoned is a
sum of exponential stages of rates ``Nμ, Nμ + θ, …, Nμ + jθ``, and ``1 - exp(-θS)`` is
Beta(j+1, Nμ/θ) distributed, so every probability "within ``t``" is a regularized incomplete
beta function, computed exactly (and without cancellation) as a negative binomial tail.
The service level's parts are P(answered within ``target``), P(abandoned within ``target``)
and P(abandoned within ``short_abandon``); the rest follow from the abandonment probability.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import attrs

from trunkline import TrunklineError
from trunkline.servicelevel import ABANDONS, service_level_parts

__all__ = [
    "ErlangError",
    "Figures",
    "agents_for",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "traffic",
    "with_shrinkage",
]

#: States of the Erlang A chain beyond this many waiting contacts are refused (too slow).
MAX_QUEUE_STATES = 2_000_000
#: ``agents_for`` gives up beyond this many agents.
MAX_AGENTS = 10_000_000
#: Probability mass left out when the Erlang A chain is truncated.
_TAIL = 1e-17
#: Slack when comparing a figure with a goal, so that 0.8 meets a goal of 0.8.
_SLACK = 1e-12


class ErlangError(TrunklineError, ValueError):
    """Input the workforce math cannot work with: the message names the argument."""


@attrs.frozen
class Figures:
    """What a model predicts for one interval with ``agents`` agents. Times in seconds.

    ``asa`` and ``average_wait`` are ``math.inf`` for an unstable Erlang C queue (``agents <=
    traffic``); :meth:`as_dict` writes them as ``None`` (JSON ``null``).
    """

    agents: int
    traffic: float
    wait_probability: float
    asa: float
    service_level: float
    occupancy: float
    abandonment: float
    average_wait: float
    target: float
    model: str  # "erlang-c" or "erlang-a"
    patience: float | None  # mean patience in seconds (Erlang A), None for Erlang C
    abandons: str = "ignored"  # how abandons within ``target`` count for service level
    short_abandon: float = 0.0  # abandons sooner than this (seconds) do not count for it

    @property
    def stable(self) -> bool:
        """False for an Erlang C queue that grows without bound (always True for Erlang A)."""
        return math.isfinite(self.asa)

    def as_dict(self) -> dict[str, Any]:
        """The figures as a JSON-able dict (infinite values become ``None``)."""
        return {
            field.name: _json_number(getattr(self, field.name))
            for field in attrs.fields(type(self))
        }


def _json_number(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# Checking input --------------------------------------------------------------------------------


def _number(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ErlangError(f"{name} must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ErlangError(f"{name} must be a finite number, not {value!r}")
    return number


def _positive(name: str, value: float) -> float:
    number = _number(name, value)
    if number <= 0:
        raise ErlangError(f"{name} must be greater than 0, not {value!r}")
    return number


def _not_negative(name: str, value: float) -> float:
    number = _number(name, value)
    if number < 0:
        raise ErlangError(f"{name} must be 0 or more, not {value!r}")
    return number


def _count(name: str, value: int, *, least: int) -> int:
    if isinstance(value, bool):
        raise ErlangError(f"{name} must be a whole number, not {value!r}")
    try:
        count = operator.index(value)
    except TypeError:
        raise ErlangError(f"{name} must be a whole number, not {value!r}") from None
    if count < least:
        raise ErlangError(f"{name} must be at least {least}, not {count}")
    return count


def _abandons(value: str) -> str:
    if value not in ABANDONS:
        known = ", ".join(f'"{a}"' for a in ABANDONS)
        raise ErlangError(f"abandons must be one of {known}, not {value!r}")
    return value


def _fraction(name: str, value: float, *, low_open: bool, high: float, high_open: bool) -> float:
    number = _number(name, value)
    low_ok = number > 0 if low_open else number >= 0
    high_ok = number < high if high_open else number <= high
    if not (low_ok and high_ok):
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ErlangError(f"{name} must be in {left}0, {high:g}{right}, not {value!r}")
    return number


# The models ------------------------------------------------------------------------------------


def traffic(arrivals: float, interval: float, aht: float) -> float:
    """The offered load in Erlangs: ``arrivals * aht / interval`` (``interval`` and ``aht`` in
    seconds, ``arrivals`` contacts per ``interval``)."""
    lam = _not_negative("arrivals", arrivals) / _positive("interval", interval)
    return lam * _positive("aht", aht)


def erlang_b(load: float, servers: int) -> float:
    """Erlang B, the blocking probability of ``servers`` servers offered ``load`` Erlangs.

    Computed by the recursion ``B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1))``, which is stable
    for any number of servers (no factorials, no powers).
    """
    load = _not_negative("load", load)
    servers = _count("servers", servers, least=0)
    return _erlang_b(load, servers)


def _erlang_b(load: float, servers: int) -> float:
    b = 1.0
    for n in range(1, servers + 1):
        b = load * b / (n + load * b)
    return b


def erlang_c(
    *,
    arrivals: float,
    interval: float,
    aht: float,
    agents: int,
    target: float = 20.0,
    abandons: str = "ignored",
    short_abandon: float = 0.0,
) -> Figures:
    """Erlang C (M/M/N) figures for ``agents`` agents; nobody abandons.

    ``arrivals`` contacts arrive in ``interval`` seconds, each handled in ``aht`` seconds on
    average; ``target`` is the service level's answer time in seconds. With ``agents <=
    traffic`` the queue is unstable: the figures are wait probability 1, service level 0,
    occupancy 1 and infinite ``asa``/``average_wait`` (see :attr:`Figures.stable`).
    ``abandons`` and ``short_abandon`` define service level as a queue's
    ``service_level_abandons`` and ``service_level_short_abandon`` do; with nobody
    abandoning, every definition gives the same figure.
    """
    load = traffic(arrivals, interval, aht)
    agents = _count("agents", agents, least=1)
    target = _not_negative("target", target)
    abandons = _abandons(abandons)
    short_abandon = _not_negative("short_abandon", short_abandon)
    return _erlang_c(load, float(aht), agents, target, abandons, short_abandon)


def _erlang_c(
    load: float, aht: float, agents: int, target: float, abandons: str, short_abandon: float
) -> Figures:
    if agents <= load:
        return Figures(
            agents=agents,
            traffic=load,
            wait_probability=1.0,
            asa=math.inf,
            service_level=0.0,
            occupancy=1.0,
            abandonment=0.0,
            average_wait=math.inf,
            target=target,
            model="erlang-c",
            patience=None,
            abandons=abandons,
            short_abandon=short_abandon,
        )
    b = _erlang_b(load, agents)
    c = agents * b / (agents - load * (1.0 - b))
    asa = c * aht / (agents - load)
    late = c * math.exp(-(agents - load) * target / aht)  # P(wait > target)
    met, counted = service_level_parts(
        abandons,
        answered_within=1.0 - late,
        answered_late=late,
        abandoned_within=0.0,
        abandoned_late=0.0,
    )
    return Figures(
        agents=agents,
        traffic=load,
        wait_probability=c,
        asa=asa,
        service_level=_clamp(met / counted),
        occupancy=load / agents,
        abandonment=0.0,
        average_wait=asa,
        target=target,
        model="erlang-c",
        patience=None,
        abandons=abandons,
        short_abandon=short_abandon,
    )


def erlang_a(
    *,
    arrivals: float,
    interval: float,
    aht: float,
    agents: int,
    patience: float,
    target: float = 20.0,
    abandons: str = "ignored",
    short_abandon: float = 0.0,
) -> Figures:
    """Erlang A (M/M/N+M) figures: Erlang C where each waiting contact abandons after an
    exponential time of mean ``patience`` seconds. Stable (finite) with any ``agents``.

    ``abandons`` (``"ignored"``, ``"missed"`` or ``"met"``) says how contacts abandoning
    within ``target`` count for service level, and abandons sooner than ``short_abandon``
    seconds do not count at all, as a queue's ``service_level_abandons`` and
    ``service_level_short_abandon`` say.

    Raises :class:`ErlangError` when the queue would need more than
    :data:`MAX_QUEUE_STATES` states (a very long patience with far too few agents).
    """
    load = traffic(arrivals, interval, aht)
    agents = _count("agents", agents, least=1)
    patience = _positive("patience", patience)
    target = _not_negative("target", target)
    abandons = _abandons(abandons)
    short_abandon = _not_negative("short_abandon", short_abandon)
    return _erlang_a(load, float(aht), agents, patience, target, abandons, short_abandon)


def _erlang_a(
    load: float,
    aht: float,
    agents: int,
    patience: float,
    target: float,
    abandons: str = "ignored",
    short_abandon: float = 0.0,
) -> Figures:
    def figures(
        wait_probability: float,
        asa: float,
        service_level: float,
        abandonment: float,
        average_wait: float,
    ) -> Figures:
        return Figures(
            agents=agents,
            traffic=load,
            wait_probability=_clamp(wait_probability),
            asa=asa,
            service_level=_clamp(service_level),
            occupancy=_clamp(load * (1.0 - abandonment) / agents),
            abandonment=_clamp(abandonment),
            average_wait=average_wait,
            target=target,
            model="erlang-a",
            patience=patience,
            abandons=abandons,
            short_abandon=short_abandon,
        )

    if load == 0.0:
        return figures(0.0, 0.0, 1.0, 0.0, 0.0)
    # Rates per second: μ service, θ abandonment, λ arrivals; ν = Nμ empties the queue.
    mu = 1.0 / aht
    theta = 1.0 / patience
    lam = load * mu
    nu = agents * mu
    beta = nu / theta

    # The chain, relative to π(N): log Σ_{n<N} π(n)/π(N) = log(N / (A·B(N-1))), and for j >= 0
    # waiting, log π(N+j)/π(N) = Σ_{i<=j} log(λ / (Nμ + iθ)).
    b_before = _erlang_b(load, agents - 1)
    if b_before == 0.0:  # every agent busy is below 1e-308: nobody waits
        return figures(0.0, 0.0, 1.0, 0.0, 0.0)
    log_head = math.log(agents) - math.log(load) - math.log(b_before)
    if (lam - nu) / theta > MAX_QUEUE_STATES:  # the queue's mode alone is beyond the limit
        raise _too_long(patience, agents, load)
    log_weights = [0.0]
    log_top = max(log_head, 0.0)
    log_weight = 0.0
    while True:
        j = len(log_weights)
        ratio = lam / (nu + j * theta)
        log_weight += math.log(ratio)
        log_weights.append(log_weight)
        log_top = max(log_top, log_weight)
        # Past the mode the ratios fall, so the rest is below weight·ratio / (1 - ratio).
        if ratio < 1.0:
            rest = log_weight + math.log(ratio) - math.log1p(-ratio)
            if rest < log_top + math.log(_TAIL):
                break
        if j >= MAX_QUEUE_STATES:
            raise _too_long(patience, agents, load)
    weights = [math.exp(w - log_top) for w in log_weights]
    total = math.exp(log_head - log_top) + math.fsum(weights)
    waiting = [w / total for w in weights]  # waiting[j]: an arrival finds j contacts waiting

    # y = 1 - exp(-θt); the two negative binomial distributions NB(β, y) and NB(β + 1, y)
    # give 1 - I_y(m, β) and 1 - I_y(m, β + 1) as their distribution functions at m - 1.
    y = -math.expm1(-theta * target)
    cdf = _cdf(beta, y, target * nu)
    cdf_plus = _cdf(beta + 1.0, y, target * (nu + theta))
    # The same at the short-abandon threshold, when there is one.
    short = short_abandon > 0.0
    y_short = -math.expm1(-theta * short_abandon)
    cdf_short = _cdf(beta, y_short, short_abandon * nu)
    cdf_plus_short = _cdf(beta + 1.0, y_short, short_abandon * (nu + theta))
    abandoned_short = 0.0

    wait_probability = math.fsum(waiting)
    abandon = served_by_t = abandoned_by_t = wait_sum = served_wait_sum = 0.0
    stages = 0.0  # Σ_{i=1..m} 1/(Nμ + iθ): the mean of S for an arrival with m - 1 ahead
    for j, p in enumerate(waiting):
        m = j + 1
        stages += 1.0 / (nu + m * theta)
        served = beta / (beta + m)  # P(served | m - 1 ahead), in (0, 1)
        reached = 1.0 - next(cdf)  # P(S <= t) = I_y(m, β)
        served_in_time = served * (1.0 - next(cdf_plus))  # E[e^{-θS}; S <= t]
        waited_out = 1.0 - (1.0 - y) * (1.0 - reached)  # P(min(S, patience) <= t)
        abandon += p * (1.0 - served)
        served_by_t += p * served_in_time
        abandoned_by_t += p * max(waited_out - served_in_time, 0.0)
        if short:
            served_soon = served * (1.0 - next(cdf_plus_short))
            left_soon = 1.0 - (1.0 - y_short) * next(cdf_short)
            abandoned_short += p * max(left_soon - served_soon, 0.0)
        wait_sum += p * m / (nu + m * theta)
        served_wait_sum += p * served * stages
    answered = 1.0 - abandon
    answered_within = 1.0 - wait_probability + served_by_t
    met, counted = service_level_parts(
        abandons,
        answered_within=answered_within,
        answered_late=max(answered - answered_within, 0.0),
        abandoned_within=max(abandoned_by_t - abandoned_short, 0.0),
        abandoned_late=max(abandon - max(abandoned_by_t, abandoned_short), 0.0),
    )
    return figures(
        wait_probability=wait_probability,
        asa=served_wait_sum / answered,
        service_level=met / counted if counted > 0.0 else 1.0,
        abandonment=abandon,
        average_wait=wait_sum,
    )


def _too_long(patience: float, agents: int, load: float) -> ErlangError:
    return ErlangError(
        f"patience {patience:g} s is too long for Erlang A with {agents} agents at {load:g} "
        f"Erlangs (more than {MAX_QUEUE_STATES} contacts would wait): add agents or use Erlang C"
    )


def _cdf(shape: float, y: float, minus_log_p0: float) -> Iterator[float]:
    """The distribution function at 0, 1, 2, … of the negative binomial distribution with
    ``P(k) = Γ(k + shape) / (k! Γ(shape)) · y^k · (1 - y)^shape``; ``minus_log_p0`` is
    ``-shape·log(1 - y)``, passed exactly. Terms are kept as ``value · exp(log_scale)`` so that
    a first term below 1e-308 does not zero the rest."""
    if y <= 0.0:
        while True:
            yield 1.0
    log_scale = -minus_log_p0
    scale = math.exp(log_scale)
    value = 1.0
    total = 0.0
    k = 0
    while True:
        total += value * scale
        yield min(total, 1.0)
        value *= y * (k + shape) / (k + 1)
        k += 1
        if value > 1e250:
            log_scale += math.log(value)
            scale = math.exp(log_scale)
            value = 1.0


def _clamp(value: float) -> float:
    return min(max(value, 0.0), 1.0)


# Staffing --------------------------------------------------------------------------------------


def agents_for(
    *,
    arrivals: float,
    interval: float,
    aht: float,
    target: float = 20.0,
    service_level: float | None = 0.8,
    patience: float | None = None,
    max_occupancy: float | None = None,
    asa: float | None = None,
    abandonment: float | None = None,
    abandons: str = "ignored",
    short_abandon: float = 0.0,
) -> Figures:
    """The figures with the fewest agents that meet every goal given.

    Goals: ``service_level`` (at least this share answered within ``target`` seconds, in
    (0, 1), by the definition ``abandons`` and ``short_abandon`` give), ``max_occupancy`` (at
    most, in (0, 1]), ``asa`` (at most this many seconds) and ``abandonment`` (at most this
    share abandons, in (0, 1); it needs ``patience``). The model is Erlang A when
    ``patience`` is given, else Erlang C (whose unstable staffing meets no goal). Each figure
    improves as agents are added, so the search doubles then bisects.
    """
    load = traffic(arrivals, interval, aht)
    target = _not_negative("target", target)
    abandons = _abandons(abandons)
    short_abandon = _not_negative("short_abandon", short_abandon)
    if patience is not None:
        patience = _positive("patience", patience)
    if service_level is not None:
        service_level = _fraction(
            "service_level", service_level, low_open=True, high=1.0, high_open=True
        )
    if max_occupancy is not None:
        max_occupancy = _fraction(
            "max_occupancy", max_occupancy, low_open=True, high=1.0, high_open=False
        )
    if asa is not None:
        asa = _positive("asa", asa)
    if abandonment is not None:
        abandonment = _fraction("abandonment", abandonment, low_open=True, high=1.0, high_open=True)
        if patience is None:
            raise ErlangError(
                "an abandonment goal needs patience (Erlang A): Erlang C has nobody abandon"
            )
    goals = (service_level, max_occupancy, asa, abandonment)
    if all(goal is None for goal in goals):
        raise ErlangError(
            "give at least one goal: service_level, max_occupancy, asa or abandonment"
        )

    def at(agents: int) -> Figures:
        if patience is None:
            return _erlang_c(load, float(aht), agents, target, abandons, short_abandon)
        return _erlang_a(load, float(aht), agents, patience, target, abandons, short_abandon)

    def meets(figures: Figures) -> bool:
        return (
            figures.stable
            and (service_level is None or figures.service_level >= service_level - _SLACK)
            and (max_occupancy is None or figures.occupancy <= max_occupancy + _SLACK)
            and (asa is None or figures.asa <= asa + _SLACK * max(asa, 1.0))
            and (abandonment is None or figures.abandonment <= abandonment + _SLACK)
        )

    failing = 0 if patience is not None else math.floor(load)  # known to fail (or 0)
    step = 1
    best = at(failing + step)
    while not meets(best):
        failing += step
        step *= 2
        if failing + step > MAX_AGENTS:
            raise ErlangError(f"no staffing of up to {MAX_AGENTS} agents meets the goal")
        best = at(failing + step)
    low, high = failing, failing + step  # low fails (or is 0), high meets
    while high - low > 1:
        middle = (low + high) // 2
        figures = at(middle)
        if meets(figures):
            high, best = middle, figures
        else:
            low = middle
    return best


def with_shrinkage(agents: int, shrinkage: float) -> int:
    """The agents to schedule so that ``agents`` are available when a share ``shrinkage``
    (breaks, training, absence; ``0 <= shrinkage < 1``) is not: ``ceil(agents / (1 -
    shrinkage))``, computed on the decimal value written (14 at 0.3 gives 20, not 21)."""
    agents = _count("agents", agents, least=0)
    shrinkage = _fraction("shrinkage", shrinkage, low_open=False, high=1.0, high_open=True)
    exact = Fraction(repr(float(shrinkage)))
    return math.ceil(Fraction(agents) / (1 - exact))
