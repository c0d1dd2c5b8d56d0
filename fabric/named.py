"""The one lookup of a named object (a host, pool, peer, router, token) that says which is
missing: ``NotFound`` with the code ``<kind>_not_found`` and the name in its context."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabric.errors import NotFound
from fabric.models import ApiToken, Host, Peer, Pool, Router

Named = TypeVar("Named", Host, Pool, Peer, Router, ApiToken)


def by_name(session: Session, model: type[Named], name: str, kind: str) -> Named:
    """Raises: NotFound (code ``<kind>_not_found``, e.g. ``host_not_found``)."""
    found = session.scalar(select(model).where(model.name == name))
    if found is None:
        detail = f"{kind.capitalize()} {name!r} does not exist."
        raise NotFound(detail, code=f"{kind}_not_found", **{kind: name})
    return found
