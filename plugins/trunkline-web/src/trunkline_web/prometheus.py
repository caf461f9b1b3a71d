"""``GET /metrics``: the workspaces' figures (:mod:`trunkline.metrics`) for Prometheus.

:class:`MetricsCollector` is a prometheus-client custom collector: it reads each workspace's
:class:`~trunkline.metrics.Metrics` when scraped, so nothing is done per event beyond what the
wallboard already does. Counters run since the server started (Prometheus' ``rate()`` copes
with the reset at a restart); gauges are the figures at the time of the scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trunkline.metrics import Metrics

__all__ = ["CONTENT_TYPE_LATEST", "MetricsCollector", "exposition"]

# Per queue: (figure, metric name, help). Counters get ``_total`` from prometheus-client.
_QUEUE_GAUGES = (
    ("waiting", "trunkline_queue_waiting", "Contacts queued and not being offered now."),
    ("ringing", "trunkline_queue_ringing", "Contacts being offered to an agent now."),
    (
        "longest_wait",
        "trunkline_queue_longest_wait_seconds",
        "How long the contact waiting longest has waited.",
    ),
    (
        "service_level",
        "trunkline_queue_service_level_ratio",
        "Share of counted contacts within service level (the queue's definition), since start.",
    ),
)
_QUEUE_COUNTERS = (
    ("offered", "trunkline_queue_offered", "Contacts that entered the queue."),
    ("answered", "trunkline_queue_answered", "Contacts an agent accepted."),
    ("abandoned", "trunkline_queue_abandoned", "Contacts whose customer left before an answer."),
    ("handled", "trunkline_queue_handled", "Contacts whose wrap-up ended."),
    (
        "answered_within_threshold",
        "trunkline_queue_answered_within_threshold",
        "Contacts answered within the service-level threshold.",
    ),
    (
        "within_service_level",
        "trunkline_queue_within_service_level",
        "Contacts within service level by the queue's definition (its numerator).",
    ),
    (
        "counted_for_service_level",
        "trunkline_queue_counted_for_service_level",
        "Contacts that count for service level by the queue's definition (its denominator).",
    ),
    (
        "answer_time_total",
        "trunkline_queue_answer_time_seconds",
        "Time from queued to accepted, summed over answered contacts.",
    ),
    (
        "handle_time_total",
        "trunkline_queue_handle_time_seconds",
        "Talk plus wrap-up time, summed over handled contacts.",
    ),
    (
        "talk_time_total",
        "trunkline_queue_talk_time_seconds",
        "Time from accepted to ended, summed over ended contacts.",
    ),
    (
        "wrap_time_total",
        "trunkline_queue_wrap_time_seconds",
        "Time from ended to wrap-up ended, summed over handled contacts.",
    ),
)


class MetricsCollector(Collector):
    """Yields the figures of ``metrics`` (workspace id -> Metrics) as of ``clock()``."""

    def __init__(
        self,
        metrics: Mapping[str, Metrics],
        clock: Callable[[], float],
        live: Callable[[str, str, float], Mapping[str, Any]] | None = None,
    ) -> None:
        self.metrics = metrics
        self.clock = clock
        self.live = live

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        figures = {wid: m.figures(now) for wid, m in self.metrics.items()}
        if self.live is not None:  # what waits now, from the engine (right after a restart too)
            for wid, f in figures.items():
                for qid, queue in f["queues"].items():
                    queue.update(self.live(wid, qid, now))
        labels = ["workspace", "queue"]
        for key, name, text in _QUEUE_GAUGES:
            gauge = GaugeMetricFamily(name, text, labels=labels)
            for wid, f in figures.items():
                for qid, queue in f["queues"].items():
                    if queue[key] is not None:  # undefined yet: no sample rather than NaN
                        gauge.add_metric([wid, qid], queue[key])
            yield gauge
        for key, name, text in _QUEUE_COUNTERS:
            counter = CounterMetricFamily(name, text, labels=labels)
            for wid, f in figures.items():
                for qid, queue in f["queues"].items():
                    counter.add_metric([wid, qid], queue[key])
            yield counter
        queue_agents = GaugeMetricFamily(
            "trunkline_queue_agents",
            "Agents serving the queue, by state while available, else by status.",
            labels=[*labels, "state"],
        )
        agents = GaugeMetricFamily(
            "trunkline_agents",
            "Agents of the workspace, by state while available, else by status.",
            labels=["workspace", "state"],
        )
        occupancy = GaugeMetricFamily(
            "trunkline_occupancy_ratio",
            "Time handling contacts over time available (or handling), since start.",
            labels=["workspace"],
        )
        received = CounterMetricFamily(
            "trunkline_contacts_received", "Contacts that entered the system.", labels=["workspace"]
        )
        busy = CounterMetricFamily(
            "trunkline_agent_busy_seconds",
            "Time the agent held at least one contact (talking or in wrap-up).",
            labels=["workspace", "agent"],
        )
        available = CounterMetricFamily(
            "trunkline_agent_available_seconds",
            "Time the agent was available, or handling a contact in any status.",
            labels=["workspace", "agent"],
        )
        agent_occupancy = GaugeMetricFamily(
            "trunkline_agent_occupancy_ratio",
            "The agent's busy time over its available time, since start.",
            labels=["workspace", "agent"],
        )
        for wid, f in figures.items():
            for qid, queue in f["queues"].items():
                for state, n in queue["agents"].items():
                    queue_agents.add_metric([wid, qid, state], n)
            workspace = f["workspace"]
            for state, n in workspace["agents"].items():
                agents.add_metric([wid, state], n)
            if workspace["occupancy"] is not None:
                occupancy.add_metric([wid], workspace["occupancy"])
            received.add_metric([wid], workspace["received"])
            for aid, agent in f["agents"].items():
                busy.add_metric([wid, aid], agent["busy_time"])
                available.add_metric([wid, aid], agent["available_time"])
                if agent["occupancy"] is not None:
                    agent_occupancy.add_metric([wid, aid], agent["occupancy"])
        yield from (queue_agents, agents, occupancy, received, busy, available, agent_occupancy)


def exposition(
    metrics: Mapping[str, Metrics],
    clock: Callable[[], float],
    live: Callable[[str, str, float], Mapping[str, Any]] | None = None,
) -> bytes:
    """The text a scrape answers with (content type :data:`CONTENT_TYPE_LATEST`).

    ``live(workspace, queue, now)`` gives the queue's ``waiting``, ``ringing`` and
    ``longest_wait`` from the routing engine, which the events since start alone cannot.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MetricsCollector(metrics, clock, live))
    data: Any = generate_latest(registry)
    return bytes(data)
