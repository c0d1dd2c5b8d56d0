"""Real API server processes for tests: ``fabric.lab.servers`` (shared with the benchmarks)."""

from __future__ import annotations

from fabric.lab.servers import ADMIN, ADMIN_TOKEN, ApiServer, free_port

__all__ = ["ADMIN", "ADMIN_TOKEN", "ApiServer", "free_port"]
