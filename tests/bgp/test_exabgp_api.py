"""The ExaBGP wire contract: the lines we write and the events we read."""

from __future__ import annotations

import ipaddress
import json

from hypothesis import given
from hypothesis import strategies as st

from bgp import exabgp_api, safety


def test_announce_lines_batch_by_family_and_size() -> None:
    prefixes = [f"10.0.{i // 256}.{i % 256}/32" for i in range(120)] + ["fd00::1/128"]
    lines = exabgp_api.announce_lines(prefixes)
    assert [len(line.split("nlri ")[1].split()) for line in lines] == [50, 50, 20, 1]
    assert all(line.startswith("announce attributes next-hop self nlri ") for line in lines)
    assert lines[-1].endswith("fd00::1/128")


def test_lines_come_in_exabgps_own_route_order() -> None:
    # ExaBGP parses each line into routes and sorts every UPDATE by their NLRI index: ours,
    # parsed by ExaBGP's own API parser, must already be in that order (text order is not:
    # 10.0.0.10 sorts before 10.0.0.9), across lines and with mixed prefix lengths.
    from exabgp.configuration.configuration import Configuration
    from exabgp.logger import log
    from exabgp.reactor.api import API

    log.silence()
    parser = API.__new__(API)
    parser.configuration = Configuration([])
    prefixes = [f"10.0.{i % 7}.{i % 251}/32" for i in range(300)]
    prefixes += ["10.9.0.0/24", "10.1.0.0/16", "fd00::9/128", "fd00::10/128", "fd00::/64"]
    indexes = []
    for line in exabgp_api.announce_lines(prefixes):
        indexes += [c.nlri.index() for c in parser.api_attributes(line, ["x"])]
    assert len(indexes) == len(set(prefixes))
    assert indexes == sorted(indexes)


def test_parse_acks_state_and_updates() -> None:
    assert exabgp_api.parse("done\n") == exabgp_api.Ack(ok=True)
    assert exabgp_api.parse("error") == exabgp_api.Ack(ok=False)
    state = {
        "type": "state",
        "neighbor": {
            "address": {"local": "10.0.1.1", "peer": "10.0.1.0"},
            "asn": {"local": 65001, "peer": 65000},
            "state": "down",
            "reason": "hold timer",
        },
    }
    assert exabgp_api.parse(json.dumps(state)) == exabgp_api.StateEvent(
        "10.0.1.0", 65000, "down", "hold timer"
    )
    update = {
        "type": "update",
        "neighbor": {
            "address": {"peer": "10.0.1.0"},
            "message": {
                "update": {
                    "announce": {
                        "ipv4 unicast": {
                            "10.0.1.0": [{"nlri": "10.100.0.64/26"}, {"nlri": "10.100.0.128/26"}]
                        }
                    },
                    "withdraw": {"ipv4 unicast": [{"nlri": "10.100.1.0/26"}]},
                }
            },
        },
    }
    assert exabgp_api.parse(json.dumps(update)) == exabgp_api.UpdateEvent("10.0.1.0", 2, 1, False)
    assert isinstance(
        exabgp_api.parse('{"type": "notification", "notification": "shutdown"}'),
        exabgp_api.Shutdown,
    )
    assert exabgp_api.parse("garbage") is None


def test_safety_refuses_what_the_host_does_not_own() -> None:
    state = {
        "blocks": ["10.100.0.0/26"],
        "advertisements": [
            {"prefix": "10.100.0.0/26", "kind": "block"},
            {"prefix": "10.100.0.64/26", "kind": "block"},  # not affine to us
            {"prefix": "10.100.1.0/24", "kind": "borrowed"},  # not a host route
            {"prefix": "10.100.0.70/32", "kind": "borrowed"},
            {"prefix": "192.168.1.1/32", "kind": "workload"},  # outside --allow
        ],
    }
    verdict = safety.check(state, allow=["10.100.0.0/16"])
    assert verdict.allowed == {"10.100.0.0/26", "10.100.0.70/32"}
    assert set(verdict.refused) == {"10.100.0.64/26", "10.100.1.0/24", "192.168.1.1/32"}


_OCTET = st.one_of(
    st.integers(0, 300).map(str),
    st.integers(0, 255).map(lambda i: f"0{i}"),  # a leading zero
    st.text(alphabet="0123456789 x\x00٣", min_size=0, max_size=4),
)


@given(
    st.one_of(
        st.lists(_OCTET, min_size=3, max_size=5).map(".".join),
        st.integers(0, 2**32 - 1).map(lambda i: str(ipaddress.IPv4Address(i))),
        st.text(max_size=20),
    )
)
def test_fast_host_route_check_agrees_with_ipaddress(address: str) -> None:
    # The C round trip may only take what ipaddress writes itself; the rest goes its way.
    try:
        expected = str(ipaddress.IPv4Address(address)) == address
    except ValueError:
        expected = False
    assert exabgp_api._is_dotted_quad(address) is expected
    try:
        plain = str(ipaddress.ip_network(f"{address}/32"))
    except ValueError:
        plain = None
    try:
        assert exabgp_api.canonical(f"{address}/32") == plain
    except ValueError:
        assert plain is None


def test_canonical_prefixes_and_refusals() -> None:
    # Host routes take the fast path (an address parse); it must agree with ip_network.
    assert exabgp_api.canonical("10.0.0.1/32") == "10.0.0.1/32"
    assert exabgp_api.canonical("FD00:0::1/128") == "fd00::1/128"
    assert exabgp_api.canonical("10.0.0.0/24") == "10.0.0.0/24"
    for bad in ("10.0.0.1/24", "10.0.0.256/32", "10.0.0.1 /32", "fe80::1%eth0/128",
                "fe80::%eth0/64", "10.0.0.1/33", "10.0.0.1/32\nannounce", "", "fd00::1/32"):  # fmt: skip
        try:
            exabgp_api.canonical(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
    verdict = safety.check(
        {"blocks": [], "advertisements": [{"prefix": 5, "kind": "workload"},
                                          {"prefix": "10.0.0.07/32", "kind": "workload"}]}
    )  # fmt: skip
    assert verdict.allowed == set() and len(verdict.refused) == 2


def test_parse_adj_rib_out_v2_route_line() -> None:
    line = {
        "peer": {"address": "10.0.1.0"},
        "route": {
            "nlri": {"prefix": "10.100.0.7/32", "nexthop": "10.0.1.1", "family": {"afi": "ipv4"}},
            "attributes": {},
        },
    }
    assert exabgp_api.parse(json.dumps(line)) == exabgp_api.RibRoute("10.0.1.0", "10.100.0.7/32")
