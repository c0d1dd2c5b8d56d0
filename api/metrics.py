"""Prometheus metrics of the API: ``GET /metrics`` (a read: needs a token, a viewer's will do).

State that lives in the database (sessions, announced prefixes, pool usage) is
read at scrape time by a collector, so every replica reports the same truth;
latencies, write batches and long-poll waiters are this replica's own. One registry per app.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.context_managers import Timer
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.orm import Session

from fabric import peer_status, pools, routers
from fabric.models import Host, HostRoutes
from fabric.render import router_config
from fabric.store.database import Database

if TYPE_CHECKING:
    from api.revisions import RevisionHub

router = APIRouter(tags=["health"])
# Allocation is a serialized write: a few ms is normal, a second is trouble.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class FabricCollector(Collector):
    def __init__(self, db: Database, hub: RevisionHub) -> None:
        self.db, self.hub = db, hub

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.db.read() as session:
            yield from _session_metrics(session)
            yield from _router_metrics(session)
            yield from _host_and_pool_metrics(session)
        waiters = GaugeMetricFamily("fabric_longpoll_waiters", "Long-polls held by this replica")
        waiters.add_metric([], self.hub.waiting)
        yield waiters


def _gauge(name: str, text: str, *labels: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, labels=list(labels))


def _session_metrics(session: Session) -> list[GaugeMetricFamily]:
    """The BGP and BFD sessions as their hosts last reported them."""
    up = _gauge("fabric_bgp_session_up",
                "1 if the session is established (0 while its host's reports are stale)",
                "host", "peer")  # fmt: skip
    by_state = _gauge("fabric_bgp_sessions",
                      "Sessions by state as the hosts report them; stale and unknown (never "
                      "reported) counted as such", "state")  # fmt: skip
    bfd_up = _gauge("fabric_bfd_session_up",
                    "1 if the host reports the BFD session up (sessions with BFD)", "host", "peer")
    report_age = _gauge("fabric_agent_report_age_seconds",
                        "Seconds since the host's agent last reported its sessions", "host")
    sent = _gauge("fabric_bgp_prefixes_sent", "Prefixes sent on the session", "host", "peer")
    received = _gauge("fabric_bgp_prefixes_received", "Prefixes received", "host", "peer")
    # Per family, as each session negotiated it (the totals above stay for old dashboards).
    family_sent = _gauge("fabric_bgp_family_prefixes_sent",
                         "Prefixes sent on the session, per family", "host", "peer", "family")
    family_received = _gauge("fabric_bgp_family_prefixes_received",
                             "Prefixes received, per family", "host", "peer", "family")
    states: dict[str, int] = {}
    for s in peer_status.sessions(session):
        host, peer = s["host"], s["peer_address"]
        up.add_metric([host, peer], 1.0 if s["established"] else 0.0)
        sent.add_metric([host, peer], s["prefixes_sent"])
        received.add_metric([host, peer], s["prefixes_received"])
        for family, counts in s["families"].items():
            family_sent.add_metric([host, peer, family], counts["sent"])
            family_received.add_metric([host, peer, family], counts["received"])
        if s["bfd_state"] is not None:
            fresh_up = s["bfd_state"] == "up" and not s["stale"]
            bfd_up.add_metric([host, peer], 1.0 if fresh_up else 0.0)
        state = "stale" if s["stale"] else s["state"]
        states[state] = states.get(state, 0) + 1
    for host, age in sorted(peer_status.report_ages(session).items()):
        report_age.add_metric([host], age)
    for state, count in sorted(states.items()):
        by_state.add_metric([state], count)
    return [up, by_state, bfd_up, report_age, sent, received, family_sent, family_received]


def _router_metrics(session: Session) -> list[GaugeMetricFamily]:
    in_sync = _gauge("fabric_router_config_in_sync",
                     "1 if the configuration the router's tor-sync applied is the one it would "
                     "get now", "router")  # fmt: skip
    for router in routers.list_routers(session):
        applied = routers.applied_of(session, router)
        if applied is not None:
            same = router_config.desired_digest(session, applied) == applied.digest
            in_sync.add_metric([router.name], 1.0 if same else 0.0)
    return [in_sync]


def _host_and_pool_metrics(session: Session) -> list[GaugeMetricFamily]:
    announced = _gauge("fabric_host_prefixes_announced", "Prefixes the host's speaker holds",
                       "host")
    allocated = _gauge("fabric_pool_addresses_allocated", "Addresses allocated", "pool")
    free = _gauge("fabric_pool_addresses_free", "Addresses free", "pool")
    joined = select(Host.name, HostRoutes).join(HostRoutes, HostRoutes.host_id == Host.id)
    for host, r in session.execute(joined):
        announced.add_metric([host], len(r.announced))
    for pool in pools.list_pools(session):
        usage = pools.pool_usage(session, pool)
        allocated.add_metric([pool.name], usage.allocated)
        free.add_metric([pool.name], usage.free)
    return [announced, allocated, free]


class ApiMetrics:
    def __init__(self, db: Database, hub: RevisionHub) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(FabricCollector(db, hub))
        self.allocation = Histogram(
            "fabric_allocation_duration_seconds", "Time to allocate (API handler)",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.release = Histogram(
            "fabric_release_duration_seconds", "Time to release (API handler)",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.wake = Histogram(
            "fabric_longpoll_wake_seconds",
            "A change seen by this replica → a held long-poll's answer ready to send",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        # The group commit (api/group_commit.py): how its write batches were served, and how
        # many requests each held; "alone" counts one transaction per request.
        self.write_batches = Counter(
            "fabric_write_batches", "Write batches of allocations and releases, by how served",
            labelnames=["served"], registry=self.registry,
        )  # fmt: skip
        self.write_batch_requests = Histogram(
            "fabric_write_batch_requests", "Requests served by one write batch",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry,
        )  # fmt: skip

    def batch_served(self, how: str, requests: int) -> None:
        self.write_batches.labels(how).inc()
        self.write_batch_requests.observe(requests)


def timed(request: Request, which: str) -> Timer:
    """Times a handler's work, its commit included (the handler awaits it), into the
    histogram ``which``: prometheus-client's own timer, a plain class, cheaper than a
    dependency with teardown or a generator context manager (bench/README.md: measured choices)."""
    histogram: Histogram = getattr(request.app.state.metrics, which)
    return histogram.time()


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus exposition format."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
