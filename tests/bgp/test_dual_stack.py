"""IPv6 on the host side: next hops on the lines, the safety check, the speaker's sessions, and
what each session negotiated: the counts and the adj-rib-out check per family."""

from __future__ import annotations

import json
import threading
from typing import Any

from bgp import exabgp_api, safety
from bgp.ack_window import AckWindow
from bgp.announcer import Announcer
from bgp.injector import Injector
from bgp.options import InjectorOptions
from bgp.rib_reconciler import RibReconciler
from fabric.render.exabgp import Speaker, SpeakerPeer, render
from tests.bgp.fake_exabgp import PEER, FakeExabgp
from tests.bgp.test_injector import wait_until
from tests.bgp.test_reconcile import read

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


def test_what_a_session_negotiated_is_read_per_family() -> None:
    negotiated = {"type": "negotiated", "neighbor": {
        "address": {"local": "10.0.1.1", "peer": "10.0.1.0"},
        "negotiated": {"hold_time": 9, "families": ["ipv4 unicast", "ipv4 flow"]}}}  # fmt: skip
    assert exabgp_api.parse(json.dumps(negotiated)) == exabgp_api.NegotiatedEvent(
        "10.0.1.0", frozenset({4})
    )
    update = {"type": "update", "neighbor": {"address": {"peer": "10.0.1.0"}, "message": {
        "update": {"announce": {"ipv6 unicast": {"fd00::1": [{"nlri": V6}, {"nlri": "fd00::/64"}]},
                                "ipv4 unicast": {"10.0.1.0": [{"nlri": V4}]}},
                   "withdraw": {"ipv6 unicast": [{"nlri": "fd00:1::/64"}]}}}}}  # fmt: skip
    event = exabgp_api.parse(json.dumps(update))
    assert event == exabgp_api.UpdateEvent("10.0.1.0", 3, 1, False, net6=1)


def _negotiated(peer: str, *families: str) -> dict[str, Any]:
    return {"type": "negotiated",
            "neighbor": {"address": {"peer": peer}, "negotiated": {"families": list(families)}}}


def test_counts_are_per_negotiated_family() -> None:
    """The ToR activated IPv4 only on the session: it is reported carrying one IPv4 prefix,
    not both; once it negotiates both, both are counted, each in its family."""
    fake = FakeExabgp()
    inj = Injector(api=None, out=fake.injector_out, inp=fake.injector_in,  # type: ignore[arg-type]
                   options=InjectorOptions(allow=("10.244.0.0/16", "fd00:244::/48")))  # fmt: skip
    threading.Thread(target=inj.read_forever, daemon=True).start()
    inj.apply_state({"revision": 1, "blocks": [V4, V6], "next_hop": "10.0.1.1",
                     "next_hop6": "fd00:0:1::2", "advertisements": [
                         {"prefix": V4, "kind": "block"}, {"prefix": V6, "kind": "block"}]})  # fmt: skip
    inj.sync_once()
    assert inj.window.drain()
    fake.say(_negotiated(PEER, "ipv4 unicast"))
    fake.say({"type": "state", "neighbor": {"address": {"peer": PEER}, "state": "up"}})
    wait_until("the session is up", lambda: inj.carried() == {PEER: frozenset({4})})
    [row] = inj.status()
    assert row["families"] == {"ipv4": {"sent": 1, "received": 0}} and row["prefixes_sent"] == 1
    fake.say({"type": "state", "neighbor": {"address": {"peer": PEER}, "state": "down"}})
    fake.say(_negotiated(PEER, "ipv4 unicast", "ipv6 unicast"))
    fake.say({"type": "state", "neighbor": {"address": {"peer": PEER}, "state": "up"}})
    wait_until("both families", lambda: inj.carried() == {PEER: frozenset({4, 6})})
    [row] = inj.status()
    assert row["families"] == {"ipv4": {"sent": 1, "received": 0},
                               "ipv6": {"sent": 1, "received": 0}}  # fmt: skip
    assert row["prefixes_sent"] == 2


def test_the_reconciler_expects_only_the_negotiated_families() -> None:
    """ExaBGP does not hold IPv6 routes for a session that negotiated IPv4 only: not missing.
    On a session that negotiated both, the same gap is repaired."""
    fake = FakeExabgp()
    window = AckWindow(timeout=2.0)
    announcer = Announcer(fake.injector_out, window)
    carried = {PEER: frozenset({4})}
    reconciler = RibReconciler(announcer, lambda: carried, threading.Event())

    threading.Thread(target=read, args=(fake, window, reconciler), daemon=True).start()
    announcer.set(frozenset({V4, V6}), next_hop6="fd00:0:1::2")
    assert window.drain()
    fake.rib.discard(V6)
    assert reconciler.reconcile(confirm_after=0.05) == (0, 0)
    carried[PEER] = frozenset({4, 6})
    assert reconciler.reconcile(confirm_after=0.05) == (1, 0)
