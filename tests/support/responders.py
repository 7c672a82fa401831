"""Small local services for the cross-flow and platform live tests.

- ``VendorResponder``: answers ``?vendor=NAME`` with that platform's refusal,
  shaped as in tests/support/vendors.py.
- ``RedirectServer``: redirects every request to the same path on another base
  URL (another origin), as a load balancer or a moved API does.
- ``ApiApp``: an RFC 6750 resource server that says which credential it received,
  for nginx to stand in front of; it also refuses CORS preflights (OPTIONS) with
  a 401 challenge, as a server with authentication before CORS does, and answers
  a token sent in more than one way with 400 invalid_request.
- ``PageServer``: serves one HTML page over plain HTTP (the browser's origin).

Built on the plumbing of tests/support/servers.py; loopback only, ports chosen
by the OS, ``stop()`` joins every thread.
"""

from __future__ import annotations

import ssl
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from tests.support.servers import HOST, _Handler, _Running, _TrackingHTTPServer
from tests.support.vendors import VENDOR_CASES, response_body

API_TOKEN = "api-app-token-0123456789abcdefghij"
API_KEY = "api-app-key-0123456789abcdef"
NOT_PROVIDED = "Authentication credentials were not provided."


def _tls_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.set_alpn_protocols(["http/1.1"])
    ca.issue_cert("localhost", HOST).configure_cert(context)
    return context


def _query(path: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(path).query)


class _ServiceHandler(_Handler):
    @property
    def service(self) -> Any:
        """The server object that started this handler's HTTP server."""
        return self.server.service  # type: ignore[attr-defined]


# --- vendor responses -----------------------------------------------------------------


class _VendorHandler(_ServiceHandler):
    def do_GET(self) -> None:
        self.drain_body()
        name = _query(self.path).get("vendor", [""])[0]
        case = next((c for c in VENDOR_CASES if c.name == name), None)
        if case is None:
            self.reply_json(HTTPStatus.NOT_FOUND, {"message": f"no vendor {name!r}"})
            return
        now = self.service.clock()
        body = response_body(case, now, self.headers.get("Authorization"))
        headers = [(k, v) for k, v in case.response_headers if k.lower() != "server"]
        self.server_version = dict(case.response_headers).get("Server", "")
        self.reply(case.status, body, headers=headers)

    do_POST = do_GET

    def version_string(self) -> str:
        return self.server_version


class VendorResponder(_Running):
    """HTTPS, answering each request with the refusal of ``?vendor=NAME``."""

    def __init__(self, ca: trustme.CA) -> None:
        self.clock = time.time
        self._httpd = _TrackingHTTPServer(_VendorHandler, _tls_context(ca), self)

    @property
    def base_url(self) -> str:
        return f"https://{HOST}:{self.port}"


# --- redirects to another origin ------------------------------------------------------


class _RedirectHandler(_ServiceHandler):
    server_version = "edge/1.0"

    def do_GET(self) -> None:
        self.drain_body()
        self.reply(
            HTTPStatus.FOUND, headers=[("Location", self.service.target + self.path)]
        )

    do_POST = do_HEAD = do_GET


class RedirectServer(_Running):
    """HTTPS on ``host``: every path redirects (302) to ``target`` + the same path."""

    def __init__(self, ca: trustme.CA, target: str, host: str = "localhost") -> None:
        self.target = target.rstrip("/")
        self.host = host
        self._httpd = _TrackingHTTPServer(_RedirectHandler, _tls_context(ca), self)

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"


# --- the application behind nginx -----------------------------------------------------


class _ApiHandler(_ServiceHandler):
    server_version = "api-app/1.0"

    def do_GET(self) -> None:
        self.drain_body()
        path = urlsplit(self.path).path
        if path.endswith("/apikey"):
            self.route_apikey()
        else:
            self.route_bearer()

    do_POST = do_GET

    def do_OPTIONS(self) -> None:
        # Authentication runs before CORS here: the preflight gets the challenge.
        self.drain_body()
        self.reply_json(
            HTTPStatus.UNAUTHORIZED,
            {"detail": NOT_PROVIDED},
            [("WWW-Authenticate", 'Bearer realm="api"')],
        )

    def route_bearer(self) -> None:
        header = self.headers.get("Authorization")
        in_query = "access_token" in _query(self.path)
        if header and in_query:
            # RFC 6750 §3.1: more than one method of sending the token.
            challenge = 'Bearer realm="api", error="invalid_request"'
            document = {"error": "invalid_request", "error_description": "one token"}
            self.reply_json(
                HTTPStatus.BAD_REQUEST, document, [("WWW-Authenticate", challenge)]
            )
        elif header is None:
            self.reply_json(
                HTTPStatus.UNAUTHORIZED,
                {"detail": NOT_PROVIDED},
                [("WWW-Authenticate", 'Bearer realm="api"')],
            )
        elif header == f"Bearer {API_TOKEN}":
            self.reply_json(HTTPStatus.OK, {"orders": []})
        else:
            challenge = 'Bearer realm="api", error="invalid_token"'
            self.reply_json(
                HTTPStatus.UNAUTHORIZED,
                {"detail": "Invalid token."},
                [("WWW-Authenticate", challenge)],
            )

    def route_apikey(self) -> None:
        key = self.headers.get("X-API-Key") or self.headers.get("X_API_KEY")
        if key is None:
            self.reply_json(
                HTTPStatus.UNAUTHORIZED, {"message": "No API key found in request"}
            )
        elif key == API_KEY:
            self.reply_json(HTTPStatus.OK, {"orders": []})
        else:
            self.reply_json(
                HTTPStatus.UNAUTHORIZED,
                {"message": "Invalid authentication credentials"},
            )


class ApiApp(_Running):
    """Plain HTTP on loopback: the application a reverse proxy stands in front of,
    or (with ``ca``) an HTTPS API a browser calls cross-origin."""

    def __init__(self, ca: trustme.CA | None = None) -> None:
        context = _tls_context(ca) if ca is not None else None
        self._httpd = _TrackingHTTPServer(_ApiHandler, context, self)
        self.scheme = "https" if ca is not None else "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}"


# --- a page for the browser -----------------------------------------------------------


class _PageHandler(_ServiceHandler):
    server_version = "pages/1.0"

    def do_GET(self) -> None:
        self.drain_body()
        body = self.service.page.encode()
        self.reply(HTTPStatus.OK, body, content_type="text/html; charset=utf-8")


class PageServer(_Running):
    """Plain HTTP on loopback serving ``page`` for every path."""

    def __init__(self, page: str) -> None:
        self.page = page
        self._httpd = _TrackingHTTPServer(_PageHandler, None, self)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"
