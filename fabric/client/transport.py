"""One way to reach the controller API: ``http(s)://…`` or ``unix:///path/to.sock``."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Access:
    """How a client proves itself and checks the server: bearer token, CA for TLS."""

    token: str | None = None
    ca_file: Path | None = None

    @classmethod
    def load(cls, token: str | None, token_file: Path | None, ca_file: Path | None) -> Access:
        if token_file is not None:
            token = token_file.read_text().strip()
        return cls(token or None, ca_file)


NO_ACCESS = Access()


def http_client(
    base_url: str, *, timeout: float = 10.0, access: Access = NO_ACCESS
) -> httpx.Client:
    """An httpx client for the API; a ``unix://`` URL talks over the host's own socket."""
    headers = {"Authorization": f"Bearer {access.token}"} if access.token else {}
    # A private CA: trust it (and only it) for this API.
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(access.ca_file)) if access.ca_file else True
    )
    if base_url.startswith("unix://"):
        transport = httpx.HTTPTransport(uds=base_url[len("unix://") :])
        return httpx.Client(
            base_url="http://fabric", transport=transport, timeout=timeout, headers=headers
        )
    return httpx.Client(
        base_url=base_url.rstrip("/"), timeout=timeout, headers=headers, verify=verify
    )
