"""The controller's REST API as the CNI plugins call it: HTTP/1.1 on a bare socket.

Not ``fabric.client.transport`` (httpx) nor the standard library's http.client (it parses
headers with the ``email`` package): both cost more to import than a plugin that runs once
per container can spend (bench/README.md, CNI). One request per connection
(``Connection: close``), JSON in and out,
``http://``, ``https://`` (with the config's CA) and ``unix://``. The API's ``{"code",
"detail"}`` refusals become CNI errors with our codes; whatever says "not now"
(unreachable, timed out, 5xx) becomes 11, so the runtime tries again later.
"""

from __future__ import annotations

import json
import socket
from typing import Any

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


class Api:
    def __init__(self, config: IpamConfig) -> None:
        self.url = config.api_url
        self._config = config
        self._token = config.token()

    def _connect(self) -> socket.socket:
        url, timeout = self.url, self._config.timeout
        if url.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(url[len("unix://") :])
            return sock
        scheme, _, rest = url.partition("://")
        authority = rest.split("/", 1)[0]
        host, port = _host_port(authority, 443 if scheme == "https" else 80)
        sock = socket.create_connection((host, port), timeout=timeout)
        if scheme == "https":
            import ssl  # only when used: its import is a tenth of our budget

            ca = str(self._config.ca_file) if self._config.ca_file else None
            return ssl.create_default_context(cafile=ca).wrap_socket(sock, server_hostname=host)
        return sock

    def call(self, method: str, path: str, body: Any = None, **query: str | None) -> Any:
        """One request; the decoded JSON answer (None for an empty one).

        Raises: CniError (11 when the API cannot answer now; ours when it refuses).
        """
        clean = [f"{k}={segment(v)}" for k, v in query.items() if v is not None]
        target = path + (f"?{'&'.join(clean)}" if clean else "")
        payload = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {target} HTTP/1.1\r\nHost: fabric\r\nConnection: close\r\n"
                f"Authorization: Bearer {self._token}\r\nAccept: application/json\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        try:
            with self._connect() as sock:
                sock.sendall(head.encode() + payload)
                status, data = _read_response(sock)
        except (OSError, ValueError) as exc:
            raise CniError(
                TRY_AGAIN_LATER,
                f"the fabric API at {self.url} cannot be reached",
                f"{method} {path}: {exc.__class__.__name__}: {exc}",
            ) from None
        return self._answer(method, path, status, data)

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
        """Nothing held between requests (one connection each)."""


def _host_port(authority: str, default: int) -> tuple[str, int]:
    if authority.startswith("["):  # [2001:db8::1]:8080
        host, _, rest = authority[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default
    host, _, port = authority.partition(":")
    return host, int(port) if port else default


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of an HTTP/1.1 answer read to the end (the server closes)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    raw = b"".join(chunks)
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("the answer ended before its headers did")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    return status, body


def _unchunk(body: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(body[end + 2 : end + 2 + size])
        pos = end + 2 + size + 2


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def segment(value: str) -> str:
    """One path segment or query value (an address, a host name), percent-encoded."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in value.encode())
