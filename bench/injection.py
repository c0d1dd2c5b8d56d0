"""Route injection into the same FRR ToR: our agent, BIRD 2 and GoBGP, side by side.

For N /32s: seconds from starting the speaker until the ToR's RIB holds all N
(session set-up included), seconds from the withdraw until it holds none, and
the speaker's peak memory (VmHWM, summed over its processes). Ours is the whole
path: allocation rows in the API → route-injection process → ExaBGP → FRR.
"""

from __future__ import annotations

import functools
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.common import console, median_of, save, show
from bench.scale import grow
from fabric.http import Access, http_client
from fabric.lab.netns import Lab, kill_pid, pids_in, wait_for
from fabric.lab.servers import ADMIN_TOKEN, uds_server_argv

TOR, SPK = "10.0.9.0", "10.0.9.1"
TOR_AS, SPK_AS = 65000, 65009
GOBGP_TARGET = 1.5  # ours no slower than 1.5x GoBGP


class Bench:
    def __init__(self, tmp: Path, timeout: float = 300) -> None:
        self.tmp, self.timeout = tmp, timeout
        self.lab = Lab(tmp)
        self.tor = self.lab.ns("tor")
        self.spk = self.lab.ns("spk")
        self.lab.link(self.tor, "eth1", self.spk, "eth1")
        self.lab.addr(self.tor, "eth1", f"{TOR}/31")
        self.lab.addr(self.spk, "eth1", f"{SPK}/31")
        conf = (
            f"frr defaults datacenter\nhostname tor\nrouter bgp {TOR_AS}\n"
            f" bgp router-id 10.0.9.254\n no bgp ebgp-requires-policy\n"
            f" neighbor {SPK} remote-as {SPK_AS}\n neighbor {SPK} timers 3 9\n"
        )
        self.run = self.lab.frr(self.tor, conf)

    def session(self) -> tuple[bool, int]:
        data = self.lab.vtysh(self.tor, self.run, "show bgp summary json")
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
            time.sleep(0.02)
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


class Ours:
    name = "routed-fabric (ExaBGP)"

    def __init__(self, bench: Bench) -> None:
        self.b = bench
        sock = bench.tmp / "api.sock"
        self.url = f"sqlite:///{bench.tmp / 'inject.db'}"
        # SQLite has no cross-process wake-up: the bulk SQL below is seen by polling, so poll often.
        env = {
            "FABRIC_DATABASE_URL": self.url,
            "FABRIC_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
            "FABRIC_REVISION_POLL_SECONDS": "0.05",
        }
        bench.lab.spawn(
            bench.tor,
            uds_server_argv(sock),
            bench.tmp / "api.log",
            env,
        )
        self.api_url = f"unix://{sock}"
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
                "name": "tor",
                "address": TOR,
                "asn": TOR_AS,
                "scope": "host",
                "host": "s1",
                "hold_time": 9,
                "keepalive": 3,
            },
        )
        token = api.post("/v1/tokens", json={"name": "s1", "role": "agent", "host": "s1"})
        self.token_file = bench.tmp / "agent.token"
        self.token_file.write_text(token.json()["token"])
        api.close()

    def announce(self, n: int) -> float:
        grow(self.url, 1, n)
        state = self.b.tmp / "agent"
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir()
        start = time.perf_counter()
        self.b.lab.spawn(
            self.b.spk,
            [
                sys.executable,
                "-m",
                "fabric.cli.main",
                "--token-file",
                str(self.token_file),
                "agent",
                "--api",
                self.api_url,
                "--host",
                "s1",
                "--state-dir",
                str(state),
                "--no-kernel",
                "--metrics",
                "",
            ],
            state / "agent.log",
        )
        return self.b.until(n, start)

    def withdraw(self) -> float:
        engine = create_engine(self.url)
        start = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM allocations"))
            conn.execute(text("DELETE FROM blocks"))
            rev = conn.scalar(
                text("UPDATE fabric_state SET revision = revision + 1 RETURNING revision")
            )
            conn.execute(text("UPDATE hosts SET revision = :r"), {"r": rev})
        engine.dispose()
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

    def announce(self, n: int) -> float:
        self._write(self.b.prefixes(n))
        start = time.perf_counter()
        self.b.lab.run(
            self.b.spk,
            "bird",
            "-c",
            str(self.conf),
            "-s",
            str(self.sock),
            "-P",
            str(self.b.tmp / "bird.pid"),
        )
        return self.b.until(n, start)

    def withdraw(self) -> float:
        self._write([])
        start = time.perf_counter()
        self.b.lab.run(self.b.spk, "birdc", "-s", str(self.sock), "configure")
        return self.b.until(0, start)


def mrt_file(path: Path, prefixes: list[str]) -> None:
    """A TABLE_DUMP_V2 file (RFC 6396) of the prefixes, next hop the speaker: gobgp's fast path."""

    def record(subtype: int, body: bytes) -> bytes:
        return struct.pack("!IHHI", 0, 13, subtype, len(body)) + body

    peer = struct.pack(
        "!B4s4sI", 0x02, bytes(map(int, SPK.split("."))), bytes(map(int, SPK.split("."))), SPK_AS
    )
    out = [record(1, struct.pack("!4sHH", bytes(4), 0, 1) + peer)]
    attrs = (
        b"\x40\x01\x01\x00" + b"\x40\x02\x00" + b"\x40\x03\x04" + bytes(map(int, SPK.split(".")))
    )
    for seq, prefix in enumerate(prefixes):
        addr, length = prefix.split("/")
        plen = int(length)
        raw = bytes(map(int, addr.split(".")))[: (plen + 7) // 8]
        entry = struct.pack("!HIH", 0, 0, len(attrs)) + attrs
        out.append(record(2, struct.pack("!IB", seq, plen) + raw + struct.pack("!H", 1) + entry))
    path.write_bytes(b"".join(out))


class GoBgp:
    name = "GoBGP (gRPC, MRT inject)"

    def __init__(self, bench: Bench) -> None:
        self.b = bench
        self.injects = 0
        self.conf = bench.tmp / "gobgp.toml"
        self.conf.write_text(
            f'[global.config]\n  as = {SPK_AS}\n  router-id = "{SPK}"\n  port = -1\n'
            f'[[neighbors]]\n  [neighbors.config]\n    neighbor-address = "{TOR}"\n'
            f"    peer-as = {TOR_AS}\n  [neighbors.timers.config]\n    hold-time = 9\n"
            "    keepalive-interval = 3\n"
        )

    def rib_size(self) -> int:
        out = self.b.lab.run(self.b.spk, "gobgp", "-p", "50051", "global", "rib", "summary").stdout
        return int(out.split("Destination:")[1].split(",")[0]) if "Destination:" in out else 0

    def gobgp(self, *args: str, check: bool = True) -> int:
        return self.b.lab.run(self.b.spk, "gobgp", "-p", "50051", *args, check=check).returncode

    def announce(self, n: int) -> float:
        mrt = self.b.tmp / f"routes-{n}.mrt"
        mrt_file(mrt, self.b.prefixes(n))
        start = time.perf_counter()
        self.b.lab.spawn(
            self.b.spk,
            ["gobgpd", "-f", str(self.conf), "--api-hosts", "127.0.0.1:50051", "-l", "warn"],
            self.b.tmp / "gobgpd.log",
        )
        wait_for(
            "gobgpd's API",
            lambda: (
                self.b.lab.run(self.b.spk, "gobgp", "-p", "50051", "global", check=False).returncode
                == 0
            ),
            30,
        )
        # gobgp's CLI closes its stream early and a few paths of a batch can go missing
        # (seen here with gobgp 3.10): inject again (same paths, no new UPDATE) until its RIB
        # holds all N. The time counts every attempt; how many it took is recorded.
        self.injects = 0
        while self.injects < 10:
            self.gobgp("mrt", "inject", "global", str(mrt))
            self.injects += 1
            if self.rib_size() >= n:
                break
        return self.b.until(n, start)

    def withdraw(self) -> float:
        start = time.perf_counter()
        self.b.lab.run(
            self.b.spk, "gobgp", "-p", "50051", "global", "rib", "-a", "ipv4", "del", "all"
        )
        return self.b.until(0, start)


def _ok(api: Any) -> bool:
    try:
        return bool(api.get("/healthz").status_code == 200)
    except Exception:
        return False


def _one_run(
    bench: Bench, speaker: Any, n: int, established: list[float], peaks: list[float],
    downs: list[float],
) -> float:  # fmt: skip
    up = float(speaker.announce(n))
    established.append(up - (bench.established_at or 0.0))
    peaks.append(bench.peak_mib())
    downs.append(speaker.withdraw())
    bench.stop_speaker()
    return up


def measure_speaker(
    bench: Bench, speaker: Any, sizes: list[int], runs: int, results: dict[str, Any]
) -> None:
    for n in sizes:
        ups: list[float] = []
        downs: list[float] = []
        peaks: list[float] = []
        established: list[float] = []

        one = functools.partial(_one_run, bench, speaker, n, established, peaks, downs)
        up, ups = median_of(runs, one)
        results.setdefault(speaker.name, {})[n] = {
            "announce_s": up,
            "announce_runs": ups,
            "after_established_s": sorted(established)[len(established) // 2],
            "withdraw_s": sorted(downs)[len(downs) // 2],
            "peak_mib": max(peaks),
        }
        console.print(f"[dim]{speaker.name} {n}: {up:.2f}s up, peak {max(peaks):.0f} MiB")


def _cell(results: dict[str, Any], n: int, key: str) -> Any:
    return results.get(n, {}).get(key, "-")


def run(smoke: bool = False) -> dict[str, Any]:
    sizes = [100] if smoke else [1_000, 10_000, 50_000]
    runs = 1 if smoke else 2
    tmp = Path(tempfile.mkdtemp(prefix="rf-bench-inject-"))
    tmp.chmod(0o755)
    bench = Bench(tmp, timeout=60 if smoke else 300)
    results: dict[str, Any] = {}
    try:
        speakers: list[Any] = [Ours(bench), Bird(bench), GoBgp(bench)]
        for speaker in speakers:
            try:
                measure_speaker(bench, speaker, sizes, runs, results)
            except Exception as exc:  # one speaker failing must not lose the others' figures
                console.print(f"[red]{speaker.name} failed:[/red] {exc}")
                results[speaker.name] = {"error": str(exc)}
                bench.stop_speaker()

    finally:
        bench.lab.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
    ours, bird, gobgp = (results.get(s.name, {}) for s in speakers)
    up_rows, down_rows = [], []
    for n in sizes:
        cols = [(r, k) for k in ("announce_s", "after_established_s") for r in (ours, gobgp, bird)]
        ratio: Any = "-"
        if n in ours and n in gobgp:
            # The RIB is polled every 20 ms: that is the resolution of "after Established".
            ratio = ours[n]["after_established_s"] / max(gobgp[n]["after_established_s"], 0.02)
        up_rows.append((n, *(_cell(r, n, k) for r, k in cols), ratio))
        down_rows.append((n, *(_cell(r, n, "withdraw_s") for r in (ours, gobgp, bird)),
                          *(_cell(r, n, "peak_mib") for r in (ours, gobgp, bird))))  # fmt: skip
    show(
        f"Route injection into one FRR ToR: seconds until it holds all N (median of {runs}), "
        f"from process start and from Established; target ours ≤ {GOBGP_TARGET}× GoBGP",
        ["N", "ours", "GoBGP", "BIRD", "ours after est.", "GoBGP after est.",
         "BIRD after est.", "ours ÷ GoBGP"],
        up_rows,
    )  # fmt: skip
    show(
        "Withdraw (seconds until the ToR holds none) and speaker peak memory (MiB)",
        ["N", "ours", "GoBGP", "BIRD", "ours MiB", "GoBGP MiB", "BIRD MiB"],
        down_rows,
    )
    if not smoke:
        save("injection", {"sizes": sizes, "runs": runs, "results": results})
    return results
