"""One way to reach the controller API: ``http(s)://…`` or ``unix:///path/to.sock``."""

from __future__ import annotations

import httpx


def http_client(base_url: str, *, timeout: float = 10.0) -> httpx.Client:
    """An httpx client for the API; a ``unix://`` URL talks over the host's own socket."""
    if base_url.startswith("unix://"):
        transport = httpx.HTTPTransport(uds=base_url[len("unix://") :])
        return httpx.Client(base_url="http://fabric", transport=transport, timeout=timeout)
    return httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
