"""Estimates from a simulation's records, with 95% confidence intervals, and the comparison
with Erlang C or Erlang A where the model applies.

The intervals come from *batch means*: the measured contacts, in arrival order, are cut into
consecutive batches; each batch gives one estimate, and the spread of those estimates gives a
Student-t interval. Consecutive contacts in a queue are correlated — a busy spell delays many
in a row — so batches must be long enough to be nearly independent, and how long depends on
the load. The batch size is therefore chosen from the data (in the manner of Law and Carson):
start from :data:`FINE_BATCHES` batches and merge neighbours in pairs while the lag-1
autocorrelation of the batch estimates is above :data:`MAX_LAG1`, keeping at least
:data:`MIN_BATCHES`.

The figures follow the production definitions (``docs/metrics.md``), computed per contact:

- ``wait_probability``: the share of contacts (answered or abandoned) not offered the instant
  they were queued;
- ``asa``: the mean time from queued to answered, over answered contacts;
- ``service_level``: by the queue's definition (:class:`trunkline.servicelevel.ServiceLevel`);
  by default answered within the queue's threshold over answered plus abandoned after it;
- ``abandonment``: abandoned over answered plus abandoned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from statistics import NormalDist
from typing import Any

import attrs

from trunkline.servicelevel import ServiceLevel

from .run import Run

__all__ = ["FINE_BATCHES", "MAX_LAG1", "MIN_BATCHES", "Estimate", "compare", "estimate"]

FINE_BATCHES = 640
MIN_BATCHES = 10
MAX_LAG1 = 0.1
# Two-sided 95% Student-t quantiles by degrees of freedom (the normal's beyond 30).
_T975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
    17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064,
    25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042,
}  # fmt: skip
FIGURES = ("wait_probability", "asa", "service_level", "abandonment")


@attrs.frozen
class Estimate:
    """A simulated figure: the point estimate over all measured contacts and its 95% CI."""

    value: float | None
    low: float | None
    high: float | None
    batches: int

    def covers(self, x: float) -> bool:
        return self.low is not None and self.high is not None and self.low <= x <= self.high

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high}


@attrs.define
class _Tally:
    """Sums over a run of contacts, from which every figure is a ratio."""

    left: int = 0  # answered + abandoned
    waited: int = 0
    answered: int = 0
    answer_time: float = 0.0
    abandoned: int = 0
    within: int = 0  # service level's numerator and denominator, by the queue's definition
    counted: int = 0
    answered_within: int = 0
    abandoned_within: int = 0
    short_abandoned: int = 0

    def add(self, other: _Tally) -> None:
        for field in attrs.fields(_Tally):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def figure(self, name: str) -> float | None:
        ratios: dict[str, tuple[float, int]] = {
            "wait_probability": (self.waited, self.left),
            "asa": (self.answer_time, self.answered),
            "service_level": (self.within, self.counted),
            "abandonment": (self.abandoned, self.left),
        }
        top, bottom = ratios[name]
        return top / bottom if bottom else None


def _tallies(run: Run, rules: Sequence[ServiceLevel]) -> tuple[_Tally, list[_Tally]]:
    r = run.records
    warmup = run.scenario.warmup
    rows = [
        i
        for i in range(len(r))
        if r.queued[i] >= warmup
        and (r.answered[i] == r.answered[i] or r.abandoned[i] == r.abandoned[i])
    ]
    total = _Tally()
    batches = [_Tally() for _ in range(min(FINE_BATCHES, len(rows)))]
    size = len(rows) / len(batches) if batches else 0
    for n, i in enumerate(rows):
        queued, first = r.queued[i], r.first_offer[i]
        rule = rules[r.queue[i]]
        waited = first != queued  # never offered (NaN) counts as waited
        answered = r.answered[i]
        for tally in (total, batches[min(int(n / size), len(batches) - 1)]):
            tally.left += 1
            tally.waited += waited
            if answered == answered:
                wait = answered - queued
                tally.answered += 1
                tally.answer_time += wait
                rule.answered(tally, wait)
            else:
                tally.abandoned += 1
                rule.abandoned(tally, r.abandoned[i] - queued)
    return total, batches


def estimate(run: Run) -> dict[str, Estimate]:
    """The figures of :data:`FIGURES` over the run's measured contacts, with 95% intervals."""
    rules = [ServiceLevel.of(run.scenario.queue(q)) for q in run.queues]
    total, batches = _tallies(run, rules)
    out: dict[str, Estimate] = {}
    for name in FIGURES:
        point = total.figure(name)
        values = _independent(batches, name)
        if point is None or len(values) < 2:
            out[name] = Estimate(point, None, None, len(values))
            continue
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        df = len(values) - 1
        t = _T975.get(df) or NormalDist().inv_cdf(0.975)
        half = t * sd / math.sqrt(len(values))
        high = point + half if name == "asa" else min(1.0, point + half)  # shares stay in [0, 1]
        out[name] = Estimate(point, max(0.0, point - half), high, len(values))
    return out


def _independent(batches: list[_Tally], name: str) -> list[float]:
    """Batch estimates of ``name``, merged in pairs until neighbours are nearly uncorrelated."""
    while True:
        values = [v for b in batches if (v := b.figure(name)) is not None]
        if len(values) < 2 * MIN_BATCHES or _lag1(values) <= MAX_LAG1:
            return values
        merged = []
        for n in range(0, len(batches) - 1, 2):
            pair = _Tally()
            pair.add(batches[n])
            pair.add(batches[n + 1])
            merged.append(pair)
        if len(batches) % 2:  # an odd one out joins the last pair
            merged[-1].add(batches[-1])
        batches = merged


def _lag1(values: Sequence[float]) -> float:
    mean = sum(values) / len(values)
    spread = sum((v - mean) ** 2 for v in values)
    if spread == 0:
        return 0.0
    return sum((a - mean) * (b - mean) for a, b in pairwise(values)) / spread


def erlang_model(run: Run) -> tuple[Any | None, str | None]:
    """The Erlang C (or A, with patience) figures for the run's scenario, or why none apply.

    The models assume one queue fed by a constant-rate Poisson stream, exponential handle
    times (and patience), no wrap-up, offers answered at once, and the same agents, each
    taking one contact at a time, available the whole run.
    """
    from .. import erlang
    from .distributions import Exponential

    sc = run.scenario
    why = _not_erlang(sc)
    if why is not None:
        return None, why
    (source,) = sc.sources
    assert source.rate is not None
    assert isinstance(source.handle, Exponential)
    queue = sc.queue(source.queue)
    common: dict[str, Any] = {
        "arrivals": source.rate * 3600.0,
        "interval": 3600.0,
        "aht": source.handle.mean,
        "agents": len(sc.workspace.agents),
        "target": queue.service_level_threshold,
        "abandons": queue.service_level_abandons,
        "short_abandon": queue.service_level_short_abandon,
    }
    if source.patience is None:
        return erlang.erlang_c(**common), None
    assert isinstance(source.patience, Exponential)
    return erlang.erlang_a(**common, patience=source.patience.mean), None


def _not_erlang(sc: Any) -> str | None:
    from .distributions import Exponential

    checks: list[tuple[bool, str]] = [
        (len(sc.sources) == 1, "more than one arrival stream"),
        (len(sc.workspace.queues) == 1, "more than one queue"),
        (not sc.shifts, "agents work shifts"),
    ]
    for ok, why in checks:
        if not ok:
            return why
    (source,) = sc.sources
    kind = source.kind
    agents = sc.workspace.agents
    queue = sc.queue(source.queue)
    checks = [
        (source.rate is not None, "arrivals are not a constant-rate Poisson stream"),
        (isinstance(source.handle, Exponential), "handle times are not exponential"),
        (
            source.patience is None or isinstance(source.patience, Exponential),
            "patience is not exponential",
        ),
        (source.wrap_up is None and queue.wrap_up == 0, "there is wrap-up time"),
        (source.answer is None, "agents take time to answer"),
        (not source.skills and not queue.requirement and not queue.skills, "contacts need skills"),
        (all(dict(a.capacity) == {kind: 1} and source.queue in a.queues for a in agents),
         "agents are not identical single-contact agents of the queue"),
        (
            not queue.escalation and not queue.hours and not queue.max_length,
            "the queue escalates, closes or is bounded",
        ),
    ]  # fmt: skip
    for ok, why in checks:
        if not ok:
            return why
    return None


def compare(run: Run, estimates: dict[str, Estimate] | None = None) -> dict[str, Any]:
    """Each simulated figure beside the model's, and whether the model value lies in the CI."""
    model, why = erlang_model(run)
    if model is None:
        return {"model": None, "reason": why}
    estimates = estimate(run) if estimates is None else estimates
    figures: dict[str, Any] = {}
    for name in FIGURES:
        if name == "abandonment" and model.model == "erlang-c":
            continue
        expected = float(getattr(model, name))
        est = estimates[name]
        figures[name] = {
            **est.as_dict(),
            "model": expected if math.isfinite(expected) else None,
            "within": est.covers(expected),
        }
    return {"model": model.model, "reason": None, "erlang": model.as_dict(), "figures": figures}
