"""Address math of pools and blocks (``ipaddress``), free of the database.

A pool is carved into aligned blocks of one prefix length. Reserved ranges are
never handed out; every other address of a block is usable (the host is the
gateway, so no network or broadcast address is set aside).
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import socket
from collections.abc import Iterable, Iterator

from fabric.errors import InvalidInput
from fabric.validation import IPAddress, IPNetwork, parse_address, parse_network

DEFAULT_BLOCK_PREFIX = {4: 26, 6: 122}
# Keep a block small enough to scan for a free address in one query.
MAX_BLOCK_ADDRESSES = 4096


def default_block_prefix(family: int) -> int:
    return DEFAULT_BLOCK_PREFIX[family]


def check_block_prefix(pool: IPNetwork, prefix: int) -> int:
    """Raises: InvalidInput when blocks of /prefix do not fit the pool."""
    size = 2 ** (pool.max_prefixlen - prefix) if prefix <= pool.max_prefixlen else 0
    if not pool.prefixlen <= prefix <= pool.max_prefixlen or size > MAX_BLOCK_ADDRESSES:
        raise InvalidInput(
            f"Block size /{prefix} does not fit pool {pool}: it must be between "
            f"/{pool.prefixlen} and /{pool.max_prefixlen} and hold at most "
            f"{MAX_BLOCK_ADDRESSES} addresses.",
            code="invalid_block_size",
        )
    return prefix


def parse_reserved(pool: IPNetwork, entries: Iterable[str]) -> list[str]:
    """Normalise reserved entries (CIDRs or ``first-last`` ranges) to CIDRs inside the pool.

    Raises: InvalidInput for a malformed entry or one outside the pool.
    """
    out: list[str] = []
    for entry in entries:
        if "-" in entry:
            first_s, last_s = entry.split("-", 1)
            first, last = parse_address(first_s), parse_address(last_s)
            if first.version != last.version or first > last:  # type: ignore[operator]
                raise InvalidInput(f"Reserved range {entry!r} is empty.", code="invalid_reserved")
            nets: list[IPNetwork] = list(ipaddress.summarize_address_range(first, last))
        else:
            nets = [ipaddress.ip_network(entry.strip(), strict=False)] if _is_net(entry) else []
            if not nets:
                raise InvalidInput(
                    f"Reserved entry {entry!r} is neither a CIDR nor a range.",
                    code="invalid_reserved",
                )
        for net in nets:
            if net.version != pool.version or not net.subnet_of(pool):  # type: ignore[arg-type]
                raise InvalidInput(
                    f"Reserved entry {entry!r} is not inside pool {pool}.", code="invalid_reserved"
                )
            out.append(str(net))
    return out


def _is_net(text: str) -> bool:
    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return False
    return True


def reserved_networks(reserved: Iterable[str]) -> list[IPNetwork]:
    return [parse_network(r) for r in reserved]


def is_reserved(address: IPAddress, reserved: list[IPNetwork]) -> bool:
    return any(address in net for net in reserved)


def usable_in(net: IPNetwork, reserved: list[IPNetwork]) -> int:
    """How many addresses of ``net`` are not reserved."""
    # Reserved entries may overlap each other: collapse them before counting.
    collapsed = ipaddress.collapse_addresses(r for r in reserved if r.overlaps(net))  # type: ignore[type-var]
    taken = 0
    for r in collapsed:
        inner = r if r.subnet_of(net) else net  # type: ignore[arg-type]
        taken += inner.num_addresses
    return net.num_addresses - taken


_PTON = {4: functools.partial(socket.inet_pton, socket.AF_INET),
         6: functools.partial(socket.inet_pton, socket.AF_INET6)}  # fmt: skip


def address_numbers(texts: Iterable[str], version: int) -> set[int]:
    """Stored addresses (``ipaddress``'s compressed text) of one family as integers,
    converted in C: a scan then formats no candidate as text (bench/README.md: measured choices)."""
    return set(map(int.from_bytes, map(_PTON[version], texts)))  # big-endian: the default


def first_free(block: IPNetwork, taken: set[int], reserved: list[IPNetwork]) -> IPAddress | None:
    """The lowest address of the block that is neither taken nor reserved.

    ``taken`` holds addresses as integers (``address_numbers``); the taken ones are skipped
    by ``filterfalse`` in C, so only free candidates reach the reserved-range check."""
    ranges = [
        (int(r.network_address), int(r.broadcast_address)) for r in reserved if r.overlaps(block)
    ]
    first = int(block.network_address)
    for number in itertools.filterfalse(
        taken.__contains__, range(first, first + block.num_addresses)
    ):
        if not any(lo <= number <= hi for lo, hi in ranges):
            return ipaddress.ip_address(number)
    return None


@functools.lru_cache(maxsize=4096)
def block_shape(cidr: str, reserved: tuple[str, ...]) -> tuple[IPNetwork, list[IPNetwork], int]:
    """A block's network, its pool's reserved ranges and how many addresses it can hold:
    parsed once per block, not once per allocation (the caller must not change the list)."""
    network, kept = ipaddress.ip_network(cidr), reserved_networks(reserved)
    return network, kept, usable_in(network, kept)


def unclaimed_blocks(
    pool: IPNetwork, prefix: int, claimed: Iterable[str], reserved: list[IPNetwork]
) -> Iterator[IPNetwork]:
    """Aligned blocks of the pool that nobody has claimed and that hold a usable address,
    lowest first.

    Blocks are counted by their index in the pool and the claimed ones skipped by
    ``filterfalse`` in C, instead of formatting every block up to the first free one
    (bench/README.md: measured choices)."""
    shift = pool.max_prefixlen - prefix
    start = int(pool.network_address)
    networks = address_numbers((c.partition("/")[0] for c in claimed), pool.version)
    taken = {(n - start) >> shift for n in networks}
    count = 1 << (prefix - pool.prefixlen)  # a range: lazy even for an IPv6 pool's 2**70
    for index in itertools.filterfalse(taken.__contains__, range(count)):
        block = ipaddress.ip_network((start + (index << shift), prefix))
        if not reserved or usable_in(block, reserved) > 0:
            yield block


def block_of(address: IPAddress, prefix: int) -> IPNetwork:
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def host_prefix(address: str) -> str:
    """The /32 or /128 announced for one stored address.

    Not parsed again: every address reaches the database in ``ipaddress``'s compressed
    form (the allocator writes only those), and this runs once per address on every
    desired-state read (bench/README.md: measured choices). The agent checks every prefix
    again before announcing it (``bgp.safety``)."""
    return f"{address}/{128 if ':' in address else 32}"
