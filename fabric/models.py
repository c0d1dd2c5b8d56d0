"""SQLAlchemy models: the database schema of the controller.

The schema only changes through an Alembic migration (``migrations/``); a test
compares these models with the migrated database. Addresses and CIDRs are stored
in their canonical text form (``ipaddress`` ``compressed``) so that equality in
SQL is equality of addresses.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps are UTC-aware in Python on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class FabricState(Base):
    """One row (id 1): the fabric's revision, bumped by every change."""

    __tablename__ = "fabric_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class Pool(Base):
    __tablename__ = "pools"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    cidr: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    family: Mapped[int] = mapped_column(Integer, nullable=False)
    block_prefix: Mapped[int] = mapped_column(Integer, nullable=False)
    selector: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    reserved: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    strict_affinity: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    blocks: Mapped[list[Block]] = relationship(back_populates="pool")


class Host(Base):
    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    address: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    # The host's IPv6 fabric address, when ``address`` is IPv4: the global next hop of its
    # IPv6 prefixes (announced over the IPv4 session, MP-BGP) and the source of IPv6 sessions.
    address6: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    asn: Mapped[int] = mapped_column(BigInteger, nullable=False)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    advertise_mode: Mapped[str] = mapped_column(String(16), nullable=False)
    # Revision of the last change to what this host announces or whom it peers
    # with: long-polls wake only the hosts a change concerns.
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Block(Base):
    __tablename__ = "blocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[int] = mapped_column(
        ForeignKey("pools.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    cidr: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    host_id: Mapped[int | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="SET NULL"), nullable=True, index=True
    )
    allocated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    claimed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    pool: Mapped[Pool] = relationship(back_populates="blocks")
    host: Mapped[Host | None] = relationship()


class Allocation(Base):
    __tablename__ = "allocations"
    __table_args__ = (
        Index("ix_allocations_handle_family", "handle", "family"),
        # A block's taken addresses read from the index alone (the allocator's scan); also
        # the index of the foreign key to blocks.
        Index("ix_allocations_block_address", "block_id", "address"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The guarantee that no address is ever handed out twice, whatever the
    # application does: the database refuses a second row.
    address: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    family: Mapped[int] = mapped_column(Integer, nullable=False)
    block_id: Mapped[int] = mapped_column(
        ForeignKey("blocks.id", ondelete="RESTRICT"), nullable=False
    )
    host_id: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    handle: Mapped[str] = mapped_column(String(255), nullable=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    block: Mapped[Block] = relationship()
    host: Mapped[Host] = relationship()


class Peer(Base):
    __tablename__ = "peers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    address: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    asn: Mapped[int] = mapped_column(BigInteger, nullable=False)
    scope: Mapped[str] = mapped_column(String(16), nullable=False)
    selector: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    host_id: Mapped[int | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), nullable=True, index=True
    )
    hold_time: Mapped[int] = mapped_column(Integer, nullable=False)
    keepalive: Mapped[int] = mapped_column(Integer, nullable=False)
    graceful_restart: Mapped[int] = mapped_column(Integer, nullable=False)
    ttl_security: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_prefix: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Write-only: stored for rendering speaker configs, never returned by the API.
    password: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # BFD profile (all three, or none: BFD off): detect multiplier, intervals in ms.
    bfd_multiplier: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bfd_receive_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bfd_transmit_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)

    host: Mapped[Host | None] = relationship()


class PeerStatus(Base):
    __tablename__ = "peer_status"
    __table_args__ = (UniqueConstraint("host_id", "peer_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    peer_address: Mapped[str] = mapped_column(String(64), nullable=False)
    peer_asn: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    prefixes_sent: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    prefixes_received: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updates_sent: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updates_received: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    bfd_state: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None: no BFD
    # {"ipv4": {"sent": n, "received": m}, "ipv6": …}: the families the session negotiated,
    # each with its counts; None from an agent that does not say.
    families: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # How often the reporting agent says it reports: a report three intervals old is stale.
    report_interval: Mapped[float] = mapped_column(
        "report_interval_seconds", Float, nullable=False, default=5.0
    )

    host: Mapped[Host] = relationship()


class AgentReport(Base):
    """When a host's agent last reported its sessions, even an empty list of them.

    The session rows cannot say it: a host that peers with nobody (yet, or any more)
    has none, and its agent would look the same alive as dead.
    """

    __tablename__ = "agent_reports"

    host_id: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    report_interval: Mapped[float] = mapped_column(
        "report_interval_seconds", Float, nullable=False, default=5.0
    )


class Router(Base):
    """A fabric router the controller renders configuration for (a leaf/ToR or a spine).

    Its neighbours are not stored: they follow from the addressing. A host whose
    address is inside one of the router's interface subnets is a host neighbour
    (with the timers and password of the host's peer at that address); another
    router with an interface in the same subnet is a fabric neighbour.
    """

    __tablename__ = "routers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    asn: Mapped[int] = mapped_column(BigInteger, nullable=False)
    router_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # [{"name": "eth1", "address": "10.1.1.0/31"}, …] in interface order.
    interfaces: Mapped[list[dict[str, str]]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RouterApplied(Base):
    """What a router's tor-sync last applied (and its last refusal): reports, not desired state,
    so neither audited nor revisioned, as peer status."""

    __tablename__ = "router_applied"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    router_id: Mapped[int] = mapped_column(
        ForeignKey("routers.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    format: Mapped[str] = mapped_column(String(8), nullable=False)
    filters: Mapped[bool] = mapped_column(Boolean, nullable=False)
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revision: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What the router accepted (its BGP table), by the neighbour address it came from.
    accepted: Mapped[dict[str, list[str]] | None] = mapped_column(JSON, nullable=True)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    router: Mapped[Router] = relationship()


class ApiToken(Base):
    """A bearer token: only its SHA-256 is stored (tokens are 256-bit random, not passwords)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    host_id: Mapped[int | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), nullable=True, index=True
    )
    router_id: Mapped[int | None] = mapped_column(
        ForeignKey("routers.id", ondelete="CASCADE"), nullable=True, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    host: Mapped[Host | None] = relationship()
    router: Mapped[Router | None] = relationship()


class AuditEntry(Base):
    """One change: who (token and role), what (table, key, action), when, before and after.

    Written in the same transaction as the change, so there is no change
    without its entry and no entry for a change that was rolled back.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    token_name: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    request: Mapped[str | None] = mapped_column(String(255), nullable=True)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    key: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class HostRoutes(Base):
    """What a host's speaker last said it announced (and since when), as its agent reports it."""

    __tablename__ = "host_routes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    # The fabric revision whose desired state the agent had applied.
    revision: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    announced: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    refused: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    acked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
