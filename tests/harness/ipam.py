"""Allocations in process, as the API's group commit serves requests that queued together:
for the IPAM benchmark's in-process figure and the tests that fill a database quickly."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from fabric.ipam import plan
from fabric.store import ipam_fast, ipam_writes


def allocate_batch(session: Session, asks: list[plan.Request]) -> list[list[dict[str, Any]]]:
    """All of ``asks`` in ``session``'s transaction: together through ``ipam_fast``, the ones
    it declines (a block to claim or borrow) one by one after, through the ORM path."""
    served = ipam_fast.allocate_many(session, asks)
    return [
        got if got is not None else ipam_writes.allocate_described(
            session, host=ask.host, handle=ask.handle, family=str(ask.family),
            attributes=ask.attrs,
        )
        for ask, got in zip(asks, served, strict=True)
    ]  # fmt: skip
