"""Skill requirement expressions: which agents may take a contact, written as a condition.

This module's one job is the small language in which queues and escalation steps state their
requirement, for example ``language == "de" and billing >= 3``.

* :func:`parse_requirement` checks the text once, with Python's own :mod:`ast` parser and a
  walk that accepts only the subset below, and compiles it. Every mistake raises
  :class:`RequirementError` with the column of the culprit.
* :meth:`Requirement.bind` resolves everything the contact decides (its language, channel,
  attributes…) and returns an :class:`AgentPredicate`: a cheap, hashable test of an agent's
  skills that the routing engine calls on its hot path. The residual is simplified, so a
  requirement that only asks for minimum levels comes back as :attr:`AgentPredicate.minimums`.
* :meth:`Requirement.explain` says in words why an agent does not qualify.

The language
------------
``and``, ``or``, ``not`` and parentheses; the comparisons ``==``, ``!=``, ``<``, ``<=``,
``>``, ``>=``, ``in`` and ``not in`` (chains such as ``2 <= billing <= 4`` too); constants:
strings, numbers (a leading ``-`` or ``+`` is part of the number), ``true``/``false`` (or
``True``/``False``); lists, tuples and sets of constants, on the right of ``in``/``not in``.

A bare name is an agent's skill when the workspace knows that skill: its value is the agent's
proficiency, 0 to :data:`~trunkline.model.MAX_PROFICIENCY`, 0 when the agent lacks it.
Otherwise it is a field of the contact: ``language``, ``channel`` (the channel instance
name), ``kind`` (the channel kind), ``priority``, ``direction``, ``queue`` or ``customer``.
``skills.NAME`` and ``skills["fr-CA"]`` always mean a skill; ``attributes.NAME`` and
``attributes["NAME"]`` are the contact's free attributes (missing ones are ``None``).

Values compare only with values of the same kind (strings, numbers, booleans, nothing):
otherwise ``==``, ``<``, ``<=``, ``>``, ``>=`` and ``in`` are false, ``!=`` and ``not in``
true, so evaluation never raises. Standing alone (as the whole requirement or as an operand
of ``and``/``or``/``not``), a skill means "the agent has it" (level 1 or more) and any other
value means "is truthy".
"""

from __future__ import annotations

import ast
import functools
import json
import operator
import re
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, NoReturn, TypeAlias

import attrs

from .errors import TrunklineError
from .model import MAX_PROFICIENCY, Contact

__all__ = [
    "ALWAYS",
    "AgentPredicate",
    "Requirement",
    "RequirementError",
    "combine",
    "minimums_predicate",
    "parse_requirement",
]


def _quote(text: str) -> str:
    """``text`` in double quotes unless it holds some, escaped like Python's ``repr``."""
    shown = repr(text)
    if shown.startswith("'") and '"' not in text:
        shown = f'"{shown[1:-1]}"'
    return shown


class RequirementError(TrunklineError):
    """A requirement is refused. ``str(error)`` is ``requirement "TEXT", column N: problem``.

    ``text`` is the whole requirement, ``column`` the 1-based position of the culprit in it
    (counted in characters over the whole text when it spans several lines) and ``message``
    the problem alone.
    """

    def __init__(self, message: str, *, text: str, column: int) -> None:
        self.message = message
        self.text = text
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"requirement {_quote(self.text)}, column {self.column}: {self.message}"


# Values -------------------------------------------------------------------------------------

LEVELS: Final = tuple(range(MAX_PROFICIENCY + 1))
_ALL_LEVELS: Final = frozenset(LEVELS)
_ALL_PAIRS: Final = frozenset((x, y) for x in LEVELS for y in LEVELS)
_LOWER_BOUNDS: Final = {frozenset(range(n, MAX_PROFICIENCY + 1)): n for n in LEVELS[1:]}

_NONE, _BOOL, _NUMBER, _STR, _OTHER = range(5)


def _kind(value: object) -> int:
    """Which values ``value`` compares with: only those of the same kind."""
    if value is None:
        return _NONE
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int | float):
        return _NUMBER
    if isinstance(value, str):
        return _STR
    return _OTHER


@attrs.frozen
class _Choices:
    """The constants of a list literal, with a set of ``(kind, value)`` for quick membership."""

    values: tuple[object, ...]
    keys: frozenset[tuple[int, object]]

    @classmethod
    def of(cls, values: Iterable[object]) -> _Choices:
        values = tuple(values)
        return cls(values, frozenset((_kind(v), v) for v in values))


def _equal(a: object, b: object) -> bool:
    if _kind(a) != _kind(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # an attribute value with a broken __eq__ is simply not equal
        return False


def _not_equal(a: object, b: object) -> bool:
    return not _equal(a, b)


def _ordered(test: Callable[[Any, Any], object]) -> Callable[[object, object], bool]:
    def compare(a: object, b: object) -> bool:
        kind = _kind(a)
        return kind == _kind(b) and kind in (_NUMBER, _STR) and bool(test(a, b))

    return compare


def _contains(item: object, container: object) -> bool:
    if isinstance(container, _Choices):
        kind = _kind(item)
        # Constants are never of the OTHER kind, which may not even be hashable.
        return kind != _OTHER and (kind, item) in container.keys
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    candidates: Iterable[object]
    if isinstance(container, Mapping):
        candidates = container.keys()
    elif isinstance(container, list | tuple | set | frozenset):
        candidates = container
    else:
        return False
    return any(_equal(item, candidate) for candidate in candidates)


def _not_contains(item: object, container: object) -> bool:
    return not _contains(item, container)


def _truthy(value: object) -> bool:
    try:
        return bool(value)
    except Exception:  # an attribute value that refuses bool() counts as false
        return False


_Compare: TypeAlias = Callable[[object, object], bool]
_TESTS: Final[Mapping[str, _Compare]] = MappingProxyType(
    {
        "==": _equal,
        "!=": _not_equal,
        "<": _ordered(operator.lt),
        "<=": _ordered(operator.le),
        ">": _ordered(operator.gt),
        ">=": _ordered(operator.ge),
        "in": _contains,
        "not in": _not_contains,
    }
)
_OPERATORS: Final[Mapping[type[ast.cmpop], str]] = MappingProxyType(
    {
        ast.Eq: "==",
        ast.NotEq: "!=",
        ast.Lt: "<",
        ast.LtE: "<=",
        ast.Gt: ">",
        ast.GtE: ">=",
        ast.In: "in",
        ast.NotIn: "not in",
    }
)

_Getter: TypeAlias = Callable[[Contact], object]
_CONTACT_FIELDS: Final[Mapping[str, _Getter]] = MappingProxyType(
    {
        "language": operator.attrgetter("language"),
        "channel": operator.attrgetter("channel"),
        "kind": operator.attrgetter("channel_kind"),
        "priority": operator.attrgetter("priority"),
        "direction": operator.attrgetter("direction.value"),
        "queue": operator.attrgetter("queue"),
        "customer": operator.attrgetter("customer_id"),
    }
)
_BOOLEANS: Final[Mapping[str, bool]] = MappingProxyType({"true": True, "false": False})


# The parsed requirement, as written -----------------------------------------------------------


@attrs.frozen
class _Const:
    value: object
    text: str


@attrs.frozen
class _Field:
    """A value the contact decides: one of its fields or attributes."""

    text: str
    get: _Getter


@attrs.frozen
class _Skill:
    name: str
    text: str


@attrs.frozen
class _Items:
    choices: _Choices
    text: str


_Operand: TypeAlias = "_Const | _Field | _Skill | _Items"


@attrs.frozen
class _Comparison:
    """One link of a comparison chain: ``left op right``."""

    left: _Operand
    op: str
    right: _Operand
    text: str


@attrs.frozen
class _Truth:
    """A value standing alone as a condition."""

    operand: _Operand
    text: str


@attrs.frozen
class _Not:
    child: _Cond
    text: str


@attrs.frozen
class _And:
    children: tuple[_Cond, ...]


@attrs.frozen
class _Or:
    children: tuple[_Cond, ...]


_Cond: TypeAlias = "_Comparison | _Truth | _Not | _And | _Or"


# Residuals: what is left of a requirement once the contact is known ---------------------------
# They are canonical (flattened, merged per skill, unordered), hashable, and serve as keys.


@attrs.frozen(cache_hash=True)
class _RSkill:
    """The agent's level in ``skill`` is one of ``levels`` (never empty, never all)."""

    skill: str
    levels: frozenset[int]


@attrs.frozen(cache_hash=True)
class _RPair:
    """The agent's levels in two skills (``first < second``) form one of ``pairs``."""

    first: str
    second: str
    pairs: frozenset[tuple[int, int]]


@attrs.frozen(cache_hash=True)
class _RAll:
    parts: frozenset[_Residual]


@attrs.frozen(cache_hash=True)
class _RAny:
    parts: frozenset[_Residual]


_Residual: TypeAlias = "bool | _RSkill | _RPair | _RAll | _RAny"
_RESIDUAL_TYPES: Final = (bool, _RSkill, _RPair, _RAll, _RAny)


def _skill_atom(skill: str, levels: frozenset[int]) -> _Residual:
    if not levels:
        return False
    if levels == _ALL_LEVELS:
        return True
    return _RSkill(skill, levels)


def _pair_atom(first: str, second: str, pairs: frozenset[tuple[int, int]]) -> _Residual:
    if first == second:
        return _skill_atom(first, frozenset(x for x, y in pairs if x == y))
    if first > second:
        first, second, pairs = second, first, frozenset((y, x) for x, y in pairs)
    if not pairs:
        return False
    if pairs == _ALL_PAIRS:
        return True
    return _RPair(first, second, pairs)


def _join(parts: Iterable[_Residual], *, every: bool) -> _Residual:
    """``and`` (``every``) or ``or`` of ``parts``: flattened, merged per skill, deduplicated."""
    absorbing = not every
    same: type[_RAll] | type[_RAny] = _RAll if every else _RAny
    levels: dict[str, frozenset[int]] = {}
    pairs: dict[tuple[str, str], frozenset[tuple[int, int]]] = {}
    others: set[_Residual] = set()
    stack = list(parts)
    while stack:
        part = stack.pop()
        if isinstance(part, bool):
            if part is absorbing:
                return absorbing
        elif isinstance(part, same):
            stack.extend(part.parts)
        elif isinstance(part, _RSkill):
            old = levels.get(part.skill)
            levels[part.skill] = (
                part.levels if old is None else old & part.levels if every else old | part.levels
            )
        elif isinstance(part, _RPair):
            names = (part.first, part.second)
            seen = pairs.get(names)
            pairs[names] = (
                part.pairs if seen is None else seen & part.pairs if every else seen | part.pairs
            )
        else:
            others.add(part)
    merged = [_skill_atom(skill, found) for skill, found in levels.items()]
    merged += [_pair_atom(first, second, found) for (first, second), found in pairs.items()]
    for atom in merged:
        if isinstance(atom, bool):
            if atom is absorbing:
                return absorbing
        else:
            others.add(atom)
    if not others:
        return every
    if len(others) == 1:
        return others.pop()
    return same(frozenset(others))


def _minimums(residual: _Residual) -> dict[str, int] | None:
    """The minimum level per skill when ``residual`` is a conjunction of lower bounds."""
    if residual is True:
        return {}
    parts = residual.parts if isinstance(residual, _RAll) else (residual,)
    found: dict[str, int] = {}
    for part in parts:
        if not isinstance(part, _RSkill) or part.levels not in _LOWER_BOUNDS:
            return None
        found[part.skill] = _LOWER_BOUNDS[part.levels]
    return found


# Compiled tests of an agent's skills ------------------------------------------------------------

_Test: TypeAlias = Callable[[Mapping[str, int]], bool]


def _always(skills: Mapping[str, int]) -> bool:
    return True


def _never(skills: Mapping[str, int]) -> bool:
    return False


def _minimums_test(minimums: Mapping[str, int]) -> _Test:
    items = tuple(minimums.items())
    if not items:
        return _always
    if len(items) == 1:
        ((skill, level),) = items

        def one(skills: Mapping[str, int]) -> bool:
            return skills.get(skill, 0) >= level

        return one

    def every(skills: Mapping[str, int]) -> bool:
        for skill, level in items:  # noqa: SIM110 (a loop is faster than all() here)
            if skills.get(skill, 0) < level:
                return False
        return True

    return every


def _levels_test(skill: str, levels: frozenset[int]) -> _Test:
    def test(skills: Mapping[str, int]) -> bool:
        return skills.get(skill, 0) in levels

    return test


def _pair_test(first: str, second: str, pairs: frozenset[tuple[int, int]]) -> _Test:
    def test(skills: Mapping[str, int]) -> bool:
        return (skills.get(first, 0), skills.get(second, 0)) in pairs

    return test


def _all_test(tests: tuple[_Test, ...]) -> _Test:
    def test(skills: Mapping[str, int]) -> bool:
        for part in tests:  # noqa: SIM110 (a loop is faster than all() here)
            if not part(skills):
                return False
        return True

    return test


def _any_test(tests: tuple[_Test, ...]) -> _Test:
    def test(skills: Mapping[str, int]) -> bool:
        for part in tests:  # noqa: SIM110 (a loop is faster than any() here)
            if part(skills):
                return True
        return False

    return test


def _compile(residual: _Residual) -> _Test:
    """A closure testing ``residual``; lower bounds are tested directly, cheapest first."""
    if isinstance(residual, bool):
        return _always if residual else _never
    minimums = _minimums(residual)
    if minimums is not None:
        return _minimums_test(minimums)
    if isinstance(residual, _RSkill):
        return _levels_test(residual.skill, residual.levels)
    if isinstance(residual, _RPair):
        return _pair_test(residual.first, residual.second, residual.pairs)
    atoms = [p for p in residual.parts if isinstance(p, _RSkill | _RPair)]
    nested = [p for p in residual.parts if not isinstance(p, _RSkill | _RPair)]
    if isinstance(residual, _RAny):
        return _any_test(tuple(_compile(p) for p in (*atoms, *nested)))
    bounds = {
        p.skill: _LOWER_BOUNDS[p.levels]
        for p in atoms
        if isinstance(p, _RSkill) and p.levels in _LOWER_BOUNDS
    }
    rest = [p for p in atoms if not (isinstance(p, _RSkill) and p.skill in bounds)]
    tests = [_minimums_test(bounds)] if bounds else []
    tests += [_compile(p) for p in (*rest, *nested)]
    return _all_test(tuple(tests))


@attrs.frozen
class AgentPredicate:
    """A requirement with the contact's part already decided: a test of an agent's skills.

    Call it with the agent's skill levels (a missing skill is level 0). ``key`` is canonical
    and hashable: predicates that test the same conjunction or disjunction of skill levels
    have equal keys whatever the order or spelling (``billing > 2`` and ``billing >= 3``),
    and predicates compare and hash by their key. ``constant`` is ``True``/``False`` when the
    answer no longer depends on the agent, else ``None``. ``minimums`` is the minimum level
    per skill when the test is exactly "at least these levels" (``{}`` when it is always
    true), else ``None``.

    Levels are assumed to be whole numbers from 0 to
    :data:`~trunkline.model.MAX_PROFICIENCY`; the simplifications rely on it.
    """

    key: Hashable
    constant: bool | None = attrs.field(eq=False)
    minimums: Mapping[str, int] | None = attrs.field(eq=False)
    _test: _Test = attrs.field(eq=False, repr=False, alias="test")

    def __call__(self, skills: Mapping[str, int]) -> bool:
        """True when an agent with these skill levels qualifies."""
        return self._test(skills)


@functools.lru_cache(maxsize=4096)
def _predicate(residual: _Residual) -> AgentPredicate:
    minimums = _minimums(residual)
    return AgentPredicate(
        key=residual,
        constant=residual if isinstance(residual, bool) else None,
        minimums=None if minimums is None else MappingProxyType(minimums),
        test=_compile(residual),
    )


ALWAYS: Final[AgentPredicate] = _predicate(True)
"""The predicate of the requirement ``true``: every agent qualifies."""


def minimums_predicate(minimums: Mapping[str, int]) -> AgentPredicate:
    """The predicate "at least these levels", as in a plain ``skills = { billing = 3 }``.

    It equals (same key) the predicate of the requirement ``billing >= 3``.
    """
    return _minimums_predicate(tuple(sorted(minimums.items())))


@functools.lru_cache(maxsize=1024)
def _minimums_predicate(items: tuple[tuple[str, int], ...]) -> AgentPredicate:
    atoms = (
        _skill_atom(skill, frozenset(x for x in LEVELS if x >= level)) for skill, level in items
    )
    return _predicate(_join(atoms, every=True))


def combine(*predicates: AgentPredicate) -> AgentPredicate:
    """The logical AND of ``predicates`` (:data:`ALWAYS` for none).

    Minimums are merged by taking the higher level per skill, so combining minimum-level
    predicates gives a minimum-level predicate.
    """
    if len(predicates) == 1:
        return predicates[0]
    keys = [p.key for p in predicates]
    if all(isinstance(key, _RESIDUAL_TYPES) for key in keys):
        return _predicate(_join(keys, every=True))  # type: ignore[arg-type]
    # Predicates built by hand: combine them as they are.
    constant: bool | None = None
    if any(p.constant is False for p in predicates):
        constant = False
    elif all(p.constant is True for p in predicates):
        constant = True
    merged: dict[str, int] | None = {}
    for p in predicates:
        if p.minimums is None or merged is None:
            merged = None
            continue
        for skill, level in p.minimums.items():
            merged[skill] = max(level, merged.get(skill, level))
    if constant is False:
        merged = None
    return AgentPredicate(
        key=("and", frozenset(keys)),
        constant=constant,
        minimums=None if merged is None else MappingProxyType(merged),
        test=(
            _never
            if constant is False
            else _minimums_test(merged)
            if merged is not None
            else _all_test(tuple(p._test for p in predicates))
        ),
    )


# Partial evaluation --------------------------------------------------------------------------


@attrs.frozen
class _Slot:
    """A part decided by the contact: the ``index``-th leaf's outcome."""

    index: int


@attrs.frozen
class _Both:
    parts: tuple[_Shape, ...]


@attrs.frozen
class _Either:
    parts: tuple[_Shape, ...]


_Shape: TypeAlias = "_Residual | _Slot | _Both | _Either"
_Leaf: TypeAlias = Callable[[Contact], _Residual]


def _fill(shape: _Shape, outcomes: tuple[_Residual, ...]) -> _Residual:
    if isinstance(shape, _Slot):
        return outcomes[shape.index]
    if isinstance(shape, _Both | _Either):
        parts = (_fill(part, outcomes) for part in shape.parts)
        return _join(parts, every=isinstance(shape, _Both))
    return shape


def _static(operand: _Operand) -> object:
    """The value of an operand that needs neither contact nor agent."""
    if isinstance(operand, _Items):
        return operand.choices
    if isinstance(operand, _Const):
        return operand.value
    raise AssertionError(f"{operand.text} is not a constant")


def _getter(operand: _Operand) -> _Getter:
    if isinstance(operand, _Field):
        return operand.get
    value = _static(operand)
    return lambda contact: value


def _levels_where(
    test: _Compare, value: object, negate: bool, *, skill_left: bool
) -> frozenset[int]:
    if skill_left:
        return frozenset(x for x in LEVELS if test(x, value) != negate)
    return frozenset(x for x in LEVELS if test(value, x) != negate)


_MEMO_SIZE: Final = 256


def _skill_leaf(
    skill: str, test: _Compare, get: _Getter, negate: bool, *, skill_left: bool
) -> _Leaf:
    """A leaf comparing a skill with a contact value, remembering the atom per value."""
    memo: dict[tuple[int, object], _Residual] = {}

    def leaf(contact: Contact) -> _Residual:
        value = get(contact)
        kind = _kind(value)
        remember = kind != _OTHER and value == value  # hashable, and not NaN
        if remember and (found := memo.get((kind, value))) is not None:
            return found
        atom = _skill_atom(skill, _levels_where(test, value, negate, skill_left=skill_left))
        if remember and len(memo) < _MEMO_SIZE:
            memo[kind, value] = atom
        return atom

    return leaf


class _Lowerer:
    """Turns a condition into negation-free shapes whose contact parts are numbered leaves."""

    def __init__(self) -> None:
        self.leaves: list[_Leaf] = []

    def leaf(self, leaf: _Leaf) -> _Slot:
        self.leaves.append(leaf)
        return _Slot(len(self.leaves) - 1)

    def lower(self, cond: _Cond, negate: bool) -> _Shape:
        if isinstance(cond, _Not):
            return self.lower(cond.child, not negate)
        if isinstance(cond, _And | _Or):
            every = isinstance(cond, _And) != negate
            parts = [self.lower(child, negate) for child in cond.children]
            decided = _join([p for p in parts if isinstance(p, _RESIDUAL_TYPES)], every=every)
            open_parts: list[_Shape] = [p for p in parts if not isinstance(p, _RESIDUAL_TYPES)]
            if not open_parts or decided is (not every):
                return decided
            if decided is not every:
                open_parts.insert(0, decided)
            if len(open_parts) == 1:
                return open_parts[0]
            return (_Both if every else _Either)(tuple(open_parts))
        if isinstance(cond, _Truth):
            return self.truth(cond.operand, negate)
        return self.comparison(cond, negate)

    def truth(self, operand: _Operand, negate: bool) -> _Shape:
        if isinstance(operand, _Skill):
            levels = frozenset(x for x in LEVELS if (x >= 1) != negate)
            return _skill_atom(operand.name, levels)
        if isinstance(operand, _Field):
            get = operand.get
            return self.leaf(lambda contact: _truthy(get(contact)) != negate)
        return _truthy(_static(operand)) != negate

    def comparison(self, cond: _Comparison, negate: bool) -> _Shape:
        left, right, test = cond.left, cond.right, _TESTS[cond.op]
        if isinstance(left, _Skill) and isinstance(right, _Skill):
            pairs = frozenset((x, y) for x in LEVELS for y in LEVELS if test(x, y) != negate)
            return _pair_atom(left.name, right.name, pairs)
        if isinstance(left, _Skill) or isinstance(right, _Skill):
            skill_left = isinstance(left, _Skill)
            skill, other = (left, right) if skill_left else (right, left)
            assert isinstance(skill, _Skill)
            name = skill.name
            if isinstance(other, _Field):
                return self.leaf(_skill_leaf(name, test, other.get, negate, skill_left=skill_left))
            return _skill_atom(
                name, _levels_where(test, _static(other), negate, skill_left=skill_left)
            )
        if not isinstance(left, _Field) and not isinstance(right, _Field):
            return test(_static(left), _static(right)) != negate
        get_left, get_right = _getter(left), _getter(right)
        return self.leaf(lambda contact: test(get_left(contact), get_right(contact)) != negate)


_CACHE_SIZE: Final = 1024


@attrs.define(eq=False)
class _Plan:
    """The compiled requirement: the shape, its leaves, and predicates already built."""

    shape: _Shape
    leaves: tuple[_Leaf, ...]
    fixed: AgentPredicate | None
    cache: dict[tuple[_Residual, ...], AgentPredicate] = attrs.field(factory=dict)

    @classmethod
    def of(cls, cond: _Cond) -> _Plan:
        lowerer = _Lowerer()
        shape = lowerer.lower(cond, False)
        fixed = _predicate(shape) if isinstance(shape, _RESIDUAL_TYPES) else None
        return cls(shape, tuple(lowerer.leaves), fixed)

    def bind(self, contact: Contact) -> AgentPredicate:
        if self.fixed is not None:
            return self.fixed
        outcomes = tuple([leaf(contact) for leaf in self.leaves])
        found = self.cache.get(outcomes)
        if found is None:
            found = _predicate(_fill(self.shape, outcomes))
            if len(self.cache) >= _CACHE_SIZE:
                self.cache.clear()
            self.cache[outcomes] = found
        return found


# Explanations -------------------------------------------------------------------------------


def _value(operand: _Operand, contact: Contact, skills: Mapping[str, int]) -> object:
    if isinstance(operand, _Skill):
        return skills.get(operand.name, 0)
    if isinstance(operand, _Field):
        return operand.get(contact)
    return _static(operand)


def _holds(cond: _Cond, contact: Contact, skills: Mapping[str, int]) -> bool:
    if isinstance(cond, _And):
        return all(_holds(child, contact, skills) for child in cond.children)
    if isinstance(cond, _Or):
        return any(_holds(child, contact, skills) for child in cond.children)
    if isinstance(cond, _Not):
        return not _holds(cond.child, contact, skills)
    if isinstance(cond, _Truth):
        value = _value(cond.operand, contact, skills)
        if isinstance(cond.operand, _Skill):
            return isinstance(value, int) and value >= 1
        return _truthy(value)
    test = _TESTS[cond.op]
    return test(_value(cond.left, contact, skills), _value(cond.right, contact, skills))


def _show(value: object) -> str:
    if value is None:
        return "no value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _operands(cond: _Cond) -> Iterable[_Operand]:
    if isinstance(cond, _And | _Or):
        for child in cond.children:
            yield from _operands(child)
    elif isinstance(cond, _Not):
        yield from _operands(cond.child)
    elif isinstance(cond, _Truth):
        yield cond.operand
    else:
        yield cond.left
        yield cond.right


def _reason(cond: _Comparison | _Truth | _Not, contact: Contact, skills: Mapping[str, int]) -> str:
    """The clause's text and the values that made it fail: ``billing >= 3 (agent has 2)``."""
    seen: dict[str, str] = {}
    for operand in _operands(cond):
        if isinstance(operand, _Skill):
            seen.setdefault(operand.text, f"agent has {skills.get(operand.name, 0)}")
        elif isinstance(operand, _Field):
            seen.setdefault(operand.text, f"contact has {_show(operand.get(contact))}")
    if not seen:
        return cond.text
    if len(seen) == 1:
        return f"{cond.text} ({next(iter(seen.values()))})"
    return f"{cond.text} ({'; '.join(f'{name}: {has}' for name, has in seen.items())})"


def _possible(cond: _Cond, contact: Contact) -> bool:
    """Whether some agent could meet ``cond`` for this contact (its part decided, levels 0-5)."""
    return _Plan.of(cond).bind(contact).constant is not False


def _reasons(cond: _Cond, contact: Contact, skills: Mapping[str, int]) -> list[str]:
    """The failing terms that decided the verdict; ``[]`` when the agent qualifies.

    Of a failed ``or``, only the sides this contact leaves open to some agent are named (for
    a German contact, not ``language == "en" and en >= 3``); when it leaves none open, every
    side is, since each failed for the contact.
    """
    if isinstance(cond, _And):
        return [r for child in cond.children for r in _reasons(child, contact, skills)]
    if isinstance(cond, _Or):
        if any(_holds(child, contact, skills) for child in cond.children):
            return []
        sides = [child for child in cond.children if _possible(child, contact)]
        return [r for child in sides or cond.children for r in _reasons(child, contact, skills)]
    return [] if _holds(cond, contact, skills) else [_reason(cond, contact, skills)]


# Parsing ------------------------------------------------------------------------------------

_NEWLINE: Final = re.compile(r"\r\n|\r|\n")
_ALLOWED: Final = "use and, or, not, comparisons, names, attributes.NAME, skills.NAME and constants"
_ARITHMETIC: Final[Mapping[type[ast.AST], str]] = MappingProxyType(
    {
        ast.Add: "+",
        ast.Sub: "-",
        ast.Mult: "*",
        ast.Div: "/",
        ast.FloorDiv: "//",
        ast.Mod: "%",
        ast.Pow: "**",
        ast.MatMult: "@",
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.BitOr: "|",
        ast.BitAnd: "&",
        ast.BitXor: "^",
        ast.Invert: "~",
        ast.USub: "-",
        ast.UAdd: "+",
    }
)
_FORBIDDEN: Final[Mapping[type[ast.AST], str]] = MappingProxyType(
    {
        ast.Call: "a function call",
        ast.Lambda: "a lambda",
        ast.NamedExpr: "an assignment (:=)",
        ast.IfExp: "a conditional expression (… if … else …)",
        ast.Dict: "a dict",
        ast.ListComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a comprehension",
        ast.JoinedStr: "an f-string",
        ast.FormattedValue: "an f-string",
        ast.Starred: "unpacking (*)",
        ast.Await: "await",
        ast.Yield: "yield",
        ast.YieldFrom: "yield",
        ast.Slice: "a slice",
    }
)


class _Builder:
    """Walks the tree ``ast`` made of the text, refusing anything outside the language."""

    def __init__(self, text: str, known: frozenset[str]) -> None:
        self.text = text
        self.known = known
        self.used: set[str] = set()
        # ``ast`` refuses leading whitespace ("unexpected indent"): parse without it.
        self.shift = len(text) - len(text.lstrip(" \t\f\r\n"))
        self.source = text[self.shift :]
        self.starts = [0, *(m.end() for m in _NEWLINE.finditer(self.source))]

    # Positions

    def index(self, lineno: int | None, col: int | None, *, in_bytes: bool = True) -> int:
        """0-based index in ``text`` of a line (1-based) and column (UTF-8 bytes, 0-based)."""
        start = self.starts[min(max(lineno or 1, 1), len(self.starts)) - 1]
        col = max(col or 0, 0)
        if in_bytes:
            prefix = self.source[start : start + col]
            col = len(prefix.encode()[:col].decode("utf-8", "replace"))
        return min(self.shift + start + col, len(self.text))

    def column(self, node: ast.expr) -> int:
        return self.index(node.lineno, node.col_offset) + 1

    def segment(self, first: ast.expr, last: ast.expr) -> str:
        start = self.index(first.lineno, first.col_offset)
        end = self.index(last.end_lineno, last.end_col_offset)
        return re.sub(r"\s*(?:\r\n|\r|\n)\s*", " ", self.text[start:end])

    def between(self, left: ast.expr, right: ast.expr) -> int:
        """The column of the operator between two operands (after any closing parentheses)."""
        index = self.index(left.end_lineno, left.end_col_offset)
        end = self.index(right.lineno, right.col_offset)
        while index < end and (self.text[index].isspace() or self.text[index] == ")"):
            index += 1
        return index + 1

    def syntax_column(self, error: SyntaxError) -> int:
        if not error.lineno or not error.offset or error.offset < 1:
            return len(self.text.rstrip()) + 1
        return self.index(error.lineno, error.offset - 1, in_bytes=False) + 1

    def fail(self, column: int, message: str) -> NoReturn:
        raise RequirementError(message, text=self.text, column=column)

    # The walk

    def condition(self, node: ast.expr) -> _Cond:
        if isinstance(node, ast.BoolOp):
            children = tuple(self.condition(value) for value in node.values)
            return _And(children) if isinstance(node.op, ast.And) else _Or(children)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return _Not(self.condition(node.operand), self.segment(node, node))
        if isinstance(node, ast.Compare):
            return self.comparison(node)
        operand = self.operand(node)
        if isinstance(operand, _Items):
            self.fail(self.column(node), "a list is only allowed on the right of in or not in")
        return _Truth(operand, self.segment(node, node))

    def comparison(self, node: ast.Compare) -> _Cond:
        nodes = [node.left, *node.comparators]
        operands = [self.comparison_operand(nodes[0])]
        links: list[_Cond] = []
        for i, op in enumerate(node.ops):
            symbol = _OPERATORS.get(type(op))
            if symbol is None:
                name = "is not" if isinstance(op, ast.IsNot) else "is"
                self.fail(
                    self.between(nodes[i], nodes[i + 1]),
                    f'the operator "{name}" is not allowed; use ==, !=, <, <=, >, >=, in or not in',
                )
            operands.append(self.comparison_operand(nodes[i + 1]))
            left, right = operands[i], operands[i + 1]
            if isinstance(left, _Items):
                self.fail(
                    self.column(nodes[i]), "a list is only allowed on the right of in or not in"
                )
            if isinstance(right, _Items) and symbol not in ("in", "not in"):
                self.fail(
                    self.column(nodes[i + 1]),
                    f"a list is only allowed on the right of in or not in, not of {symbol}",
                )
            links.append(_Comparison(left, symbol, right, self.segment(nodes[i], nodes[i + 1])))
        return links[0] if len(links) == 1 else _And(tuple(links))

    def comparison_operand(self, node: ast.expr) -> _Operand:
        if isinstance(node, ast.BoolOp | ast.Compare) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            self.fail(
                self.column(node),
                "a comparison compares values (names, attributes.NAME, skills.NAME, "
                "constants), not conditions",
            )
        return self.operand(node)

    def operand(self, node: ast.expr) -> _Operand:
        text = self.segment(node, node)
        if isinstance(node, ast.Name):
            return self.name(node, node.id, text)
        if isinstance(node, ast.Attribute | ast.Subscript):
            return self.namespaced(node, text)
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            return _Items(_Choices.of(self.constant(item) for item in node.elts), text)
        return _Const(self.constant(node), text)

    def name(self, node: ast.expr, name: str, text: str) -> _Operand:
        if name in _BOOLEANS:
            return _Const(_BOOLEANS[name], text)
        if name in self.known:
            self.used.add(name)
            return _Skill(name, text)
        if name in _CONTACT_FIELDS:
            return _Field(text, _CONTACT_FIELDS[name])
        if name in ("attributes", "skills"):
            self.fail(self.column(node), f'{name} needs a name: {name}.NAME or {name}["NAME"]')
        self.unknown_skill(node, name)

    def unknown_skill(self, node: ast.expr, name: str) -> NoReturn:
        known = ", ".join(sorted(self.known)) or "none"
        self.fail(self.column(node), f"unknown skill {_quote(name)} (known: {known})")

    def namespaced(self, node: ast.Attribute | ast.Subscript, text: str) -> _Operand:
        space = node.value.id if isinstance(node.value, ast.Name) else None
        if isinstance(node, ast.Attribute):
            key: str | None = node.attr
            if space not in ("attributes", "skills"):
                self.fail(
                    self.column(node),
                    f"only attributes.NAME and skills.NAME may use a dot, not {text}",
                )
        else:
            index = node.slice
            key = (
                index.value
                if isinstance(index, ast.Constant) and isinstance(index.value, str)
                else None
            )
            if space not in ("attributes", "skills") or key is None:
                self.fail(
                    self.column(node),
                    f'indexing is only allowed as attributes["NAME"] or skills["NAME"], not {text}',
                )
        assert key is not None
        if space == "attributes":
            return _Field(text, _attribute_getter(key))
        if key not in self.known:
            self.unknown_skill(node, key)
        self.used.add(key)
        return _Skill(key, text)

    def constant(self, node: ast.expr) -> object:
        """The value of a constant: a string, a number (maybe signed), true or false."""
        if isinstance(node, ast.Name) and node.id in _BOOLEANS:
            return _BOOLEANS[node.id]
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, str | int | float):  # bool is an int
                return value
            self.fail(
                self.column(node),
                f"the constant {value!r} is not allowed; use strings, numbers, true or false",
            )
        if isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not):
            inner = node.operand
            if (
                isinstance(node.op, ast.USub | ast.UAdd)
                and isinstance(inner, ast.Constant)
                and isinstance(inner.value, int | float)
                and not isinstance(inner.value, bool)
            ):
                number: int | float = inner.value
                return -number if isinstance(node.op, ast.USub) else number
            self.fail(
                self.column(node), f"arithmetic ({_ARITHMETIC[type(node.op)]}) is not allowed"
            )
        if isinstance(node, ast.BinOp):
            self.fail(
                self.between(node.left, node.right),
                f"arithmetic ({_ARITHMETIC.get(type(node.op), '?')}) is not allowed",
            )
        if isinstance(node, ast.Name | ast.Attribute | ast.Subscript | ast.List | ast.Tuple):
            self.fail(
                self.column(node),
                "a list may only hold constants (strings, numbers, true, false), "
                f"not {self.segment(node, node)}",
            )
        if isinstance(node, ast.Set | ast.Compare | ast.BoolOp | ast.UnaryOp):
            self.fail(self.column(node), "a list may only hold constants, not conditions or sets")
        described = _FORBIDDEN.get(type(node), f"this expression ({type(node).__name__})")
        self.fail(self.column(node), f"{described} is not allowed; {_ALLOWED}")


def _attribute_getter(name: str) -> _Getter:
    def get(contact: Contact) -> object:
        return contact.attributes.get(name)

    return get


# The public face ----------------------------------------------------------------------------


@attrs.frozen
class Requirement:
    """A checked, compiled requirement. Build it with :func:`parse_requirement`.

    ``text`` is the requirement as written, ``skills_used`` the skills it mentions. Two
    requirements are equal when their text and skills are: the rest is derived from them.
    """

    text: str
    skills_used: frozenset[str]
    _tree: _Cond = attrs.field(eq=False, repr=False, alias="tree")
    _plan: _Plan = attrs.field(eq=False, repr=False, alias="plan")

    def bind(self, contact: Contact) -> AgentPredicate:
        """Decide everything ``contact`` decides; what is left is a test of an agent's skills.

        The result is simplified: ``language == "de" and billing >= 3`` gives, for a German
        contact, a predicate with ``minimums == {"billing": 3}``, and for a French one a
        predicate with ``constant is False``. Contacts that leave the same test get equal
        predicates, usually the very same object.
        """
        return self._plan.bind(contact)

    def matches(self, contact: Contact, skills: Mapping[str, int]) -> bool:
        """True when an agent with ``skills`` meets the requirement for ``contact``."""
        return self._plan.bind(contact)(skills)

    def explain(self, contact: Contact, skills: Mapping[str, int]) -> list[str]:
        """Why an agent with ``skills`` does not qualify for ``contact``; ``[]`` when it does.

        Each reason is a failing clause as written with the values that made it fail, such as
        ``billing >= 3 (agent has 2)`` or ``language == "de" (contact has "fr")``. Only the
        clauses that decided the verdict are named: of an ``or``, only the sides this contact
        leaves open to some agent (``language == "de" and de >= 3`` for a German contact, not
        the sides for other languages), or every side when it leaves none open.
        """
        return _reasons(self._tree, contact, skills)


def parse_requirement(text: str, *, skills: Collection[str]) -> Requirement:
    """Check and compile ``text``; ``skills`` are the workspace's known skill names.

    Raises :class:`RequirementError`, with the column of the culprit, for a syntax error,
    anything outside the language, or a name that is neither a known skill nor a contact
    field.
    """
    if not text.strip():
        raise RequirementError(
            "the requirement is empty; write true to accept every agent", text=text, column=1
        )
    if "\0" in text:
        raise RequirementError(
            "a NUL character is not allowed", text=text, column=text.index("\0") + 1
        )
    builder = _Builder(text, frozenset(skills))
    try:
        tree = ast.parse(builder.source, mode="eval")
        cond = builder.condition(tree.body)
        plan = _Plan.of(cond)
    except SyntaxError as error:
        raise RequirementError(error.msg, text=text, column=builder.syntax_column(error)) from None
    except (RecursionError, MemoryError):
        raise RequirementError("the expression is nested too deeply", text=text, column=1) from None
    return Requirement(text=text, skills_used=frozenset(builder.used), tree=cond, plan=plan)
