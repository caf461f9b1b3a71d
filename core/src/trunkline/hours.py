"""Business hours: whether a queue is open at an instant, and when that next changes.

A :class:`Schedule` is weekly opening hours in one IANA time zone, plus dates closed all day
(holidays) and dates with special hours. Hours are local wall-clock time: ``"08:00-18:00"``
means 08:00 to 18:00 on the clock on the wall, also on the days daylight saving time starts
or ends. What happens to a contact while a queue is closed is the routing engine's business.

Time zones come from :mod:`zoneinfo`, which reads the system's database (``/usr/share/zoneinfo``
on Debian) and falls back to the ``tzdata`` package by itself when that is installed; nothing
here chooses between them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from .errors import NestedValueError

__all__ = ["SEARCH_DAYS", "WEEKDAYS", "Schedule"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MINUTES_PER_DAY = 24 * 60
_SECONDS_PER_DAY = 24 * 60 * 60
#: How far ``next_change`` looks ahead when the weekly hours are not the same all week long.
SEARCH_DAYS = 400
#: Time zone offsets are sampled this often to find their changes (then bisected to the second).
_OFFSET_STEP = 3 * 60 * 60

_RANGE = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")

Minutes = tuple[tuple[int, int], ...]  # [start, end) in minutes after local midnight


def _quote(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


# Converters: lists to tuples. Anything else is left for the validators, which name the field.


def _as_tuple(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        return cast(tuple[str, ...], value)  # the validator reports it
    return tuple(value)


def _as_special(value: Mapping[str, Iterable[str]]) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        return cast(Mapping[str, tuple[str, ...]], value)  # the validator reports it
    return MappingProxyType({key: _as_tuple(ranges) for key, ranges in value.items()})


# Parsing ------------------------------------------------------------------------------------


def _parse_date(field: str, text: object, at: tuple[str, ...] = ()) -> date:
    """``at``: where the date is inside the field, for the error (see NestedValueError)."""
    if isinstance(text, str) and _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise NestedValueError(f"{field}: {_quote(text)} is not a date (YYYY-MM-DD)", at=at)


def _parse_ranges(
    field: str, items: object, day: str = "", next_day: str = "", at: tuple[str, ...] = ()
) -> Minutes:
    """Check one day's ranges; return them as minutes, sorted, touching ranges joined.

    ``day`` and ``next_day`` name the day and the one after it for the overnight hint; ``at``
    is where the list is inside the field, so an error names the range's index in it.
    """
    if not isinstance(items, tuple):
        raise NestedValueError(
            f'{field}: expected a list of "HH:MM-HH:MM" ranges, got {_quote(items)}', at=at
        )
    parsed: list[tuple[int, int, str, int]] = []
    for index, item in enumerate(items):
        here = (*at, str(index))
        match = _RANGE.fullmatch(item) if isinstance(item, str) else None
        if match is None:
            raise NestedValueError(f'{field}: {_quote(item)} is not a range "HH:MM-HH:MM"', at=here)
        start_hour, start_minute, end_hour, end_minute = (int(part) for part in match.groups())
        for hour, minute in ((start_hour, start_minute), (end_hour, end_minute)):
            if minute > 59 or hour > 24 or (hour == 24 and minute != 0):
                raise NestedValueError(
                    f"{field}: {_quote(item)}: {hour:02}:{minute:02} is not a time of day"
                    " (00:00 to 24:00)",
                    at=here,
                )
        start, end = start_hour * 60 + start_minute, end_hour * 60 + end_minute
        if end <= start:
            begin, finish = item.split("-")
            if end == start:
                hint = "an empty range: remove it"
            elif end == 0:
                hint = f'until midnight: write "{begin}-24:00"'
            else:
                hint = (
                    f'overnight hours: split them, "{begin}-24:00" on {day} '
                    f'and "00:00-{finish}" on {next_day}'
                )
            raise NestedValueError(
                f"{field}: {_quote(item)}: the end is not after the start ({hint})", at=here
            )
        parsed.append((start, end, item, index))
    parsed.sort()
    for (_, end, earlier, _), (start, _, later, index) in pairwise(parsed):
        if start < end:
            raise NestedValueError(
                f"{field}: {_quote(later)} overlaps {_quote(earlier)}", at=(*at, str(index))
            )
    joined: list[tuple[int, int]] = []
    for start, end, _, _ in parsed:
        if joined and joined[-1][1] == start:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return tuple(joined)


def _bitmap(ranges: Minutes) -> bytes:
    """One byte per minute of the day: 1 when open."""
    minutes = bytearray(_MINUTES_PER_DAY)
    for start, end in ranges:
        minutes[start:end] = b"\x01" * (end - start)
    return bytes(minutes)


def _boundaries(ranges: Minutes) -> tuple[int, ...]:
    """Minutes after midnight where the day's hours may change, midnight included."""
    return tuple(sorted({0} | {m for r in ranges for m in r if m < _MINUTES_PER_DAY}))


# Validators ---------------------------------------------------------------------------------


def _check_timezone(_instance: Any, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{attribute.name}: expected a time zone name, got {_quote(value)}")
    if value == "localtime":
        raise ValueError(
            f'{attribute.name}: "localtime" is this machine\'s time zone; '
            'write its IANA name, e.g. "Europe/Berlin"'
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"{attribute.name}: unknown time zone {_quote(value)}") from None


def _check_day(_instance: Any, attribute: attrs.Attribute[tuple[str, ...]], value: object) -> None:
    index = WEEKDAYS.index(attribute.name)
    _parse_ranges(attribute.name, value, attribute.name, WEEKDAYS[(index + 1) % 7])


def _check_closed(
    _instance: Any, attribute: attrs.Attribute[tuple[str, ...]], value: object
) -> None:
    if not isinstance(value, tuple):
        raise ValueError(f"{attribute.name}: expected a list of dates, got {_quote(value)}")
    for index, item in enumerate(value):
        _parse_date(attribute.name, item, (str(index),))


def _check_special(instance: Schedule, attribute: attrs.Attribute[Any], value: object) -> None:
    name = attribute.name
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}: expected a table of dates, got {_quote(value)}")
    closed = set(instance.closed) if isinstance(instance.closed, tuple) else set()
    for key, ranges in value.items():
        day = _parse_date(name, key, (str(key),))
        next_day = (day + timedelta(days=1)).isoformat()
        _parse_ranges(f'{name}."{key}"', ranges, key, next_day, (str(key),))
        if key in closed:
            raise NestedValueError(
                f'{name}: "{key}" is also in closed; keep it in one of the two', at=(str(key),)
            )


# The schedule -------------------------------------------------------------------------------


@attrs.frozen
class Schedule:
    """Weekly opening hours in one time zone, with closed dates and special dates.

    Each weekday takes ``"HH:MM-HH:MM"`` ranges, start included and end excluded; the end may
    be ``"24:00"``. A day without ranges is closed. ``closed`` dates are closed all day;
    ``special`` dates take their ranges instead of their weekday's (no ranges: closed).
    Dates are local dates in ``timezone``. A bad value raises :class:`ValueError` naming the
    field and the item.
    """

    timezone: str = attrs.field(default="UTC", validator=_check_timezone)
    monday: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_check_day)
    tuesday: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_check_day)
    wednesday: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_check_day)
    thursday: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_check_day)
    friday: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_check_day)
    saturday: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_check_day)
    sunday: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_check_day)
    closed: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_check_closed)
    # Not hashed: a mapping is not hashable. Equal schedules still hash equal.
    special: Mapping[str, tuple[str, ...]] = attrs.field(
        factory=dict,
        converter=_as_special,
        validator=_check_special,
        hash=False,
    )

    # Worked out once at construction, so that is_open is a look-up.
    _zone: ZoneInfo = attrs.field(init=False, repr=False, eq=False, hash=False)
    _week: tuple[Minutes, ...] = attrs.field(init=False, repr=False, eq=False, hash=False)
    _week_minutes: tuple[bytes, ...] = attrs.field(init=False, repr=False, eq=False, hash=False)
    _dates: Mapping[date, Minutes] = attrs.field(init=False, repr=False, eq=False, hash=False)
    _date_minutes: Mapping[date, bytes] = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        # The validators have checked everything: parsing again cannot fail.
        week = tuple(_parse_ranges(name, getattr(self, name)) for name in WEEKDAYS)
        dates: dict[date, Minutes] = {date.fromisoformat(text): () for text in self.closed}
        for text, ranges in self.special.items():
            dates[date.fromisoformat(text)] = _parse_ranges("special", ranges)
        dates = dict(sorted(dates.items()))
        set_ = object.__setattr__  # the class is frozen
        set_(self, "_zone", ZoneInfo(self.timezone))
        set_(self, "_week", week)
        set_(self, "_week_minutes", tuple(_bitmap(ranges) for ranges in week))
        set_(self, "_dates", MappingProxyType(dates))
        set_(self, "_date_minutes", MappingProxyType({d: _bitmap(r) for d, r in dates.items()}))

    # Questions ------------------------------------------------------------------------------

    def is_open(self, at: float) -> bool:
        """Whether the schedule is open at ``at`` (Unix seconds)."""
        # Every change happens on a whole second, so the second that ``at`` falls in decides.
        local = datetime.fromtimestamp(math.floor(at), self._zone)
        minutes = self._date_minutes.get(local.date()) if self._date_minutes else None
        if minutes is None:
            minutes = self._week_minutes[local.weekday()]
        return minutes[local.hour * 60 + local.minute] == 1

    def next_change(self, at: float) -> float | None:
        """The first instant after ``at`` when :meth:`is_open` gives the other answer.

        None when that never happens. When the weekly hours differ during the week the search
        stops after :data:`SEARCH_DAYS` days (a change always comes within two weeks in any
        real time zone); otherwise only the closed and special dates are looked at.
        """
        now = self.is_open(at)
        start = math.floor(at)
        for low, high in self._windows(start):
            for instant in self._possible_changes(low, high):
                if instant > at and self.is_open(instant) != now:
                    return float(instant)
        return None

    def describe(self) -> str:
        """A one-line summary, e.g. ``Mon–Fri 08:00–18:00 Europe/Berlin``."""
        groups: dict[Minutes, list[int]] = {}
        for index, ranges in enumerate(self._week):
            if ranges:
                groups.setdefault(ranges, []).append(index)
        if groups:
            week = "; ".join(
                f"{_days_text(days)} {_ranges_text(ranges)}" for ranges, days in groups.items()
            )
            parts = [f"{week} {self.timezone}"]
        else:
            parts = [f"closed all week ({self.timezone})"]
        closed = [day.isoformat() for day, ranges in self._dates.items() if not ranges]
        if closed:
            parts.append("closed " + _at_most(closed, 3))
        special = [
            f"{day.isoformat()} only {_ranges_text(ranges)}"
            for day, ranges in self._dates.items()
            if ranges
        ]
        if special:
            parts.append(_at_most(special, 3, separator="; "))
        return "; ".join(parts)

    # Searching for changes ------------------------------------------------------------------

    def _constant_week(self) -> bool:
        """Whether every weekday is open all day, or every weekday is closed all day."""
        return len(set(self._week)) == 1 and self._week[0] in ((), ((0, _MINUTES_PER_DAY),))

    def _windows(self, start: int) -> Iterable[tuple[int, int]]:
        """Stretches of time, in order, outside which is_open cannot change after ``start``."""
        if not self._constant_week():
            for number in range(SEARCH_DAYS):
                yield start + number * _SECONDS_PER_DAY, start + (number + 1) * _SECONDS_PER_DAY
            return
        # All week the same: only closed and special dates can bring a change, at their
        # beginning or their end. Two days either side cover any time zone offset.
        yield start, start + 3 * _SECONDS_PER_DAY
        for day in self._dates:
            around = self._rough_midnight(day)
            if around + 3 * _SECONDS_PER_DAY > start:
                yield around - 2 * _SECONDS_PER_DAY, around + 3 * _SECONDS_PER_DAY

    def _possible_changes(self, low: int, high: int) -> list[int]:
        """Every instant in [low, high] where is_open may change, sorted (maybe more)."""
        instants = set(self._offset_changes(low, high))
        first = datetime.fromtimestamp(low, self._zone).date() - timedelta(days=1)
        last = datetime.fromtimestamp(high, self._zone).date() + timedelta(days=1)
        day = first
        while day <= last:
            for minute in self._day_boundaries(day):
                wall = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
                instants.update(t for t in self._wall_instants(wall) if low <= t <= high)
            day += timedelta(days=1)
        return sorted(instants)

    def _day_boundaries(self, day: date) -> tuple[int, ...]:
        ranges = self._dates.get(day)
        return _boundaries(self._week[day.weekday()] if ranges is None else ranges)

    def _wall_instants(self, wall: datetime) -> list[int]:
        """The instants when local clocks show ``wall``: none in a gap, two in an overlap."""
        found = set()
        for fold in (0, 1):
            instant = math.floor(wall.replace(tzinfo=self._zone, fold=fold).timestamp())
            if datetime.fromtimestamp(instant, self._zone).replace(tzinfo=None) == wall:
                found.add(instant)
        return sorted(found)

    def _rough_midnight(self, day: date) -> int:
        """``day``'s local midnight, or an instant within hours of it when there is none."""
        return math.floor(
            datetime.combine(day, datetime.min.time()).replace(tzinfo=self._zone).timestamp()
        )

    def _offset_changes(self, low: int, high: int) -> Iterable[int]:
        """The instants in (low, high] when the time zone's UTC offset changes."""
        zone = self._zone

        def offset(instant: int) -> timedelta | None:
            return datetime.fromtimestamp(instant, zone).utcoffset()

        samples = [*range(low, high, _OFFSET_STEP), high]
        for before, after in pairwise(samples):
            old = offset(before)
            if offset(after) == old:
                continue
            while after - before > 1:  # offset(before) == old != offset(after)
                middle = (before + after) // 2
                if offset(middle) == old:
                    before = middle
                else:
                    after = middle
            yield after


def _days_text(days: list[int]) -> str:
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(
        _ABBREVIATIONS[run[0]]
        if len(run) == 1
        else f"{_ABBREVIATIONS[run[0]]}–{_ABBREVIATIONS[run[-1]]}"
        for run in runs
    )


def _ranges_text(ranges: Minutes) -> str:
    return ", ".join(f"{_clock(start)}–{_clock(end)}" for start, end in ranges)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02}:{minutes % 60:02}"


def _at_most(items: list[str], limit: int, separator: str = ", ") -> str:
    if len(items) <= limit:
        return separator.join(items)
    return separator.join(items[:limit]) + f"{separator}and {len(items) - limit} more"
