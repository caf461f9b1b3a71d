"""What a simulation runs: a workspace (queues, agents, strategies), arrivals and durations.

A scenario is a Trunkline configuration plus a ``[simulation]`` table: the queues, agents and
routing settings are the production ones, checked by the same code as ``trunkline serve``, so
the engine the simulator drives is configured exactly as it would be in production. The
``[simulation]`` table adds what production learns from the world: when contacts arrive, how
long they take, how long customers wait before leaving, and when agents work.

:func:`single_queue` builds the M/M/N (or M/M/N+M) scenario of ``trunkline simulate
--arrivals …``; :func:`load_scenario` reads a TOML file.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from trunkline import (
    Agent,
    Queue,
    SettingsTable,
    Workspace,
    WorkspaceConfig,
    config_from_dict,
    load_config,
)

from ..errors import ScenarioError
from .distributions import Distribution, Exponential, parse_distribution

__all__ = [
    "Arrival",
    "ArrivalSource",
    "Scenario",
    "Shift",
    "load_scenario",
    "single_queue",
]


@attrs.frozen
class Arrival:
    """One recorded arrival (from a CSV of a real day, or from a replayed log).

    ``handle``, ``patience`` and ``wrap_up`` override the source's distributions when given;
    ``patience`` of ``math.inf`` means the customer never leaves.
    """

    at: float
    queue: str | None = None
    kind: str | None = None
    priority: int | None = None
    skills: Mapping[str, int] | None = None
    attributes: Mapping[str, Any] | None = None
    language: str | None = None
    customer: str = ""
    handle: float | None = None
    patience: float | None = None
    wrap_up: float | None = None


@attrs.frozen
class ArrivalSource:
    """A stream of contacts into one queue.

    Exactly one of ``rate`` (contacts per second, Poisson), ``profile`` (expected contacts per
    ``interval``, Poisson with that rate in each interval, repeating) or ``arrivals``
    (recorded times) is set.
    """

    queue: str
    handle: Distribution
    kind: str = "voice"
    rate: float | None = None
    profile: tuple[float, ...] | None = None
    interval: float = 900.0
    arrivals: tuple[Arrival, ...] | None = None
    patience: Distribution | None = None
    wrap_up: Distribution | None = None
    answer: Distribution | None = None
    priority: int = 0
    skills: Mapping[str, int] = attrs.field(factory=dict)

    @property
    def poisson(self) -> bool:
        """True for a constant-rate Poisson stream (what Erlang C and Erlang A assume)."""
        return self.rate is not None


@attrs.frozen
class Shift:
    """Agents available from ``start`` to ``end`` seconds of simulated time; offline outside."""

    agents: tuple[str, ...]
    start: float
    end: float


@attrs.frozen
class Scenario:
    """Everything one simulation run needs. ``contacts`` and ``duration`` stop the arrivals."""

    workspace: WorkspaceConfig
    sources: tuple[ArrivalSource, ...]
    shifts: tuple[Shift, ...] = ()
    seed: int = 0
    contacts: int | None = None
    duration: float | None = None
    warmup: float = 0.0
    start: float = 0.0
    interval: float = 900.0
    break_return: float = 300.0

    def queue(self, queue_id: str) -> Queue:
        for queue in self.workspace.queues:
            if queue.id == queue_id:
                return queue
        raise ScenarioError(f'unknown queue "{queue_id}"')


def single_queue(
    *,
    arrivals: float,
    interval: float,
    aht: float,
    agents: int,
    patience: float | None = None,
    target: float = 20.0,
    contacts: int = 100_000,
    seed: int = 0,
    warmup: float = 0.0,
    strategy: str = "longest-idle",
    abandons: str = "ignored",
    short_abandon: float = 0.0,
) -> Scenario:
    """The M/M/N (M/M/N+M with ``patience``) case: one queue, identical agents, voice.

    ``arrivals`` per ``interval`` seconds arrive as a Poisson stream; handle times are
    exponential with mean ``aht``; patience, when given, is exponential with that mean. Agents
    answer an offer at once and there is no wrap-up, as the models assume. The summary's
    intervals (and the charts) are ``interval`` long. The queue's service level counts
    abandons as ``abandons`` says, leaving out those sooner than ``short_abandon`` seconds.
    """
    if interval <= 0 or not math.isfinite(interval):
        raise ScenarioError(f"interval: must be more than 0 seconds, got {interval}")
    if arrivals <= 0 or not math.isfinite(arrivals):
        raise ScenarioError(f"arrivals: must be more than 0, got {arrivals}")
    if aht <= 0 or not math.isfinite(aht):
        raise ScenarioError(f"aht: must be more than 0 seconds, got {aht}")
    if agents < 1:
        raise ScenarioError(f"agents: must be at least 1, got {agents}")
    if patience is not None and (patience <= 0 or math.isnan(patience)):
        raise ScenarioError(f"patience: must be more than 0 seconds, got {patience}")
    if target < 0:
        raise ScenarioError(f"target: must be 0 or more seconds, got {target}")
    if contacts < 1:
        raise ScenarioError(f"contacts: must be at least 1, got {contacts}")
    w = "sim"
    try:
        queue = Queue(
            id="q",
            workspace=w,
            strategy=strategy,
            offer_timeout=0.0,
            service_level_threshold=target,
            service_level_abandons=abandons,
            service_level_short_abandon=short_abandon,
        )
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    team = tuple(
        Agent(id=f"agent-{n}", workspace=w, capacity={"voice": 1}, queues=("q",))
        for n in range(1, agents + 1)
    )
    source = ArrivalSource(
        queue="q",
        handle=Exponential(aht),
        rate=arrivals / interval,
        patience=None if patience is None or math.isinf(patience) else Exponential(patience),
    )
    return Scenario(
        workspace=WorkspaceConfig(workspace=Workspace(id=w), queues=(queue,), agents=team),
        sources=(source,),
        seed=seed,
        contacts=contacts,
        warmup=warmup,
        interval=interval,
    )


# Reading a scenario file ------------------------------------------------------------------

_SIMULATION_KEYS = frozenset(
    {"config", "workspace", "seed", "contacts", "duration", "warmup", "start", "interval"}
    | {"break_return", "arrivals", "shifts", "teams"}
)
_SOURCE_KEYS = frozenset(
    {"queue", "kind", "rate", "arrivals", "per", "profile", "interval", "csv"}
    | {"handle", "patience", "wrap_up", "answer", "priority", "skills"}
)
_TEAM_KEYS = frozenset({"name", "count", "queues", "groups", "skills", "capacity", "shifts"})
_SHIFT_KEYS = frozenset({"agents", "start", "end"})
_CSV_COLUMNS = ("at", "queue", "kind", "priority", "customer", "handle", "patience", "wrap_up")


def load_scenario(
    path: str | Path,
    *,
    adapters: Mapping[str, Any],
    strategies: Collection[str],
    plugin_sections: Mapping[str, type[Any]] | None = None,
    tables: Mapping[str, SettingsTable] | None = None,
    workspace_tables: Mapping[str, SettingsTable] | None = None,
    unavailable_tables: Mapping[str, str] | None = None,
    stores: Mapping[str, type[Any]] | None = None,
    env: Mapping[str, str] | None = None,
    seed: int | None = None,
) -> Scenario:
    """Read a scenario file: a Trunkline configuration (inline, or ``config = "file"``) plus
    its ``[simulation]`` table. Raises :class:`ScenarioError` (or ``ConfigError`` for the
    configuration part) naming the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    table = data.pop("simulation", None)
    if not isinstance(table, dict):
        raise ScenarioError(f"{path}: no [simulation] table (see docs/simulation.md)")
    unknown = sorted(set(table) - _SIMULATION_KEYS)
    if unknown:
        raise ScenarioError(
            f"{path}: simulation.{unknown[0]}: unknown key "
            f"(known: {', '.join(sorted(_SIMULATION_KEYS))})"
        )
    env = {} if env is None else env
    kwargs: dict[str, Any] = {
        "adapters": adapters,
        "strategies": strategies,
        "plugin_sections": plugin_sections,
        "tables": tables,
        "workspace_tables": workspace_tables,
        "unavailable_tables": unavailable_tables,
        "stores": stores,
        "env": env,
    }
    base = path.parent
    if "config" in table:
        if data:
            raise ScenarioError(
                f"{path}: simulation.config: give the configuration either inline or as a "
                f"file, not both (found {', '.join(sorted(data))})"
            )
        config = load_config(base / _text(table["config"], "simulation.config"), **kwargs)
    else:
        config = config_from_dict(data, source=str(path), **kwargs)
    return scenario_from_table(config, table, base=base, where=str(path), seed=seed)


def scenario_from_table(
    config: Any, table: Mapping[str, Any], *, base: Path, where: str, seed: int | None = None
) -> Scenario:
    """A scenario from a checked configuration and its ``[simulation]`` table."""

    def fail(key: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{where}: simulation.{key}: {problem}")

    workspaces = dict(config.workspaces)
    wid = table.get("workspace")
    if wid is None:
        if len(workspaces) != 1:
            raise fail("workspace", f"name one of {', '.join(sorted(workspaces)) or 'none'}")
        (workspace,) = workspaces.values()
    elif wid not in workspaces:
        raise fail("workspace", f'unknown workspace "{wid}"')
    else:
        workspace = workspaces[wid]
    queues = {q.id for q in workspace.queues}

    teams = table.get("teams", [])
    if not isinstance(teams, list):
        raise fail("teams", "expected [[simulation.teams]] tables")
    shifts: list[Shift] = []
    generated: list[Agent] = []
    for n, team in enumerate(teams):
        key = f"teams[{n}]"
        _known(team, _TEAM_KEYS, key, fail)
        name = _text(team.get("name", f"team{n + 1}"), f"simulation.{key}.name")
        count = team.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise fail(f"{key}.count", f"expected a whole number of agents, got {count!r}")
        serves = tuple(team.get("queues", ()))
        for qid in serves:
            if qid not in queues:
                raise fail(f"{key}.queues", f'unknown queue "{qid}"')
        skills = dict(team.get("skills", {}))
        for skill in skills:
            if skill not in workspace.skills:
                raise fail(f"{key}.skills", f'unknown skill "{skill}"')
        try:
            members = tuple(
                Agent(
                    id=f"{name}-{i}",
                    workspace=workspace.workspace.id,
                    skills=skills,
                    capacity=dict(team.get("capacity", {"voice": 1})),
                    queues=serves,
                    groups=tuple(team.get("groups", ())),
                )
                for i in range(1, count + 1)
            )
        except (TypeError, ValueError) as exc:
            raise fail(key, str(exc)) from None
        generated.extend(members)
        for m, pair in enumerate(team.get("shifts", ())):
            start, end = _span(pair, f"{key}.shifts[{m}]", fail)
            shifts.append(Shift(tuple(a.id for a in members), start, end))
    if generated:
        taken = {a.id for a in workspace.agents}
        clash = next((a.id for a in generated if a.id in taken), None)
        if clash is not None:
            raise fail("teams", f'agent "{clash}" exists already')
        workspace = attrs.evolve(workspace, agents=(*workspace.agents, *generated))
    agents = {a.id for a in workspace.agents}

    for n, shift in enumerate(_tables(table.get("shifts", []), "shifts", fail)):
        key = f"shifts[{n}]"
        _known(shift, _SHIFT_KEYS, key, fail)
        names = shift.get("agents", "*")
        members_ = sorted(agents) if names == "*" else list(names)
        for aid in members_:
            if aid not in agents:
                raise fail(f"{key}.agents", f'unknown agent "{aid}"')
        start, end = _span([shift.get("start"), shift.get("end")], key, fail)
        shifts.append(Shift(tuple(members_), start, end))

    sources = []
    for n, spec in enumerate(_tables(table.get("arrivals", []), "arrivals", fail)):
        sources.append(_source(spec, f"arrivals[{n}]", queues, base, fail))
    if not sources:
        raise fail("arrivals", "add at least one [[simulation.arrivals]] table")

    contacts = table.get("contacts")
    duration = table.get("duration")
    if contacts is None and duration is None and any(s.arrivals is None for s in sources):
        raise fail("duration", "give duration (seconds) or contacts, or arrivals never stop")
    if contacts is not None and (not isinstance(contacts, int) or contacts < 1):
        raise fail("contacts", f"expected a whole number of contacts, got {contacts!r}")
    return Scenario(
        workspace=workspace,
        sources=tuple(sources),
        shifts=tuple(shifts),
        seed=_int(table.get("seed", 0), "seed", fail) if seed is None else seed,
        contacts=contacts,
        duration=None if duration is None else _seconds(duration, "duration", fail),
        warmup=_seconds(table.get("warmup", 0.0), "warmup", fail, zero=True),
        start=_start(table.get("start", 0.0), fail),
        interval=_seconds(table.get("interval", 900.0), "interval", fail),
        break_return=_seconds(table.get("break_return", 300.0), "break_return", fail, zero=True),
    )


def _source(
    spec: Mapping[str, Any],
    key: str,
    queues: Collection[str],
    base: Path,
    fail: Callable[[str, str], ScenarioError],
) -> ArrivalSource:
    _known(spec, _SOURCE_KEYS, key, fail)
    qid = spec.get("queue")
    if qid not in queues:
        raise fail(f"{key}.queue", f"expected one of {', '.join(sorted(queues))}, got {qid!r}")
    assert isinstance(qid, str)
    given = [k for k in ("rate", "arrivals", "profile", "csv") if k in spec]
    if len(given) != 1:
        raise fail(key, "give exactly one of rate, arrivals (with per), profile or csv")
    interval = _seconds(spec.get("interval", 900.0), f"{key}.interval", fail)
    rate = profile = recorded = None
    if "rate" in spec:  # contacts per hour
        rate = _seconds(spec["rate"], f"{key}.rate", fail) / 3600.0
    elif "arrivals" in spec:
        per = _seconds(spec.get("per", 3600.0), f"{key}.per", fail)
        rate = _seconds(spec["arrivals"], f"{key}.arrivals", fail) / per
    elif "profile" in spec:
        values = spec["profile"]
        if not isinstance(values, list) or not values:
            raise fail(f"{key}.profile", "expected a list of expected contacts per interval")
        profile = tuple(
            _seconds(v, f"{key}.profile[{i}]", fail, zero=True) for i, v in enumerate(values)
        )
    else:
        recorded = read_arrivals(base / _text(spec["csv"], f"simulation.{key}.csv"), queues)
    handle = spec.get("handle")
    if handle is None:
        raise fail(
            f"{key}.handle", 'give the handle time, e.g. { dist = "exponential", mean = 180 }'
        )
    optional = {
        name: None if spec.get(name) is None else parse_distribution(spec[name], f"{key}.{name}")
        for name in ("patience", "wrap_up", "answer")
    }
    return ArrivalSource(
        queue=qid,
        kind=_text(spec.get("kind", "voice"), f"simulation.{key}.kind"),
        rate=rate,
        profile=profile,
        interval=interval,
        arrivals=recorded,
        handle=parse_distribution(handle, f"{key}.handle"),
        patience=optional["patience"],
        wrap_up=optional["wrap_up"],
        answer=optional["answer"],
        priority=_int(spec.get("priority", 0), f"{key}.priority", fail),
        skills=dict(spec.get("skills", {})),
    )


def read_arrivals(path: Path, queues: Collection[str] = ()) -> tuple[Arrival, ...]:
    """Arrivals from a CSV with a header: ``at`` (seconds, or an ISO 8601 time) and optional
    ``queue``, ``kind``, ``priority``, ``customer``, ``handle``, ``patience``, ``wrap_up``.

    ISO times are made relative to the first row's day start (UTC midnight), so a day's log
    runs from 0 to 86,400 seconds.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the file: {exc.strerror}") from None
    if not rows:
        raise ScenarioError(f"{path}: no arrivals")
    columns = set(rows[0])
    unknown = sorted(columns - set(_CSV_COLUMNS))
    if "at" not in columns or unknown:
        problem = f"unknown column {unknown[0]!r}" if unknown else "no 'at' column"
        raise ScenarioError(f"{path}: {problem} (columns: {', '.join(_CSV_COLUMNS)})")
    out: list[Arrival] = []
    origin: float | None = None
    for line, row in enumerate(rows, start=2):
        try:
            at_text = row["at"].strip()
            try:
                at = float(at_text)
            except ValueError:
                stamp = datetime.fromisoformat(at_text.replace("Z", "+00:00")).timestamp()
                if origin is None:
                    origin = stamp - stamp % 86400
                at = stamp - origin
            queue = row.get("queue") or None
            if queue is not None and queues and queue not in queues:
                raise ValueError(f'unknown queue "{queue}"')

            priority = (row.get("priority") or "").strip()
            out.append(
                Arrival(
                    at=at,
                    queue=queue,
                    kind=row.get("kind") or None,
                    priority=int(priority) if priority else None,
                    customer=row.get("customer") or "",
                    handle=_csv_seconds(row, "handle"),
                    patience=_csv_seconds(row, "patience"),
                    wrap_up=_csv_seconds(row, "wrap_up"),
                )
            )
        except (ValueError, TypeError) as exc:
            raise ScenarioError(f"{path}:{line}: {exc}") from None
    out.sort(key=lambda a: a.at)
    return tuple(out)


def _csv_seconds(row: Mapping[str, str | None], name: str) -> float | None:
    text = (row.get(name) or "").strip()
    if not text:
        return None
    value = float(text)
    if value < 0 or math.isnan(value):
        raise ValueError(f"{name} must be 0 or more")
    return value


def _tables(
    value: Any, key: str, fail: Callable[[str, str], ScenarioError]
) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise fail(key, f"expected [[simulation.{key}]] tables")
    return value


def _known(
    table: Any, known: Collection[str], key: str, fail: Callable[[str, str], ScenarioError]
) -> None:
    if not isinstance(table, dict):
        raise fail(key, "expected a table")
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise fail(f"{key}.{unknown[0]}", f"unknown key (known: {', '.join(sorted(known))})")


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{key}: expected text, got {value!r}")
    return value


def _int(value: Any, key: str, fail: Callable[[str, str], ScenarioError]) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise fail(key, f"expected a whole number, got {value!r}")
    return value


def _seconds(
    value: Any, key: str, fail: Callable[[str, str], ScenarioError], *, zero: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(key, f"expected a number, got {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise fail(key, f"must be {'0 or more' if zero else 'more than 0'}, got {value!r}")
    return float(value)


def _span(
    pair: Sequence[Any], key: str, fail: Callable[[str, str], ScenarioError]
) -> tuple[float, float]:
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        raise fail(key, "expected [start, end] in seconds")
    start = _seconds(pair[0], key, fail, zero=True)
    end = _seconds(pair[1], key, fail)
    if end <= start:
        raise fail(key, f"ends ({end}) before it starts ({start})")
    return start, end


def _start(value: Any, fail: Callable[[str, str], ScenarioError]) -> float:
    """Simulated time zero as a Unix time: a number, or an ISO 8601 date-time (business hours)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise fail("start", f"expected an ISO 8601 time, got {value!r}") from None
    return _seconds(value, "start", fail, zero=True)
