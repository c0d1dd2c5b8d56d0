"""The allocator against a real (SQLite) database: affinity, borrowing, exhaustion, invariants."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from fabric import desired, hosts, pools
from fabric.errors import AddressInUse, Conflict, InvalidInput, PoolExhausted
from fabric.ipam import allocator, check, release
from fabric.models import Allocation, Block
from fabric.store import ipam_writes
from fabric.store.database import Database


def setup(
    db: Database, *, strict: bool = False, cidr: str = "10.0.0.0/28", block: int = 30
) -> None:
    with db.write() as s:
        pools.create_pool(s, name="p", cidr=cidr, block_size=block, strict_affinity=strict)
        for i in (1, 2, 3):
            hosts.create_host(s, name=f"h{i}", address=f"192.0.2.{i}", asn=65000 + i)


def alloc(db: Database, host: str, handle: str, **kw: object) -> str:
    with db.write() as s:
        return allocator.allocate(s, host=host, handle=handle, **kw)[0].address  # type: ignore[arg-type]


def test_host_fills_its_own_block_before_claiming_another(db: Database) -> None:
    setup(db)
    got = [alloc(db, "h1", f"c{i}") for i in range(5)]
    assert got == ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert alloc(db, "h2", "x") == "10.0.0.8"  # h2 claims a block of its own
    with db.read() as s:
        assert desired.desired_state(s, "h1").blocks == ["10.0.0.0/30", "10.0.0.4/30"]


def test_allocate_is_idempotent_per_handle(db: Database) -> None:
    setup(db)
    assert alloc(db, "h1", "same") == alloc(db, "h1", "same")
    with pytest.raises(Conflict) as exc:
        alloc(db, "h2", "same")
    assert exc.value.code == "handle_in_use"


def test_borrows_when_blocks_are_exhausted_unless_strict(db: Database) -> None:
    setup(db)  # 4 blocks of 4
    for i in range(12):
        alloc(db, "h1", f"a{i}")  # h1 takes 3 blocks
    for i in range(4):
        alloc(db, "h2", f"b{i}")  # h2 the last one
    with pytest.raises(PoolExhausted):
        alloc(db, "h3", "c0")
    with db.write() as s:
        release.release(s, handle="a5")
    borrowed = alloc(db, "h3", "c0")
    assert borrowed == "10.0.0.5"
    with db.read() as s:
        state = desired.desired_state(s, "h3")
    assert [(a.prefix, a.kind) for a in state.advertisements] == [("10.0.0.5/32", "borrowed")]


def test_strict_affinity_never_borrows(db: Database) -> None:
    setup(db, strict=True, cidr="10.0.0.0/29", block=30)
    alloc(db, "h1", "a")
    alloc(db, "h2", "b")
    with pytest.raises(PoolExhausted) as exc:
        alloc(db, "h3", "c")
    assert exc.value.code == "pool_exhausted"


def test_requested_address(db: Database) -> None:
    setup(db)
    assert alloc(db, "h1", "a", address="10.0.0.6") == "10.0.0.6"
    with pytest.raises(AddressInUse):
        alloc(db, "h2", "b", address="10.0.0.6")
    with pytest.raises(InvalidInput) as exc:
        alloc(db, "h2", "c", address="172.16.0.1")
    assert exc.value.code == "address_not_in_pool"
    # Another host's block: borrowed, announced as a /32 by the borrower.
    assert alloc(db, "h2", "d", address="10.0.0.5") == "10.0.0.5"


def test_dual_stack_is_all_or_nothing(db: Database) -> None:
    setup(db)  # no IPv6 pool
    with pytest.raises(PoolExhausted), db.write() as s:
        allocator.allocate(s, host="h1", handle="dual", family="dual")
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Allocation)) == 0


def test_host_routes_mode_announces_every_address(db: Database) -> None:
    setup(db)
    with db.write() as s:
        hosts.update_host(s, "h1", advertise_mode="host-routes")
    alloc(db, "h1", "a")
    alloc(db, "h1", "b")
    with db.read() as s:
        state = desired.desired_state(s, "h1")
    assert [a.prefix for a in state.advertisements] == ["10.0.0.0/32", "10.0.0.1/32"]
    assert state.blocks == ["10.0.0.0/30"]


def test_release_by_address_checks_the_handle(db: Database) -> None:
    setup(db)
    addr = alloc(db, "h1", "old")
    with pytest.raises(Conflict) as exc, db.write() as s:
        release.release(s, address=addr, handle="someone-else")
    assert exc.value.code == "handle_mismatch"
    with db.write() as s:
        assert [r.address for r in release.release(s, address=addr, handle="old")] == [addr]
        assert release.release(s, address=addr) == []  # idempotent


# --- property: random allocate / release / claim sequences keep every invariant

HOSTS = ["h1", "h2", "h3"]
op = st.one_of(
    st.tuples(st.just("alloc"), st.sampled_from(HOSTS), st.integers(0, 40), st.sampled_from("46")),
    st.tuples(
        st.just("release"), st.sampled_from(HOSTS), st.integers(0, 40), st.sampled_from("46")
    ),
    st.tuples(st.just("request"), st.sampled_from(HOSTS), st.integers(0, 40), st.integers(0, 31)),
)


def _prop_db(path: str, strict: bool) -> Database:
    from fabric.store import migrate

    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db.write_engine, db.url)
    with db.write() as s:
        pools.create_pool(s, name="v4", cidr="10.0.0.0/27", block_size=29, strict_affinity=strict)
        pools.create_pool(s, name="v4b", cidr="10.1.0.0/30", block_size=31)
        pools.create_pool(s, name="v6", cidr="fd00::/124", block_size=126)
        for i, h in enumerate(HOSTS):
            hosts.create_host(s, name=h, address=f"192.0.2.{i + 1}", asn=65001)
    return db


def _apply(db: Database, op: tuple, orm_only: bool, model: dict[tuple[str, int], str]) -> str:  # type: ignore[type-arg]
    """One operation; the outcome (an address, or the error's name) to compare paths by."""
    kind, host, n, arg = op
    handle = f"{host}-{n}"
    try:
        with db.write() as s:
            if kind == "alloc" and orm_only:
                rows = allocator.allocate(s, host=host, handle=handle, family=arg)
                model[(handle, rows[0].family)] = rows[0].address
                return rows[0].address
            if kind == "alloc":  # what the API runs: the Core fast path when it applies
                got = ipam_writes.allocate_described(s, host=host, handle=handle, family=arg)
                model[(handle, got[0]["family"])] = got[0]["address"]
                return str(got[0]["address"])
            if kind == "request":
                want = str(ipaddress.ip_address("10.0.0.0") + int(arg))
                rows = allocator.allocate(s, host=host, handle=handle, address=want)
                model[(handle, 4)] = rows[0].address
                return rows[0].address
            for row in release.release(s, handle=handle, family=int(arg)):
                model.pop((row.handle, row.family), None)
            return "released"
    except (PoolExhausted, AddressInUse, Conflict, InvalidInput) as exc:
        return type(exc).__name__


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(op, max_size=60), strict=st.booleans())
def test_random_sequences_keep_invariants(
    tmp_path_factory: pytest.TempPathFactory, ops: list, strict: bool
) -> None:  # type: ignore[type-arg]
    # The same operations through the ORM path alone and through the API's path (fast path
    # first): the same outcome at every step, and every invariant holds on both.
    where = tmp_path_factory.mktemp("prop")
    orm, api = _prop_db(str(where / "orm.db"), strict), _prop_db(str(where / "api.db"), strict)
    models: dict[bool, dict[tuple[str, int], str]] = {True: {}, False: {}}
    for o in ops:
        assert _apply(orm, o, True, models[True]) == _apply(api, o, False, models[False]), o
    for db, model in ((orm, models[True]), (api, models[False])):
        with db.read() as s:
            rows = list(s.scalars(select(Allocation)))
            assert len({r.address for r in rows}) == len(rows)  # never twice
            assert {(r.handle, r.family): r.address for r in rows} == model  # never lost
            report = check.check(s)
            assert report.ok, report
            for block in s.scalars(select(Block)):
                inside = [r for r in rows if r.block_id == block.id]
                assert all(
                    ipaddress.ip_address(r.address) in ipaddress.ip_network(block.cidr)
                    for r in inside
                )
        db.dispose()
