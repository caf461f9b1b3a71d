"""Built-in plugin: CSAT surveys (see :mod:`trunkline.survey`) as steps of the runtime.

Its decision step asks the question after a close that earns one, in the same append as the
``ContactClosed``; its inbound step takes a known customer's rating on a thread with no open
contact onto the closed contact it rates. Blocked (``TRUNKLINE_DISABLE_PLUGINS=surveys``), no
question is asked and every reply is an ordinary message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

from .. import events as ev
from ..hookspecs import hookimpl
from ..model import Direction
from ..runtime.protocols import DeskView, PluginRuntime
from ..runtime.steps import Claim, DecisionStep, InboundStep, Intake
from ..survey import answer_to_survey, survey_events

log = logging.getLogger("trunkline.survey")


class SurveyAnswers(InboundStep):
    """A known customer's reply on a thread with no open contact may rate the contact that
    closed there: then it joins that contact, with ``SurveyAnswered``, and opens none."""

    name: ClassVar[str] = "surveys"

    async def attach(self, intake: Intake) -> Claim | None:
        survey = intake.workspace.survey
        message = intake.message
        if survey is None or intake.new_customer or message.fails_message:
            return None  # a new customer was never surveyed; a delivery report is no answer
        answered = await answer_to_survey(
            intake.runtime.store,
            intake.workspace.workspace.id,
            intake.customer.id,
            intake.thread_key,
            message.body,
            intake.now,
        )
        if answered is None:
            return None
        contact, answer = answered
        return Claim(contact, (answer,))


class SurveyAfterClose(DecisionStep):
    """The survey for a contact that closes, if it earns one: an inbound contact that an agent
    handled (its wrap-up ends in the same decision), on a channel that can send and that the
    survey is for."""

    name: ClassVar[str] = "surveys"
    follows: ClassVar[tuple[type[ev.Event], ...]] = (ev.ContactClosed,)

    async def follow(
        self,
        event: ev.Event,
        before: Sequence[ev.Event],
        desk: DeskView,
        runtime: PluginRuntime,
    ) -> Sequence[ev.Event]:
        settings = desk.config.survey
        if settings is None or not isinstance(event, ev.ContactClosed):
            return []
        agent_id = next(
            (
                e.agent_id
                for e in reversed(before)
                if isinstance(e, ev.WrapUpEnded | ev.ContactEnded)
                and e.contact_id == event.contact_id
            ),
            None,
        )
        if agent_id is None:
            return []
        try:
            contact = await runtime.store.contact(event.workspace, event.contact_id)
        except Exception:
            log.exception("survey: contact %s could not be read; no survey", event.contact_id)
            return []
        adapter = None if contact is None else runtime.channels.get(contact.channel)
        if (
            contact is None
            or adapter is None
            or contact.direction is not Direction.INBOUND
            or not adapter.capabilities.outbound
            or (settings.channels and contact.channel not in settings.channels)
        ):
            return []
        return survey_events(
            settings, contact, agent_id=agent_id, queue=contact.queue, now=event.at
        )


@hookimpl
def trunkline_register_inbound_steps() -> Sequence[InboundStep]:
    return [SurveyAnswers()]


@hookimpl
def trunkline_register_decision_steps() -> Sequence[DecisionStep]:
    return [SurveyAfterClose()]
