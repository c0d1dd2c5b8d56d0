"""What every fabricctl command shares: the API client from the context, common options."""

from __future__ import annotations

from typing import Annotated

import typer

from fabric.client.api import Client
from fabric.errors import InvalidInput
from fabric.validation import parse_selector

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def client(ctx: typer.Context) -> Client:
    root = ctx.find_root()
    obj = root.obj
    if not isinstance(obj, dict) or "client" not in obj:
        raise RuntimeError("fabricctl context missing")
    cli: Client = obj["client"]
    return cli


def pairs(values: list[str] | None, what: str) -> dict[str, str]:
    """``--label k=v`` repeated, or ``k=v,k2=v2``, into a dict."""
    try:
        return parse_selector(",".join(values or []))
    except InvalidInput as exc:
        raise typer.BadParameter(exc.detail, param_hint=what) from None
