"""IPv6 on the host side: next hops on the lines, the safety check, the speaker's sessions."""

from __future__ import annotations

from bgp import exabgp_api, safety
from fabric.render.exabgp import Speaker, SpeakerPeer, render

V4, V6 = "10.244.0.0/26", "fd00:244::/122"


def test_ipv6_lines_carry_the_global_next_hop_never_self() -> None:
    lines = exabgp_api.announce_lines({V4, V6, "fd00:244::7/128"}, "fd00:0:1::2")
    assert lines == [
        f"announce attributes next-hop self nlri {V4}",
        "announce attributes next-hop fd00:0:1::2 nlri fd00:244::/122 fd00:244::7/128",
    ]
    assert exabgp_api.withdraw_lines({V6}, "fd00:0:1::2") == [
        f"withdraw attributes next-hop fd00:0:1::2 nlri {V6}"
    ]


def test_a_family_without_a_next_hop_is_refused_not_announced() -> None:
    adverts = [{"prefix": V4, "kind": "block"}, {"prefix": V6, "kind": "block"}]
    state = {"blocks": [V4, V6], "advertisements": adverts, "next_hop": "10.0.1.1"}
    verdict = safety.check({**state, "next_hop6": None})
    assert verdict.allowed == {V4} and "no IPv6 next hop" in verdict.refused[V6]
    assert safety.check({**state, "next_hop6": "fd00:0:1::2"}).allowed == {V4, V6}
    v6_only = safety.check({**state, "next_hop": "fd00:9::9", "next_hop6": "fd00:9::9"})
    assert v6_only.allowed == {V6} and "no IPv4 next hop" in v6_only.refused[V4]


def test_ipv6_session_from_the_ipv6_address_carrying_ipv6_only() -> None:
    peers = [SpeakerPeer("10.0.1.0", 65000, 9, 120), SpeakerPeer("fd00:0:1::1", 65000, 9, 120)]
    conf = render(Speaker("h1", "10.0.1.1", 65001, peers, address6="fd00:0:1::2"), ["x"])
    v4, v6 = conf.split("neighbor 10.0.1.0 {")[1].split("neighbor fd00:0:1::1 {")
    assert "local-address 10.0.1.1;" in v4 and "ipv6 unicast;" in v4 and "ipv4 unicast;" in v4
    assert "local-address fd00:0:1::2;" in v6 and "ipv4 unicast;" not in v6
    assert "router-id 10.0.1.1;" in v6
    # No IPv6 address: the IPv6 peer is left out, said so in the file.
    without = render(Speaker("h1", "10.0.1.1", 65001, peers), ["x"])
    assert "neighbor fd00:0:1::1" not in without and "# peer fd00:0:1::1 left out" in without
