"""The status page in a real headless Chromium against a running server with data."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.servers import ADMIN, ApiServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Keep the browser on loopback: no updates, sync, metrics or other background traffic.
QUIET = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-proxy-server",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--disable-breakpad",
]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, str, str]]:
    if CHROMIUM is None:
        pytest.fail("chromium is missing: scripts/setup --test installs it")
    tmp = tmp_path_factory.mktemp("ui")
    api = ApiServer(f"sqlite:///{tmp / 'f.db'}", tmp / "api.log").wait_ready()
    with httpx.Client(base_url=api.url, headers=ADMIN) as c:
        c.post("/v1/pools", json={"name": "pods", "cidr": "10.244.0.0/24"}).raise_for_status()
        for i, rack in ((1, "r1"), (2, "r2"), (3, "r2"), (4, "r2")):
            host = {"name": f"h{i}", "address": f"192.0.2.{i}", "asn": 65000 + i,
                    "labels": {"rack": rack}}  # fmt: skip
            c.post("/v1/hosts", json=host).raise_for_status()
        address = c.post("/v1/allocations", json={"host": "h1", "handle": "web-1"}).json()[
            "allocations"
        ][0]["address"]
        up = {"peer_address": "192.0.2.254", "state": "established", "prefixes_sent": 1}
        down = {"peer_address": "192.0.2.253", "state": "down", "last_error": "hold timer expired"}
        c.put("/v1/hosts/h1/peers/status", json={"sessions": [up]}).raise_for_status()
        c.put("/v1/hosts/h2/peers/status", json={"sessions": [down]}).raise_for_status()
        # h3 should peer with its ToR but never reported; h4's agent went quiet (stale).
        tor = {"name": "tor-h3", "address": "192.0.2.250", "asn": 65100, "scope": "host",
               "host": "h3"}  # fmt: skip
        c.post("/v1/peers", json=tor).raise_for_status()
        quiet = {"sessions": [{**up, "peer_address": "192.0.2.249"}], "interval_seconds": 0.05}
        c.put("/v1/hosts/h4/peers/status", json=quiet).raise_for_status()
        c.put(
            "/v1/hosts/h1/routes",
            json={"announced": {"10.244.0.0/26": "2026-11-25T10:00:00+00:00"}, "acked": True},
        ).raise_for_status()
        viewer = c.post("/v1/tokens", json={"name": "ui", "role": "viewer"}).json()["token"]
    try:
        yield api, viewer, address
    finally:
        api.stop()


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM
    return subprocess.run(
        [CHROMIUM, *QUIET, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, text=True, timeout=90, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip


def test_status_page_in_chromium(server: tuple[ApiServer, str, str], tmp_path: Path) -> None:
    api, viewer, address = server
    url = f"{api.url}/ui?token={viewer}&ip={address}"
    dom = chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert "rack r1" in page and "rack r2" in page
    assert 'id="host-h1"' in page and 'data-state="established"' in page
    assert 'class="badge down" data-state="down"' in page and "hold timer expired" in page
    assert 'class="badge none" data-state="unknown"' in page and "192.0.2.250 never reported" in page
    assert 'class="badge stale" data-state="stale"' in page and "stale: reported" in page
    assert 'id="trace"' in page and "web-1" in page and "10.244.0.0/26" in page
    assert "pods" in page and "1 / 256" in page
    shot = tmp_path / "ui.png"
    taken = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,900", url)
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    print(f"\nstatus page screenshot: {shot} ({shot.stat().st_size} bytes)")


def test_page_needs_a_token_and_the_cookie_never_allows_a_change(
    server: tuple[ApiServer, str, str],
) -> None:
    api, viewer, _ = server
    assert httpx.get(f"{api.url}/ui").status_code == 401
    with httpx.Client(base_url=api.url) as browser:
        assert browser.get("/ui", params={"token": viewer}).status_code == 200
        assert browser.get("/ui").status_code == 200  # the cookie now
        assert browser.get("/v1/pools").status_code == 200
        sneaky = browser.post("/v1/pools", json={"name": "x", "cidr": "10.9.0.0/24"})
        assert sneaky.status_code == 401
