"""Request body size limit, enforced before anything reads the body into memory.

A declared ``Content-Length`` over the limit is refused at once; a chunked body
is counted as it streams and cut off at the limit. Either way: 413
``body_too_large`` with the usual error body (tests/api/test_hostile_input.py).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def _refuse(self, send: Send) -> None:
        payload = json.dumps(
            {"code": "body_too_large",
             "detail": f"The request body is larger than {self.max_bytes} bytes."}
        ).encode()  # fmt: skip
        await send(
            {"type": "http.response.start", "status": 413,
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(payload)).encode())]}
        )  # fmt: skip
        await send({"type": "http.response.body", "body": payload})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        if b"transfer-encoding" in headers:
            await self._counted(scope, receive, send)
            return
        # Without Transfer-Encoding, HTTP/1.1 frames a request's body by its Content-Length
        # (none: no body), so the server hands over no more than that: nothing to count, and
        # the request (nearly every one) goes on unwrapped.
        await self.app(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A body of undeclared length (chunked), cut off at the limit. The app sees an
        exception from ``receive`` and answers it as it answers an unreadable body (FastAPI:
        400); that answer is dropped for ours, 413, unless it had begun before the cut."""
        seen = 0
        started = cut = False

        async def counting_receive() -> Message:
            nonlocal seen, cut
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    cut = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if cut and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        if cut and not started:
            await self._refuse(send)
