"""A rogue host announcing another host's container and a prefix outside every pool.

containerlab/rack.clab.yml deployed with ``fabricctl lab``; h2's agent is
replaced by a bare ExaBGP (not our agent, so nothing on the host stops it). The
ToR runs the configuration the controller renders with IPAM filters, first on
FRR, then on BIRD 2: both hijack attempts are refused, the rogue's own block
still gets through (the filter is not deny-all), the victim's routes are
untouched and traffic to the victim keeps reaching its real host. Then the filters'
life: pushed again as ownership grows (a block claimed after the last push is learned
without a session reset) and as it shrinks (what a host released is refused again).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabric.lab import deploy as lab_deploy
from fabric.lab.demo import Fabric
from fabric.lab.netns import Lab, kill_pid, pids_in, sh, wait_for
from fabric.lab.topology import load
from tests.harness.speakers import bare_exabgp

REPO = Path(__file__).resolve().parents[2]
RACK = REPO / "containerlab" / "rack.clab.yml"
OUTSIDE = "192.0.2.0/24"  # in no pool
FRR_RELOAD = "/usr/lib/frr/frr-reload.py"  # Debian's frr-pythontools
LATE = "10.244.200.1"  # in a block nobody has claimed: h1 claims it after the filters


@dataclass
class Hijack:
    fabric: Fabric
    tor_kind: str
    victim: str  # the victim container's address
    rogue_block: str
    workdir: Path  # the lab's base directory: the rogue's and BIRD's files are here


def fib(fabric: Fabric, node: str) -> dict[str, set[str]]:
    """The node's kernel routes: prefix -> gateways (what traffic really follows)."""
    out = sh("ip", "netns", "exec", fabric.topo.namespace(node), "ip", "-j", "route", "show")
    routes: dict[str, set[str]] = {}
    for r in json.loads(out.stdout):
        dst = str(ipaddress.ip_network(r["dst"] if "/" in r["dst"] else f"{r['dst']}/32"))
        hops = {h["gateway"] for h in r.get("nexthops", []) if "gateway" in h}
        routes[dst] = hops | ({r["gateway"]} if "gateway" in r else set())
    return routes


def rogue_speaker(fabric: Fabric, workdir: Path, prefixes: list[str]) -> subprocess.Popen[bytes]:
    conf = workdir / "rogue.conf"
    routes = "".join(f"        route {p} next-hop 10.0.2.1;\n" for p in prefixes)
    conf.write_text(
        "neighbor 10.0.2.0 {\n    router-id 10.0.2.1;\n    local-address 10.0.2.1;\n"
        "    local-as 65002;\n    peer-as 65000;\n    family { ipv4 unicast; }\n"
        # As willing as our own speakers to resend when the ToR's filter changes: the
        # worst case for the filter, and what lets it accept what h2 comes to own.
        "    capability { route-refresh enable; }\n"
        f"    static {{\n{routes}    }}\n}}\n"
    )
    return bare_exabgp(fabric.topo.namespace("h2"), conf, workdir)


def push_tor_config(fabric: Fabric, kind: str, base: Path) -> None:
    """Render the ToR's config with IPAM filters now and apply it, as an operator would when
    ownership changes: FRR loads it and re-reads its peers (``soft in``: a route refresh),
    BIRD is started on it the first time and reconfigured after."""
    rendered = fabric.fabricctl_text("tor-config", "--tor", "tor", "--format", kind)
    ns = fabric.topo.namespace("tor")
    run = lab_deploy.frr_run_dir(fabric.topo, "tor")
    if kind == "frr":
        # frr-reload.py applies the difference: `vtysh -b` only adds lines, so a prefix-list
        # entry of something the host no longer owns would stay and keep letting it in.
        (run / "frr.conf").write_text(rendered)
        sh("ip", "netns", "exec", ns, FRR_RELOAD, "--reload", "--vty_socket", str(run),
           "--confdir", str(run), "--rundir", str(run), str(run / "frr.conf"))  # fmt: skip
        lab_deploy.vtysh(fabric.topo, "tor", "clear ip bgp * soft in")
        return
    conf = base / "tor-bird.conf"
    conf.write_text(rendered)
    if (base / "bird.ctl").exists():
        sh(*birdc(fabric, base), "configure")
        return
    for daemon in ("bgpd", "zebra"):  # BIRD takes over the namespace's routing
        kill_pid(int((run / f"{daemon}.pid").read_text()))
    for i, cidr in ((1, "10.0.1.0/31"), (2, "10.0.2.0/31"), (3, "10.0.255.0/31")):
        sh("ip", "netns", "exec", ns, "ip", "addr", "replace", cidr, "dev", f"eth{i}")
    for i in (1, 2):  # the rack's links are dual-stack
        sh("ip", "netns", "exec", ns, "ip", "-6", "addr", "replace", f"fd00:0:{i}::1/64",
           "dev", f"eth{i}", "nodad")  # fmt: skip
    sh("ip", "netns", "exec", ns, "bird", "-c", str(conf), "-s", str(base / "bird.ctl"),
       "-P", str(base / "bird.pid"))  # fmt: skip


def birdc(fabric: Fabric, base: Path) -> tuple[str, ...]:
    """The command line of BIRD's client for the lab's ToR (once BIRD runs there)."""
    ns = fabric.topo.namespace("tor")
    return ("ip", "netns", "exec", ns, "birdc", "-s", str(base / "bird.ctl"))


@pytest.fixture(scope="module", params=["frr", "bird"])
def hijack(request: pytest.FixtureRequest) -> Iterator[Hijack]:
    if os.geteuid() != 0:
        pytest.fail("lab tests need root") if os.environ.get("CI") else pytest.skip("needs root")
    kind = request.param
    base = Path(tempfile.mkdtemp(prefix="rf-rogue-"))
    os.chmod(base, 0o755)
    os.environ["CLAB_LABDIR_BASE"] = str(base)
    topo = load(RACK, f"rf{uuid.uuid4().hex[:6]}-rg{kind}")
    fabric = Fabric(topo, Lab(base))
    rogue: subprocess.Popen[bytes] | None = None
    try:
        lab_deploy.deploy(topo)
        wait_for("the controller to be seeded", lambda: len(fabric.hosts()) == 2, 60)
        victim_ip = fabric.start_container("h1", "victim")
        fabric.fabricctl("ip", "allocate", "--host", "h2", "--handle", "rogue-own")
        rogue_block = fabric.fabricctl("routes", "--host", "h2")["blocks"][0]
        victim_block = fabric.fabricctl("routes", "--host", "h1")["blocks"][0]
        # Both hosts' blocks at the ToR before anything changes: the filters are pushed onto
        # a known state, not a race with h1's first announcement.
        wait_for("both hosts' blocks at the ToR (no filters yet)",
                 lambda: {victim_block, rogue_block} <= fib(fabric, "tor").keys(), 60)  # fmt: skip
        for pid in pids_in(topo.namespace("h2")):  # h2's real agent goes: h2 turns rogue
            kill_pid(pid)
        push_tor_config(fabric, kind, base)
        rogue = rogue_speaker(fabric, base, [f"{victim_ip}/32", OUTSIDE, rogue_block])
        yield Hijack(fabric, kind, victim_ip, rogue_block, base)
    finally:
        fabric.workloads.destroy()
        lab_deploy.destroy(topo)
        if rogue is not None:
            rogue.wait(10)  # killed with its namespace; reap it
        os.environ.pop("CLAB_LABDIR_BASE", None)
        shutil.rmtree(base, ignore_errors=True)


def tor_state(hijack: Hijack, victim_block: str) -> str:
    """What to read when the ToR did not learn the blocks: its FIB, sessions, the speakers' logs."""
    fabric, base = hijack.fabric, hijack.workdir
    if hijack.tor_kind == "frr":
        sessions = lab_deploy.vtysh(fabric.topo, "tor", "show bgp ipv4 unicast summary")
        rib = lab_deploy.vtysh(fabric.topo, "tor", "show bgp ipv4 unicast")
    else:
        sessions = sh(*birdc(fabric, base), "show", "protocols", "all", check=False).stdout
        rib = sh(*birdc(fabric, base), "show", "route", "all", check=False).stdout
    h1 = fabric.topo.lab_dir / "h1"
    logs = {"rogue ExaBGP": base / "rogue.out", "rogue ExaBGP log": base / "exabgp.log",
            "h1 agent": h1 / "agent.log", "h1 ExaBGP": h1 / "exabgp.log"}  # fmt: skip
    tails = "".join(
        f"--- {what} ({path}), last lines:\n{_tail(path)}\n" for what, path in logs.items()
    )
    return (
        f"want {victim_block} via 10.0.1.1 and {hijack.rogue_block} via 10.0.2.1\n"
        f"--- ToR kernel routes: {fib(fabric, 'tor')}\n--- sessions:\n{sessions}\n"
        f"--- BGP table:\n{rib}\n{tails}"
    )


def _tail(path: Path, lines: int = 30) -> str:
    return (
        "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        if path.exists()
        else "(none)"
    )


def test_tor_refuses_the_hijack_and_keeps_the_real_routes(hijack: Hijack) -> None:
    fabric = hijack.fabric

    victim_block = fabric.fabricctl("routes", "--host", "h1")["blocks"][0]

    def both_blocks_learned() -> dict[str, set[str]] | None:
        routes = fib(fabric, "tor")
        want = {hijack.rogue_block: {"10.0.2.1"}, victim_block: {"10.0.1.1"}}
        return routes if all(routes.get(p) == nh for p, nh in want.items()) else None

    # The rogue's session is up and its own block accepted (the filter is not deny-all),
    # and the victim's block is where it belongs.
    try:
        wait_for(
            f"the ToR ({hijack.tor_kind}) to learn both hosts' blocks", both_blocks_learned, 60
        )
    except AssertionError as e:
        raise AssertionError(f"{e}\n{tor_state(hijack, victim_block)}") from None
    routes = fib(fabric, "tor")  # a little later still: the rogue's routes had time to arrive
    assert f"{hijack.victim}/32" not in routes, "the rogue's /32 for the victim was accepted"
    assert OUTSIDE not in routes, "a prefix outside every pool was accepted"
    controller = fabric.topo.namespace("controller")
    ping = sh("ip", "netns", "exec", controller, "ping", "-c", "3", "-i", "0.2", "-W", "1",
              hijack.victim, check=False)  # fmt: skip
    # Had the ToR taken the rogue's /32, these would go to h2, whose only route is back to
    # the ToR: they would loop and die. They reach the victim behind h1.
    assert ping.returncode == 0, ping.stdout


def h1_session(hijack: Hijack) -> tuple[int, float]:
    """The UPDATEs the ToR has received from h1 (whatever its filter made of them), and a
    mark of the session that moves when it is re-established: FRR's count of establishments,
    the second of the day BIRD says it came up (its "since" can move by a millisecond
    between two reads: it is derived from a monotonic clock)."""
    if hijack.tor_kind == "frr":
        peer = hijack.fabric.vtysh("tor", "show bgp neighbors 10.0.1.1 json")["10.0.1.1"]
        return int(peer["messageStats"]["updatesRecv"]), float(peer["connectionsEstablished"])
    out = sh(*birdc(hijack.fabric, hijack.workdir), "show", "protocols", "all", "host_h1").stdout
    lines = out.splitlines()
    since = next(ln.split()[4] for ln in lines if ln.startswith("host_h1 "))
    hours, minutes, seconds = since.split(":")
    # "Import updates:  <received> <rejected> <filtered> <ignored> <accepted>", per channel
    updates = sum(int(ln.split()[2]) for ln in lines if "Import updates:" in ln)
    return updates, int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def test_a_block_claimed_after_the_filters_is_learned_once_they_are_pushed_again(
    hijack: Hijack,
) -> None:
    """The ToR's filter lists the blocks a host owned when it was rendered: a block claimed
    later is announced at once and dropped by the ToR, which keeps no copy of what it filtered.
    Pushing the re-rendered config must bring it in without resetting the session: the
    host's speaker supports route refresh, so the ToR asks for its routes again."""
    fabric = hijack.fabric
    updates, session = h1_session(hijack)
    fabric.fabricctl("ip", "allocate", "--host", "h1", "--handle", "late", "--address", LATE)
    late_block = next(b for b in fabric.fabricctl("routes", "--host", "h1")["blocks"]
                      if ipaddress.ip_address(LATE) in ipaddress.ip_network(b))  # fmt: skip
    wait_for("h1's announcement of its new block to reach the ToR",
             lambda: h1_session(hijack)[0] > updates, 30)  # fmt: skip
    assert late_block not in fib(fabric, "tor"), "the filter rendered before the block let it in"

    push_tor_config(fabric, hijack.tor_kind, hijack.workdir)
    wait_for(f"the ToR ({hijack.tor_kind}) to learn {late_block} from h1",
             lambda: fib(fabric, "tor").get(late_block) == {"10.0.1.1"}, 30)  # fmt: skip
    assert abs(h1_session(hijack)[1] - session) < 0.5, "the ToR reset its session with h1"


def test_what_a_host_no_longer_owns_is_refused_again_once_pushed(hijack: Hijack) -> None:
    """Ownership shrinks too. The victim's address moves to h2 (released on h1, asked for on
    h2): pushed, the ToR now takes the /32 h2 has announced all along. Released again and
    pushed, it must refuse it again: a push that only adds lines (`vtysh -b`) would keep the
    old permit, and h2 could keep the address whoever gets it next."""
    fabric, victim = hijack.fabric, f"{hijack.victim}/32"
    fabric.fabricctl("ip", "release", "--handle", "fabric/victim/eth0")  # fabric-ipam's handle
    fabric.fabricctl("ip", "allocate", "--host", "h2", "--handle", "moved",
                     "--address", hijack.victim)  # fmt: skip
    push_tor_config(fabric, hijack.tor_kind, hijack.workdir)
    wait_for(f"the ToR ({hijack.tor_kind}) to take {victim} from h2, which holds it now",
             lambda: fib(fabric, "tor").get(victim) == {"10.0.2.1"}, 30)  # fmt: skip

    fabric.fabricctl("ip", "release", "--handle", "moved")
    push_tor_config(fabric, hijack.tor_kind, hijack.workdir)
    wait_for(f"the ToR ({hijack.tor_kind}) to refuse {victim} from h2 again",
             lambda: victim not in fib(fabric, "tor"), 30)  # fmt: skip
