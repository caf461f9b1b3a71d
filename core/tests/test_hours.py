"""Business hours: open and closed by local wall-clock time, and when that next changes."""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.hours import WEEKDAYS, Schedule

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")

OFFICE = Schedule(
    timezone="Europe/Berlin",
    monday=("08:00-12:00", "13:00-18:00"),
    tuesday=("08:00-18:00",),
    wednesday=("08:00-18:00",),
    thursday=("08:00-18:00",),
    friday=("08:00-18:00",),
)


def at(*parts: int, zone: ZoneInfo = BERLIN) -> float:
    """Unix seconds of a wall-clock time (the first one, if the clock shows it twice)."""
    year, month, day, hour, minute, second = (*parts, 0, 0, 0)[:6]
    return datetime(year, month, day, hour, minute, second, tzinfo=zone).timestamp()


def utc(*parts: int) -> float:
    return at(*parts, zone=UTC)


def every_day(*ranges: str, **fields: typing.Any) -> Schedule:
    week: dict[str, typing.Any] = dict.fromkeys(WEEKDAYS, ranges)
    return Schedule(**week, **fields)


def changes(schedule: Schedule, start: float, count: int) -> list[float]:
    """The next ``count`` changes after ``start``."""
    found: list[float] = []
    for _ in range(count):
        change = schedule.next_change(found[-1] if found else start)
        assert change is not None
        found.append(change)
    return found


# Open and closed ---------------------------------------------------------------------------


def test_the_start_minute_is_open_and_the_end_minute_is_closed() -> None:
    # 2026-06-03 is a Wednesday: 08:00-18:00.
    assert not OFFICE.is_open(at(2026, 6, 3, 7, 59, 59))
    assert OFFICE.is_open(at(2026, 6, 3, 8, 0))
    assert OFFICE.is_open(at(2026, 6, 3, 17, 59, 59))
    assert OFFICE.is_open(at(2026, 6, 3, 18, 0) - 0.001)
    assert not OFFICE.is_open(at(2026, 6, 3, 18, 0))


def test_a_lunch_break_is_closed() -> None:
    # 2026-06-01 is a Monday: 08:00-12:00 and 13:00-18:00.
    assert OFFICE.is_open(at(2026, 6, 1, 11, 59))
    assert not OFFICE.is_open(at(2026, 6, 1, 12, 0))
    assert not OFFICE.is_open(at(2026, 6, 1, 12, 59, 59))
    assert OFFICE.is_open(at(2026, 6, 1, 13, 0))


def test_a_day_without_ranges_is_closed_all_day() -> None:
    # 2026-06-06 is a Saturday.
    assert not any(OFFICE.is_open(at(2026, 6, 6, hour)) for hour in range(24))


def test_24_00_keeps_the_day_open_until_midnight() -> None:
    late = Schedule(friday=("20:00-24:00",))  # 2026-06-05 is a Friday
    assert late.is_open(utc(2026, 6, 5, 23, 59, 59))
    assert not late.is_open(utc(2026, 6, 6, 0, 0))
    assert late.next_change(utc(2026, 6, 5, 21)) == utc(2026, 6, 6)


def test_overnight_hours_are_two_ranges_that_meet_at_midnight() -> None:
    night = Schedule(monday=("22:00-24:00",), tuesday=("00:00-06:00",))  # 2026-06-01 is a Monday
    assert night.is_open(utc(2026, 6, 1, 23, 59))
    assert night.is_open(utc(2026, 6, 2, 0, 0))
    assert night.next_change(utc(2026, 6, 1, 22)) == utc(2026, 6, 2, 6)


def test_ranges_that_touch_are_one_opening() -> None:
    schedule = every_day("08:00-12:00", "12:00-18:00")
    assert schedule.is_open(utc(2026, 6, 1, 12, 0))
    assert schedule.next_change(utc(2026, 6, 1, 9)) == utc(2026, 6, 1, 18)


def test_a_holiday_is_closed_all_day() -> None:
    schedule = attrs.evolve(OFFICE, closed=("2026-12-25",))  # a Friday
    assert not any(schedule.is_open(at(2026, 12, 25, hour)) for hour in range(24))
    assert schedule.is_open(at(2026, 12, 24, 10))


def test_a_special_date_replaces_its_weekday_hours() -> None:
    schedule = attrs.evolve(OFFICE, special={"2026-12-24": ("09:00-12:00",)})  # a Thursday
    assert not schedule.is_open(at(2026, 12, 24, 8, 30))
    assert schedule.is_open(at(2026, 12, 24, 9, 0))
    assert not schedule.is_open(at(2026, 12, 24, 12, 0))
    assert schedule.is_open(at(2026, 12, 23, 8, 30))  # other days keep their hours


def test_a_special_date_can_open_a_day_that_is_usually_closed() -> None:
    schedule = attrs.evolve(OFFICE, special={"2026-12-19": ("10:00-14:00",)})  # a Saturday
    assert schedule.is_open(at(2026, 12, 19, 10, 0))
    assert not schedule.is_open(at(2026, 12, 26, 10, 0))


def test_a_special_date_without_ranges_is_closed() -> None:
    schedule = attrs.evolve(OFFICE, special={"2026-12-24": ()})
    assert not schedule.is_open(at(2026, 12, 24, 10))


def test_dates_and_weekdays_are_those_of_the_schedules_time_zone() -> None:
    tokyo = every_day("00:00-24:00", timezone="Asia/Tokyo", closed=("2026-12-25",))
    # 15:00 UTC on the 24th is already midnight on the 25th in Tokyo.
    assert tokyo.is_open(utc(2026, 12, 24, 14, 59))
    assert not tokyo.is_open(utc(2026, 12, 24, 15, 0))
    assert tokyo.next_change(utc(2026, 12, 24, 12)) == utc(2026, 12, 24, 15)
    assert tokyo.next_change(utc(2026, 12, 24, 15)) == utc(2026, 12, 25, 15)


def test_fractions_of_a_second_belong_to_their_second() -> None:
    start = utc(2026, 6, 1, 8)
    schedule = every_day("08:00-18:00")
    assert not schedule.is_open(start - 0.000_001)
    assert schedule.is_open(start + 0.5)
    assert schedule.next_change(start - 0.5) == start
    assert schedule.next_change(start) == utc(2026, 6, 1, 18)


# Daylight saving time ----------------------------------------------------------------------


def test_hours_are_wall_clock_hours_on_the_day_summer_time_starts() -> None:
    # Berlin: 2026-03-29 02:00 CET becomes 03:00 CEST. 08:00 is 06:00 UTC that day, 07:00 before.
    schedule = every_day("08:00-18:00", timezone="Europe/Berlin")
    assert schedule.next_change(utc(2026, 3, 28, 0)) == utc(2026, 3, 28, 7)
    assert schedule.next_change(utc(2026, 3, 29, 0)) == utc(2026, 3, 29, 6)
    assert schedule.next_change(utc(2026, 3, 29, 6)) == utc(2026, 3, 29, 16)
    assert schedule.is_open(utc(2026, 3, 29, 6, 0))
    assert not schedule.is_open(utc(2026, 3, 29, 5, 59))


def test_hours_are_wall_clock_hours_on_the_day_summer_time_ends() -> None:
    # Berlin: 2026-10-25 03:00 CEST becomes 02:00 CET. 08:00 is 06:00 UTC before, 07:00 that day.
    schedule = every_day("08:00-18:00", timezone="Europe/Berlin")
    assert schedule.next_change(utc(2026, 10, 24, 0)) == utc(2026, 10, 24, 6)
    assert schedule.next_change(utc(2026, 10, 25, 0)) == utc(2026, 10, 25, 7)
    assert schedule.next_change(utc(2026, 10, 25, 7)) == utc(2026, 10, 25, 17)


def test_hours_in_the_hour_skipped_in_spring_never_come() -> None:
    schedule = Schedule(timezone="Europe/Berlin", special={"2026-03-29": ("02:00-03:00",)})
    midnight = utc(2026, 3, 29)  # 01:00 in Berlin
    assert not any(schedule.is_open(midnight + minute * 60) for minute in range(0, 180, 5))
    assert schedule.next_change(utc(2026, 3, 28)) is None


def test_hours_across_the_skipped_hour_close_when_the_clock_jumps() -> None:
    schedule = Schedule(timezone="Europe/Berlin", special={"2026-03-29": ("01:00-02:30",)})
    # Open at 01:00 CET (00:00 UTC); at 01:00 UTC the clock jumps from 02:00 to 03:00.
    assert changes(schedule, utc(2026, 3, 28, 12), 2) == [utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)]


def test_hours_in_the_hour_repeated_in_autumn_happen_twice() -> None:
    schedule = Schedule(timezone="Europe/Berlin", special={"2026-10-25": ("02:30-04:00",)})
    # 02:30 CEST is 00:30 UTC; at 01:00 UTC the clock goes back to 02:00, before 02:30, so
    # closed until 02:30 CET (01:30 UTC), then open until 04:00 CET (03:00 UTC).
    assert changes(schedule, utc(2026, 10, 24, 12), 4) == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 1, 0),
        utc(2026, 10, 25, 1, 30),
        utc(2026, 10, 25, 3, 0),
    ]
    assert schedule.next_change(utc(2026, 10, 25, 3)) is None


def test_new_york_opens_an_hour_earlier_in_utc_after_clocks_go_forward() -> None:
    # 2026-03-08: 02:00 EST becomes 03:00 EDT. Friday the 6th is EST, Monday the 9th EDT.
    weekdays: dict[str, typing.Any] = dict.fromkeys(WEEKDAYS[:5], ("09:00-17:00",))
    schedule = Schedule(timezone="America/New_York", **weekdays)
    assert schedule.next_change(at(2026, 3, 6, 12, zone=NEW_YORK)) == utc(2026, 3, 6, 22)
    assert schedule.next_change(utc(2026, 3, 6, 22)) == utc(2026, 3, 9, 13)


def test_new_york_opens_an_hour_later_in_utc_after_clocks_go_back() -> None:
    # 2026-11-01: 02:00 EDT becomes 01:00 EST. Friday the 30th is EDT, Monday the 2nd EST.
    weekdays: dict[str, typing.Any] = dict.fromkeys(WEEKDAYS[:5], ("09:00-17:00",))
    schedule = Schedule(timezone="America/New_York", **weekdays)
    assert schedule.next_change(utc(2026, 10, 30, 21)) == utc(2026, 11, 2, 14)


def test_a_whole_day_lasts_25_hours_when_clocks_go_back() -> None:
    schedule = Schedule(timezone="America/New_York", sunday=("00:00-24:00",))
    # Sunday 2026-11-01 runs from 04:00 UTC to 05:00 UTC on Monday.
    assert changes(schedule, utc(2026, 10, 31, 12), 2) == [utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)]


def test_a_day_whose_midnight_is_skipped_starts_when_the_clock_jumps() -> None:
    # Havana: 2026-03-08 00:00 CST becomes 01:00 CDT (05:00 UTC); 2026-03-08 is a Sunday.
    schedule = Schedule(timezone="America/Havana", sunday=("00:00-24:00",))
    assert changes(schedule, utc(2026, 3, 7, 12), 2) == [utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)]


# Changes -----------------------------------------------------------------------------------


def test_next_change_skips_the_weekend() -> None:
    friday_evening = at(2026, 6, 5, 17, 0)
    assert OFFICE.next_change(friday_evening) == at(2026, 6, 5, 18, 0)
    assert OFFICE.next_change(at(2026, 6, 5, 18, 0)) == at(2026, 6, 8, 8, 0)


def test_next_change_skips_holidays() -> None:
    easter = attrs.evolve(OFFICE, closed=("2026-04-03", "2026-04-06"))  # Good Friday, Easter Monday
    assert easter.next_change(at(2026, 4, 2, 12)) == at(2026, 4, 2, 18)
    assert easter.next_change(at(2026, 4, 2, 18)) == at(2026, 4, 7, 8)


def test_next_change_is_later_than_the_instant_given() -> None:
    opening = at(2026, 6, 3, 8, 0)
    assert OFFICE.next_change(opening) == at(2026, 6, 3, 18, 0)
    assert OFFICE.next_change(opening - 1) == opening


def test_next_change_is_none_when_always_closed() -> None:
    assert Schedule().next_change(utc(2026, 1, 1)) is None
    assert Schedule(closed=("2026-01-02",)).next_change(utc(2026, 1, 1)) is None


def test_next_change_is_none_when_open_around_the_clock() -> None:
    assert every_day("00:00-24:00").next_change(utc(2026, 1, 1)) is None
    assert every_day("00:00-12:00", "12:00-24:00").next_change(utc(2026, 1, 1)) is None
    schedule = every_day("00:00-24:00", timezone="Europe/Berlin")
    assert schedule.next_change(utc(2026, 3, 28)) is None  # not even when the clocks change


def test_next_change_is_none_after_the_last_closed_date() -> None:
    schedule = every_day("00:00-24:00", closed=("2026-01-01",))
    assert schedule.next_change(utc(2025, 12, 31, 12)) == utc(2026, 1, 1)
    assert schedule.next_change(utc(2026, 1, 1, 12)) == utc(2026, 1, 2)
    assert schedule.next_change(utc(2026, 1, 2)) is None


def test_next_change_finds_a_special_date_far_ahead_when_the_week_is_all_closed() -> None:
    schedule = Schedule(timezone="Europe/Berlin", special={"2028-06-01": ("10:00-11:00",)})
    assert changes(schedule, utc(2026, 1, 1), 2) == [utc(2028, 6, 1, 8), utc(2028, 6, 1, 9)]


def test_the_engine_can_follow_changes_through_a_week() -> None:
    found = changes(OFFICE, at(2026, 6, 1, 0), 12)  # Monday 2026-06-01 to Monday 2026-06-08
    expected = [(1, 8), (1, 12), (1, 13), (1, 18)]
    expected += [(day, hour) for day in range(2, 6) for hour in (8, 18)]
    assert found == [at(2026, 6, day, hour) for day, hour in expected]


# Describing --------------------------------------------------------------------------------


def test_describe_sums_up_a_working_week() -> None:
    weekdays: dict[str, typing.Any] = dict.fromkeys(WEEKDAYS[:5], ("08:00-18:00",))
    schedule = Schedule(timezone="Europe/Berlin", **weekdays)
    assert schedule.describe() == "Mon–Fri 08:00–18:00 Europe/Berlin"


def test_describe_groups_days_with_the_same_hours() -> None:
    assert OFFICE.describe() == "Mon 08:00–12:00, 13:00–18:00; Tue–Fri 08:00–18:00 Europe/Berlin"
    odd = Schedule(monday=("09:00-10:00",), wednesday=("09:00-10:00",), thursday=("09:00-10:00",))
    assert odd.describe() == "Mon, Wed–Thu 09:00–10:00 UTC"


def test_describe_mentions_closed_and_special_dates() -> None:
    schedule = attrs.evolve(
        OFFICE,
        closed=("2026-12-26", "2026-12-25"),
        special={"2026-12-24": ("09:00-12:00",), "2026-12-31": ()},
    )
    assert schedule.describe() == (
        "Mon 08:00–12:00, 13:00–18:00; Tue–Fri 08:00–18:00 Europe/Berlin; "
        "closed 2026-12-25, 2026-12-26, 2026-12-31; 2026-12-24 only 09:00–12:00"
    )


def test_describe_shortens_long_lists_of_dates() -> None:
    closed = tuple(f"2026-01-0{day}" for day in range(1, 6))
    assert every_day("00:00-24:00", closed=closed).describe() == (
        "Mon–Sun 00:00–24:00 UTC; closed 2026-01-01, 2026-01-02, 2026-01-03, and 2 more"
    )


def test_describe_a_schedule_that_is_never_open() -> None:
    assert Schedule().describe() == "closed all week (UTC)"


# Values and configuration ------------------------------------------------------------------


def test_lists_become_tuples_and_schedules_are_values() -> None:
    one = Schedule(monday=["08:00-18:00"], closed=["2026-12-25"], special={"2026-12-24": []})
    two = Schedule(monday=("08:00-18:00",), closed=("2026-12-25",), special={"2026-12-24": ()})
    assert one.monday == ("08:00-18:00",)
    assert one.special["2026-12-24"] == ()
    assert one == two
    assert hash(one) == hash(two)
    assert one != attrs.evolve(two, special={})


def test_the_special_dates_cannot_be_changed_afterwards() -> None:
    given_dates: dict[str, tuple[str, ...]] = {"2026-12-24": ("09:00-12:00",)}
    schedule = Schedule(special=given_dates)
    given_dates["2026-12-31"] = ()
    assert "2026-12-31" not in schedule.special
    with pytest.raises(TypeError):
        schedule.special["2026-12-31"] = ()  # type: ignore[index]


def test_fields_have_the_plain_types_the_config_checker_reads() -> None:
    # The TOML checker builds a Schedule from a table by these hints; lists arrive as tuples.
    hints = typing.get_type_hints(Schedule)
    fields = [field.name for field in attrs.fields(Schedule) if field.init]
    assert fields == ["timezone", *WEEKDAYS, "closed", "special"]
    assert hints["timezone"] is str
    for name in [*WEEKDAYS, "closed"]:
        assert hints[name] == tuple[str, ...]
    assert hints["special"] == Mapping[str, tuple[str, ...]]


# Mistakes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"timezone": "Europe/Berln"},
            'timezone: unknown time zone "Europe/Berln"',
            id="unknown time zone",
        ),
        pytest.param(
            {"timezone": "Europe"}, 'timezone: unknown time zone "Europe"', id="a zone directory"
        ),
        pytest.param({"timezone": ""}, 'timezone: unknown time zone ""', id="empty time zone"),
        pytest.param(
            {"timezone": "localtime"},
            'timezone: "localtime" is this machine\'s time zone; write its IANA name, '
            'e.g. "Europe/Berlin"',
            id="localtime",
        ),
        pytest.param(
            {"timezone": 1}, "timezone: expected a time zone name, got 1", id="zone not a string"
        ),
        pytest.param(
            {"monday": ("8:00-12:00",)},
            'monday: "8:00-12:00" is not a range "HH:MM-HH:MM"',
            id="one-digit hour",
        ),
        pytest.param(
            {"monday": ("08:00 - 12:00",)},
            'monday: "08:00 - 12:00" is not a range "HH:MM-HH:MM"',
            id="spaces",
        ),
        pytest.param(
            {"monday": (800,)}, 'monday: 800 is not a range "HH:MM-HH:MM"', id="not a string"
        ),
        pytest.param(
            {"tuesday": "08:00-18:00"},
            'tuesday: expected a list of "HH:MM-HH:MM" ranges, got "08:00-18:00"',
            id="a string instead of a list",
        ),
        pytest.param(
            {"tuesday": None},
            'tuesday: expected a list of "HH:MM-HH:MM" ranges, got None',
            id="none instead of a list",
        ),
        pytest.param(
            {"wednesday": ("08:00-25:00",)},
            'wednesday: "08:00-25:00": 25:00 is not a time of day (00:00 to 24:00)',
            id="hour 25",
        ),
        pytest.param(
            {"wednesday": ("08:60-12:00",)},
            'wednesday: "08:60-12:00": 08:60 is not a time of day (00:00 to 24:00)',
            id="minute 60",
        ),
        pytest.param(
            {"wednesday": ("08:00-24:30",)},
            'wednesday: "08:00-24:30": 24:30 is not a time of day (00:00 to 24:00)',
            id="after 24:00",
        ),
        pytest.param(
            {"monday": ("18:00-08:00",)},
            'monday: "18:00-08:00": the end is not after the start (overnight hours: split '
            'them, "18:00-24:00" on monday and "00:00-08:00" on tuesday)',
            id="overnight",
        ),
        pytest.param(
            {"sunday": ("22:00-02:00",)},
            'sunday: "22:00-02:00": the end is not after the start (overnight hours: split '
            'them, "22:00-24:00" on sunday and "00:00-02:00" on monday)',
            id="overnight into the next week",
        ),
        pytest.param(
            {"friday": ("18:00-00:00",)},
            'friday: "18:00-00:00": the end is not after the start (until midnight: write '
            '"18:00-24:00")',
            id="until 00:00",
        ),
        pytest.param(
            {"friday": ("09:00-09:00",)},
            'friday: "09:00-09:00": the end is not after the start (an empty range: remove it)',
            id="empty range",
        ),
        pytest.param(
            {"saturday": ("13:00-18:00", "08:00-13:30")},
            'saturday: "13:00-18:00" overlaps "08:00-13:30"',
            id="overlap",
        ),
        pytest.param(
            {"saturday": ("08:00-12:00", "08:00-12:00")},
            'saturday: "08:00-12:00" overlaps "08:00-12:00"',
            id="the same range twice",
        ),
        pytest.param(
            {"closed": ("2026-13-01",)},
            'closed: "2026-13-01" is not a date (YYYY-MM-DD)',
            id="month 13",
        ),
        pytest.param(
            {"closed": ("2026-02-29",)},
            'closed: "2026-02-29" is not a date (YYYY-MM-DD)',
            id="not a leap year",
        ),
        pytest.param(
            {"closed": ("20261225",)},
            'closed: "20261225" is not a date (YYYY-MM-DD)',
            id="basic ISO format",
        ),
        pytest.param(
            {"closed": (date(2026, 12, 25),)},
            "closed: datetime.date(2026, 12, 25) is not a date (YYYY-MM-DD)",
            id="a date object",
        ),
        pytest.param(
            {"closed": "2026-12-25"},
            'closed: expected a list of dates, got "2026-12-25"',
            id="closed not a list",
        ),
        pytest.param(
            {"special": {"24.12.2026": ("09:00-12:00",)}},
            'special: "24.12.2026" is not a date (YYYY-MM-DD)',
            id="special date",
        ),
        pytest.param(
            {"special": {"2026-12-24": ("9:00-12:00",)}},
            'special."2026-12-24": "9:00-12:00" is not a range "HH:MM-HH:MM"',
            id="special range",
        ),
        pytest.param(
            {"special": {"2026-12-31": ("20:00-02:00",)}},
            'special."2026-12-31": "20:00-02:00": the end is not after the start (overnight '
            'hours: split them, "20:00-24:00" on 2026-12-31 and "00:00-02:00" on 2027-01-01)',
            id="special overnight",
        ),
        pytest.param(
            {"special": [("2026-12-24", ("09:00-12:00",))]},
            "special: expected a table of dates, got [('2026-12-24', ('09:00-12:00',))]",
            id="special not a table",
        ),
        pytest.param(
            {"closed": ("2026-12-24",), "special": {"2026-12-24": ("09:00-12:00",)}},
            'special: "2026-12-24" is also in closed; keep it in one of the two',
            id="closed and special",
        ),
    ],
)
def test_a_bad_value_is_refused_naming_the_field_and_the_item(
    fields: dict[str, typing.Any], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Schedule(**fields)


def test_ranges_may_be_given_in_any_order() -> None:
    schedule = Schedule(monday=("13:00-18:00", "08:00-12:00"))
    assert schedule.monday == ("13:00-18:00", "08:00-12:00")
    assert schedule.describe() == "Mon 08:00–12:00, 13:00–18:00 UTC"


# Properties --------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Havana",  # clocks change at midnight
    "Australia/Lord_Howe",  # clocks change by half an hour
    "Asia/Kathmandu",  # +05:45
]
START = utc(2025, 1, 1)
END = utc(2028, 1, 1)


@st.composite
def day_ranges(draw: st.DrawFn) -> tuple[str, ...]:
    """Ranges for one day, some touching, drawn by cutting the day and keeping some pieces."""
    cuts = draw(st.lists(st.integers(0, 24 * 60), max_size=6, unique=True))
    points = sorted({0, 24 * 60, *cuts})
    kept = draw(st.lists(st.booleans(), min_size=len(points) - 1, max_size=len(points) - 1))
    return tuple(
        f"{clock(start)}-{clock(end)}"
        for (start, end), keep in zip(pairwise(points), kept, strict=True)
        if keep
    )


def clock(minutes: int) -> str:
    return f"{minutes // 60:02}:{minutes % 60:02}"


@st.composite
def schedules_and_instants(draw: st.DrawFn) -> tuple[Schedule, float]:
    zone = draw(st.sampled_from(ZONES))
    instant = draw(
        st.one_of(
            st.floats(START, END),
            st.integers(int(START), int(END)),
            # near a clock change
            st.builds(
                lambda change, shift: change + shift,
                st.sampled_from([utc(2026, 3, 8, 5), utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)]),
                st.integers(-3 * 86400, 3 * 86400),
            ),
        )
    )
    near = datetime.fromtimestamp(instant, ZoneInfo(zone)).date()
    dates = st.integers(-3, 10).map(lambda days: (near + timedelta(days=days)).isoformat())
    closed = draw(st.lists(dates, max_size=3))
    special = draw(
        st.dictionaries(dates.filter(lambda day: day not in closed), day_ranges(), max_size=3)
    )
    week = {day: draw(day_ranges()) for day in WEEKDAYS}
    return Schedule(timezone=zone, closed=tuple(closed), special=special, **week), instant


def reference_is_open(schedule: Schedule, instant: float) -> bool:
    """is_open worked out the slow way, straight from the strings."""
    local = datetime.fromtimestamp(math.floor(instant), ZoneInfo(schedule.timezone))
    day = local.date().isoformat()
    if day in schedule.closed:
        return False
    ranges = schedule.special.get(day, getattr(schedule, WEEKDAYS[local.weekday()]))
    now = local.strftime("%H:%M")
    return any(start <= now < end for start, end in (item.split("-") for item in ranges))


@settings(max_examples=300, deadline=None)
@given(schedules_and_instants(), st.lists(st.floats(0, 1, exclude_max=True), max_size=20))
def test_is_open_holds_until_next_change_and_flips_there(
    case: tuple[Schedule, float], fractions: list[float]
) -> None:
    schedule, start = case
    now = schedule.is_open(start)
    assert now == reference_is_open(schedule, start)
    change = schedule.next_change(start)
    if change is None:
        span = 30 * 86400.0  # longer than any closed or special date drawn
        samples = [start + fraction * span for fraction in [*fractions, 0.5, 0.999]]
    else:
        assert change > start
        assert schedule.is_open(change) != now
        assert reference_is_open(schedule, change) != now
        samples = [start + fraction * (change - start) for fraction in fractions]
        samples = [sample for sample in samples if sample < change]  # rounding
        samples += [max(start, change - 1), max(start, change - 0.001)]
        # Every clock change and every boundary here falls on a whole minute: try each minute
        # of the first two days.
        first = math.ceil(start / 60) * 60
        every_minute = range(first, min(math.ceil(change), first + 2 * 86400), 60)
        assert all(schedule.is_open(minute) == now for minute in every_minute)
    for sample in samples:
        assert schedule.is_open(sample) == now, sample
        assert reference_is_open(schedule, sample) == now, sample
