"""Hosts: the container hosts of the fabric, each a BGP speaker and the gateway of its workloads."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fabric import audit
from fabric.errors import AlreadyExists, InUse, InvalidInput
from fabric.ipam.release import release_rows
from fabric.models import Allocation, Block, Host
from fabric.named import by_name
from fabric.revisions import bump_revision, touch_hosts
from fabric.validation import (
    matches,
    parse_address,
    validate_asn,
    validate_labels,
    validate_name,
)

ADVERTISE_MODES = ("aggregate", "host-routes")


class Keep:
    """The value of an argument left out of a change (None is a value: "remove it")."""


KEEP = Keep()


def next_hops(host: Host) -> tuple[str | None, str | None]:
    """The host's next hop for IPv4 and for IPv6 prefixes (None: it cannot announce that
    family). An IPv6 next hop is always a global address, never an IPv4-mapped one."""
    if ipaddress.ip_address(host.address).version == 6:
        return None, host.address
    return host.address, host.address6


def get_host(session: Session, name: str) -> Host:
    """Raises: NotFound (code ``host_not_found``)."""
    return by_name(session, Host, name, "host")


def list_hosts(session: Session, selector: dict[str, str] | None = None) -> list[Host]:
    hosts = session.scalars(select(Host).order_by(Host.name)).all()
    return [h for h in hosts if selector is None or matches(selector, h.labels)]


def _check_mode(mode: str) -> str:
    if mode not in ADVERTISE_MODES:
        raise InvalidInput(
            f"Advertise mode {mode!r} is not one of {', '.join(ADVERTISE_MODES)}.",
            code="invalid_advertise_mode",
        )
    return mode


def _check_address_free(
    session: Session, address: str, *, except_id: int | None = None, what: str = "fabric address"
) -> str:
    """The address, canonical, once no other host has it as either of its addresses."""
    canonical = parse_address(address, what=what).compressed
    other = session.scalar(
        select(Host).where((Host.address == canonical) | (Host.address6 == canonical))
    )
    if other is not None and other.id != except_id:
        raise AlreadyExists(
            f"Fabric address {canonical} is already used by host {other.name!r}.",
            code="host_address_in_use",
        )
    return canonical


def _check_address6(
    session: Session, address6: str | None, address: str, *, except_id: int | None = None
) -> str | None:
    """The host's IPv6 address beside an IPv4 ``address`` (None: no IPv6 address)."""
    if address6 is None:
        return None
    canonical = _check_address_free(session, address6, except_id=except_id,
                                    what="IPv6 fabric address")  # fmt: skip
    if ipaddress.ip_address(canonical).version != 6:
        raise InvalidInput(
            f"IPv6 fabric address {canonical} is not an IPv6 address.", code="invalid_address"
        )
    if ipaddress.ip_address(address).version == 6:
        raise InvalidInput(
            "The host's fabric address is already IPv6; address6 is for a host whose fabric "
            "address is IPv4.",
            code="invalid_address",
        )
    return canonical


def create_host(
    session: Session,
    *,
    name: str,
    address: str,
    asn: int,
    labels: dict[str, Any] | None = None,
    advertise_mode: str = "aggregate",
    address6: str | None = None,
) -> Host:
    """Register a host. Raises: InvalidInput, AlreadyExists."""
    validate_name("Host", name)
    if session.scalar(select(Host.id).where(Host.name == name)) is not None:
        raise AlreadyExists(f"Host {name!r} already exists.", code="host_exists")
    canonical = _check_address_free(session, address)
    host = Host(
        name=name,
        address=canonical,
        address6=_check_address6(session, address6, canonical),
        asn=validate_asn(asn),
        labels=validate_labels(labels or {}),
        advertise_mode=_check_mode(advertise_mode),
        revision=bump_revision(session),
    )
    session.add(host)
    session.flush()
    return host


def update_host(
    session: Session,
    name: str,
    *,
    address: str | None = None,
    asn: int | None = None,
    labels: dict[str, Any] | None = None,
    advertise_mode: str | None = None,
    address6: str | None | Keep = KEEP,
) -> Host:
    """Change a host; its agent sees the change on its next long-poll. ``address6=None``
    removes the IPv6 address; leaving it out keeps it."""
    host = get_host(session, name)
    if address is not None:
        host.address = _check_address_free(session, address, except_id=host.id)
    if not isinstance(address6, Keep):
        host.address6 = _check_address6(session, address6, host.address, except_id=host.id)
    elif host.address6 is not None:  # a new IPv4 address keeps the IPv6 one, checked again
        host.address6 = _check_address6(session, host.address6, host.address, except_id=host.id)
    if asn is not None:
        host.asn = validate_asn(asn)
    if labels is not None:
        host.labels = validate_labels(labels)
    if advertise_mode is not None:
        host.advertise_mode = _check_mode(advertise_mode)
    session.flush()
    touch_hosts(session, {host.id})
    session.refresh(host)
    return host


def delete_host(session: Session, name: str, *, release: bool = False) -> int:
    """Delete a host and give its blocks back; returns how many allocations were released.

    Blocks that still hold addresses borrowed by other hosts lose their
    affinity instead of disappearing.

    Raises: NotFound; InUse (code ``host_has_allocations``) unless ``release``.
    """
    host = get_host(session, name)
    count = session.scalar(select(func.count()).where(Allocation.host_id == host.id)) or 0
    if count and not release:
        raise InUse(
            f"Host {name!r} still holds {count} allocation(s); release them first or "
            "delete with release=true.",
            code="host_has_allocations",
            allocations=count,
        )
    if count:
        rows = session.scalars(select(Allocation).where(Allocation.host_id == host.id))
        release_rows(session, list(rows))
    blocks = session.scalars(select(Block).where(Block.host_id == host.id)).all()
    for block in blocks:
        if block.allocated == 0:
            session.delete(block)
        else:
            block.host_id = None
    bump_revision(session)
    session.flush()
    # A Core delete (no ORM cascade loads), so the audit hook would not see it.
    audit.record(session, "delete", host, audit.snapshot(host), None)
    session.execute(delete(Host).where(Host.id == host.id))
    return count
