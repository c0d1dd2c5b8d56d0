"""bfdd's configuration from the host's speaker: a single-hop peer per BGP peer with a profile,
from the host's own address; none without one."""

from __future__ import annotations

from bgp import bfd
from fabric.render.exabgp import Speaker, SpeakerPeer


def speaker(*peers: SpeakerPeer) -> Speaker:
    return Speaker(host="h1", address="10.0.1.1", asn=65001, peers=list(peers))


def test_only_peers_with_a_profile_get_a_bfd_session() -> None:
    tor = SpeakerPeer("10.0.1.0", 65000, 9, 120, bfd_multiplier=3, bfd_receive_ms=300,
                      bfd_transmit_ms=200)  # fmt: skip
    other = SpeakerPeer("10.0.9.0", 65009, 9, 120)
    s = speaker(tor, other)
    assert bfd.wanted(s) and not bfd.wanted(speaker(other))
    assert bfd.render(s) == (
        "bfd\n peer 10.0.1.0 local-address 10.0.1.1\n  detect-multiplier 3\n"
        "  receive-interval 300\n  transmit-interval 200\n exit\nexit\n"
    )
    assert bfd.render(speaker(other)) == "bfd\nexit\n"  # an empty config: sessions removed
