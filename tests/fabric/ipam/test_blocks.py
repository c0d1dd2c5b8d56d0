from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabric.errors import InvalidInput
from fabric.ipam import blocks


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def test_block_prefix_must_fit_the_pool() -> None:
    assert blocks.check_block_prefix(net("10.0.0.0/16"), 26) == 26
    for bad in (15, 33, 8):
        with pytest.raises(InvalidInput) as exc:
            blocks.check_block_prefix(net("10.0.0.0/16"), bad)
        assert exc.value.code == "invalid_block_size"


def test_reserved_ranges_become_cidrs_inside_the_pool() -> None:
    pool = net("10.0.0.0/24")
    assert blocks.parse_reserved(pool, ["10.0.0.0-10.0.0.2", "10.0.0.128/30"]) == [
        "10.0.0.0/31",
        "10.0.0.2/32",
        "10.0.0.128/30",
    ]
    for bad in ["10.0.1.0/30", "10.0.0.9-10.0.0.1", "nonsense"]:
        with pytest.raises(InvalidInput):
            blocks.parse_reserved(pool, [bad])


def test_usable_counts_overlapping_reservations_once() -> None:
    reserved = [net("10.0.0.0/30"), net("10.0.0.0/31"), net("10.0.1.0/24")]
    assert blocks.usable_in(net("10.0.0.0/26"), reserved) == 60
    assert blocks.usable_in(net("10.0.1.0/26"), reserved) == 0


def test_first_free_skips_taken_and_reserved() -> None:
    block = net("fd00::/126")
    taken = blocks.address_numbers(["fd00::"], 6)
    assert str(blocks.first_free(block, taken, [net("fd00::1/128")])) == "fd00::2"
    taken = blocks.address_numbers(["fd00::", "fd00::2", "fd00::3"], 6)
    assert blocks.first_free(block, taken, [net("fd00::1/128")]) is None


@settings(max_examples=300, deadline=None)
@given(
    version=st.sampled_from([4, 6]),
    size=st.integers(min_value=0, max_value=5),
    data=st.data(),
)
def test_first_free_is_the_lowest_address_neither_taken_nor_reserved(
    version: int, size: int, data: st.DataObject
) -> None:
    """The integer scan against the plain definition, over address objects."""
    base = "10.20.30.0" if version == 4 else "2001:db8::100"
    width = 32 if version == 4 else 128
    block = ipaddress.ip_network(f"{base}/{width - size}")
    members = list(block)
    taken = set(data.draw(st.sets(st.sampled_from([a.compressed for a in members]))))
    reserved = [
        ipaddress.ip_network(f"{a}/{width - bits}", strict=False)
        for a, bits in data.draw(
            st.lists(st.tuples(st.sampled_from(members), st.integers(0, size + 1)), max_size=3)
        )
    ]
    expected = next(
        (a for a in members if a.compressed not in taken and not any(a in r for r in reserved)),
        None,
    )
    numbers = blocks.address_numbers(taken, version)  # as stored, to integers
    assert numbers == {int(ipaddress.ip_address(t)) for t in taken}
    assert blocks.first_free(block, numbers, reserved) == expected


def test_unclaimed_blocks_skip_claimed_and_fully_reserved() -> None:
    got = blocks.unclaimed_blocks(net("10.0.0.0/24"), 26, {"10.0.0.0/26"}, [net("10.0.0.64/26")])
    assert [str(b) for b in got] == ["10.0.0.128/26", "10.0.0.192/26"]


@settings(max_examples=300, deadline=None)
@given(version=st.sampled_from([4, 6]), bits=st.integers(0, 4), data=st.data())
def test_unclaimed_blocks_are_the_pools_blocks_neither_claimed_nor_all_reserved(
    version: int, bits: int, data: st.DataObject
) -> None:
    """The index arithmetic against the plain definition, over the pool's subnets in order."""
    pool = net("10.64.0.0/22" if version == 4 else "2001:db8:0:100::/118")
    prefix = pool.prefixlen + bits
    every = list(pool.subnets(new_prefix=prefix))
    claimed = {str(b) for b in data.draw(st.sets(st.sampled_from(every)))}
    addresses = list(pool)[::7]
    reserved = [
        ipaddress.ip_network(f"{a}/{pool.max_prefixlen - size}", strict=False)
        for a, size in data.draw(
            st.lists(st.tuples(st.sampled_from(addresses), st.integers(0, 10 - bits)), max_size=3)
        )
    ]
    expected = [b for b in every if str(b) not in claimed and blocks.usable_in(b, reserved) > 0]
    assert list(blocks.unclaimed_blocks(pool, prefix, claimed, reserved)) == expected


def test_host_prefix() -> None:
    assert blocks.host_prefix("10.1.2.3") == "10.1.2.3/32"
    assert blocks.host_prefix("fd00::1") == "fd00::1/128"  # stored addresses are canonical
