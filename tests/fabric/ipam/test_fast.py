"""Allocations served together (``ipam_fast.allocate_many``, what the API's group commit runs) give
what the same requests one after another would, on SQLite and PostgreSQL."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from fabric import audit, hosts, pools
from fabric.ipam import allocator, check, plan, queries, release
from fabric.models import Allocation, AuditEntry, Block
from fabric.revisions import current_revision
from fabric.store import ipam_fast, ipam_pg, migrate
from fabric.store.database import Database

HOSTS = ["h1", "h2", "h3"]


def seed(db: Database) -> None:
    with db.write() as s:
        # Small blocks with a reserved address in the first: batches fill blocks and spill.
        pools.create_pool(s, name="v4", cidr="10.0.0.0/24", block_size=29, reserved=["10.0.0.1"])
        pools.create_pool(s, name="v6", cidr="fd00::/120", block_size=126)
        for i, h in enumerate(HOSTS):
            hosts.create_host(s, name=h, address=f"192.0.2.{i + 1}", asn=65001)


def together(db: Database, requests: list[plan.Request]) -> list[str]:
    """As the group commit runs a batch: at once if it can be (PostgreSQL, what the last batch
    left known still true: ``ipam_fast.allocate_at_once``); else served together, the declined
    ones after, one by one through the ORM path, all in one transaction."""
    at_once = ipam_fast.allocate_at_once(db.write_engine, requests)
    if at_once is not None:
        return [str(rows[0]["address"]) for rows in at_once[0]]
    with db.write() as s:
        served = ipam_fast.allocate_many(s, requests)
        return [
            str(got[0]["address"])
            if got is not None
            else allocator.allocate(s, host=r.host, handle=r.handle, family=str(r.family))[
                0
            ].address
            for r, got in zip(requests, served, strict=True)
        ]


def one_by_one(db: Database, requests: list[plan.Request]) -> list[str]:
    out = []
    for r in requests:
        with db.write() as s:
            out.append(allocator.allocate(s, host=r.host, handle=r.handle, family=str(r.family)))
    return [rows[0].address for rows in out]


def contents(db: Database) -> dict[tuple[str, int], tuple[str, str]]:
    with db.read() as s:
        report = check.check(s)
        assert report.ok, report  # Block.allocated true to the rows, nothing twice
        rows = s.execute(select(Allocation, Block.cidr).join(Block)).all()
        return {(a.handle, a.family): (a.address, cidr) for a, cidr in rows}


request = st.builds(
    plan.Request,
    host=st.sampled_from(HOSTS),
    handle=st.sampled_from([f"c{i}" for i in range(12)]),  # repeats: asked twice in a batch
    family=st.sampled_from([4, 4, 6]),
    attrs=st.just({}),
)


class Abort(Exception):
    pass


def aborted(db: Database, requests: list[plan.Request]) -> None:
    """A batch served, then rolled back (another request of its batch failed)."""
    with pytest.raises(Abort), db.write() as s:
        ipam_fast.allocate_many(s, requests)
        raise Abort


def release_handle(db: Database, handle: str) -> None:
    with db.write() as s:
        release.release(s, handle=handle)


# Between the batches, what may change the blocks behind the back of what the fast path
# remembers of them: a release, a batch rolled back, an allocation by another process.
step = st.one_of(
    st.tuples(st.just("batch"), st.lists(request, min_size=1, max_size=16)),
    st.tuples(st.just("release"), st.sampled_from([f"c{i}" for i in range(12)])),
    st.tuples(st.just("abort"), st.lists(request, min_size=1, max_size=4)),
    st.tuples(st.just("elsewhere"), st.lists(request, min_size=1, max_size=2)),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=st.lists(request, max_size=12), steps=st.lists(step, min_size=1, max_size=6))
def test_served_together_as_one_after_another(
    new_database: Callable[[], str],
    tmp_path_factory: pytest.TempPathFactory,
    before: list[plan.Request],
    steps: list[tuple[str, Any]],
) -> None:
    """Served together on each backend (on PostgreSQL its writes are one statement,
    ``pg_batch``), against one by one through the ORM path on SQLite."""
    where = tmp_path_factory.mktemp("fast")
    dbs = [Database(new_database()), Database(f"sqlite:///{where / 'alone'}.db")]
    for db in dbs:
        migrate.upgrade(db.write_engine, db.url)
        seed(db)
    # The same database file through an engine of its own, as another process would write.
    elsewhere = Database(dbs[0].url)
    # Distinct handles per host, or the ORM path refuses (another host's handle): a
    # handle held on another host is the group commit's business (the batch runs again).
    owner: dict[str, str] = {}

    def keep(requests: list[plan.Request]) -> list[plan.Request]:
        return [r for r in requests if owner.setdefault(r.handle, r.host) == r.host]

    for db in dbs:
        one_by_one(db, keep(before))
    for kind, what in steps:
        if kind == "batch":
            assert together(dbs[0], keep(what)) == one_by_one(dbs[1], keep(what))
        elif kind == "release":
            for db in dbs:
                release_handle(db, what)
        elif kind == "abort":
            aborted(dbs[0], keep(what))
        else:
            assert one_by_one(elsewhere, keep(what)) == one_by_one(dbs[1], keep(what))
    assert contents(dbs[0]) == contents(dbs[1])
    assert allocation_log(dbs[0]) == allocation_log(dbs[1])  # the same audit trail too
    for db in [*dbs, elsewhere]:
        db.dispose()


def _unnumbered(values: dict[str, Any] | None) -> list[tuple[str, Any]] | None:
    """A row as the audit logged it, without what differs between databases by design: ids
    (PostgreSQL's sequences do not roll back with a batch), times, and the keys' order (JSONB
    keeps its own)."""
    if values is None:
        return None
    return sorted((k, v) for k, v in values.items() if k not in ("id", "block_id", "created_at"))


def allocation_log(db: Database) -> list[tuple[str, str, str, Any, Any]]:
    """The audit log of allocations: action, key, caller, before and after; sorted, as a
    batch logs its fast-path rows first and the ones it declined (claims) after them."""
    with db.read() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.entity == "allocations"))
        return sorted((e.action, e.key, str(e.request), repr(_unnumbered(e.before)),
                       repr(_unnumbered(e.after))) for e in rows)  # fmt: skip


def test_a_batch_fills_the_block_skips_reserved_and_leaves_the_rest(database_url: str) -> None:
    db = Database(database_url)
    migrate.upgrade(db.write_engine, db.url)
    seed(db)
    with db.write() as s:  # h1 claims 10.0.0.0/29 (the ORM path), h2 holds "dup"
        allocator.allocate(s, host="h1", handle="first")
        allocator.allocate(s, host="h2", handle="dup")
    who = [object(), object()]
    asks = [plan.Request("h1", f"n{i}", 4, {"pod": f"p{i}"}, who[i % 2], f"call {i}")
            for i in range(8)]  # fmt: skip
    asks.insert(3, plan.Request("h1", "n1", 4, {}))  # asked twice in the batch
    asks.append(plan.Request("h1", "dup", 4, {}))  # held on another host
    asks.append(plan.Request("nowhere", "x", 4, {}))  # no such host
    with db.write() as s:
        got = ipam_fast.allocate_many(s, asks)
        revision = s.info["revision"]
    # The block's 6 free addresses (.1 is reserved) to the first six in order, no more.
    placed = [g[0]["address"] if g else None for g in got]
    assert placed == ["10.0.0.2", "10.0.0.3", "10.0.0.4", None, "10.0.0.5", "10.0.0.6",
                      "10.0.0.7", None, None, None, None]  # fmt: skip
    assert got[0] is not None and got[0][0] | {"created_at": None} == {
        "address": "10.0.0.2", "family": 4, "host": "h1", "handle": "n0",
        "block": "10.0.0.0/29", "pool": "v4", "borrowed": False,
        "attributes": {"pod": "p0"}, "created_at": None,
    }  # fmt: skip
    with db.read() as s:
        assert check.check(s).ok
        block = s.scalars(select(Block).where(Block.cidr == "10.0.0.0/29")).one()
        assert block.allocated == 7
        h1 = hosts.get_host(s, "h1")
        assert h1.revision == revision
        # One audit entry per allocation, each under its own caller's request.
        entries: list[Any] = list(
            s.scalars(select(AuditEntry).where(AuditEntry.request.like("call %")))
        )
        assert sorted((e.key, e.request) for e in entries) == [
            (f"allocations/10.0.0.{n + 2}", f"call {n}") for n in range(6)
        ]
        assert all(e.after["handle"] == f"n{int(e.request[5:])}" for e in entries)
        ids = {a.address: a.id for a in s.scalars(select(Allocation))}
        assert all(e.after["id"] == ids[e.after["address"]] for e in entries)  # the new row's
    db.dispose()


def audited(db: Database) -> list[tuple[str, str | None, int]]:
    """The audit log's creates of allocations: key, request, and the row's id."""
    with db.read() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.entity == "allocations"))
        return sorted((e.key, e.request, e.after["id"]) for e in rows if e.action == "create")


@pytest.mark.postgres
def test_a_batch_at_once_writes_all_or_nothing(postgres_url: str) -> None:
    """``ipam_fast.allocate_at_once``: the batch in one statement in autocommit, from what the
    last fast write left known; or nothing written at all, whenever that is not the whole
    truth."""
    db = Database(postgres_url)
    seed(db)

    def at_once(*asks: tuple[str, str]) -> list[str] | None:
        got = ipam_fast.allocate_at_once(
            db.write_engine, [plan.Request(h, k, 4, {}, None, f"call {k}") for h, k in asks]
        )
        return None if got is None else [str(rows[0]["address"]) for rows in got[0]]

    with db.write() as s:  # h1 claims 10.0.0.0/29 (the ORM path) and takes .0; .1 is reserved
        allocator.allocate(s, host="h1", handle="first")
    assert at_once(("h1", "a")) is None  # nothing known yet
    assert together(db, [plan.Request("h1", "a", 4, {})]) == ["10.0.0.2"]  # now known
    with db.read() as s:
        revision = current_revision(s)
    assert at_once(("h1", "b"), ("h1", "c")) == ["10.0.0.3", "10.0.0.4"]
    with db.read() as s:
        assert current_revision(s) == revision + 1
    assert [(k, r) for k, r, _ in audited(db) if r] == [
        ("allocations/10.0.0.3", "call b"), ("allocations/10.0.0.4", "call c"),
    ]  # fmt: skip
    assert all(i is not None for _, _, i in audited(db))  # each with its row's id
    state = contents(db)
    assert at_once(("h1", "b")) is None  # held already: found by the statement itself
    assert at_once(("h1", "d"), ("h1", "d")) is None  # asked twice: the transaction's work
    assert at_once(("h2", "x")) is None  # a host not known
    assert contents(db) == state
    other = Database(db.url)  # another replica writes: what is known is no longer the truth
    with other.write() as s:
        allocator.allocate(s, host="h1", handle="theirs", address="10.0.0.5")
    assert at_once(("h1", "e")) is None
    # A writer holding the lock while the statement comes: it waits, then finds the revision
    # moved on, and writes nothing (PostgreSQL checks the row as that writer left it).
    assert together(db, [plan.Request("h1", "e", 4, {})]) == ["10.0.0.6"]
    with ThreadPoolExecutor(1) as pool, other.write() as s:
        allocator.allocate(s, host="h1", handle="theirs too", address="10.0.0.7")
        waiting = pool.submit(at_once, ("h1", "f"))
        time.sleep(0.3)
        assert not waiting.done()  # held up by the lock
    assert waiting.result() is None
    assert set(contents(db)) == {(h, 4) for h in ("first", "a", "b", "c", "theirs", "e",
                                                  "theirs too")}  # fmt: skip
    other.dispose()
    db.dispose()


def test_address_numbers_read_what_is_stored() -> None:
    from fabric.ipam.blocks import address_numbers

    v6 = ["fd00::", "fd00::ff", "2001:db8::1:0:0:1"]
    assert address_numbers(v6, 6) == {int(ipaddress.ip_address(a)) for a in v6}
    assert address_numbers(["10.0.0.255"], 4) == {0x0A0000FF}
    assert audit.entry_by(None, "r", "create", "x", "x/1", None, {})["request"] == "r"


def test_what_a_batch_remembers_follows_every_other_write(database_url: str) -> None:
    """The fast path remembers the taken addresses and the hosts' blocks its last committed batch
    left (``ipam_fast._KNOWN``), on both backends; each kind of write that changes them must make
    it read them again. While they hold, a batch reads no block and no address."""
    db = Database(database_url)
    migrate.upgrade(db.write_engine, db.url)
    seed(db)
    count = iter(range(100))
    statements: list[str] = []
    event.listen(db.write_engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_: statements.append(sql))  # fmt: skip

    def one(handle: str | None = None, then: Any = None) -> str | None:
        statements.clear()
        with db.write() as s:
            ask = plan.Request("h1", handle or f"k{next(count)}", 4, {})
            got = ipam_fast.allocate_many(s, [ask])[0]
            if then is not None:
                then(s)
        return None if got is None else str(got[0]["address"])

    def reads() -> int:
        """The batch's reads besides the write lock (``FOR UPDATE`` on PostgreSQL)."""
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        return len(selects) - 1

    with db.write() as s:  # h1 claims 10.0.0.0/29 (the ORM path) and takes .0; .1 is reserved
        allocator.allocate(s, host="h1", handle="first")
    assert [one(), one()] == ["10.0.0.2", "10.0.0.3"]
    # Known: no block or address read. PostgreSQL reads nothing (its one statement finds a handle
    # held itself); SQLite reads only whether the handles asked are held.
    assert reads() == (0 if db.is_postgres else 1)
    # Asked again: nothing written twice; the ORM path then answers it (PostgreSQL reads the
    # handle after its write found it held, SQLite before it writes).
    assert one("k1") is None and reads() == 1
    assert one() == "10.0.0.4"
    release_handle(db, "k0")
    assert one() == "10.0.0.2"  # released, so free again
    aborted(db, [plan.Request("h1", "gone", 4, {})])
    assert one() == "10.0.0.5"  # taken by a batch rolled back, so never taken
    # .5 released in the same transaction as the batch that took .6: free at commit.
    assert one(then=lambda s: release.release(s, handle="k4")) == "10.0.0.6"
    assert one() == "10.0.0.5"
    other = Database(db.url)  # another process
    with other.write() as s:
        allocator.allocate(s, host="h1", handle="theirs", address="10.0.0.7")
    other.dispose()
    assert one() is None  # the block is full (which only a read shows): the ORM path's
    with db.write() as s:  # which claims the next block
        allocator.allocate(s, host="h1", handle="spill")
    assert one() == "10.0.0.9" and one() == "10.0.0.10"
    with db.write() as s:  # h1 gone, its blocks with it: a batch must not place on them
        hosts.delete_host(s, "h1", release=True)
    assert one() is None
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Allocation)) == 0
    db.dispose()


def deletes(db: Database) -> list[tuple[str, str | None, dict[str, Any]]]:
    """The audit log's deletes: key, request, and what was deleted (its time aside)."""
    with db.read() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "delete"))
        return sorted(
            (e.key, e.request, {k: v for k, v in e.before.items() if k != "created_at"})
            for e in rows
        )


def described(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "created_at"} for r in rows]


release_ask = st.builds(
    plan.Release,
    handle=st.sampled_from([f"c{i}" for i in range(14)]),  # c12, c13: never allocated
    family=st.sampled_from([None, None, 4, 6]),
    label=st.sampled_from(["call a", "call b"]),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=st.lists(request, max_size=16), batches=st.lists(
    st.lists(release_ask, min_size=1, max_size=8), min_size=1, max_size=3))  # fmt: skip
def test_releases_served_together_as_one_after_another(
    new_database: Callable[[], str],
    tmp_path_factory: pytest.TempPathFactory,
    before: list[plan.Request],
    batches: list[list[plan.Release]],
) -> None:
    """``release_many`` on each backend (on PostgreSQL ``release_at_once``, tried first as the
    group commit does) against ``release.release`` one by one on SQLite: the same allocations
    released (a handle asked twice in a batch: nothing the second time), the
    same blocks' counters and the same audit entries, each under its own request."""
    where = tmp_path_factory.mktemp("release")
    dbs = [Database(new_database()), Database(f"sqlite:///{where / 'alone'}.db")]
    owner: dict[str, str] = {}
    kept = [r for r in before if owner.setdefault(r.handle, r.host) == r.host]
    for db in dbs:
        migrate.upgrade(db.write_engine, db.url)
        seed(db)
        one_by_one(db, kept)
    for batch in batches:
        at_once = ipam_fast.release_at_once(dbs[0].write_engine, batch)  # as the group commit
        if at_once is not None:
            together_got = at_once[0]
        else:
            with dbs[0].write() as s:
                together_got = ipam_fast.release_many(s, batch)
        alone_got = []
        for ask in batch:
            with dbs[1].write() as s:
                audit.acting_for(s, None, ask.label)
                rows = release.release(s, handle=ask.handle, family=ask.family)
                alone_got.append([queries.describe(r) for r in rows])
        assert [described(g) for g in together_got] == [described(g) for g in alone_got]
    assert contents(dbs[0]) == contents(dbs[1])
    assert deletes(dbs[0]) == deletes(dbs[1])
    for db in dbs:
        db.dispose()


def test_a_release_of_nothing_bumps_nothing(tmp_path: Any) -> None:
    db = Database(f"sqlite:///{tmp_path / 'nothing.db'}")
    migrate.upgrade(db.write_engine, db.url)
    seed(db)
    with db.write() as s:
        allocator.allocate(s, host="h1", handle="kept")
    with db.write() as s:
        assert ipam_fast.release_many(s, [plan.Release("unknown"), plan.Release("kept", 6)]) == [[], []]
        assert "revision" not in s.info  # idempotent: no change, no revision
    assert contents(db) == {("kept", 4): ("10.0.0.0", "10.0.0.0/29")}
    db.dispose()


@pytest.mark.postgres
def test_releases_at_once_write_all_or_nothing(postgres_url: str) -> None:
    """``ipam_fast.release_at_once``: the rows read with their revision, then deleted in one
    statement that writes nothing if any write committed in between."""
    db = Database(postgres_url)
    seed(db)
    for handle in ("a", "b", "c", "d"):
        with db.write() as s:
            allocator.allocate(s, host="h1", handle=handle)

    def revision() -> int:
        with db.read() as s:
            return current_revision(s)

    before = revision()
    got = ipam_fast.release_at_once(db.write_engine, [plan.Release("a", label="call a"),
                                                 plan.Release("a"), plan.Release("nobody")])  # fmt: skip
    assert got is not None and got[1] == before + 1 == revision()
    assert [[d["handle"] for d in each] for each in got[0]] == [["a"], [], []]
    with db.read() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "delete")).one()
        assert (entry.key, entry.request) == (f"allocations/{got[0][0][0]['address']}", "call a")
    assert ipam_fast.release_at_once(db.write_engine, [plan.Release("nobody")]) == ([[]], None)
    assert revision() == before + 1  # nothing held, nothing written
    state = contents(db)
    with db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        with db.read() as s:  # "b" as read now, then a write elsewhere moves the fabric on
            row = s.execute(select(Allocation).where(Allocation.handle == "b")).scalar_one()
            ids = {"id": row.id, "block_id": row.block_id, "host_id": row.host_id}
        stale = [{**ids, "before": {}, "token_name": None, "role": None, "request": None,
                  "key": "allocations/x"}]  # fmt: skip
        assert ipam_pg.write_at_once(conn, "delete", stale, "2026-01-01T00:00:00", before) is None
    assert contents(db) == state  # the stale revision wrote nothing
    # A writer holding the lock while the statement comes: it waits, then writes nothing.
    with ThreadPoolExecutor(1) as pool, db.write() as s:
        allocator.allocate(s, host="h1", handle="e")
        waiting = pool.submit(ipam_fast.release_at_once, db.write_engine, [plan.Release("b")])
        time.sleep(0.3)
        assert not waiting.done()  # held up by the lock
    assert waiting.result() is None
    assert {h for h, _ in contents(db)} == {"b", "c", "d", "e"}
    db.dispose()
