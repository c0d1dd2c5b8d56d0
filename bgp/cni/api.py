"""The controller's REST API as the CNI plugins call it, on the standard library's http.client.

Not ``fabric.http`` (httpx): a plugin runs once per container, and httpx's import alone
costs more than an ADD may take. One connection per process; JSON in and out; the API's
``{"code", "detail"}`` refusals become CNI errors with our codes, and anything that says
"not now" (unreachable, timed out, 5xx) becomes 11, so the runtime tries again later.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from bgp.cni.config import IpamConfig
from bgp.cni.spec import (
    ADDRESS_CONFLICT,
    API_REFUSED,
    NOT_PERMITTED,
    POOL_EXHAUSTED,
    TRY_AGAIN_LATER,
    UNKNOWN_HOST,
    CniError,
)

# The API's error codes that have a CNI code of their own (the rest: API_REFUSED).
CODES = {
    "pool_exhausted": POOL_EXHAUSTED,
    "address_in_use": ADDRESS_CONFLICT,
    "handle_in_use": ADDRESS_CONFLICT,
    "token_missing": NOT_PERMITTED,
    "token_invalid": NOT_PERMITTED,
    "forbidden_role": NOT_PERMITTED,
    "forbidden_host": NOT_PERMITTED,
    "unknown_pool": UNKNOWN_HOST,
    "not_found": UNKNOWN_HOST,
}


class NotFound(CniError):
    """404: the thing asked about does not exist (a released address, for CHECK)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("fabric", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class Api:
    def __init__(self, config: IpamConfig) -> None:
        self.url = config.api_url
        self._headers = {
            "Authorization": f"Bearer {config.token()}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._conn = self._connection(config)

    @staticmethod
    def _connection(config: IpamConfig) -> http.client.HTTPConnection:
        if config.api_url.startswith("unix://"):
            return _UnixConnection(config.api_url[len("unix://") :], config.timeout)
        parts = urlsplit(config.api_url)
        if parts.scheme == "https":
            import ssl  # only when used: its import is a fifth of our budget

            context = ssl.create_default_context(
                cafile=str(config.ca_file) if config.ca_file else None
            )
            return http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=config.timeout, context=context
            )
        return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=config.timeout)

    def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """One request; the decoded JSON answer (None for an empty one).

        Raises: CniError (11 when the API cannot answer now; ours when it refuses).
        """
        clean = {k: v for k, v in query.items() if v is not None}
        target = path + (f"?{urlencode(clean)}" if clean else "")
        payload = None if body is None else json.dumps(body).encode()
        try:
            self._conn.request(method, target, body=payload, headers=self._headers)
            response = self._conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._conn.close()
            raise CniError(
                TRY_AGAIN_LATER,
                f"the fabric API at {self.url} cannot be reached",
                f"{method} {path}: {exc.__class__.__name__}: {exc}",
            ) from None
        return self._answer(method, path, response.status, data)

    @staticmethod
    def _answer(method: str, path: str, status: int, data: bytes) -> Any:
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = None
        if status < 400:
            return doc
        code = str(doc.get("code", "error")) if isinstance(doc, dict) else "error"
        detail = str(doc.get("detail", "")) if isinstance(doc, dict) else data[:200].decode(
            errors="replace"
        )
        where = f"{method} {path}: HTTP {status} {code}"
        if status >= 500 or status == 429:
            raise CniError(TRY_AGAIN_LATER, f"the fabric API cannot serve now: {detail}", where)
        if status == 404:
            raise NotFound(CODES.get(code, UNKNOWN_HOST), detail or "not found", where)
        raise CniError(CODES.get(code, API_REFUSED), detail or code, where)

    def close(self) -> None:
        self._conn.close()


def segment(value: str) -> str:
    """One path segment (an address, a host name), quoted."""
    return quote(value, safe="")
