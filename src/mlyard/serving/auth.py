"""Endpoint tokens: who may call an endpoint's model routes.

SageMaker's container contract has no authentication, so on loopback an endpoint is open by
default. ``MLYARD_ENDPOINT_AUTH=token`` (read by the control plane when it creates an endpoint)
makes the endpoint require ``Authorization: Bearer <token>`` on every route but ``/ping``; the
token is in the endpoint's description (``EndpointToken``, for holders of the server's token) and
the SDK's Predictor sends it. An endpoint bound to a non-loopback address
(``MLYARD_ENDPOINT_HOST``) requires a token unless ``MLYARD_ENDPOINT_AUTH=none`` says otherwise.
The instances behind an endpoint with a token require one of their own, known only to the
endpoint's router.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mlyard.errors import ValidationError

__all__ = ["AUTH_ENV", "HOST_ENV", "SERVE_TOKEN_ENV", "RequireToken", "endpoint_network", "new_token",
           "unauthorized_body"]

AUTH_ENV = "MLYARD_ENDPOINT_AUTH"
HOST_ENV = "MLYARD_ENDPOINT_HOST"
SERVE_TOKEN_ENV = "MLYARD_SERVE_TOKEN"  # an instance's token, set by the endpoint runner

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_network() -> tuple[str, bool]:
    """Where new endpoints listen (``$MLYARD_ENDPOINT_HOST``, default 127.0.0.1) and whether they
    require a token (``$MLYARD_ENDPOINT_AUTH``: ``token`` or ``none``; by default a token
    exactly when the address is not loopback)."""
    host = os.environ.get(HOST_ENV, "").strip() or "127.0.0.1"
    mode = os.environ.get(AUTH_ENV, "").strip().lower()
    if mode not in ("", "token", "none"):
        raise ValidationError(f"{AUTH_ENV}={mode!r} is not valid: use 'token' (endpoints require "
                              "'Authorization: Bearer <token>') or 'none'")
    return host, (mode == "token") or (mode == "" and not _loopback(host))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def unauthorized_body(given: bytes, what: str = "endpoint") -> bytes:
    """The JSON body of a 401 for a request that sent ``given`` as its Authorization header."""
    message = "missing token" if not given else "wrong token"
    return json.dumps({"error": "Unauthorized", "message": (
        f"{message}: this {what} requires 'Authorization: Bearer <token>'; the token is the "
        "endpoint's EndpointToken (describe the endpoint; mlyard's Predictor sends it itself)")}).encode()


class RequireToken:
    """ASGI middleware: every HTTP request but those to ``open_paths`` needs
    ``Authorization: Bearer <token>``; others get 401 with a JSON body."""

    def __init__(self, app: ASGIApp, token: str, open_paths: tuple[str, ...] = ("/ping",), what: str = "endpoint"):
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.open_paths = open_paths
        self.what = what

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] == "http" and scope["path"] not in self.open_paths:
            given = b""
            for key, value in scope["headers"]:
                if key == b"authorization":
                    given = value
                    break
            if not hmac.compare_digest(given, self.expected):
                body = unauthorized_body(given, self.what)
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode()),
                                        (b"www-authenticate", b'Bearer realm="mlyard-endpoint"')]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
