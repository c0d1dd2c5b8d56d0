"""A router's configuration as the controller would give it now, and its digest against what
the router's tor-sync applied (``fabric.routers.report_applied``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fabric.models import Router, RouterApplied
from fabric.render import bird, frr
from fabric.routers import config_digest, neighbors


def render_config(session: Session, router: Router, format: str, filters: bool) -> str:
    renderer = frr.render if format == "frr" else bird.render
    return renderer(router, neighbors(session, router), filters=filters)


def desired_digest(session: Session, applied: RouterApplied) -> str:
    """The digest of what the router would get now, in the form its tor-sync applies."""
    return config_digest(render_config(session, applied.router, applied.format, applied.filters))
