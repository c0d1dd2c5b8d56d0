"""A router's view of the controller API, as ``fabricctl tor-sync`` uses it: its rendered
configuration (long-polled by digest) and the report of what it applied."""

from __future__ import annotations

from dataclasses import dataclass

from fabric.client.transport import NO_ACCESS, Access, http_client

DIGEST_HEADER = "X-Fabric-Config-Digest"
REVISION_HEADER = "X-Fabric-Revision"


@dataclass(frozen=True)
class Rendered:
    """One rendering of a router's configuration: its text, digest and fabric revision."""

    text: str
    digest: str
    revision: int


class RouterApi:
    def __init__(
        self,
        base_url: str,
        router: str,
        *,
        format: str = "frr",
        filters: bool = True,
        timeout: float = 10.0,
        access: Access = NO_ACCESS,
    ) -> None:
        self.router, self.format, self.filters = router, format, filters
        self._http = http_client(base_url, timeout=timeout, access=access)

    def config(self, digest: str | None = None, wait: float = 0) -> Rendered:
        """The configuration now; with ``digest`` and ``wait``, once it differs from that one
        (or ``wait`` seconds have passed)."""
        params: dict[str, str | float] = {
            "format": self.format, "filters": str(self.filters).lower(),
        }  # fmt: skip
        if digest and wait > 0:
            params |= {"digest": digest, "wait": wait}
        r = self._http.get(f"/v1/routers/{self.router}/config", params=params, timeout=wait + 10)
        r.raise_for_status()
        return Rendered(r.text, r.headers[DIGEST_HEADER], int(r.headers[REVISION_HEADER]))

    def report(
        self,
        rendered: Rendered,
        error: str | None = None,
        accepted: dict[str, list[str]] | None = None,
    ) -> None:
        """What this router took (or, with ``error``, what it refused and why), and what it
        accepted from each neighbour."""
        body = {"digest": rendered.digest, "revision": rendered.revision, "format": self.format,
                "filters": self.filters, "error": error, "accepted": accepted}  # fmt: skip
        self._http.put(f"/v1/routers/{self.router}/applied", json=body).raise_for_status()

    def close(self) -> None:
        self._http.close()
