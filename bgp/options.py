"""The injector's options, declared once: ``fabricctl agent`` takes them, the agent passes them
on in the ``run`` line of exabgp.conf, the injector ExaBGP starts parses them back."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from bgp.rib_reconciler import RECONCILE_SECONDS

HELP = {
    "require_kernel_route": "Announce a workload only while its kernel route exists.",
    "allow": "Never announce outside these prefixes (repeatable).",
    "kernel": "Program blackhole routes for the host's blocks (--no-kernel: leave them).",
    "reconcile_seconds": "How often to check ExaBGP's adj-rib-out against the API.",
}


@dataclass(frozen=True)
class InjectorOptions:
    """What the injector announces and how it checks it: the operator's choice."""

    require_kernel_route: bool = False
    allow: tuple[str, ...] = ()
    kernel: bool = True
    reconcile_seconds: float = RECONCILE_SECONDS


@dataclass(frozen=True)
class InjectorRun:
    """One injector's whole command line: where the API is, who it is, and its options."""

    api: str
    host: str
    log_file: Path | None = None
    token_file: Path | None = None  # a file, never the token itself on a command line
    ca_file: Path | None = None
    options: InjectorOptions = field(default_factory=InjectorOptions)
    bfd_dir: Path | None = None  # bfdd's vty directory: the sessions' BFD state is read there

    def argv(self) -> list[str]:
        o = self.options
        args = ["--api", self.api, "--host", self.host]
        for flag, path in (
            ("--log-file", self.log_file),
            ("--token-file", self.token_file),
            ("--ca-file", self.ca_file),
            ("--bfd-dir", self.bfd_dir),
        ):
            if path is not None:
                args += [flag, str(path)]
        args += [f"--allow={prefix}" for prefix in o.allow]
        if o.require_kernel_route:
            args.append("--require-kernel-route")
        if not o.kernel:
            args.append("--no-kernel")
        return [*args, f"--reconcile-seconds={o.reconcile_seconds}"]

    @classmethod
    def parse(cls, argv: list[str] | None = None) -> InjectorRun:
        parser = argparse.ArgumentParser(
            prog="bgp.injector", description="routed-fabric route injection (run by ExaBGP)"
        )
        parser.add_argument("--api", required=True)
        parser.add_argument("--host", required=True)
        parser.add_argument("--log-file", type=Path)
        parser.add_argument("--token-file", type=Path, help="the agent's API token")
        parser.add_argument("--ca-file", type=Path, help="CA to verify the API's TLS certificate")
        parser.add_argument("--bfd-dir", type=Path, help="bfdd's vty directory")
        parser.add_argument("--no-kernel", action="store_true", help=HELP["kernel"])
        parser.add_argument(
            "--require-kernel-route", action="store_true", help=HELP["require_kernel_route"]
        )
        parser.add_argument("--allow", action="append", default=[], help=HELP["allow"])
        parser.add_argument(
            "--reconcile-seconds", type=float, default=RECONCILE_SECONDS,
            help=HELP["reconcile_seconds"],
        )  # fmt: skip
        a = parser.parse_args(argv)
        options = InjectorOptions(
            require_kernel_route=a.require_kernel_route,
            allow=tuple(a.allow),
            kernel=not a.no_kernel,
            reconcile_seconds=a.reconcile_seconds,
        )
        return cls(a.api, a.host, a.log_file, a.token_file, a.ca_file, options, a.bfd_dir)
