"""Service level: which contacts count for it, and how — the one definition per queue that the
live metrics, the historical reports, the Erlang models and the simulator share.

A queue defines its service level by three settings (``docs/metrics.md#service-level``):
``service_level_threshold`` ``T`` (seconds), ``service_level_abandons`` (how contacts that
abandon within ``T`` count, Cisco UCCE's three "service level types") and
``service_level_short_abandon`` ``S`` (seconds; abandons after less than ``S`` do not count at
all). Each contact answered or abandoned after waiting ``w`` seconds falls in one class:

- *answered within*: answered with ``w <= T``;
- *answered late*: answered with ``w > T``;
- *short abandon*: abandoned with ``w < S`` — left out of service level whatever the type;
- *abandoned within*: abandoned with ``S <= w <= T``;
- *abandoned late*: abandoned with ``w > T`` (and ``w >= S``): like an answer after ``T``,
  it missed the threshold, whatever the type.

:func:`service_level_parts` turns the four counted classes (counts, or probabilities for the
Erlang models) into the figure's numerator and denominator. It imports nothing of Trunkline,
not even for type checking (a queue is anything with the three settings,
:class:`ServiceLevelSettings`): the model imports :data:`ABANDONS` from here, and the Erlang
maths of the ``trunkline-workforce`` distribution, which share it, stay import-light.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

__all__ = ["ABANDONS", "ServiceLevel", "ServiceLevelSettings", "service_level_parts"]

#: How contacts abandoned within the threshold count (UCCE service level types 1, 2 and 3):
#: ``"ignored"`` leaves them out, ``"missed"`` counts them as missing the threshold, ``"met"``
#: as meeting it.
ABANDONS = ("ignored", "missed", "met")

N = TypeVar("N", int, float)


class ServiceLevelSettings(Protocol):
    """What defines a service level: a :class:`~trunkline.model.Queue`, or anything with its
    three settings."""

    @property
    def service_level_threshold(self) -> float: ...

    @property
    def service_level_abandons(self) -> str: ...

    @property
    def service_level_short_abandon(self) -> float: ...


def service_level_parts(
    abandons: str,
    *,
    answered_within: N,
    answered_late: N,
    abandoned_within: N,
    abandoned_late: N,
) -> tuple[N, N]:
    """``(met, counted)``: service level is ``met / counted``. Short abandons are not passed.

    - ``"ignored"``: answered within / (answered + abandoned late);
    - ``"missed"``: answered within / (answered + abandoned, short abandons excepted);
    - ``"met"``: (answered within + abandoned within) / (answered + abandoned, short excepted).
    """
    answered = answered_within + answered_late
    if abandons == "ignored":
        return answered_within, answered + abandoned_late
    counted = answered + abandoned_within + abandoned_late
    if abandons == "missed":
        return answered_within, counted
    if abandons == "met":
        return answered_within + abandoned_within, counted
    raise ValueError(_unknown(abandons))


def _unknown(abandons: object) -> str:
    return (
        f"service_level_abandons: {abandons!r} is not one of {', '.join(repr(a) for a in ABANDONS)}"
    )


class ServiceLevel:
    """One queue's definition, applied to one contact at a time.

    :meth:`answered` and :meth:`abandoned` add a contact to any object carrying the integer
    counters ``within`` (the numerator), ``counted`` (the denominator), ``answered_within``,
    ``abandoned_within`` and ``short_abandoned``; the increments come from
    :func:`service_level_parts`, so counting contact by contact and the formula agree.
    """

    __slots__ = (
        "_abandoned_late",
        "_abandoned_within",
        "_answered_late",
        "_answered_within",
        "abandons",
        "short_abandon",
        "threshold",
    )

    def __init__(
        self, threshold: float = 20.0, abandons: str = "ignored", short_abandon: float = 0.0
    ) -> None:
        if abandons not in ABANDONS:
            raise ValueError(_unknown(abandons))
        self.threshold = threshold
        self.abandons = abandons
        self.short_abandon = short_abandon

        def unit(**one: int) -> tuple[int, int]:
            parts = {
                "answered_within": 0,
                "answered_late": 0,
                "abandoned_within": 0,
                "abandoned_late": 0,
                **one,
            }
            return service_level_parts(abandons, **parts)

        self._answered_within = unit(answered_within=1)
        self._answered_late = unit(answered_late=1)
        self._abandoned_within = unit(abandoned_within=1)
        self._abandoned_late = unit(abandoned_late=1)

    @classmethod
    def of(cls, queue: ServiceLevelSettings) -> ServiceLevel:
        """The definition of ``queue`` (a :class:`~trunkline.model.Queue`)."""
        return cls(
            queue.service_level_threshold,
            queue.service_level_abandons,
            queue.service_level_short_abandon,
        )

    def answered(self, c: Any, wait: float) -> None:
        """Count a contact answered after ``wait`` seconds in ``c``."""
        if wait <= self.threshold:
            c.answered_within += 1
            met, counted = self._answered_within
        else:
            met, counted = self._answered_late
        c.within += met
        c.counted += counted

    def abandoned(self, c: Any, wait: float) -> None:
        """Count a contact abandoned after ``wait`` seconds in ``c``."""
        if wait < self.short_abandon:
            c.short_abandoned += 1
            return
        if wait <= self.threshold:
            c.abandoned_within += 1
            met, counted = self._abandoned_within
        else:
            met, counted = self._abandoned_late
        c.within += met
        c.counted += counted
