"""Random durations for the simulator: handle times, patience and wrap-up.

A :class:`Distribution` draws seconds from a :class:`random.Random` the simulator owns, so a
seed repeats a run exactly. Each is written in a scenario as a small table::

    handle = { dist = "exponential", mean = 180 }
    handle = { dist = "lognormal", mean = 180, sd = 120 }
    handle = { dist = "empirical", values = [95, 130, 240, 610] }
    handle = { dist = "fixed", value = 30 }
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..errors import ScenarioError

__all__ = ["Distribution", "Empirical", "Exponential", "Fixed", "Lognormal", "parse_distribution"]


@attrs.frozen
class Exponential:
    """Memoryless durations with this mean: the M in M/M/N."""

    mean: float

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)

    def describe(self) -> dict[str, Any]:
        return {"dist": "exponential", "mean": self.mean}


@attrs.frozen
class Lognormal:
    """Skewed durations given by their mean and standard deviation (not the log's)."""

    mean: float
    sd: float

    def sample(self, rng: random.Random) -> float:
        sigma2 = math.log1p((self.sd / self.mean) ** 2)
        mu = math.log(self.mean) - sigma2 / 2
        return rng.lognormvariate(mu, math.sqrt(sigma2))

    def describe(self) -> dict[str, Any]:
        return {"dist": "lognormal", "mean": self.mean, "sd": self.sd}


@attrs.frozen
class Empirical:
    """Durations drawn uniformly, with replacement, from observed values."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    def sample(self, rng: random.Random) -> float:
        return self.values[int(rng.random() * len(self.values))]

    def describe(self) -> dict[str, Any]:
        return {"dist": "empirical", "count": len(self.values), "mean": self.mean}


@attrs.frozen
class Fixed:
    """The same duration every time."""

    value: float

    @property
    def mean(self) -> float:
        return self.value

    def sample(self, rng: random.Random) -> float:
        return self.value

    def describe(self) -> dict[str, Any]:
        return {"dist": "fixed", "value": self.value}


Distribution = Exponential | Lognormal | Empirical | Fixed

_KEYS: Mapping[str, tuple[str, ...]] = {
    "exponential": ("mean",),
    "lognormal": ("mean", "sd"),
    "empirical": ("values",),
    "fixed": ("value",),
}


def _positive(value: Any, where: str, *, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"{where}: expected a number of seconds, got {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise ScenarioError(f"{where}: must be {'0 or more' if zero else 'more than 0'}")
    return float(value)


def parse_distribution(data: Any, where: str) -> Distribution:
    """A distribution from its scenario table; :class:`ScenarioError` names ``where``."""
    if not isinstance(data, Mapping):
        raise ScenarioError(
            f'{where}: expected a table like {{ dist = "exponential", mean = 180 }}'
        )
    kind = str(data.get("dist"))
    if kind not in _KEYS:
        raise ScenarioError(
            f"{where}.dist: expected one of {', '.join(_KEYS)}, got {data.get('dist')!r}"
        )
    allowed = {"dist", *_KEYS[kind]}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key {unknown[0]!r} for {kind} (known: {', '.join(sorted(allowed))})"
        )
    missing = [k for k in _KEYS[kind] if k not in data]
    if missing:
        raise ScenarioError(f"{where}: {kind} needs {missing[0]!r}")
    if kind == "exponential":
        return Exponential(_positive(data["mean"], f"{where}.mean"))
    if kind == "lognormal":
        return Lognormal(
            _positive(data["mean"], f"{where}.mean"), _positive(data["sd"], f"{where}.sd")
        )
    if kind == "fixed":
        return Fixed(_positive(data["value"], f"{where}.value", zero=True))
    values = data["values"]
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        raise ScenarioError(f"{where}.values: expected a non-empty list of seconds")
    return Empirical(
        tuple(_positive(v, f"{where}.values[{i}]", zero=True) for i, v in enumerate(values))
    )
