"""A route for the hottest JSON endpoints that skips FastAPI's general request machinery.

FastAPI serves every request through one general handler: two exit stacks, the solving of
every dependency (the app-wide ``authorize`` among them), the body read, decoded and then
validated against a field. Profiled under concurrent allocations, that handler took more of
the event loop's time than the allocation itself (bench/README.md: measured choices).
``LeanJsonRoute`` is declared like any route (same signature,
same OpenAPI operation, same error answers) but handles a request in a few direct steps:
authorize, read and decode the JSON body, validate it against the endpoint's model, call
the endpoint. Errors are raised as the same exceptions FastAPI raises, so the app's
handlers answer them (``api.errors``).

It serves endpoints of exactly this shape, ``async def endpoint(body: Model, request:
Request)``, and refuses any other when the route is declared. The app-wide dependencies
are not solved but called: ``authorize`` is the only one (tests/api/test_lean_route.py
checks it, and that each answer, error or not, is the one FastAPI's handler gives).
"""

from __future__ import annotations

import email.message
import functools
import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, get_type_hints

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from api.auth import authorize
from fabric.store import speed_layers

E = TypeVar("E", bound=Callable[..., Any])
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _body_model(endpoint: Callable[..., Any]) -> type[BaseModel]:
    params = list(inspect.signature(endpoint).parameters)
    hints = get_type_hints(endpoint)
    model = hints.get(params[0]) if params else None
    if (
        len(params) != 2
        or not (isinstance(model, type) and issubclass(model, BaseModel))
        or hints.get(params[1]) is not Request
    ):
        raise TypeError(
            f"{endpoint.__name__}: a lean route's endpoint takes (body: Model, request: Request)"
        )
    return model


@functools.lru_cache(maxsize=256)
def _is_json(content_type: str) -> bool:
    """FastAPI's rule (strict content type), parsed as it parses it: only ``application/json``
    or ``application/…+json``. Remembered: clients send the same few."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _invalid(errors: list[Any]) -> RequestValidationError:
    """As FastAPI reports a body that fails validation: each location under ``body``."""
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors])


async def _decoded(request: Request) -> Any:
    """The body as FastAPI hands it to validation: JSON decoded, any other bytes as they are;
    its errors as FastAPI raises them (an unreadable body, such as JSON nested past the
    parser's depth, is a 400 of its own)."""
    try:
        raw = await request.body()
        if not raw:
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            )
        return json.loads(raw) if _is_json(request.headers.get("content-type", "")) else raw
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
              "input": {}, "ctx": {"error": exc.msg}}]
        ) from exc  # fmt: skip
    except (RequestValidationError, HTTPException):
        raise
    except Exception as exc:
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc


class LeanJsonRoute(APIRoute):
    """``APIRoute`` for ``async def endpoint(body: Model, request: Request)``, which returns
    a ``Response`` or a model (sent as JSON with the route's status code)."""

    def get_route_handler(self) -> Handler:
        endpoint, status_code = self.endpoint, self.status_code or 200
        model = _body_model(endpoint)

        async def handle(request: Request) -> Response:
            await authorize(request)
            try:
                # As FastAPI validates a body field (from_attributes: its errors, word for word).
                body = model.model_validate(await _decoded(request), from_attributes=True)
            except ValidationError as exc:
                raise _invalid(exc.errors()) from None
            answer = await endpoint(body, request)
            if isinstance(answer, Response):
                return answer
            return Response(answer.model_dump_json(), status_code, media_type="application/json")

        return handle


class LeanRoutes:
    """Lean POST routes declared beside a module's router, mounted on the app's own router.

    Not on the module's router: FastAPI matches a route of an included router through that
    router again, and tries every included router before it in vain the same way
    (bench/README.md: measured choices).
    Mounted with ``app.router``'s add_api_route, a lean route gets the app's error responses
    in its OpenAPI operation as any other does."""

    def __init__(self, prefix: str, tags: list[str]) -> None:
        self.prefix, self.tags = prefix, tags
        self._routes: list[tuple[str, Callable[..., Any], dict[str, Any]]] = []

    def post(self, path: str, **options: Any) -> Callable[[E], E]:
        """As ``@router.post(path, **options)``."""

        def register(endpoint: E) -> E:
            _body_model(endpoint)  # refused here, at import, rather than when mounted
            self._routes.append((self.prefix + path, endpoint, options))
            return endpoint

        return register

    def mount(self, app: FastAPI) -> None:
        # With the layer off (a measurement: fabric.store.speed_layers), FastAPI's own route.
        route = LeanJsonRoute if speed_layers.on("lean") else APIRoute
        for path, endpoint, options in self._routes:
            app.router.add_api_route(
                path, endpoint, methods=["POST"], tags=list(self.tags),
                route_class_override=route, **options,
            )  # fmt: skip
