"""Surveys (CSAT): after a contact closes, ask its customer for a rating on the same channel.

A workspace turns surveys on with ``[workspaces.<id>.survey]`` (:class:`SurveySettings`).
When an answered inbound contact closes on a channel that can send, the built-in plugin
``surveys`` (:mod:`trunkline.builtin.surveys`, a decision step) appends the question to the
outbox (``OutboundQueued``) and ``SurveySent`` in the same append as the
``ContactClosed``: a crash leaves either all three or none, and nothing is decided twice.

The question is an ordinary outbound message of the closed contact whose metadata, under
:data:`QUESTION_KEY`, says what an answer needs: the scale, when answers stop counting, and
the agent and queue to credit. So "is a survey waiting on this thread?" is answered from what
every store already answers (the customer's contacts and a contact's messages), survives a
restart, and works the same on every store. A survey waits while:

- the newest contact of the customer on the thread is the surveyed one (no contact has been
  opened on the thread since the question was sent), and
- nothing came in on it after the question (the first reply settles it), and
- its ``expires_at`` has not passed.

A waiting survey takes a reply whose whole body is a rating (:func:`parse_rating`): it is
stored on the closed contact with ``SurveyAnswered``. Any other reply opens a new contact as
usual, which ends the wait.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import attrs

from . import events as ev
from .model import Contact, Direction, Message, new_id
from .store import Store

__all__ = [
    "MAX_ANSWER_LENGTH",
    "QUESTION_KEY",
    "SurveySettings",
    "WaitingSurvey",
    "answer_to_survey",
    "parse_rating",
    "survey_events",
    "waiting_survey",
]

QUESTION_KEY = "survey"  # the question message's metadata key
MAX_ANSWER_LENGTH = 200  # characters: a longer message is a conversation, not a rating
LOOKBACK = 50  # the customer's newest contacts searched for the thread's latest one


def _scale(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not 2 <= value <= 10:
        raise ValueError(f"scale: must be from 2 to 10, got {value}")


def _window(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"window: must be a number of seconds more than 0, got {value}")


def _channel_names(value: Any) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class SurveySettings:
    """A workspace's CSAT survey: the ``question`` sent after close, the rating ``scale``
    (answers from 1 to ``scale``), the ``window`` in seconds during which an answer counts,
    and the ``channels`` it is sent on (empty: every channel of the workspace that can send).
    """

    question: str = ""
    scale: int = attrs.field(default=5, validator=_scale)
    window: float = attrs.field(default=86_400.0, validator=_window)
    channels: tuple[str, ...] = attrs.field(default=(), converter=_channel_names)

    @property
    def text(self) -> str:
        """The question as sent: ``question``, or a default that names the scale."""
        return self.question.strip() or (
            f"How did we do? Reply with a number from 1 (poor) to {self.scale} (great)."
        )


# The rating grammar ------------------------------------------------------------------------

_RATING = re.compile(
    r"""
    (?:
        (?P<number>[1-9][0-9]?)                     # 1 .. scale, without sign or leading zero
        (?:[ \t]*/[ \t]*(?P<of>[1-9][0-9]?))?       # "4/5": out of the scale itself
        (?:[ \t]*stars?)?                           # "5 stars", "1 star"
      |
        (?P<stars>(?:[\u2b50\u2605]\ufe0f?[ \t]*)+) # ⭐⭐⭐⭐ or ★★★★, one star a point
    )
    (?:[ \t]*[-\u2013\u2014:,!.](?![ \t]*[0-9])[^\r\n]*)?  # "- ok", ", thanks!", "."
    """,
    re.VERBOSE | re.ASCII | re.IGNORECASE,
)


def parse_rating(text: str, scale: int = 5) -> int | None:
    """The score ``text`` gives on a scale from 1 to ``scale``, or None when it is no rating.

    The grammar, applied to the whole text once surrounding whitespace is removed, on one line
    of at most :data:`MAX_ANSWER_LENGTH` characters:

    - a whole number from 1 to ``scale`` written in ASCII digits without sign or leading zero
      (``"4"``), optionally followed by ``/`` and the scale itself (``"4/5"``; ``"4/10"`` on a
      scale of 5 is no rating), then optionally ``star`` or ``stars`` in any case
      (``"5 stars"``); or
    - 1 to ``scale`` star characters, ``⭐`` (U+2B50, optionally with U+FE0F) or ``★``
      (U+2605), possibly spaced (``"⭐⭐⭐⭐"``: 4);
    - then, optionally, a comment: one of ``- – — : , ! .`` and any text on the same line
      that does not begin with a digit (``"3 - ok"``, ``"5, thanks!"``; ``"4.5"`` and
      ``"4,5"`` are no rating).

    Never raises.
    """
    match = _match(text)
    if match is None:
        return None
    if match["stars"] is not None:
        score = sum(1 for char in match["stars"] if char in "\u2b50\u2605")
    else:
        score = int(match["number"])
        if match["of"] is not None and int(match["of"]) != scale:
            return None
    return score if 1 <= score <= scale else None


def _match(text: str) -> re.Match[str] | None:
    body = text.strip()
    if not body or len(body) > MAX_ANSWER_LENGTH:
        return None
    return _RATING.fullmatch(body)


# Asking ------------------------------------------------------------------------------------


def survey_events(
    settings: SurveySettings,
    contact: Contact,
    *,
    agent_id: str,
    queue: str | None,
    now: float,
) -> list[ev.Event]:
    """The question in the outbox and ``SurveySent``, for a contact closing at ``now``."""
    expires_at = now + settings.window
    question = Message(
        id=new_id("ms"),
        workspace=contact.workspace,
        contact_id=contact.id,
        direction=Direction.OUTBOUND,
        channel=contact.channel,
        body=settings.text,
        created_at=now,
        metadata={
            QUESTION_KEY: {
                "scale": settings.scale,
                "expires_at": expires_at,
                "agent": agent_id,
                "queue": queue,
            }
        },
    )
    return [
        ev.OutboundQueued(
            workspace=contact.workspace, at=now, message=question, to=contact.address
        ),
        ev.SurveySent(
            workspace=contact.workspace,
            at=now,
            contact_id=contact.id,
            message_id=question.id,
            scale=settings.scale,
            expires_at=expires_at,
        ),
    ]


# Waiting for the answer --------------------------------------------------------------------


@attrs.frozen
class WaitingSurvey:
    """A survey question that the next reply on its thread may answer."""

    contact: Contact
    question: Message
    scale: int
    expires_at: float
    agent_id: str | None
    queue: str | None

    def answered(self, score: int, at: float) -> ev.SurveyAnswered:
        return ev.SurveyAnswered(
            workspace=self.contact.workspace,
            at=at,
            contact_id=self.contact.id,
            score=score,
            scale=self.scale,
            agent_id=self.agent_id,
            queue=self.queue,
        )


def _question(contact: Contact, message: Message) -> WaitingSurvey | None:
    """The survey a message asks, if it is a well-formed survey question."""
    data = message.metadata.get(QUESTION_KEY)
    if message.direction is not Direction.OUTBOUND or not isinstance(data, Mapping):
        return None
    scale, expires_at = data.get("scale"), data.get("expires_at")
    agent, queue = data.get("agent"), data.get("queue")
    if (
        not isinstance(scale, int)
        or isinstance(scale, bool)
        or not isinstance(expires_at, int | float)
        or not isinstance(agent, str | None)
        or not isinstance(queue, str | None)
    ):
        return None
    return WaitingSurvey(contact, message, scale, float(expires_at), agent, queue)


async def waiting_survey(
    store: Store, workspace: str, customer_id: str, thread_key: str, now: float
) -> WaitingSurvey | None:
    """The survey waiting for an answer on a thread that has no open contact, if any.

    See the module's docstring for when a survey waits. Two reads: the customer's newest
    contacts, and the messages of the thread's latest one.
    """
    thread = [
        c
        for c in await store.contacts_of(workspace, customer_id, LOOKBACK)
        if c.thread_key == thread_key
    ]
    if not thread:
        return None
    latest = max(thread, key=lambda c: c.created_at)
    survey = None
    for message in reversed(await store.messages(workspace, latest.id)):
        if message.direction is Direction.INBOUND:
            return None  # the customer replied after the question: it is settled
        survey = _question(latest, message)
        if survey is not None:
            break
    if survey is None or now >= survey.expires_at:
        return None
    sent_at = survey.question.created_at
    if any(c.id != latest.id and c.created_at >= sent_at for c in thread):
        return None  # a contact was opened on the thread since (a reply that was no rating)
    return survey


async def answer_to_survey(
    store: Store, workspace: str, customer_id: str, thread_key: str, body: str, now: float
) -> tuple[Contact, ev.SurveyAnswered] | None:
    """When ``body`` answers the survey waiting on the thread: the closed contact it belongs
    to and the ``SurveyAnswered`` to append with it. None sends the message to normal intake.
    """
    if _match(body) is None:  # most messages: no store read at all
        return None
    survey = await waiting_survey(store, workspace, customer_id, thread_key, now)
    score = None if survey is None else parse_rating(body, survey.scale)
    if survey is None or score is None:
        return None
    return survey.contact, survey.answered(score, now)
