"""HTTPS services on loopback that refuse requests the way real ones do.

``RefusingServer`` answers each endpoint with the status, challenge and body that a
deployed service of that kind sends (Apache/nginx Basic, an RFC 6750 resource
server, Kong's key-auth, Django-style sessions, RFC 7616 Digest, ...), and checks
credentials for real: JWTs with pyjwt, Digest responses by recomputing them.
``ProxyAuthServer`` is a plain-HTTP forward proxy that wants Proxy-Authorization,
so that mitmdump in upstream mode meets a genuine 407.

Both listen on 127.0.0.1 only, on a port the OS picks, and ``stop()`` closes every
connection and joins every thread they started.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import urlencode, urlsplit

import jwt
import trustme
from tests.support.started import Started

HOST = "127.0.0.1"

USER = "alice"
PASSWORD = "correct:horse"
"""Contains a colon on purpose: RFC 7617 splits user-id and password at the first."""

JWT_KEY = "authdiag-test-signing-key-0123456789abcdef"
"""HS256 key of the resource server; 32+ bytes so pyjwt does not warn."""
WRONG_JWT_KEY = "some-other-service-signing-key-fedcba9876543210"
ISSUER = "https://auth.example.test/"
STAGING_ISSUER = "https://auth.staging.example.test/"
AUDIENCE = "orders-api"
READ_SCOPE = "orders:read"
WRITE_SCOPE = "orders:write"

API_KEY = "ak_live_6f1c0d6e2b9a4e0f8c3d"

BASIC_REALM = "orders"
DIGEST_REALM = "orders@example.test"
PROXY_REALM = "corp-proxy"
PROXY_USER = "proxyuser"
PROXY_PASSWORD = "proxy-secret-42"

SESSION_COOKIE = "sessionid"
SESSION_TTL = 3600.0

DIGEST_HASHES: Mapping[str, Callable[[bytes], Any]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
}

UNAUTHORIZED_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>401 Unauthorized</title></head>\n"
    b"<body><h1>Unauthorized</h1><p>This server could not verify that you are "
    b"authorized to access the document requested.</p></body></html>\n"
)
PROXY_AUTH_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>407 Proxy Authentication Required"
    b"</title></head>\n<body><h1>Proxy Authentication Required</h1></body></html>\n"
)


def basic_credentials(user: str, password: str) -> str:
    """The token68 of a Basic credential (RFC 7617 §2), UTF-8 encoded."""
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


# --- tokens -----------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class TokenMinter:
    """Mints the JWTs the scenarios send: valid ones and each kind of bad one.

    Times are relative to the wall clock because the server judges them against it.
    Every token gets a fresh ``jti`` so that revoking one touches no other.
    """

    key: str = JWT_KEY
    issuer: str = ISSUER
    audience: str = AUDIENCE

    def claims(
        self,
        *,
        scope: str | None = READ_SCOPE,
        lifetime: float = 600.0,
        issued_ago: float = 0.0,
        not_before_in: float | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        jti: str | None = None,
    ) -> dict[str, Any]:
        now = int(time.time())
        iat = now - int(issued_ago)
        claims: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "sub": USER,
            "aud": audience or self.audience,
            "iat": iat,
            "exp": iat + int(lifetime),
            "jti": jti or uuid.uuid4().hex,
        }
        if scope is not None:
            claims["scope"] = scope
        if not_before_in is not None:
            claims["nbf"] = now + int(not_before_in)
        return claims

    def mint(self, *, key: str | None = None, **claim_options: Any) -> str:
        return jwt.encode(
            self.claims(**claim_options), key or self.key, algorithm="HS256"
        )

    def valid(self, scope: str | None = READ_SCOPE) -> str:
        return self.mint(scope=scope)

    def with_write_scope(self) -> str:
        return self.mint(scope=f"{READ_SCOPE} {WRITE_SCOPE}")

    def expired(self) -> str:
        # Issued two hours ago for one hour: expired an hour before the request.
        return self.mint(issued_ago=7200, lifetime=3600)

    def not_yet_valid(self) -> str:
        return self.mint(not_before_in=3600, lifetime=7200)

    def wrong_audience(self) -> str:
        return self.mint(audience="billing-api")

    def wrong_key(self) -> str:
        return self.mint(key=WRONG_JWT_KEY)

    def staging(self) -> str:
        """Signed with the same key but issued by the staging environment."""
        return self.mint(issuer=STAGING_ISSUER)

    def unsigned(self) -> str:
        """``alg: none`` with an empty signature (RFC 7519 §6.1), built by hand
        because pyjwt rightly makes minting one awkward."""
        header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps(self.claims()).encode())
        return f"{header}.{payload}."


def token_id(token: str) -> str:
    """The ``jti`` of a token, read without verification."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return str(claims["jti"])


# --- plumbing shared by both servers ----------------------------------------------


class _TrackingHTTPServer(ThreadingHTTPServer):
    """A threaded server that can close its open connections when it stops.

    Keep-alive connections from mitmdump would otherwise keep handler threads
    blocked in a read, and ``server_close()`` joins those threads.
    """

    daemon_threads = False
    block_on_close = True

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext | None,
        service: Any,
    ) -> None:
        super().__init__((HOST, 0), handler, bind_and_activate=False)
        if context is not None:
            # The handshake is done in the handler thread (see _Handler.setup), so a
            # slow client cannot stall the accept loop.
            self.socket = context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )
        self.service = service
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self.server_bind()
        self.server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._open_lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with contextlib.suppress(OSError):  # the peer may have closed it first
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up or failing the handshake are normal here; a traceback
        # on stderr for each would only bury real failures.
        pass


class _Running(Started):
    """Start/stop of a _TrackingHTTPServer on its own thread."""

    _httpd: _TrackingHTTPServer
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._httpd.shutdown()
        self._httpd.close_open_connections()
        self._httpd.server_close()  # joins the handler threads
        self._thread.join(timeout=5)
        self._thread = None


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, exact Content-Length and no access log."""

    protocol_version = "HTTP/1.1"
    server_version = "orders-api/1.0"
    timeout = 30  # an idle keep-alive connection gives up its thread eventually

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        pass  # mitmdump's log is the one the tests read

    def reply(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(
        self,
        status: int,
        document: Mapping[str, Any],
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        body = json.dumps(document).encode()
        self.reply(status, body, content_type="application/json", headers=headers)

    def drain_body(self) -> None:
        """Read the request body so the next request on this connection parses."""
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)


# --- the refusing HTTPS service ---------------------------------------------------


@dataclass
class _DigestNonce:
    generation: int
    algorithm: str


@dataclass
class _State:
    """Everything the endpoints remember between requests."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    revoked: set[str] = field(default_factory=set)
    sessions: dict[str, float] = field(default_factory=dict)
    """Session id -> monotonic expiry time."""
    nonces: dict[str, _DigestNonce] = field(default_factory=dict)
    nonce_generation: int = 0
    stale_below: int = 0
    """Nonces of a generation below this are stale."""


_AUTH_PARAM = re.compile(
    r'([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)'
)


def _auth_params(text: str) -> dict[str, str]:
    """Digest auth-params by lower-cased name (RFC 9110 §11.2), unquoted."""
    params: dict[str, str] = {}
    for name, raw in _AUTH_PARAM.findall(text):
        value = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
        params.setdefault(name.lower(), value)
    return params


def _split_authorization(value: str | None) -> tuple[str, str]:
    """(lower-cased scheme, rest) of an Authorization value; ('', '') if absent."""
    if not value:
        return "", ""
    scheme, _, rest = value.strip().partition(" ")
    return scheme.lower(), rest.strip()


class _RefusingHandler(_Handler):
    server: _TrackingHTTPServer

    ROUTES: ClassVar[Mapping[str, str]] = {
        "/basic": "basic",
        "/bearer": "bearer",
        "/bearer/write": "bearer_write",
        "/apikey": "apikey",
        "/session/login": "session_login",
        "/session/account": "session_account",
        "/session/logout": "session_logout",
        "/digest": "digest",
        "/admin": "admin",
        "/mystery": "mystery",
        "/open": "open",
    }

    @property
    def service(self) -> RefusingServer:
        return self.server.service  # type: ignore[no-any-return]

    def dispatch(self) -> None:
        self.drain_body()
        route = self.ROUTES.get(urlsplit(self.path).path)
        if route is None:
            self.reply_json(HTTPStatus.NOT_FOUND, {"detail": "Not found."})
            return
        getattr(self, f"route_{route}")()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = dispatch

    # Basic (RFC 7617), as Apache's mod_auth_basic answers.

    def basic_user(self) -> str | None:
        """The user whose Basic credentials are right, else None."""
        scheme, token68 = _split_authorization(self.headers.get("Authorization"))
        if scheme != "basic":
            return None
        try:
            decoded = base64.b64decode(token68, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None  # undecodable: refused like a wrong password (401)
        user, _, password = decoded.partition(":")
        if user == USER and hmac.compare_digest(password, PASSWORD):
            return user
        return None

    def refuse_basic(self, realm: str) -> None:
        challenge = f'Basic realm="{realm}", charset="UTF-8"'
        self.reply(
            HTTPStatus.UNAUTHORIZED,
            UNAUTHORIZED_PAGE,
            content_type="text/html; charset=utf-8",
            headers=[("WWW-Authenticate", challenge)],
        )

    def route_basic(self) -> None:
        user = self.basic_user()
        if user is None:
            self.refuse_basic(BASIC_REALM)
            return
        self.reply_json(HTTPStatus.OK, {"user": user, "orders": []})

    def route_admin(self) -> None:
        # A known identity without the permission: 403, not 401 (RFC 9110 §15.5.4).
        if self.basic_user() is None:
            self.refuse_basic("admin")
            return
        detail = "You do not have permission to perform this action."
        self.reply_json(HTTPStatus.FORBIDDEN, {"detail": detail})

    # Bearer (RFC 6750), as an OAuth resource server answers.

    def route_bearer(self) -> None:
        if self.bearer_claims() is not None:
            self.reply_json(HTTPStatus.OK, {"orders": []})

    def route_bearer_write(self) -> None:
        claims = self.bearer_claims()
        if claims is None:
            return
        scopes = str(claims.get("scope", "")).split()
        if WRITE_SCOPE not in scopes:
            # RFC 6750 §3.1: insufficient_scope is a 403 naming the needed scope.
            challenge = (
                f'Bearer realm="{BASIC_REALM}", error="insufficient_scope", '
                f'scope="{WRITE_SCOPE}"'
            )
            document = {
                "error": "insufficient_scope",
                "error_description": f"the token lacks scope {WRITE_SCOPE}",
            }
            headers = [("WWW-Authenticate", challenge)]
            self.reply_json(HTTPStatus.FORBIDDEN, document, headers)
            return
        self.reply_json(HTTPStatus.OK, {"written": True})

    def bearer_claims(self) -> dict[str, Any] | None:
        """The verified claims, or None after having sent the refusal."""
        scheme, token = _split_authorization(self.headers.get("Authorization"))
        if scheme != "bearer" or not token:
            # RFC 6750 §3.1: no token, no error code, just the bare challenge.
            challenge = f'Bearer realm="{BASIC_REALM}"'
            self.reply(
                HTTPStatus.UNAUTHORIZED, headers=[("WWW-Authenticate", challenge)]
            )
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.service.jwt_key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iss", "aud", "jti"]},
            )
        except jwt.PyJWTError as error:
            self.refuse_token(_token_error_description(error))
            return None
        with self.service.state.lock:
            revoked = claims["jti"] in self.service.state.revoked
        if revoked:
            self.refuse_token("token revoked")
            return None
        return claims

    def refuse_token(self, description: str) -> None:
        challenge = (
            f'Bearer realm="{BASIC_REALM}", error="invalid_token", '
            f'error_description="{description}"'
        )
        document = {"error": "invalid_token", "error_description": description}
        headers = [("WWW-Authenticate", challenge)]
        self.reply_json(HTTPStatus.UNAUTHORIZED, document, headers)

    # API key, as Kong's key-auth plugin answers (no challenge at all).

    def route_apikey(self) -> None:
        key = self.headers.get("X-API-Key")
        if key is None:
            document = {"message": "No API key found in request"}
        elif not hmac.compare_digest(key.encode(), self.service.api_key.encode()):
            document = {"message": "Invalid authentication credentials"}
        else:
            self.reply_json(HTTPStatus.OK, {"orders": []})
            return
        self.reply_json(HTTPStatus.UNAUTHORIZED, document)

    # Cookie sessions, as a Django-style app answers.

    def route_session_login(self) -> None:
        session_id = self.service.create_session()
        cookie = f"{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; Secure"
        self.reply_json(HTTPStatus.OK, {"user": USER}, [("Set-Cookie", cookie)])

    def route_session_account(self) -> None:
        session_id = self.session_cookie()
        if session_id is None:
            detail = "Authentication credentials were not provided."
            self.reply_json(HTTPStatus.UNAUTHORIZED, {"detail": detail})
            return
        if not self.service.session_is_current(session_id):
            clear = f"{SESSION_COOKIE}=; Max-Age=0; Path=/"
            document = {"detail": "Session expired"}
            self.reply_json(HTTPStatus.UNAUTHORIZED, document, [("Set-Cookie", clear)])
            return
        self.reply_json(HTTPStatus.OK, {"user": USER})

    def route_session_logout(self) -> None:
        session_id = self.session_cookie()
        if session_id is not None:
            self.service.end_session(session_id)
        clear = f"{SESSION_COOKIE}=; Max-Age=0; Path=/"
        self.reply_json(
            HTTPStatus.OK, {"detail": "Logged out"}, [("Set-Cookie", clear)]
        )

    def session_cookie(self) -> str | None:
        jar: SimpleCookie = SimpleCookie()
        for value in self.headers.get_all("Cookie") or ():
            try:
                jar.load(value)
            except CookieError:
                continue
        morsel = jar.get(SESSION_COOKIE)
        return morsel.value if morsel is not None and morsel.value else None

    # Digest (RFC 7616), qop=auth.

    def route_digest(self) -> None:
        scheme, rest = _split_authorization(self.headers.get("Authorization"))
        if scheme != "digest":
            self.challenge_digest(stale=False)
            return
        params = _auth_params(rest)
        if params.get("uri") != self.path:
            # RFC 7616 §3.4.6: the uri must name this request's target.
            self.reply_json(HTTPStatus.BAD_REQUEST, {"detail": "Digest uri mismatch"})
            return
        verdict = self.service.check_digest(self.command, params)
        if verdict == "ok":
            self.reply_json(HTTPStatus.OK, {"user": USER})
        else:
            # RFC 7616 §3.3: stale=true only when the response itself was right.
            self.challenge_digest(stale=verdict == "stale")

    def challenge_digest(self, *, stale: bool) -> None:
        algorithm = self.service.digest_algorithm
        nonce = self.service.new_nonce(algorithm)
        challenge = (
            f'Digest realm="{DIGEST_REALM}", qop="auth", algorithm={algorithm}, '
            f'nonce="{nonce}", opaque="{self.service.digest_opaque}"'
        )
        if stale:
            challenge += ", stale=true"
        self.reply(
            HTTPStatus.UNAUTHORIZED,
            UNAUTHORIZED_PAGE,
            content_type="text/html; charset=utf-8",
            headers=[("WWW-Authenticate", challenge)],
        )

    # The rest.

    def route_mystery(self) -> None:
        # A refusal that explains nothing: no challenge, no body.
        self.reply(HTTPStatus.UNAUTHORIZED)

    def route_open(self) -> None:
        self.reply_json(HTTPStatus.OK, {"status": "ok"})


def _token_error_description(error: jwt.PyJWTError) -> str:
    """One specific error_description per way a token fails, as servers word them."""
    # Subclasses before their bases: InvalidSignatureError is a DecodeError.
    descriptions: list[tuple[type[jwt.PyJWTError], str]] = [
        (jwt.ExpiredSignatureError, "token expired"),
        (jwt.ImmatureSignatureError, "token not yet valid"),
        (jwt.InvalidAudienceError, f"audience is not {AUDIENCE}"),
        (jwt.InvalidIssuerError, "untrusted issuer"),
        (jwt.InvalidAlgorithmError, "unsigned or unsupported algorithm"),
        (jwt.InvalidSignatureError, "signature verification failed"),
        (jwt.MissingRequiredClaimError, "missing required claim"),
        (jwt.DecodeError, "malformed token"),
    ]
    for kind, description in descriptions:
        if isinstance(error, kind):
            return description
    return "invalid token"


class RefusingServer(_Running):
    """The HTTPS service with one endpoint per way of refusing a request.

    ``ca`` signs its certificate (for ``localhost`` and ``127.0.0.1``); give the same
    CA to whatever connects to it (mitmdump's ``ssl_verify_upstream_trusted_ca``).
    """

    def __init__(
        self,
        ca: trustme.CA,
        *,
        digest_algorithm: str = "SHA-256",
        jwt_key: str = JWT_KEY,
        api_key: str = API_KEY,
    ) -> None:
        if digest_algorithm not in DIGEST_HASHES:
            raise ValueError(f"unsupported Digest algorithm {digest_algorithm!r}")
        self.digest_algorithm = digest_algorithm
        self.digest_opaque = secrets.token_hex(8)
        self.jwt_key = jwt_key
        self.api_key = api_key
        self.state = _State()

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.set_alpn_protocols(["http/1.1"])
        ca.issue_cert("localhost", HOST).configure_cert(context)
        self._httpd = _TrackingHTTPServer(_RefusingHandler, context, self)

    @property
    def base_url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def url(self, path: str, case: str | None = None) -> str:
        """The URL of an endpoint; ``case`` goes in the query to find the flow."""
        query = f"?{urlencode({'case': case})}" if case else ""
        return f"{self.base_url}{path}{query}"

    # Knobs for the tests.

    def revoke(self, token: str) -> None:
        """Refuse this token from now on ("token revoked"), by its jti."""
        with self.state.lock:
            self.state.revoked.add(token_id(token))

    def expire_session(self, session_id: str) -> None:
        """End a session server-side, as an idle timeout would."""
        with self.state.lock:
            if session_id in self.state.sessions:
                self.state.sessions[session_id] = 0.0

    def expire_digest_nonces(self) -> None:
        """Treat every nonce issued so far as stale (RFC 7616 §3.3 stale=true)."""
        with self.state.lock:
            self.state.stale_below = self.state.nonce_generation

    # What the handler uses.

    def create_session(self) -> str:
        session_id = secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.sessions[session_id] = time.monotonic() + SESSION_TTL
        return session_id

    def session_is_current(self, session_id: str) -> bool:
        with self.state.lock:
            expires = self.state.sessions.get(session_id)
            if expires is not None and expires <= time.monotonic():
                del self.state.sessions[session_id]
                return False
            return expires is not None

    def end_session(self, session_id: str) -> None:
        with self.state.lock:
            self.state.sessions.pop(session_id, None)

    def new_nonce(self, algorithm: str) -> str:
        nonce = secrets.token_hex(16)
        with self.state.lock:
            self.state.nonce_generation += 1
            generation = self.state.nonce_generation
            self.state.nonces[nonce] = _DigestNonce(generation, algorithm)
        return nonce

    def check_digest(self, method: str, params: Mapping[str, str]) -> str:
        """'ok', 'stale' (right response, expired nonce) or 'wrong'."""
        algorithm = params.get("algorithm", "MD5").upper()
        required = ("username", "realm", "nonce", "uri", "response", "nc", "cnonce")
        if (
            algorithm not in DIGEST_HASHES
            or any(name not in params for name in required)
            or params.get("qop") != "auth"
            or params["realm"] != DIGEST_REALM
            or params["username"] != USER
        ):
            return "wrong"
        expected = digest_response(
            algorithm,
            method=method,
            uri=params["uri"],
            nonce=params["nonce"],
            nc=params["nc"],
            cnonce=params["cnonce"],
        )
        if not hmac.compare_digest(expected, params["response"].lower()):
            return "wrong"
        with self.state.lock:
            issued = self.state.nonces.get(params["nonce"])
            fresh = (
                issued is not None
                and issued.generation > self.state.stale_below
                and issued.algorithm == algorithm
            )
        return "ok" if fresh else "stale"


def digest_response(
    algorithm: str, *, method: str, uri: str, nonce: str, nc: str, cnonce: str
) -> str:
    """The request-digest of RFC 7616 §3.4.1 for qop=auth and the test password."""

    def h(text: str) -> str:
        return str(DIGEST_HASHES[algorithm](text.encode()).hexdigest())

    ha1 = h(f"{USER}:{DIGEST_REALM}:{PASSWORD}")
    ha2 = h(f"{method}:{uri}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")


# --- the proxy that wants credentials ---------------------------------------------


class _ProxyAuthHandler(_Handler):
    server_version = "corp-proxy/2.1"

    def dispatch(self) -> None:
        self.drain_body()
        expected = f"Basic {basic_credentials(PROXY_USER, PROXY_PASSWORD)}"
        sent = self.headers.get("Proxy-Authorization", "")
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            challenge = f'Basic realm="{PROXY_REALM}"'
            self.reply(
                HTTPStatus.PROXY_AUTHENTICATION_REQUIRED,
                PROXY_AUTH_PAGE,
                content_type="text/html; charset=utf-8",
                headers=[("Proxy-Authenticate", challenge)],
            )
            return
        # Authenticated: these tests only need the refusal, so this proxy says
        # plainly that it does not forward rather than pretending to.
        self.reply_json(HTTPStatus.BAD_GATEWAY, {"detail": "test proxy: no forwarding"})

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_CONNECT = dispatch


class ProxyAuthServer(_Running):
    """A plain-HTTP forward proxy answering 407 to anyone without its credentials."""

    def __init__(self) -> None:
        self._httpd = _TrackingHTTPServer(_ProxyAuthHandler, None, self)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"
