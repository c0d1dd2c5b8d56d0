"""The least a process can do to feed ExaBGP: the injection benchmark's ExaBGP floor.

ExaBGP runs this instead of our route-injection process, on the same rendered
``exabgp.conf``. It writes the same lines as ours (``bgp.exabgp_api``: 50 prefixes
per line, at most ``WINDOW`` lines waiting for their ack) but has no API, database,
safety checks or bookkeeping: what ours takes beyond this is ours. The benchmark
drives it with files in ``DIR``: it announces ``DIR/prefixes`` when ``DIR/go``
appears and withdraws them when ``DIR/withdraw`` appears.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from bgp import exabgp_api
from bgp.ack_window import WINDOW


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.002)


def main() -> None:
    work = Path(sys.argv[1])
    window = threading.Semaphore(WINDOW)

    def read_acks() -> None:  # ExaBGP blocks if nobody reads its output
        for line in sys.stdin:
            if isinstance(exabgp_api.parse(line), exabgp_api.Ack):
                window.release()

    threading.Thread(target=read_acks, daemon=True).start()

    def send(lines: list[str]) -> None:
        for line in lines:
            window.acquire()
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    _wait_for(work / "go")
    prefixes = (work / "prefixes").read_text().split()
    send(exabgp_api.announce_lines(prefixes))
    _wait_for(work / "withdraw")
    send(exabgp_api.withdraw_lines(prefixes))
    threading.Event().wait()  # ExaBGP restarts a process that ends: stay until stopped


if __name__ == "__main__":
    main()
