"""Route injection into the same FRR ToR: GoBGP, ours, ExaBGP alone, and BIRD 2, side by side.

For N /32s, with the speaker's session already Established and holding nothing: seconds from
handing the speaker N routes until the ToR's RIB holds all N, and from the withdraw until it
holds none, and the speaker's peak memory (VmHWM summed over its processes). Ours is the whole
path: allocation rows committed in the API's database → long-poll → route-injection process →
ExaBGP → FRR. "ExaBGP alone" is ExaBGP on the same rendered config fed the same lines by a
process that does nothing else: what ours takes beyond it is ours. Ours is also timed
restarting with N allocations present (a host reboot: agent start → ToR holds all N).
The speakers take turns within each round (``measure_size``), and each ratio is the median of
the rounds' own ratios.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.common import PYPY_EXABGP, console, save, show
from bench.scale import bump_revisions, grow
from bgp import exabgp_runtime
from bgp.agent import exabgp_env
from fabric.client.transport import Access, http_client
from fabric.lab.netns import Lab, kill_pid, pids_in, wait_for
from fabric.render.exabgp import Speaker, SpeakerPeer, render
from fabric.render.frr import TO_HOSTS
from tests.harness.servers import ADMIN_TOKEN, uds_server_argv
from tests.harness.vty import Vty

TOR, SPK = "10.0.9.0", "10.0.9.1"
TOR_AS, SPK_AS = 65000, 65009
GOBGP_TARGET = 1.5  # ours no slower than 1.5x GoBGP
GOBGP_API = "127.0.0.1:50051"
# Rounds at each N (a round at 50k takes ~1 min for the six speakers); 10k, where ours is
# nearest its target, gets the most.
ROUNDS = {1_000: 3, 10_000: 5, 50_000: 3}
POLL_SECONDS = 0.005  # how often the ToR is asked how many routes it holds
GOBGP_CLI = ("gobgp", "-u", "127.0.0.1", "-p", GOBGP_API.split(":")[1])


class Bench:
    def __init__(self, tmp: Path, timeout: float = 300) -> None:
        self.tmp, self.timeout = tmp, timeout
        self.lab = Lab(tmp)
        try:
            self._build()
        except BaseException:  # half a lab is still namespaces and daemons: take them down
            self.lab.destroy()
            raise

    def _build(self) -> None:
        self.tor = self.lab.ns("tor")
        self.spk = self.lab.ns("spk")
        self.lab.link(self.tor, "eth1", self.spk, "eth1")
        self.lab.addr(self.tor, "eth1", f"{TOR}/31")
        self.lab.addr(self.spk, "eth1", f"{SPK}/31")
        # As ``fabricctl tor-config`` renders a ToR (fabric/render/frr.py): a host is sent
        # nothing back, whichever speaker it runs.
        conf = (
            f"frr defaults datacenter\nhostname tor\nrouter bgp {TOR_AS}\n"
            f" bgp router-id 10.0.9.254\n no bgp ebgp-requires-policy\n"
            f" neighbor {SPK} remote-as {SPK_AS}\n neighbor {SPK} timers 3 9\n"
            f" address-family ipv4 unicast\n  neighbor {SPK} route-map {TO_HOSTS} out\n"
            f" exit-address-family\nexit\nroute-map {TO_HOSTS} deny 10\n"
        )
        self.run = self.lab.frr(self.tor, conf)
        # Polled every few ms: over bgpd's own socket, as a vtysh process a poll costs ~20 ms
        # of CPU (tests/harness/vty.py), taken from the speaker being measured.
        self.bgpd = Vty(self.run / "bgpd.vty")

    def session(self) -> tuple[bool, int]:
        data = self.bgpd.json("show bgp summary json")
        peer = data.get("ipv4Unicast", {}).get("peers", {}).get(SPK, {})
        up = peer.get("state") == "Established"
        return up, int(peer.get("pfxRcd", 0)) if up else 0

    def count(self) -> int:
        return self.session()[1]

    def until(self, n: int, start: float) -> float:
        """Seconds from ``start`` until the ToR holds ``n`` (or none); also notes when the
        session was first seen Established (``self.established_at``), to set session set-up
        apart from injection."""
        self.established_at: float | None = None
        while time.perf_counter() - start < self.timeout:
            up, count = self.session()
            now = time.perf_counter() - start
            if up and self.established_at is None:
                self.established_at = now
            if (count >= n) if n else (count == 0):
                return now
            time.sleep(POLL_SECONDS)
        raise TimeoutError(f"ToR never reached {n} routes (at {self.count()})")

    def peak_mib(self) -> float:
        total = 0
        for pid in pids_in(self.spk):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            total += next(
                (int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM:")), 0
            )
        return total / 1024

    def stop_speaker(self) -> None:
        for pid in pids_in(self.spk):
            kill_pid(pid)
        wait_for("the session to drop", lambda: self.count() == 0, 30)

    def prefixes(self, n: int) -> list[str]:
        return [f"10.{64 + i // 65536}.{i // 256 % 256}.{i % 256}/32" for i in range(n)]


def _pypy() -> exabgp_runtime.Runtime:
    """The PyPy ExaBGP that ``scripts/setup --test`` makes (``FABRIC_EXABGP_PYTHON`` overrides)."""
    return exabgp_runtime.probe_pypy(str(PYPY_EXABGP))


class Ours:
    """Allocation rows in the API → agent → route-injection process → ExaBGP → FRR."""

    def __init__(self, bench: Bench, pypy: bool = False) -> None:
        self.b = bench
        self.name = "routed-fabric (ExaBGP on PyPy)" if pypy else "routed-fabric (ExaBGP)"
        self.exabgp_python = ["--exabgp-python", _pypy().python] if pypy else []
        sock = bench.tmp / "api.sock"
        self.url = f"sqlite:///{bench.tmp / 'inject.db'}"
        self.api_url = f"unix://{sock}"
        self.token_file = bench.tmp / "agent.token"
        if pypy:  # same API and database for both: the PyPy run reuses the CPython run's server
            return
        # SQLite has no cross-process wake-up: the bulk SQL below is seen by polling, so poll
        # often. An allocation through the API wakes the long-polls at its commit; here the clock
        # starts at an out-of-band commit, and the poll's period is measurement error (10 ms).
        env = {
            "FABRIC_DATABASE_URL": self.url,
            "FABRIC_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
            "FABRIC_REVISION_POLL_SECONDS": "0.01",
        }
        bench.lab.spawn(bench.tor, uds_server_argv(sock), bench.tmp / "api.log", env)
        api = http_client(self.api_url, timeout=30, access=Access(ADMIN_TOKEN))
        wait_for("the API", lambda: sock.exists() and _ok(api), 30)
        api.post("/v1/pools", json={"name": "bench", "cidr": "10.64.0.0/10", "block_size": 26})
        api.post(
            "/v1/hosts",
            json={"name": "s1", "address": SPK, "asn": SPK_AS, "advertise_mode": "host-routes"},
        )
        api.post(
            "/v1/peers",
            json={
                "name": "tor", "address": TOR, "asn": TOR_AS, "scope": "host", "host": "s1",
                "hold_time": 9, "keepalive": 3,
            },
        )  # fmt: skip
        token = api.post("/v1/tokens", json={"name": "s1", "role": "agent", "host": "s1"})
        self.token_file.write_text(token.json()["token"])
        api.close()

    def start(self) -> None:
        state = self.b.tmp / "agent"
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir()
        self.b.lab.spawn(
            self.b.spk,
            [
                sys.executable, "-m", "fabric.cli.main", "--token-file", str(self.token_file),
                "agent", "--api", self.api_url, "--host", "s1", "--state-dir", str(state),
                "--no-kernel", "--metrics", "", *self.exabgp_python,
            ],
            state / "agent.log",
        )  # fmt: skip

    def inject(self, n: int) -> float:
        grow(self.url, 1, n, bump=True)  # the clock starts at its commit
        return self.b.until(n, time.perf_counter())

    def restart(self, n: int) -> float:
        """The agent (and ExaBGP) start with N allocations already there: a host's reboot.
        Run after a withdraw, so the ToR holds none (no graceful-restart stale routes)."""
        self.b.stop_speaker()
        grow(self.url, 1, n, bump=True)
        start = time.perf_counter()
        self.start()
        up = self.b.until(n, start)
        self.withdraw()
        return up

    def withdraw(self) -> float:
        engine = create_engine(self.url)
        start = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM allocations"))
            conn.execute(text("DELETE FROM blocks"))
            bump_revisions(conn)
        engine.dispose()
        return self.b.until(0, start)


class ExaBgpFloor:
    """ExaBGP on the same rendered config, fed the same lines by a process that does nothing
    else (``bench/exabgp_feeder.py``): the floor of any ExaBGP-based speaker."""

    def __init__(self, bench: Bench, pypy: bool = False) -> None:
        self.b = bench
        self.work = bench.tmp / "floor"
        self.name = "ExaBGP alone on PyPy" if pypy else "ExaBGP alone (floor)"
        self.exabgp = (_pypy() if pypy else exabgp_runtime.this_interpreter()).command()

    def start(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir()
        speaker = Speaker(
            host="floor", address=SPK, asn=SPK_AS,
            peers=[SpeakerPeer(address=TOR, asn=TOR_AS, hold_time=9, graceful_restart=0)],
        )  # fmt: skip
        conf = self.work / "exabgp.conf"
        # By path: ExaBGP starts its processes elsewhere than our working directory.
        feeder = [sys.executable, str(Path(__file__).with_name("exabgp_feeder.py")), str(self.work)]
        conf.write_text(render(speaker, feeder))
        self.b.lab.spawn(
            self.b.spk, [*self.exabgp, str(conf)],
            self.work / "exabgp.out", exabgp_env(self.work),
        )  # fmt: skip

    def inject(self, n: int) -> float:
        (self.work / "prefixes").write_text("\n".join(self.b.prefixes(n)))
        start = time.perf_counter()
        (self.work / "go").touch()
        return self.b.until(n, start)

    def withdraw(self) -> float:
        start = time.perf_counter()
        (self.work / "withdraw").touch()
        return self.b.until(0, start)


class Bird:
    name = "BIRD 2 (static)"

    def __init__(self, bench: Bench) -> None:
        self.b = bench
        self.conf, self.sock = bench.tmp / "bird.conf", bench.tmp / "bird.ctl"

    def _write(self, prefixes: list[str]) -> None:
        routes = "".join(f"  route {p} blackhole;\n" for p in prefixes)
        self.conf.write_text(
            f"router id {SPK};\nprotocol device {{}}\n"
            f"protocol static injected {{\n  ipv4;\n{routes}}}\n"
            f"protocol bgp tor {{\n  local {SPK} as {SPK_AS};\n  neighbor {TOR} as {TOR_AS};\n"
            "  hold time 9;\n  ipv4 { import none; export all; };\n}\n"
        )

    def start(self) -> None:
        self._write([])
        self.b.lab.run(
            self.b.spk, "bird", "-c", str(self.conf), "-s", str(self.sock),
            "-P", str(self.b.tmp / "bird.pid"),
        )  # fmt: skip

    def _configure(self, prefixes: list[str], n: int) -> float:
        self._write(prefixes)  # written before the clock starts: BIRD parses it on configure
        start = time.perf_counter()
        self.b.lab.run(self.b.spk, "birdc", "-s", str(self.sock), "configure")
        return self.b.until(n, start)

    def inject(self, n: int) -> float:
        return self._configure(self.b.prefixes(n), n)

    def withdraw(self) -> float:
        return self._configure([], 0)


class GoBgp:
    """gobgpd fed through its gRPC API (``AddPathStream``, 1,000 paths a request), as kube-router
    does; the client connects and builds its requests before the clock starts."""

    name = "GoBGP (gRPC)"

    def __init__(self, bench: Bench) -> None:
        self.b = bench
        self.conf = bench.tmp / "gobgp.toml"
        self.conf.write_text(
            f'[global.config]\n  as = {SPK_AS}\n  router-id = "{SPK}"\n  port = -1\n'
            f'[[neighbors]]\n  [neighbors.config]\n    neighbor-address = "{TOR}"\n'
            f"    peer-as = {TOR_AS}\n  [neighbors.timers.config]\n    hold-time = 9\n"
            "    keepalive-interval = 3\n"
        )

    def start(self) -> None:
        self.b.lab.spawn(
            self.b.spk,
            ["gobgpd", "-f", str(self.conf), "--api-hosts", GOBGP_API, "-l", "warn"],
            self.b.tmp / "gobgpd.log",
        )

    def inject(self, n: int) -> float:
        listing = self.b.tmp / f"prefixes-{n}.txt"
        listing.write_text("\n".join(self.b.prefixes(n)))
        argv = [sys.executable, "-m", "bench.gobgp_api", GOBGP_API, SPK, str(listing)]
        with subprocess.Popen(
            ["ip", "netns", "exec", self.b.spk, *argv],  # where gobgpd's API listens
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        ) as client:  # fmt: skip
            assert client.stdout is not None and client.stdin is not None
            if client.stdout.readline().strip() != "ready":
                raise RuntimeError("the gRPC client could not reach gobgpd")
            start = time.perf_counter()
            client.stdin.write("go\n")
            client.stdin.flush()
            held = self.b.until(n, start)
            if client.wait(timeout=self.b.timeout) != 0:
                raise RuntimeError(f"the gRPC client failed ({client.returncode})")
        return held

    def withdraw(self) -> float:
        start = time.perf_counter()
        self.b.lab.run(self.b.spk, *GOBGP_CLI, "global", "rib", "-a", "ipv4", "del", "all")
        return self.b.until(0, start)


def _ok(api: Any) -> bool:
    try:
        return bool(api.get("/healthz").status_code == 200)
    except Exception:
        return False


def _one_run(bench: Bench, speaker: Any, n: int, row: dict[str, list[float]]) -> float:
    speaker.start()
    wait_for("the session", lambda: bench.session()[0], 60)
    up = float(speaker.inject(n))
    row["peak_mib"].append(bench.peak_mib())
    row["withdraw_s"].append(speaker.withdraw())
    if hasattr(speaker, "restart"):
        restart = speaker.restart(n)
        row["restart_s"].append(restart)
        row["restart_after_established_s"].append(restart - (bench.established_at or 0.0))
    bench.stop_speaker()
    return up


def _summary(row: dict[str, list[float]]) -> dict[str, Any]:
    rest = {k: v for k, v in row.items() if k != "inject_runs"}
    return {
        "inject_s": statistics.median(row["inject_runs"]),
        "inject_runs": row["inject_runs"],
        **{k: (max(v) if k == "peak_mib" else statistics.median(v)) for k, v in rest.items()},
    }


def measure_size(
    bench: Bench, speakers: list[Any], n: int, runs: int, results: dict[str, Any]
) -> None:
    """``runs`` rounds at N, each running every speaker once. Interleaved, not speaker after
    speaker: this shared machine drifts by tens of percent over minutes (GoBGP at 10k took
    0.44–0.85 s from one run of the benchmark to the next), and a drift then falls on every
    speaker of a round alike, so each round's ratio compares like with like. The order turns
    by one each round, so no speaker always runs right after the same other one."""
    live = [s for s in speakers if "error" not in results.get(s.name, {})]
    if not live:
        return
    rows: dict[str, dict[str, list[float]]] = {s.name: defaultdict(list) for s in live}
    for r in range(runs):
        for speaker in live[r % len(live) :] + live[: r % len(live)]:
            if "error" in results.get(speaker.name, {}):
                continue
            row = rows[speaker.name]
            try:
                row["inject_runs"].append(_one_run(bench, speaker, n, row))
            except Exception as exc:  # one speaker failing must not lose the others' figures
                console.print(f"[red]{speaker.name} failed at {n}:[/red] {exc}")
                results[speaker.name] = {"error": str(exc)}
                bench.stop_speaker()
    for speaker in live:
        if "error" not in results.get(speaker.name, {}):
            results.setdefault(speaker.name, {})[n] = _summary(rows[speaker.name])
            runs_s = ", ".join(f"{v:.2f}" for v in rows[speaker.name]["inject_runs"])
            console.print(f"[dim]{speaker.name} {n}: {runs_s} s, "
                          f"peak {results[speaker.name][n]['peak_mib']:.0f} MiB")  # fmt: skip


def _cell(results: dict[str, Any], n: int, key: str) -> Any:
    return results.get(n, {}).get(key, "-")


def _ratio(a: dict[str, Any], b: dict[str, Any], n: int) -> Any:
    """The median over the rounds of each round's ratio (``measure_size``: a round runs every
    speaker once, within seconds of each other)."""
    if n not in a or n not in b:
        return "-"
    # The ToR is polled every POLL_SECONDS: that is the resolution of every figure here.
    pairs = zip(a[n]["inject_runs"], b[n]["inject_runs"], strict=True)
    return statistics.median(x / max(y, POLL_SECONDS) for x, y in pairs)


def run(smoke: bool = False) -> dict[str, Any]:
    rounds = {100: 1} if smoke else ROUNDS
    sizes = list(rounds)
    tmp = Path(tempfile.mkdtemp(prefix="rf-bench-inject-"))
    tmp.chmod(0o755)
    bench = Bench(tmp, timeout=60 if smoke else 300)
    results: dict[str, Any] = {}
    try:
        speakers: list[Any] = [GoBgp(bench), Ours(bench), Ours(bench, pypy=True)]
        speakers += [ExaBgpFloor(bench), ExaBgpFloor(bench, pypy=True), Bird(bench)]
        for n, runs in rounds.items():
            measure_size(bench, speakers, n, runs, results)
    finally:
        bench.bgpd.close()
        bench.lab.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
    every = [results.get(s.name, {}) for s in speakers]
    gobgp, ours, ours_pypy, floor, floor_pypy, _bird = every
    names = ["GoBGP", "ours", "ours PyPy", "ExaBGP floor", "floor PyPy", "BIRD"]
    show(
        f"Route injection into an established session: seconds until the FRR ToR holds all N "
        f"(medians of {', '.join(map(str, rounds.values()))} interleaved rounds). PyPy: "
        "ExaBGP's interpreter (bgp/exabgp_runtime.py)",
        ["N", *names],
        [(n, *(_cell(r, n, "inject_s") for r in every)) for n in sizes],
    )
    ratios = {
        n: {
            "ours/gobgp": _ratio(ours, gobgp, n),
            "ours_pypy/gobgp": _ratio(ours_pypy, gobgp, n),
            "ours/floor": _ratio(ours, floor, n),
            "ours_pypy/floor_pypy": _ratio(ours_pypy, floor_pypy, n),
        }
        for n in sizes
    }
    show(
        f"Injection ratios, each the median of the rounds' own; target ours ≤ {GOBGP_TARGET}× "
        "GoBGP",
        ["N", "ours ÷ GoBGP", "ours PyPy ÷ GoBGP", "ours ÷ floor", "ours PyPy ÷ floor PyPy"],
        [(n, *r.values()) for n, r in ratios.items()],
    )
    show(
        "Withdraw: seconds until the ToR holds none",
        ["N", *names],
        [(n, *(_cell(r, n, "withdraw_s") for r in every)) for n in sizes],
    )
    show(
        "Peak memory of the speaker's processes (MiB, VmHWM summed)",
        ["N", *names],
        [(n, *(_cell(r, n, "peak_mib") for r in every)) for n in sizes],
    )
    show(
        "Ours restarting with N allocations (a host reboot): agent start → ToR holds all N",
        ["N", "seconds", "of which after Established", "PyPy: seconds", "after Established"],
        [(n, _cell(ours, n, "restart_s"), _cell(ours, n, "restart_after_established_s"),
          _cell(ours_pypy, n, "restart_s"), _cell(ours_pypy, n, "restart_after_established_s"))
         for n in sizes],
    )  # fmt: skip
    if not smoke:
        save("injection", {"sizes": sizes, "rounds": rounds, "ratios": ratios, "results": results})
    return results
