"""The fold of events that live figures and historical reports share: dispatch by event type."""

from __future__ import annotations

import attrs
import pytest

from trunkline import events as ev
from trunkline.fold import Fold, handles
from trunkline.metrics import Metrics
from trunkline.model import AgentStatus
from trunkline.reports import ReportFold


@pytest.fixture
def callback_requested(monkeypatch: pytest.MonkeyPatch) -> type[ev.Event]:
    """An event type core does not have (a plugin's, say), kept out of the real registry."""
    monkeypatch.setattr(ev, "EVENT_TYPES", dict(ev.EVENT_TYPES))

    @attrs.frozen(kw_only=True)
    class CallbackRequested(ev.Event):
        contact_id: str

    return CallbackRequested


def _status(at: float = 1.0) -> ev.AgentStatusChanged:
    return ev.AgentStatusChanged(workspace="w", at=at, agent_id="a1", status=AgentStatus.AVAILABLE)


def test_a_fold_calls_the_method_marked_for_the_events_type_with_the_event(
    callback_requested: type[ev.Event],
) -> None:
    class Callbacks(Fold):
        def __init__(self) -> None:
            self.seen: list[str] = []

        @handles(callback_requested)
        def _callback(self, event: ev.Event) -> None:
            self.seen.append(event.contact_id)  # type: ignore[attr-defined]

    fold = Callbacks()
    fold.apply(callback_requested(workspace="w", at=1.0, contact_id="c1"))  # type: ignore[call-arg]
    fold.apply_all(
        [callback_requested(workspace="w", at=2.0, contact_id=c) for c in ("c2", "c3")]  # type: ignore[call-arg]
    )
    assert fold.seen == ["c1", "c2", "c3"]
    assert set(Callbacks.handlers) == {callback_requested}


def test_an_event_of_a_type_the_fold_does_not_handle_is_ignored_not_an_error(
    callback_requested: type[ev.Event],
) -> None:
    metrics = Metrics([], [])
    metrics.apply(callback_requested(workspace="w", at=1.0, contact_id="c1"))  # type: ignore[call-arg]
    assert metrics.figures(2.0)["workspace"]["received"] == 0

    class Statuses(Fold):
        def __init__(self) -> None:
            self.count = 0

        @handles(ev.AgentStatusChanged)
        def _status(self, event: ev.AgentStatusChanged) -> None:
            self.count += 1

    class LaterStatus(ev.AgentStatusChanged):  # dispatch is on the exact class, as stored
        pass

    fold = Statuses()
    fold.apply_all([_status(), callback_requested(workspace="w", at=2.0, contact_id="c1")])  # type: ignore[call-arg]
    fold.apply(LaterStatus(workspace="w", at=3.0, agent_id="a1", status=AgentStatus.BREAK))
    assert fold.count == 1


def test_one_method_may_handle_several_types_and_a_subclass_adds_or_overrides_handlers(
    callback_requested: type[ev.Event],
) -> None:
    class Base(Fold):
        def __init__(self) -> None:
            self.seen: list[str] = []

        @handles(ev.ContactClosed, ev.ContactRefused)
        def _gone(self, event: ev.Event) -> None:
            self.seen.append(f"gone {event.type}")

        @handles(ev.AgentStatusChanged)
        def _status(self, event: ev.Event) -> None:
            self.seen.append("status")

    class Derived(Base):
        def _gone(self, event: ev.Event) -> None:  # the override is called, unmarked
            self.seen.append(f"derived {event.type}")

        @handles(callback_requested)
        def _callback(self, event: ev.Event) -> None:
            self.seen.append("callback")

    fold = Derived()
    fold.apply_all(
        [
            ev.ContactClosed(workspace="w", at=1.0, contact_id="c1"),
            ev.ContactRefused(workspace="w", at=1.0, contact_id="c2", queue="q", reason="full"),
            _status(),
            callback_requested(workspace="w", at=2.0, contact_id="c3"),  # type: ignore[call-arg]
        ]
    )
    assert fold.seen == ["derived ContactClosed", "derived ContactRefused", "status", "callback"]
    assert callback_requested not in Base.handlers  # the base's table is its own


def test_a_class_that_defines_apply_keeps_it_and_so_do_its_subclasses() -> None:
    class Counting(Fold):
        def __init__(self) -> None:
            self.events = 0
            self.statuses = 0

        def apply(self, event: ev.Event) -> None:
            self.events += 1
            super().apply(event)

        @handles(ev.AgentStatusChanged)
        def _status(self, event: ev.Event) -> None:
            self.statuses += 1

    class MoreCounting(Counting):
        pass

    fold = MoreCounting()
    fold.apply_all([_status(), ev.ContactClosed(workspace="w", at=1.0, contact_id="c1")])
    assert (fold.events, fold.statuses) == (2, 1)


def test_two_methods_of_one_class_for_one_event_type_are_refused_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match="AgentStatusChanged is handled by both _one and _two"):

        class Twice(Fold):
            @handles(ev.AgentStatusChanged)
            def _one(self, event: ev.Event) -> None: ...

            @handles(ev.AgentStatusChanged)
            def _two(self, event: ev.Event) -> None: ...


def test_handles_refuses_what_is_not_an_event_type() -> None:
    with pytest.raises(TypeError, match="not an event type"):
        handles(str)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="at least one event type"):
        handles()


def test_live_figures_and_reports_fold_the_events_through_one_table_each() -> None:
    folded: set[type[ev.Event]] = {
        ev.ContactReceived,
        ev.ContactQueued,
        ev.ContactOffered,
        ev.OfferAccepted,
        ev.OfferRejected,
        ev.OfferTimedOut,
        ev.OfferRescinded,
        ev.ContactTransferred,
        ev.ContactEnded,
        ev.WrapUpEnded,
        ev.ContactAbandoned,
        ev.ContactClosed,
        ev.ContactRefused,
        ev.AgentStatusChanged,
        ev.SurveyAnswered,
    }
    assert set(Metrics.handlers) == folded
    # Reports need no offer rescinded (counted nowhere) and no refusal (never queued).
    unreported: set[type[ev.Event]] = {ev.OfferRescinded, ev.ContactRefused}
    assert folded - set(ReportFold.handlers) == unreported
    assert set(ReportFold.handlers) <= set(Metrics.handlers)
