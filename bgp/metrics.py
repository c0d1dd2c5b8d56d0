"""The agent's Prometheus metrics.

The injector runs as ExaBGP's child, the agent as ExaBGP's parent: the
injector writes its metrics to a text file in the state directory (atomically,
every few seconds), and the agent serves them together with its own on
``--metrics-port`` (the node-exporter textfile pattern, without the exporter).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, write_to_textfile
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

TEXTFILE = "injector.prom"
# From a new revision to every line acknowledged: tens of ms normally, seconds for big batches.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class InjectorMetrics:
    def __init__(self, state_dir: Path | None) -> None:
        self.path = state_dir / TEXTFILE if state_dir else None
        self.registry = CollectorRegistry()
        self.announced = Counter(
            "fabric_agent_announced_prefixes", "Prefixes announced to ExaBGP",
            registry=self.registry,
        )  # fmt: skip
        self.withdrawn = Counter(
            "fabric_agent_withdrawn_prefixes", "Prefixes withdrawn from ExaBGP",
            registry=self.registry,
        )  # fmt: skip
        self.revision_to_ack = Histogram(
            "fabric_agent_revision_to_ack_seconds",
            "From a new desired state to ExaBGP acknowledging every line it needed",
            buckets=ACK_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.last_sync = Gauge(
            "fabric_agent_last_sync_timestamp_seconds",
            "When the desired state was last read from the API", registry=self.registry,
        )  # fmt: skip
        self.lost_acks = Counter(
            "fabric_agent_lost_acks", "Acknowledgements ExaBGP never sent", registry=self.registry
        )

    def write(self) -> None:
        if self.path is not None:
            write_to_textfile(str(self.path), self.registry)


class AgentCollector(Collector):
    """The injector's file as it is now, plus the age of its last sync at scrape time."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / TEXTFILE

    def collect(self) -> Iterator[Metric]:
        try:
            text = self.path.read_text()
        except OSError:
            return
        for family in text_string_to_metric_families(text):
            yield family
            if family.name == "fabric_agent_last_sync_timestamp_seconds" and family.samples:
                age = GaugeMetricFamily(
                    "fabric_agent_last_sync_age_seconds", "Seconds since the last API sync"
                )
                age.add_metric([], max(0.0, time.time() - family.samples[0].value))
                yield age


class AgentMetrics:
    def __init__(self, state_dir: Path) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(AgentCollector(state_dir))
        self.restarts = Counter(
            "fabric_agent_exabgp_restarts", "ExaBGP restarts after it exited",
            registry=self.registry,
        )  # fmt: skip
        self.reloads = Counter(
            "fabric_agent_exabgp_reloads", "In-place reloads on peer changes",
            registry=self.registry,
        )  # fmt: skip
        self.bfd_restarts = Counter(
            "fabric_agent_bfdd_restarts", "bfdd starts after it was found not running",
            registry=self.registry,
        )  # fmt: skip
