"""HTTP client of the controller API for the CLI (httpx)."""

from __future__ import annotations

from typing import Any

import httpx

from fabric.client.transport import NO_ACCESS, Access, http_client

DEFAULT_API = "http://127.0.0.1:8080"


class ApiError(Exception):
    """The API said no (``code``/``detail``), or could not be reached (code ``unreachable``)."""

    def __init__(self, code: str, detail: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail, self.status = code, detail, status


class Client:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
        access: Access = NO_ACCESS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http or http_client(self.base_url, timeout=timeout, access=access)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def text(self, path: str, **params: Any) -> str:
        """A plain-text answer (rendered configurations)."""
        clean = {k: v for k, v in params.items() if v is not None}
        return self._send("GET", path, params=clean).text

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(
                "unreachable", f"cannot reach the API at {self.base_url} ({exc.__class__.__name__})"
            ) from None
        if response.status_code >= 400:
            try:
                payload = response.json()
                code, detail = payload.get("code", "error"), payload.get("detail", response.text)
            except ValueError:
                code, detail = "error", response.text or response.reason_phrase
            raise ApiError(str(code), str(detail), response.status_code)
        return response

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, json=body)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("DELETE", path, params=clean)

    def close(self) -> None:
        self._http.close()
