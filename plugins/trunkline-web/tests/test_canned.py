"""Canned responses: a workspace's ready-made replies, declared by trunkline-web as the
per-workspace table ``canned`` and checked with the places of mistakes named."""

from __future__ import annotations

from typing import Any

import pytest

from trunkline import ConfigError, FakeClock, Runtime, load_plugins
from trunkline.testing import build_runtime
from trunkline_web.canned import CannedResponse, render
from trunkline_web.settings import workspace_canned


def runtime(**workspace: Any) -> Runtime:
    pm = load_plugins({"TRUNKLINE_PLUGINS": "web"})
    data = {
        "workspaces": {
            "acme": {
                "queues": {"support": {"offer_timeout": 30}},
                "agents": {"ada": {"capacity": {"chat": 2}, "queues": ["support"]}},
                "channels": {"web": {"adapter": "memory", "queue": "support"}},
                **workspace,
            }
        }
    }
    return build_runtime(pm, data, clock=FakeClock())


def test_placeholders_are_filled_with_plain_text_and_unknown_ones_are_left_and_listed() -> None:
    values = {"customer.name": "Zoë {{agent.name}}", "agent.name": "Ada", "contact.id": "ct_9"}
    rendered = render(
        "Hello {{ customer.name }}, {{agent.name}} here about {{contact.id}}. "
        "Order {{order.id}} ({{order.id}}), {{contact.subject}}. {{not a placeholder}}",
        values,
    )
    assert rendered.text == (
        "Hello Zoë {{agent.name}}, Ada here about ct_9. "
        "Order {{order.id}} ({{order.id}}), {{contact.subject}}. {{not a placeholder}}"
    )
    assert rendered.missing == ("order.id", "contact.subject")


def test_a_workspace_lists_its_canned_responses_in_its_configuration() -> None:
    rt = runtime(
        canned=[
            {"shortcut": "hello", "title": "Greeting", "text": "Hello {{customer.name}}!"},
            {"shortcut": "bye", "text": "Goodbye."},
        ]
    )
    assert workspace_canned(rt.config.workspaces["acme"]) == (
        CannedResponse(shortcut="hello", title="Greeting", text="Hello {{customer.name}}!"),
        CannedResponse(shortcut="bye", text="Goodbye."),
    )
    assert workspace_canned(rt.config.workspaces["acme"])[1].json()["title"] == "bye"


@pytest.mark.parametrize(
    ("canned", "error"),
    [
        (
            [{"shortcut": "Hello World", "text": "x"}],
            'workspaces.acme.canned.0.shortcut: shortcut "Hello World": use 1 to 40 lower-case letters',
        ),
        ([{"shortcut": "hi", "text": " "}], "workspaces.acme.canned.0.text: must not be empty"),
        (
            [{"shortcut": "hi", "text": "a"}, {"shortcut": "hi", "text": "b"}],
            'workspaces.acme.canned.1.shortcut: shortcut "hi" is taken by canned.0 already',
        ),
        ([{"shortcut": "hi", "text": "a", "body": "b"}], "unknown key (allowed: shortcut"),
        ({"shortcut": "hi"}, "workspaces.acme.canned: expected a list"),
    ],
)
def test_a_bad_canned_response_is_refused_with_its_place_named(canned: Any, error: str) -> None:
    with pytest.raises(ConfigError) as refused:
        runtime(canned=canned)
    assert error in str(refused.value)


# Timers -----------------------------------------------------------------------------------
