"""``python -m bench [NAME ...|all] [--smoke]`` (``make bench``): ipam, scale, convergence,
injection, cni, failover, layers."""

from __future__ import annotations

import argparse
import importlib

NAMES = ("ipam", "layers", "scale", "convergence", "injection", "cni", "failover")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="*", help=f"any of {', '.join(NAMES)} (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it runs")
    args = parser.parse_args(argv)
    unknown = set(args.which) - {*NAMES, "all"}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    for name in NAMES if not args.which or "all" in args.which else args.which:
        importlib.import_module(f"bench.{name}").run(smoke=args.smoke)


if __name__ == "__main__":
    main()
