"""The agent's view of the controller API: its speaker config, its desired state, its reports."""

from __future__ import annotations

from typing import Any

from fabric.client.transport import NO_ACCESS, Access, http_client


class AgentApi:
    def __init__(
        self, base_url: str, host: str, *, timeout: float = 10.0, access: Access = NO_ACCESS
    ) -> None:
        self.host = host
        self._http = http_client(base_url, timeout=timeout, access=access)

    def speaker(self) -> dict[str, Any]:
        r = self._http.get(f"/v1/hosts/{self.host}/speaker")
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    def advertisements(self, since: int | None = None, wait: float = 0) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if since is not None and wait > 0:
            params = {"since": since, "wait": wait}
        r = self._http.get(
            f"/v1/hosts/{self.host}/advertisements", params=params, timeout=wait + 10
        )
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    def report(self, sessions: list[dict[str, Any]], interval: float) -> None:
        """Every session of this host; ``interval``: how often we report (the API calls a
        report three intervals old stale)."""
        body = {"sessions": sessions, "interval_seconds": interval}
        r = self._http.put(f"/v1/hosts/{self.host}/peers/status", json=body)
        r.raise_for_status()

    def report_routes(self, body: dict[str, Any]) -> None:
        r = self._http.put(f"/v1/hosts/{self.host}/routes", json=body)
        r.raise_for_status()

    def close(self) -> None:
        self._http.close()
