"""Requirement expressions: what parses, what is refused and where, how ``bind`` simplifies,
how ``explain`` reads, and a property test against a plain reference evaluator."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.errors import TrunklineError
from trunkline.model import Address, Contact, Direction
from trunkline.requirements import (
    ALWAYS,
    AgentPredicate,
    Requirement,
    RequirementError,
    combine,
    minimums_predicate,
    parse_requirement,
)

SKILLS = ("billing", "de", "en", "fr-CA")


def contact(**changes: Any) -> Contact:
    base = Contact(
        id="c1",
        workspace="w",
        channel="web",
        channel_kind="chat",
        direction=Direction.INBOUND,
        customer_id="cu",
        address=Address("memory", "x"),
        language="de",
        attributes={"vip": True},
    )
    return attrs.evolve(base, **changes)


def parse(text: str, skills: tuple[str, ...] = SKILLS) -> Requirement:
    return parse_requirement(text, skills=skills)


def refusal(text: str, skills: tuple[str, ...] = SKILLS) -> RequirementError:
    with pytest.raises(RequirementError) as caught:
        parse_requirement(text, skills=skills)
    return caught.value


GERMAN = contact()
FRENCH = contact(language="fr")


# What parses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'language == "de" and billing >= 3',
        "billing >= 3 or (de and not en)",
        "2 <= billing <= 4",
        'language in ["de", "fr"] and kind not in ("voice", "video")',
        "priority in {1, 2, 3}",
        'skills["fr-CA"] >= 2 or skills.en > 1',
        'attributes.vip == true and attributes["tier"] != "gold"',
        "priority >= -1 and priority < +5.5",
        "billing >= de",
        "True or False or true or false",
        'direction == "inbound" and channel == "web" and queue != "x" and customer != ""',
        "  billing >= 3  ",
        "(billing >= 3\n and de >= 1)",
        "billing >= 3  # trailing comments are fine",
    ],
)
def test_the_whole_language_parses(text: str) -> None:
    assert parse(text).text == text


def test_a_requirement_records_its_text_and_the_skills_it_uses() -> None:
    requirement = parse('language == "de" and billing >= 3 or skills["fr-CA"] > en')

    assert requirement.skills_used == {"billing", "fr-CA", "en"}
    assert requirement == parse('language == "de" and billing >= 3 or skills["fr-CA"] > en')


def test_true_alone_accepts_every_agent() -> None:
    predicate = parse("true").bind(GERMAN)

    assert predicate == ALWAYS
    assert predicate.constant is True
    assert predicate.minimums == {}
    assert predicate({}) is True


def test_lowercase_and_capitalised_booleans_mean_the_same() -> None:
    assert parse("true and not false").bind(GERMAN) == parse("True and not False").bind(GERMAN)


def test_a_bare_skill_means_the_agent_has_it() -> None:
    predicate = parse("billing").bind(GERMAN)

    assert predicate.minimums == {"billing": 1}
    assert predicate == parse("billing >= 1").bind(GERMAN)
    assert not predicate({})
    assert predicate({"billing": 1})


def test_a_bare_contact_value_means_it_is_truthy() -> None:
    requirement = parse("attributes.vip and queue")

    assert requirement.bind(contact(queue="support")).constant is True
    assert requirement.bind(contact(queue=None)).constant is False
    assert requirement.bind(contact(queue="support", attributes={})).constant is False


@pytest.mark.parametrize(
    ("text", "changes"),
    [
        ('language == "it"', {"language": "it"}),
        ('channel == "mail"', {"channel": "mail"}),
        ('kind == "voice"', {"channel_kind": "voice"}),
        ("priority == 7", {"priority": 7}),
        ('direction == "outbound"', {"direction": Direction.OUTBOUND}),
        ('queue == "vip"', {"queue": "vip"}),
        ('customer == "cu-9"', {"customer_id": "cu-9"}),
    ],
)
def test_each_contact_field_reads_the_contact(text: str, changes: dict[str, Any]) -> None:
    requirement = parse(text)

    assert requirement.bind(contact(**changes)).constant is True
    assert requirement.bind(contact()).constant is False


def test_a_known_skill_wins_over_a_contact_field_of_the_same_name() -> None:
    requirement = parse("language >= 2", skills=("language",))

    assert requirement.skills_used == {"language"}
    assert requirement.bind(GERMAN).minimums == {"language": 2}


def test_skills_brackets_reach_skill_names_that_are_not_identifiers() -> None:
    predicate = parse('skills["fr-CA"] >= 2 and skills.de').bind(GERMAN)

    assert predicate.minimums == {"fr-CA": 2, "de": 1}


def test_attributes_are_free_data_and_a_missing_one_is_none() -> None:
    requirement = parse('attributes.tier == "gold" or attributes["no such"] == 1')

    assert requirement.bind(contact(attributes={"tier": "gold"})).constant is True
    assert requirement.bind(contact(attributes={})).constant is False


def test_a_chained_comparison_tests_every_link() -> None:
    predicate = parse("2 <= billing <= 4").bind(GERMAN)

    assert [predicate({"billing": level}) for level in range(6)] == [
        False,
        False,
        True,
        True,
        True,
        False,
    ]


# What is refused, and where ----------------------------------------------------------------


def test_an_unknown_skill_is_named_with_its_column() -> None:
    error = refusal("language == 'de' and biling >= 3", skills=("billing", "de", "en"))

    assert error.column == 22
    assert str(error) == (
        "requirement \"language == 'de' and biling >= 3\", column 22: "
        'unknown skill "biling" (known: billing, de, en)'
    )


def test_an_unknown_skill_in_a_workspace_without_skills_says_none_are_known() -> None:
    assert refusal("fr >= 1", skills=()).message == 'unknown skill "fr" (known: none)'


def test_skills_dot_a_name_that_is_not_a_skill_is_an_unknown_skill() -> None:
    error = refusal('billing and skills["fr"] >= 1')

    assert error.column == 13
    assert error.message == 'unknown skill "fr" (known: billing, de, en, fr-CA)'


def test_a_requirement_error_is_a_trunkline_error_that_keeps_text_and_column() -> None:
    error = refusal('language == "de" and nope')

    assert isinstance(error, TrunklineError)
    assert (error.text, error.column) == ('language == "de" and nope', 22)
    assert str(error).startswith("requirement 'language == \"de\" and nope', column 22: ")


@pytest.mark.parametrize(
    ("text", "at", "message"),
    [
        ("len(language) > 1", "len", "a function call is not allowed"),
        ("billing + 1 >= 3", "+", "arithmetic (+) is not allowed"),
        ("(billing) * 2 >= 3", "*", "arithmetic (*) is not allowed"),
        ("-language == 1", "-", "arithmetic (-) is not allowed"),
        ("~billing", "~", "arithmetic (~) is not allowed"),
        (
            'de and contact.language == "de"',
            "contact",
            "only attributes.NAME and skills.NAME may use a dot, not contact.language",
        ),
        (
            "attributes.vip.level",
            "attributes",
            "only attributes.NAME and skills.NAME may use a dot, not attributes.vip.level",
        ),
        ("billing >= (lambda: 3)", "lambda", "a lambda is not allowed"),
        ("billing >= (level := 3)", "level", "an assignment (:=) is not allowed"),
        ("billing if de else en", "billing", "a conditional expression"),
        ('language in [x for x in "ab"]', "[x", "a comprehension is not allowed"),
        ('attributes.vip == {"a": 1}', "{", "a dict is not allowed"),
        ('language == f"{kind}"', 'f"', "an f-string is not allowed"),
        ("language in (*kind,)", "*", "unpacking (*) is not allowed"),
        (
            "attributes[0] == 1",
            "attributes",
            'indexing is only allowed as attributes["NAME"] or skills["NAME"], not attributes[0]',
        ),
        ('language[0] == "d"', "language", "indexing is only allowed"),
        ("billing is 3", "is", 'the operator "is" is not allowed; use ==, !=, <, <=, >, >='),
        ("(billing) is not 3", "is not", 'the operator "is not" is not allowed'),
        ("language == None", "None", "the constant None is not allowed"),
        ('language == b"de"', 'b"', "the constant b'de' is not allowed"),
        ("billing == 1j", "1j", "the constant 1j is not allowed"),
        ("billing == ...", "...", "the constant Ellipsis is not allowed"),
        ('["de"] == language', "[", "a list is only allowed on the right of in or not in"),
        (
            "billing == [1, 2]",
            "[",
            "a list is only allowed on the right of in or not in, not of ==",
        ),
        ("[1, 2]", "[", "a list is only allowed on the right of in or not in"),
        ('language in ["de", kind]', "kind", "a list may only hold constants"),
        ("(billing >= 3) == true", "billing", "a comparison compares values"),
        (
            "attributes == 1",
            "attributes",
            'attributes needs a name: attributes.NAME or attributes["NAME"]',
        ),
        ("billing and skills", "skills", "skills needs a name"),
    ],
)
def test_syntax_outside_the_language_is_refused_at_its_column(
    text: str, at: str, message: str
) -> None:
    error = refusal(text)

    assert (error.column, error.message[: len(message)]) == (text.index(at) + 1, message)


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("billing >= 3 and (de", 18, "'(' was never closed"),
        ("billing >=", 11, "invalid syntax"),
        ("", 1, "the requirement is empty; write true to accept every agent"),
        ("   ", 1, "the requirement is empty; write true to accept every agent"),
        ("billing\0", 8, "a NUL character is not allowed"),
    ],
)
def test_a_syntax_error_points_at_its_column(text: str, column: int, message: str) -> None:
    error = refusal(text)

    assert (error.column, error.message) == (column, message)


def test_a_requirement_nested_too_deeply_is_refused_rather_than_crashing() -> None:
    error = refusal("not " * 3000 + "billing")

    assert (error.column, error.message) == (1, "the expression is nested too deeply")


@pytest.mark.parametrize(
    "text",
    [
        'attributes.city == "Zürich" and nope >= 1',
        "  billing >= 3 and nope",
        "(billing >= 3\n and nope)",
        '(attributes.city == "Zürich"\r\n  and\tnope)',
    ],
)
def test_columns_count_characters_from_the_start_of_the_text(text: str) -> None:
    assert refusal(text).column == text.index("nope") + 1


def test_a_syntax_error_column_counts_characters_not_bytes() -> None:
    text = 'attributes.city == "Zürich" and ('

    assert refusal(text).column == len(text)


# Binding to a contact ------------------------------------------------------------------------


def test_bind_leaves_the_minimums_for_a_matching_contact() -> None:
    predicate = parse('language == "de" and billing >= 3').bind(GERMAN)

    assert predicate.constant is None
    assert predicate.minimums == {"billing": 3}
    assert predicate({"billing": 3})
    assert not predicate({"billing": 2, "de": 5})


def test_bind_is_constant_false_when_the_contact_rules_every_agent_out() -> None:
    predicate = parse('language == "de" and billing >= 3').bind(FRENCH)

    assert predicate.constant is False
    assert predicate.minimums is None
    assert not predicate({"billing": 5})


def test_an_or_that_the_contact_satisfies_is_constant_true() -> None:
    predicate = parse('language == "de" or billing >= 3').bind(GERMAN)

    assert (predicate.constant, predicate.minimums) == (True, {})
    assert predicate == ALWAYS


@pytest.mark.parametrize(
    ("text", "minimums"),
    [
        ("billing > 2", {"billing": 3}),
        ("3 <= billing", {"billing": 3}),
        ("2 < billing", {"billing": 3}),
        ("billing >= 2.5", {"billing": 3}),
        ("not billing < 3", {"billing": 3}),
        ("billing >= 2 and billing >= 4", {"billing": 4}),
        ("billing >= 4 or billing >= 2", {"billing": 2}),
        ("(billing >= 3 and de) and (en > 1 and true)", {"billing": 3, "de": 1, "en": 2}),
        ("billing in [3, 4, 5]", {"billing": 3}),
        ("billing >= 0", {}),
        ('kind == "chat" and billing', {"billing": 1}),
    ],
)
def test_lower_bounds_on_skills_become_minimums(text: str, minimums: dict[str, int]) -> None:
    assert parse(text).bind(GERMAN).minimums == minimums


@pytest.mark.parametrize(
    "text",
    [
        "billing >= 3 or de >= 2",
        "billing <= 3",
        "billing == 3",
        "2 <= billing <= 4",
        "billing >= de",
        "not billing",
        "billing != 0 and (de or en)",
    ],
)
def test_anything_but_lower_bounds_has_no_minimums(text: str) -> None:
    predicate = parse(text).bind(GERMAN)

    assert predicate.minimums is None
    assert predicate.constant is None


@pytest.mark.parametrize(
    ("text", "constant"),
    [
        ("billing >= 6", False),
        ("billing < 0", False),
        ("billing >= 0", True),
        ("billing <= 5", True),
        ('billing == "3"', False),
        ('billing != "3"', True),
        ("billing in []", False),
        ("billing >= 3 and billing < 3", False),
        ("billing >= 3 or billing < 3", True),
        ("billing >= billing", True),
        ("billing < billing", False),
        ("3 in billing", False),
    ],
)
def test_tests_no_agent_level_can_change_are_constant(text: str, constant: bool) -> None:
    assert parse(text).bind(GERMAN).constant is constant


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("billing >= 3 and de >= 1", "de >= 1 and billing >= 3"),
        ("billing >= 3 and de >= 1", "de and 2 < billing"),
        ("billing >= 3 and de >= 1", 'de and billing >= 3 and language == "de"'),
        ("billing >= 3 or de <= 2", "not (de > 2 and billing < 3)"),
        ("billing >= de", "de <= billing"),
        ("billing == de", "not de != billing"),
        ("billing in [1, 2]", "billing >= 1 and billing < 3"),
        ("(billing or de) and en", "en and (de or billing) and en"),
    ],
)
def test_predicates_that_test_the_same_thing_have_equal_keys(first: str, second: str) -> None:
    one, other = parse(first).bind(GERMAN), parse(second).bind(GERMAN)

    assert one.key == other.key
    assert one == other
    assert hash(one) == hash(other)


def test_predicates_that_test_different_things_have_different_keys() -> None:
    keys = {
        parse(text).bind(GERMAN).key
        for text in ("billing >= 3", "billing >= 2", "de >= 3", "billing > de", "billing or de")
    }

    assert len(keys) == 5


def test_contacts_that_leave_the_same_test_share_one_predicate() -> None:
    requirement = parse('language in ["de", "fr"] and billing >= 3')

    assert requirement.bind(GERMAN) is requirement.bind(FRENCH)


def test_a_skill_compared_with_a_contact_value_is_resolved_by_bind() -> None:
    requirement = parse("billing >= attributes.level")

    assert requirement.bind(contact(attributes={"level": 4})).minimums == {"billing": 4}
    assert requirement.bind(contact(attributes={"level": 2})).minimums == {"billing": 2}
    assert requirement.bind(contact(attributes={"level": 4.0})).minimums == {"billing": 4}
    assert requirement.bind(contact(attributes={"level": "4"})).constant is False
    assert requirement.bind(contact(attributes={"level": True})).constant is False
    assert requirement.bind(contact(attributes={})).constant is False
    assert requirement.bind(contact(attributes={"level": [4]})).constant is False


ALL_OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
LEVEL_PAIRS = [(x, y) for x in range(6) for y in range(6)]


@pytest.mark.parametrize("op", ALL_OPERATORS)
@pytest.mark.parametrize(("left", "right"), [("billing", "de"), ("de", "billing")])
def test_comparing_two_skills_agrees_with_plain_comparison_at_every_level(
    op: str, left: str, right: str
) -> None:
    predicate = parse(f"{left} {op} {right}").bind(GERMAN)

    for x, y in LEVEL_PAIRS:
        assert predicate({left: x, right: y}) is reference_compare(x, op, y), (x, y)


@pytest.mark.parametrize("op", ALL_OPERATORS)
@pytest.mark.parametrize(
    "value", ["-1", "0", "2", "2.5", "5", "6", '"2"', "true", "[1, 3.0]", '"x"']
)
def test_comparing_a_skill_with_a_constant_agrees_at_every_level(op: str, value: str) -> None:
    constant = json.loads(value)
    cases: list[tuple[str, Callable[[int], bool]]] = []
    if not isinstance(constant, list) or op in ("in", "not in"):
        cases.append(
            (f"billing {op} {value}", lambda level: reference_compare(level, op, constant))
        )
    if not isinstance(constant, list):  # a list is only allowed on the right of in
        cases.append(
            (f"{value} {op} billing", lambda level: reference_compare(constant, op, level))
        )
    for text, compare in cases:
        predicate = parse(text).bind(GERMAN)
        for level in range(6):
            assert predicate({"billing": level}) is compare(level), (text, level)


def test_two_skills_compared_are_tested_on_the_agent() -> None:
    predicate = parse("billing > de").bind(GERMAN)

    assert predicate({"billing": 3, "de": 2})
    assert not predicate({"billing": 2, "de": 2})
    assert predicate({"billing": 1})


def test_matches_is_bind_then_call() -> None:
    requirement = parse('language == "de" and billing >= 3')

    assert requirement.matches(GERMAN, {"billing": 3})
    assert not requirement.matches(GERMAN, {"billing": 2})
    assert not requirement.matches(FRENCH, {"billing": 5})


# Values of different kinds ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "attributes", "expected"),
    [
        ("attributes.missing == 1", {}, False),
        ("attributes.missing != 1", {}, True),
        ("attributes.missing < 1", {}, False),
        ("attributes.missing >= 1", {}, False),
        ("attributes.missing in [1, 2]", {}, False),
        ("attributes.missing not in [1, 2]", {}, True),
        ('attributes.tier == "3"', {"tier": 3}, False),
        ('attributes.tier < "3"', {"tier": 3}, False),
        ('attributes.tier != "3"', {"tier": 3}, True),
        ("attributes.tier == 3.0", {"tier": 3}, True),
        ("attributes.vip == 1", {"vip": True}, False),
        ("attributes.vip in [1]", {"vip": True}, False),
        ("attributes.vip == true", {"vip": True}, True),
        ('"gold" in attributes.tags', {"tags": ["gold", "new"]}, True),
        ("1 in attributes.tags", {"tags": ["1"]}, False),
        ("attributes.tags in [1, 2]", {"tags": [1]}, False),
        ("attributes.tags not in [1]", {"tags": [1]}, True),
        ('"go" in attributes.tier', {"tier": "gold"}, True),
        ('"a" in attributes.tier', {"tier": 3}, False),
        ('"eu" in attributes.regions', {"regions": {"eu": 1}}, True),
        ('attributes.tier > "a"', {"tier": "b"}, True),
        ("attributes.a == attributes.b", {"a": [1], "b": [1]}, True),
        ("attributes.a < attributes.b", {"a": [1], "b": [2]}, False),
        ("language == attributes.language", {}, False),
    ],
)
def test_values_of_different_kinds_never_equal_and_never_order(
    text: str, attributes: dict[str, Any], expected: bool
) -> None:
    assert parse(text).bind(contact(attributes=attributes)).constant is expected


def test_odd_attribute_values_never_make_evaluation_raise() -> None:
    class Awkward:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no")

        def __bool__(self) -> bool:
            raise RuntimeError("no")

        __hash__ = object.__hash__

    odd = contact(attributes={"x": Awkward(), "y": Awkward(), "nan": float("nan")})
    requirement = parse(
        "attributes.x or attributes.x == attributes.y or 1 in attributes.x "
        "or attributes.nan in [1, 2] or attributes.nan == attributes.nan or not attributes.y"
    )

    assert requirement.bind(odd).constant is True
    assert requirement.explain(odd, {}) == []


# Explanations -------------------------------------------------------------------------------


def test_explain_names_the_failing_clause_and_the_agents_level() -> None:
    requirement = parse('language == "de" and billing >= 3')

    assert requirement.explain(GERMAN, {"billing": 2}) == ["billing >= 3 (agent has 2)"]


def test_explain_is_empty_when_the_agent_qualifies() -> None:
    assert parse('language == "de" and billing >= 3').explain(GERMAN, {"billing": 3}) == []


def test_explain_names_the_contacts_value_when_the_contact_fails() -> None:
    requirement = parse('language == "de" and attributes.tier >= 2')

    assert requirement.explain(contact(language="fr", attributes={}), {}) == [
        'language == "de" (contact has "fr")',
        "attributes.tier >= 2 (contact has no value)",
    ]


def test_explain_lists_every_failing_side_of_an_or() -> None:
    requirement = parse("billing >= 3 or (de and en >= 2)")

    assert requirement.explain(GERMAN, {"billing": 1, "en": 3}) == [
        "billing >= 3 (agent has 1)",
        "de (agent has 0)",
    ]


def test_explain_of_an_or_names_only_the_sides_this_contact_leaves_open() -> None:
    requirement = parse(
        'language == "en" and en >= 3 or language == "de" and de >= 3 '
        'or language == "fr" and billing >= 3'
    )

    assert requirement.explain(GERMAN, {"en": 5, "de": 1}) == ["de >= 3 (agent has 1)"]


def test_explain_of_an_or_that_no_agent_could_meet_names_every_side() -> None:
    requirement = parse('language == "en" or language == "es" and de >= 1')

    assert requirement.explain(GERMAN, {"de": 2}) == [
        'language == "en" (contact has "de")',
        'language == "es" (contact has "de")',
    ]


def test_explain_of_an_or_keeps_a_side_only_an_impossible_level_would_meet_out() -> None:
    requirement = parse("billing >= 6 or de >= 2")  # levels stop at 5: no agent has 6

    assert requirement.explain(GERMAN, {"de": 1}) == ["de >= 2 (agent has 1)"]


def test_explain_shows_each_value_when_a_clause_has_several() -> None:
    requirement = parse("billing >= de and not (attributes.vip and priority >= 0)")

    assert requirement.explain(GERMAN, {"billing": 1, "de": 4}) == [
        "billing >= de (billing: agent has 1; de: agent has 4)",
        "not (attributes.vip and priority >= 0) (attributes.vip: contact has true; priority: contact has 0)",
    ]


def test_explain_names_the_failing_link_of_a_chain() -> None:
    assert parse("2 <= billing <= 4").explain(GERMAN, {"billing": 5}) == [
        "billing <= 4 (agent has 5)"
    ]


def test_explain_of_a_constant_is_its_text() -> None:
    assert parse("false").explain(GERMAN, {}) == ["false"]


def test_explain_keeps_the_clause_as_written_on_several_lines() -> None:
    requirement = parse('(skills["fr-CA"]\n   >= 2)')

    assert requirement.explain(GERMAN, {}) == ['skills["fr-CA"] >= 2 (agent has 0)']


# Plain skill maps and combinations ----------------------------------------------------------


def test_a_plain_skill_map_equals_the_same_requirement_written_out() -> None:
    predicate = minimums_predicate({"billing": 3, "de": 1})

    assert predicate == parse("de >= 1 and billing >= 3").bind(GERMAN)
    assert predicate.minimums == {"billing": 3, "de": 1}
    assert predicate({"billing": 3, "de": 1})
    assert not predicate({"billing": 3})


def test_an_empty_skill_map_accepts_every_agent() -> None:
    assert minimums_predicate({}) == ALWAYS


def test_combine_merges_minimums_by_taking_the_higher_level() -> None:
    combined = combine(
        minimums_predicate({"billing": 2, "de": 1}),
        parse('language == "de" and billing >= 3').bind(GERMAN),
    )

    assert combined.minimums == {"billing": 3, "de": 1}
    assert combined == minimums_predicate({"billing": 3, "de": 1})


def test_combine_of_nothing_is_always_and_of_one_is_that_one() -> None:
    one = minimums_predicate({"en": 2})

    assert combine() == ALWAYS
    assert combine(one) is one


def test_combine_with_a_constant_false_is_constant_false() -> None:
    combined = combine(minimums_predicate({"en": 2}), parse("de >= 9").bind(GERMAN))

    assert combined.constant is False
    assert combined.minimums is None


def test_combine_of_other_tests_is_their_and() -> None:
    combined = combine(parse("billing > de").bind(GERMAN), minimums_predicate({"en": 2}))

    assert combined.minimums is None
    assert combined({"billing": 2, "de": 1, "en": 2})
    assert not combined({"billing": 2, "de": 1, "en": 1})
    assert not combined({"billing": 1, "de": 1, "en": 5})


def test_combine_accepts_predicates_built_by_hand() -> None:
    def odd_billing(skills: Mapping[str, int]) -> bool:
        return skills.get("billing", 0) % 2 == 1

    by_hand = AgentPredicate(key="odd billing", constant=None, minimums=None, test=odd_billing)
    minimal = AgentPredicate(key="en", constant=None, minimums={"en": 2}, test=lambda s: True)
    combined = combine(by_hand, minimums_predicate({"en": 2}))

    assert combined.minimums is None
    assert combined({"billing": 3, "en": 2})
    assert not combined({"billing": 2, "en": 2})
    assert combine(minimal, minimal).minimums == {"en": 2}
    assert combine(by_hand, ALWAYS) == combine(ALWAYS, by_hand)


def test_predicates_work_as_dictionary_keys() -> None:
    waiting = {parse("billing >= 3 and de").bind(GERMAN): "one"}

    assert waiting[minimums_predicate({"de": 1, "billing": 3})] == "one"


# Property: bind agrees with a plain reference evaluation -----------------------------------
# Expressions are built as small trees, rendered to text, and evaluated directly here.

Tree = tuple[Any, ...]
ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def kind_of(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "str" if isinstance(value, str) else "other"


def same(a: object, b: object) -> bool:
    return kind_of(a) == kind_of(b) and a == b


def reference_compare(a: object, op: str, b: object) -> bool:
    if op in ("in", "not in"):
        if isinstance(b, list):
            found = any(same(a, item) for item in b)
        else:
            found = isinstance(a, str) and isinstance(b, str) and a in b
        return found if op == "in" else not found
    if op == "==":
        return same(a, b)
    if op == "!=":
        return not same(a, b)
    return kind_of(a) == kind_of(b) and kind_of(a) in ("number", "str") and ORDER[op](a, b)


def reference_value(operand: Tree, person: Contact, skills: Mapping[str, int]) -> object:
    what = operand[0]
    if what == "skill":
        return skills.get(operand[1], 0)
    if what == "field":
        name = operand[1]
        if name == "direction":
            return person.direction.value
        return getattr(person, {"kind": "channel_kind"}.get(name, name))
    if what == "attr":
        return person.attributes.get(operand[1])
    return operand[1]  # a constant or a list of constants


def reference(tree: Tree, person: Contact, skills: Mapping[str, int]) -> bool:
    what = tree[0]
    if what == "and":
        return reference(tree[1], person, skills) and reference(tree[2], person, skills)
    if what == "or":
        return reference(tree[1], person, skills) or reference(tree[2], person, skills)
    if what == "not":
        return not reference(tree[1], person, skills)
    if what == "bare":
        value = reference_value(tree[1], person, skills)
        return value >= 1 if tree[1][0] == "skill" else bool(value)  # type: ignore[operator]
    values = [reference_value(operand, person, skills) for operand in tree[1]]
    return all(reference_compare(values[i], op, values[i + 1]) for i, op in enumerate(tree[2]))


def render_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "False"
    if isinstance(value, list):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def render(tree: Tree) -> str:
    what = tree[0]
    if what in ("and", "or"):
        return f"({render(tree[1])} {what} {render(tree[2])})"
    if what == "not":
        return f"not {render(tree[1])}"
    if what == "bare":
        return tree[1][2]
    parts = [tree[1][0][2]]
    for op, operand in zip(tree[2], tree[1][1:], strict=True):
        parts += [op, operand[2]]
    return "(" + " ".join(parts) + ")"


def constant_operand(value: object) -> Tree:
    return ("const", value, render_value(value))


CONSTANTS = st.one_of(
    st.integers(-1, 6),
    st.sampled_from([2.5, 0.0]),
    st.sampled_from(["de", "fr", "chat", "inbound", "gold", ""]),
    st.booleans(),
)
SCALARS = st.one_of(
    st.sampled_from(
        [
            ("skill", "billing", "billing"),
            ("skill", "de", "de"),
            ("skill", "en", "skills.en"),
            ("skill", "fr-CA", 'skills["fr-CA"]'),
        ]
    ),
    st.sampled_from(
        [
            ("field", "language", "language"),
            ("field", "priority", "priority"),
            ("field", "kind", "kind"),
            ("field", "direction", "direction"),
            ("field", "queue", "queue"),
        ]
    ),
    st.sampled_from(
        [
            ("attr", "vip", "attributes.vip"),
            ("attr", "tier", 'attributes["tier"]'),
            ("attr", "gone", "attributes.gone"),
        ]
    ),
    CONSTANTS.map(constant_operand),
)
LISTS = st.lists(CONSTANTS, max_size=3).map(lambda values: ("const", values, render_value(values)))
OPERATORS = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"])


@st.composite
def comparisons(draw: st.DrawFn) -> Tree:
    ops = draw(st.lists(OPERATORS, min_size=1, max_size=2))
    operands = [draw(SCALARS)]
    for i, op in enumerate(ops):
        last = i == len(ops) - 1
        use_list = last and op in ("in", "not in") and draw(st.booleans())
        operands.append(draw(LISTS) if use_list else draw(SCALARS))
    return ("cmp", operands, ops)


LEAVES = st.one_of(comparisons(), SCALARS.map(lambda operand: ("bare", operand)))
TREES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), inner, inner),
        st.tuples(st.just("not"), inner),
    ),
    max_leaves=8,
)
CONTACTS = st.builds(
    contact,
    language=st.sampled_from([None, "de", "fr"]),
    priority=st.integers(-1, 3),
    channel_kind=st.sampled_from(["chat", "voice"]),
    direction=st.sampled_from(list(Direction)),
    queue=st.sampled_from([None, "support", ""]),
    attributes=st.fixed_dictionaries(
        {},
        optional={
            "vip": st.one_of(st.booleans(), st.none()),
            "tier": st.one_of(st.integers(0, 6), st.sampled_from(["gold", "de", ""])),
        },
    ),
)
AGENT_SKILLS = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5))


@settings(max_examples=400)
@given(tree=TREES, person=CONTACTS, skills=AGENT_SKILLS)
def test_bind_then_call_agrees_with_a_direct_evaluation(
    tree: Tree, person: Contact, skills: dict[str, int]
) -> None:
    requirement = parse(render(tree))
    expected = reference(tree, person, skills)
    predicate = requirement.bind(person)

    assert predicate(skills) is expected
    assert requirement.matches(person, skills) is expected
    assert (requirement.explain(person, skills) == []) is expected
    if predicate.constant is not None:
        assert predicate.constant is expected
    if predicate.minimums is not None:
        assert all(skills.get(s, 0) >= n for s, n in predicate.minimums.items()) is expected


@given(first=TREES, second=TREES, person=CONTACTS, skills=AGENT_SKILLS)
def test_and_and_or_keys_ignore_order_and_combine_is_and(
    first: Tree, second: Tree, person: Contact, skills: dict[str, int]
) -> None:
    one, other = render(first), render(second)
    for joiner in ("and", "or"):
        forward = parse(f"{one} {joiner} {other}").bind(person)
        backward = parse(f"{other} {joiner} {one}").bind(person)
        assert forward.key == backward.key
    combined = combine(parse(one).bind(person), parse(other).bind(person))
    assert combined == parse(f"{one} and {other}").bind(person)
    assert combined(skills) is (
        reference(first, person, skills) and reference(second, person, skills)
    )
