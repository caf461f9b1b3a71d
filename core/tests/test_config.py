"""Configuration: a complete file loads; every mistake is named with its key and position."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from trunkline import ConfigError, Secret
from trunkline.config import SettingsRegistry, load_config, locate_keys
from trunkline.plugins import PluginManager, load_plugins

GOOD = """\
[store]
backend = "memory"

[outbox]
max_attempts = 3

[workspaces.acme]
name = "Acme Inc."
skills = ["en", "de", "billing"]

[workspaces.acme.queues.support]
skills = { en = 1 }
offer_timeout = 15
wrap_up = 5

[workspaces.acme.queues.billing]
skills = { billing = 2 }
priority = 1

[workspaces.acme.agents.alice]
name = "Alice"
skills = { en = 5, billing = 3 }
capacity = { chat = 3, email = 5 }
queues = ["support", "billing"]

[workspaces.acme.channels.web]
adapter = "memory"
queue = "support"

[workspaces.acme.channels.web.settings]
kind = "chat"
token = { env = "WEB_TOKEN" }
"""


def load(tmp_path: Path, pm: PluginManager, text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "trunkline.toml"
    path.write_text(textwrap.dedent(text))
    registry = SettingsRegistry()
    pm.hook.trunkline_add_settings.call_historic(kwargs={"registry": registry})
    return load_config(
        path,
        adapters={a.name: a for a in pm.collect("trunkline_register_channels")},
        strategies={s.name for s in pm.collect("trunkline_register_strategies")},
        tables=registry.tables,
        workspace_tables=registry.workspace_tables,
        env={"WEB_TOKEN": "t0ps3cret"} if env is None else env,
    )


@pytest.fixture
def trunkline_pm() -> PluginManager:
    """Core's built-ins and trunkline-web, whose [web], users and canned tables the files
    here hold (the mechanism is core's; the tables are the web's)."""
    return load_plugins({"TRUNKLINE_PLUGINS": "web"})


def error(tmp_path: Path, pm: PluginManager, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, pm, text, env)
    return str(info.value)


def test_a_complete_file_loads(tmp_path: Path, trunkline_pm: PluginManager) -> None:
    config = load(tmp_path, trunkline_pm, GOOD)
    acme = config.workspaces["acme"]
    assert acme.workspace.name == "Acme Inc."
    assert [q.id for q in acme.queues] == ["support", "billing"]
    assert acme.queues[0].offer_timeout == 15.0
    assert dict(acme.agents[0].skills) == {"en": 5, "billing": 3}
    assert acme.agents[0].queues == ("support", "billing")
    assert config.outbox.max_attempts == 3
    settings = acme.channels[0].settings
    assert settings.token == Secret("t0ps3cret")
    assert "t0ps3cret" not in repr(settings)
    assert "t0ps3cret" not in repr(config)


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        (
            GOOD.replace("wrap_up = 5", "wrap_up = 5\nwrapup = 3"),
            "trunkline.toml:15:1: workspaces.acme.queues.support.wrapup: unknown key",
        ),
        (
            GOOD.replace("offer_timeout = 15", 'offer_timeout = "soon"'),
            "trunkline.toml:13:1: workspaces.acme.queues.support.offer_timeout: "
            "expected a number, got str 'soon'",
        ),
        (
            GOOD.replace("skills = { en = 5, billing = 3 }", "skills = { en = 5, fr = 3 }"),
            'trunkline.toml:22:20: workspaces.acme.agents.alice.skills.fr: unknown skill "fr" '
            "(known: en, de, billing)",
        ),
        (
            GOOD.replace("skills = { en = 5, billing = 3 }", "skills = { en = 9 }"),
            "trunkline.toml:22:12: workspaces.acme.agents.alice.skills.en: skill 'en': level 9 is "
            "not a whole number from 1 to 5",
        ),
        (
            GOOD.replace('queues = ["support", "billing"]', 'queues = ["support", "sales"]'),
            'workspaces.acme.agents.alice.queues.1: unknown queue "sales" (known: billing, support)',
        ),
        (
            GOOD.replace('adapter = "memory"', 'adapter = "carrier-pigeon"'),
            "trunkline.toml:27:1: workspaces.acme.channels.web.adapter: unknown channel adapter "
            '"carrier-pigeon" (installed: memory)',
        ),
        (
            GOOD.replace("priority = 1", 'priority = 1\nstrategy = "fastest"'),
            'workspaces.acme.queues.billing.strategy: unknown strategy "fastest" (known: best-skill, fewest-contacts, least-occupied, longest-idle, random, round-robin, top-down)',
        ),
        (
            GOOD.replace('token = { env = "WEB_TOKEN" }', 'token = "t0ps3cret"'),
            'workspaces.acme.channels.web.settings.token: is a secret: write { env = "VARIABLE" }',
        ),
        (
            GOOD.replace('kind = "chat"', 'kind = "chat"\ncolour = "blue"'),
            "trunkline.toml:32:1: workspaces.acme.channels.web.settings.colour: unknown key "
            "(allowed: kind, max_body_length, token)",
        ),
        (GOOD + "\n[telemetry]\nenabled = true\n", "trunkline.toml:34:2: telemetry: unknown key"),
        (
            GOOD.replace("max_attempts = 3", "max_attempts = 3.5"),
            "trunkline.toml:5:1: outbox.max_attempts: expected a whole number, got float 3.5",
        ),
        (
            GOOD.replace("wrap_up = 5", "wrap_up = 5\nreject_delay = -1"),
            "trunkline.toml:15:1: workspaces.acme.queues.support.reject_delay: must be 0 or "
            "more seconds (inf: never again), got -1.0",
        ),
        (
            GOOD.replace("wrap_up = 5", "wrap_up = 5\nno_answer_delay = nan"),
            "trunkline.toml:15:1: workspaces.acme.queues.support.no_answer_delay: must be 0 or "
            "more seconds",
        ),
        (
            GOOD.replace("wrap_up = 5", 'wrap_up = 5\nreject_delay = "soon"'),
            "workspaces.acme.queues.support.reject_delay: expected a number, got str 'soon'",
        ),
        (
            GOOD
            + "\n[[workspaces.acme.queues.billing.escalation]]\nafter = 30\nskills = { fr = 1 }\n",
            "trunkline.toml:36:12: workspaces.acme.queues.billing.escalation.0.skills.fr: unknown "
            'skill "fr" (known: en, de, billing)',
        ),
        (
            GOOD + "\n[[workspaces.acme.queues.billing.escalation]]\nafter = 30\nskils = {}\n",
            "trunkline.toml:36:1: workspaces.acme.queues.billing.escalation.0.skils: unknown key "
            "(allowed: after, groups, "
            "overflow, priority, queues, requirement, skills)",
        ),
    ],
    ids=[
        "misspelled-key",
        "wrong-type",
        "unknown-skill",
        "level-out-of-range",
        "unknown-queue",
        "unknown-adapter",
        "unknown-strategy",
        "literal-secret",
        "unknown-setting",
        "unknown-table",
        "float-for-int",
        "negative-reject-delay",
        "nan-no-answer-delay",
        "delay-not-a-number",
        "unknown-skill-in-a-step",
        "misspelled-step-key",
    ],
)
def test_mistakes_name_the_key_and_position(
    tmp_path: Path, trunkline_pm: PluginManager, mistake: str, expected: str
) -> None:
    assert expected in error(tmp_path, trunkline_pm, mistake)


def test_declined_agents_delays_and_a_steps_skills_load(
    tmp_path: Path, trunkline_pm: PluginManager
) -> None:
    text = GOOD.replace("wrap_up = 5", "wrap_up = 5\nreject_delay = 0\nno_answer_delay = inf")
    text += "\n[[workspaces.acme.queues.billing.escalation]]\nafter = 30\nskills = {}\n"
    support, billing = load(tmp_path, trunkline_pm, text).workspaces["acme"].queues
    assert (support.reject_delay, support.no_answer_delay) == (0.0, float("inf"))
    assert (billing.reject_delay, billing.no_answer_delay) == (30.0, 30.0)  # the defaults
    assert dict(billing.escalation[0].skills) == {}


def test_missing_secret_variable_is_named(tmp_path: Path, trunkline_pm: PluginManager) -> None:
    message = error(tmp_path, trunkline_pm, GOOD, env={})
    assert (
        "workspaces.acme.channels.web.settings.token: environment variable WEB_TOKEN is not set"
        in message
    )


def test_a_queue_chooses_how_abandons_count_for_service_level(
    tmp_path: Path, trunkline_pm: PluginManager
) -> None:
    text = GOOD.replace(
        "wrap_up = 5",
        'wrap_up = 5\nservice_level_abandons = "missed"\nservice_level_short_abandon = 5',
    )
    support, billing = load(tmp_path, trunkline_pm, text).workspaces["acme"].queues
    assert (support.service_level_abandons, support.service_level_short_abandon) == ("missed", 5)
    assert (billing.service_level_abandons, billing.service_level_short_abandon) == ("ignored", 0)
    message = error(tmp_path, trunkline_pm, text.replace('"missed"', '"negative"'))
    assert (
        "trunkline.toml:15:1: workspaces.acme.queues.support.service_level_abandons: "
        "'negative' is not one of "
        "'ignored', 'missed', 'met'"
    ) in message
    message = error(tmp_path, trunkline_pm, text.replace("short_abandon = 5", "short_abandon = -1"))
    assert "service_level_short_abandon: must be 0 or more seconds, got -1.0" in message


def test_malformed_toml_gives_line_and_column(tmp_path: Path, trunkline_pm: PluginManager) -> None:
    message = error(
        tmp_path, trunkline_pm, GOOD.replace("offer_timeout = 15", "offer_timeout = = 15")
    )
    assert message.startswith(f"{tmp_path / 'trunkline.toml'}:13:17: not valid TOML")


def test_missing_file_is_a_config_error(tmp_path: Path, trunkline_pm: PluginManager) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.toml", adapters={}, strategies=set())


def test_locate_keys_handles_quoted_and_dotted_keys() -> None:
    positions = locate_keys('[a."b.c"]\n  d.e = 1\n"f g" = 2\n')
    assert positions[("a", "b.c")] == (1, 2)
    assert positions[("a", "b.c", "d", "e")] == (2, 3)
    assert positions[("a", "b.c", "f g")] == (3, 1)


def test_a_retired_key_says_what_replaced_it(tmp_path: Path, trunkline_pm: PluginManager) -> None:
    text = GOOD + "\n[web]\nlogin_attempts_per_minute = 5\n"
    assert error(tmp_path, trunkline_pm, text).endswith(
        "trunkline.toml:35:1: web.login_attempts_per_minute: no longer a setting: successful "
        "sign-ins no longer count; failures are limited by login_failures_before_backoff, "
        "login_backoff_max and login_failures_per_address"
    )


# Range and order errors point at the key -------------------------------------------------------

POSITIONED = """\
[web]
port = 8000

[workspaces.acme]
skills = ["en", "de"]

[workspaces.acme.hours.office]
monday = ["09:00-12:00", "13:00-17:00"]
closed = ["2025-12-25"]

[workspaces.acme.queues.support]
skills = { en = 2 }
hours = "office"

[[workspaces.acme.queues.support.escalation]]
after = 30

[[workspaces.acme.queues.support.escalation]]
after = 60
skills = { en = 1 }

[workspaces.acme.agents.alice]
skills = { en = 3, de = 4 }
capacity = { chat = 4 }
queues = ["support"]
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "de = 4",
            "de = 9",
            "23:20: workspaces.acme.agents.alice.skills.de: skill 'de': level 9 is not a whole "
            "number from 1 to 5",
        ),
        (
            "skills = { en = 1 }",
            "skills = { en = 0 }",
            "20:12: workspaces.acme.queues.support.escalation.1.skills.en: skill 'en': level 0 "
            "is not a whole number from 1 to 5",
        ),
        (
            "after = 60",
            "after = 20",
            "19:1: workspaces.acme.queues.support.escalation.1.after: each step must come later "
            "than the one before (after = 20 follows after = 30)",
        ),
        (
            '"13:00-17:00"',
            '"17:00-13:00"',
            '8:26: workspaces.acme.hours.office.monday.1: "17:00-13:00": the end is not after '
            "the start (overnight hours: split them",
        ),
        (
            '"13:00-17:00"',
            '"11:00-17:00"',
            '8:26: workspaces.acme.hours.office.monday.1: "11:00-17:00" overlaps "09:00-12:00"',
        ),
        (
            '"2025-12-25"',
            '"christmas"',
            '9:11: workspaces.acme.hours.office.closed.0: "christmas" is not a date (YYYY-MM-DD)',
        ),
        (
            "port = 8000",
            "port = 80000",
            "2:1: web.port: 80000 is not from 0 to 65535 (0 picks any free port)",
        ),
        (
            "port = 8000",
            'port = 8000\nforwarded_allow_ips = "127.0.0.1, proxy.internal"',
            "3:1: web.forwarded_allow_ips: 'proxy.internal' is not an IP address or network; "
            'write the addresses of your reverse proxies, comma-separated, e.g. "127.0.0.1, '
            '10.0.0.0/8", or "*" to trust any peer',
        ),
        (
            "[workspaces.acme]\n",
            "[workspace.acme]\nskills = []\n\n[workspaces.acme]\n",
            "4:2: workspace: unknown key (allowed: outbox, plugins, store, web, workspaces)",
        ),
    ],
    ids=[
        "skill-level",
        "skill-level-in-a-step",
        "escalation-order",
        "hours-end-before-start",
        "hours-overlap",
        "closed-date",
        "web-port",
        "web-forwarded-allow-ips",
        "unknown-top-level-table",
    ],
)
def test_range_and_order_errors_point_at_the_key_with_its_full_path(
    tmp_path: Path, trunkline_pm: PluginManager, old: str, new: str, expected: str
) -> None:
    assert old in POSITIONED
    load(tmp_path, trunkline_pm, POSITIONED)  # the file without the mistake is good
    message = error(tmp_path, trunkline_pm, POSITIONED.replace(old, new, 1))
    assert message.startswith(f"{tmp_path / 'trunkline.toml'}:{expected}"), message


def test_locate_keys_places_array_items_inline_tables_and_implied_tables() -> None:
    text = (
        "[a.b]\n"
        "x = [1, { y = 2 }]\n"
        "[[c]]\n"
        "z = 1\n"
        "[[c]]\n"
        "z = 2\n"
        "[c.d]\n"
        "w = '''\n"
        "]\n"
        "'''\n"
        "v = [\n"
        '  "p", # ]\n'
        '  "q",\n'
        "]\n"
    )
    positions = locate_keys(text)
    assert positions[("a",)] == (1, 2)  # implied by [a.b]
    assert positions[("a", "b", "x", "1", "y")] == (2, 11)
    assert positions[("c", "0")] == (3, 3)
    assert positions[("c", "1", "z")] == (6, 1)
    assert positions[("c", "1", "d", "w")] == (8, 1)  # [c.d] is in the latest [[c]]
    assert positions[("c", "1", "d", "v", "1")] == (13, 3)
