"""``/ui``: the status page. Server-rendered, no scripts, refreshes itself.

Hosts grouped by rack, each BGP session a coloured badge (state, prefixes
sent/received), pool usage bars, and the address search (the IP trace).
Browsers cannot send a bearer header, so ``/ui?token=…`` sets an HttpOnly,
SameSite=Strict cookie that the API accepts for reads only (never for a
change, so a forged cross-site request can do nothing). Use a viewer token.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import ReadSession
from fabric import announced, peer_status, pools
from fabric.errors import FabricError
from fabric.families import prefix_counts
from fabric.hosts import list_hosts

router = APIRouter(tags=["ui"])
COOKIE = "fabric_token"
REFRESH_SECONDS = 5

STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}
.rack{border:1px solid #ccc;border-radius:6px;padding:.5em 1em;margin:.5em 0}
.host{margin:.3em 0}.name{display:inline-block;min-width:8em;font-weight:600}
.badge{display:inline-block;border-radius:4px;padding:.1em .5em;margin:.1em;color:#fff}
.up{background:#2e7d32}.down{background:#c62828}.none{background:#777}.stale{background:#ef6c00}
.bar{display:inline-block;width:20em;height:1em;background:#eee;vertical-align:middle}
.fill{height:100%;background:#1565c0}
table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:left;border-bottom:1px solid #eee}
.error{color:#c62828}
"""


def _badge(row: dict[str, Any]) -> str:
    """Green only when established and fresh; a stale report says how old it is."""
    if row["state"] == "unknown":
        cls, state, text = "none", "unknown", f"{row['peer_address']} never reported"
    else:
        cls = "stale" if row["stale"] else ("up" if row["established"] else "down")
        state = "stale" if row["stale"] else row["state"]
        text = f"{row['peer_address']} {row['state']} {prefix_counts(row)}"
        if row["stale"]:
            text += f" (stale: reported {row['report_age_seconds']:.0f}s ago)"
        elif not row["established"] and row["last_error"]:
            text += f" ({row['last_error']})"
    return f'<span class="badge {cls}" data-state="{escape(state)}">{escape(text)}</span>'


def _sessions(session: Any) -> str:
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in peer_status.sessions(session):
        by_host[row["host"]].append(row)
    racks: dict[str, list[str]] = defaultdict(list)
    for host in list_hosts(session):
        badges = "".join(_badge(r) for r in by_host.get(host.name, []))
        badges = badges or '<span class="badge none">no report</span>'
        racks[host.labels.get("rack") or "(no rack)"].append(
            f'<div class="host" id="host-{escape(host.name)}"><span class="name">'
            f"{escape(host.name)}</span>{badges}</div>"
        )
    return "".join(
        f'<div class="rack"><h3>rack {escape(rack)}</h3>{"".join(hosts)}</div>'
        for rack, hosts in sorted(racks.items())
    )


def _pools(session: Any) -> str:
    rows = []
    for pool in pools.list_pools(session):
        u = pools.pool_usage(session, pool)
        share = u.allocated / u.total if u.total else 0.0
        rows.append(
            f"<tr><td>{escape(pool.name)}</td><td>{escape(pool.cidr)}</td>"
            f'<td><span class="bar"><div class="fill" style="width:{share:.1%}"></div></span> '
            f"{u.allocated} / {u.total} ({share:.1%})</td><td>{u.blocks_claimed} blocks, "
            f"{u.borrowed} borrowed</td></tr>"
        )
    return f"<table>{''.join(rows)}</table>" if rows else "<p>no pools</p>"


def _trace(session: Any, ip: str) -> str:
    try:
        t = announced.trace(session, ip)
    except FabricError as exc:
        return f'<p class="error" id="trace">{escape(exc.detail)}</p>'
    fields = [
        ("address", t["address"]), ("pool", t["pool"]), ("block", t["block"]),
        ("host", t["host"]), ("handle", t["handle"]), ("attributes", t["attributes"]),
        ("allocated", t["created_at"]), ("announced as", t["announced_as"]),
        ("announced since", t["announced_since"]),
        ("sent to", ", ".join(p["peer_address"] for p in t["peers"] if p["sent"]) or "-"),
    ]  # fmt: skip
    cells = "".join(f"<tr><th>{k}</th><td>{escape(str(v))}</td></tr>" for k, v in fields)
    return f'<table id="trace">{cells}</table>'


@router.get("/ui", response_class=HTMLResponse, include_in_schema=False)
def status_page(
    request: Request,
    session: ReadSession,
    ip: str | None = Query(default=None, max_length=64),
    token: str | None = Query(default=None, max_length=200),
) -> HTMLResponse:
    search = f"<h2>Address {escape(ip)}</h2>{_trace(session, ip)}" if ip else ""
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>routed-fabric</title>"
        f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'><style>{STYLE}</style></head>"
        "<body><h1>routed-fabric</h1>"
        "<form method='get' action='/ui'><input name='ip' placeholder='10.244.0.5' "
        f"value='{escape(ip or '')}'> <button>trace</button></form>{search}"
        f"<h2>BGP sessions</h2>{_sessions(session)}<h2>Pools</h2>{_pools(session)}"
        "</body></html>"
    )
    response = HTMLResponse(page)
    if token:  # remember it for the refreshes, then it need not stay in the address bar
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
    return response
