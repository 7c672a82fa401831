"""Build mitmproxy flows for rule tests: a request, a response, fixed times."""

from __future__ import annotations

import base64
import email.utils
from collections.abc import Sequence

import jwt
from mitmproxy import http
from mitmproxy.test import tflow

REQUEST_TIME = 1_780_000_000.0
"""A fixed request time (2026-05-28): rules must judge against it, not now."""
SIGNING_KEY = "a-test-signing-key-that-is-long-enough-for-hs256"


def refused_flow(
    status: int = 401,
    *,
    url: str = "https://api.example.com/orders",
    method: str = "GET",
    request_headers: Sequence[tuple[str, str]] = (),
    response_headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    server_clock_offset: float | None = 0.0,
) -> http.HTTPFlow:
    """A flow refused with `status`, sent at REQUEST_TIME.

    The response carries a Date header `server_clock_offset` seconds from the
    request time (None: no Date header).
    """
    request = http.Request.make(method, url, headers=_headers(request_headers))
    request.timestamp_start = REQUEST_TIME
    request.timestamp_end = REQUEST_TIME + 0.01
    headers = list(response_headers)
    if server_clock_offset is not None:
        date = email.utils.formatdate(REQUEST_TIME + server_clock_offset, usegmt=True)
        headers.append(("Date", date))
    response = http.Response.make(status, body, _headers(headers))
    response.timestamp_start = REQUEST_TIME + 0.05
    response.timestamp_end = REQUEST_TIME + 0.06
    return tflow.tflow(req=request, resp=response)


def _headers(pairs: Sequence[tuple[str, str]]) -> http.Headers:
    # surrogateescape lets a test send bytes that are not UTF-8.
    return http.Headers(
        [(k.encode(), v.encode("utf-8", "surrogateescape")) for k, v in pairs]
    )


def make_jwt(algorithm: str = "HS256", **claims: object) -> str:
    """A signed JWT with the given claims (times relative to nothing: pass them)."""
    key = SIGNING_KEY if algorithm != "none" else None
    return jwt.encode(dict(claims), key, algorithm=algorithm)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
