"""exabgp.conf rendering: what the field notes say ExaBGP 5 needs, and nothing unsafe."""

from __future__ import annotations

import pytest

from fabric.errors import InvalidInput
from fabric.render.exabgp import Speaker, SpeakerPeer, render

SPEAKER = Speaker(
    host="h1",
    address="10.0.1.1",
    asn=65001,
    peers=[SpeakerPeer("10.0.1.0", 65000, 9, 120, ttl_security=1, password="s3cret")],
)


def test_neighbor_stanza() -> None:
    conf = render(SPEAKER, ["/usr/bin/python3", "-m", "bgp.injector", "--host", "h1"])
    for line in (
        "run /usr/bin/python3 -m bgp.injector --host h1;",
        "encoder json;",
        "neighbor 10.0.1.0 {",
        "router-id 10.0.1.1;",
        "local-address 10.0.1.1;",
        "local-as 65001;",
        "peer-as 65000;",
        "hold-time 9;",
        "manual-eor true;",
        "md5-password s3cret;",
        "incoming-ttl 255;",
        "capability { route-refresh enable; graceful-restart 120; }",
        "processes [ fabric-injector ];",
        "neighbor-changes;",
        "negotiated;",
    ):
        assert line in conf
    assert "static" not in conf
    no_restart = Speaker("h1", "10.0.1.1", 65001, [SpeakerPeer("10.0.1.0", 65000, 9, 0)])
    assert "capability { route-refresh enable; }" in render(no_restart, ["python"])


def test_run_line_refuses_separators() -> None:
    with pytest.raises(InvalidInput):
        render(SPEAKER, ["python", "--api", "http://x;y"])
    with pytest.raises(InvalidInput):
        render(SPEAKER, ["python", "a,b"])
