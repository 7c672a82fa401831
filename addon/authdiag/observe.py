"""Read from a flow what the cross-flow and platform rules need.

``exchange_of`` is called for every flow the proxy sees, so it returns at once
(None) for the common case, a success that carried no credential, and otherwise
reads only headers and the URL: no body is parsed, nothing is decoded.
``request_context`` runs for refused flows only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mitmproxy import http
from mitmproxy.net.http import url as mitm_url

from authdiag import credentials, memo
from authdiag.headerview import HeaderView, decoded
from authdiag.history import Credential, Exchange, resolve_location, split_url
from authdiag.redact import fingerprint

CONTEXT_HEADERS = (
    "user-agent",
    "origin",
    "access-control-request-method",
    "access-control-request-headers",
    "x-amz-date",
    "content-type",
)
"""Request headers that never hold a secret and that rules read (lower case)."""

MAX_CREDENTIALS = 8
"""Credentials kept per exchange: a request with thousands of key headers must
not make the history (or an evidence line per credential) grow with it."""
TOKEN_PARAMETER = "access_token"
"""The one parameter name RFC 6750 §2.2 and §2.3 define for a bearer token."""
MAX_FORM_BODY = 64 * 1024
"""Form bodies larger than this are not searched for a token."""


@dataclass(frozen=True, slots=True)
class TokenPlace:
    """One of the RFC 6750 §2 ways a request carried an access token."""

    place: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Request facts beyond the credentials: a few headers and the token places."""

    headers: Mapping[str, str] = field(default_factory=dict)
    """CONTEXT_HEADERS that were sent, values cut at 200 characters."""
    token_places: tuple[TokenPlace, ...] = ()
    form_token: str | None = field(default=None, repr=False)
    """The access_token of a form body: a secret, kept only for scrubbing."""


EMPTY_CONTEXT = RequestContext()


def client_of(flow: http.HTTPFlow) -> str:
    """The client's address without its port (a client opens many connections)."""
    peername = flow.client_conn.peername
    return str(peername[0]) if peername else ""


def query_of(request: http.Request) -> tuple[tuple[str, str], ...]:
    """The query's (name, value) pairs, as mitmproxy's ``request.query`` has
    them, without parsing the whole URL again on every call."""
    without_fragment = request.path.partition("#")[0]
    _, mark, query = without_fragment.partition("?")
    return _parse_query(query) if mark else ()


@memo.recent(128, 4096)
def _parse_query(query: str) -> tuple[tuple[str, str], ...]:
    return tuple(mitm_url.decode(query))


def host_header(request: http.Request) -> str | None:
    """mitmproxy's ``request.host_header``, read from the raw fields: mitmproxy's
    ``Headers`` lower-cases every field name on each lookup, and a refused flow
    asks for its host three times."""
    data = request.data
    if data.http_version in _HTTP2_AND_3:
        return request.host_header  # :authority, decoded with IDNA by mitmproxy
    values = [value for name, value in data.headers.fields if name.lower() == b"host"]
    return decoded(b", ".join(values)) if values else None


def pretty_host(request: http.Request) -> str:
    """mitmproxy's ``request.pretty_host``: the host of the Host header (or
    :authority), else the connection's. mitmproxy parses the header anew on every
    call, checking it with IDNA; the parse of a recent one is reused here."""
    authority = host_header(request)
    return _authority(authority)[0] if authority else request.host


def pretty_url(request: http.Request) -> str:
    """mitmproxy's ``request.pretty_url``, with the Host header parsed as in
    ``pretty_host``."""
    authority = host_header(request)
    if request.first_line_format == "authority" or not authority:
        return request.pretty_url
    host, port = _authority(authority)
    port = port or mitm_url.default_port(request.scheme) or 443
    path = request.path if request.path != "*" else ""
    return mitm_url.unparse(request.scheme, host, port, path)


@memo.recent(256, 1024)
def _authority(authority: str) -> tuple[str, int | None]:
    return mitm_url.parse_authority(authority, check=False)


def exchange_of(flow: http.HTTPFlow, *, refused: bool) -> Exchange | None:
    """What the history keeps of a finished flow; None when it needs nothing."""
    response = flow.response
    if response is None:
        return None
    status = response.status_code
    request = flow.request
    location = response.headers.get("location") if 300 <= status < 400 else None
    success = 200 <= status < 300 or status == 304
    if not (refused or location or success):
        return None
    raw = _RawRequest(request)
    carried = raw.credentials()
    if not (refused or location or carried):
        return None
    split = raw.place()
    if split is None:
        return None
    origin, path_and_query = split
    target = origin + path_and_query
    return Exchange(
        client=client_of(flow),
        origin=origin,
        method=request.method,
        path=path_and_query.split("?", 1)[0],
        target=target,
        at=request.timestamp_start,
        status=status,
        credentials=carried,
        # The target is the request's URL as split_url normalises it: a
        # Location resolves against it as against the URL the client used.
        location=resolve_location(target, location) if location else None,
        challenge=_first_challenge_scheme(response) if refused else "",
    )


def credentials_of(request: http.Request) -> tuple[Credential, ...]:
    """Authorization values and API keys or tokens in headers and the query.

    Fingerprinted the way ``describe`` shows them: a Bearer token by the token,
    an API key by its value, another scheme by everything after the scheme.
    """
    return _RawRequest(request).credentials()


def place_of(request: http.Request) -> tuple[str, str] | None:
    """The request's origin and its path and query, as ``split_url`` makes them
    of mitmproxy's pretty_url (None when it is not an HTTP(S) URL)."""
    return _RawRequest(request).place()


_CREDENTIAL_HEADERS = frozenset(
    name.encode() for name in ("authorization", *credentials.PLACED_HEADER_NAMES)
)
_HTTP2_AND_3 = (b"HTTP/2.0", b"HTTP/3")


class _RawRequest:
    """What the history needs of every request, read from the raw fields in
    one pass: the history sees every flow, most of them successes that carry
    the same credentials to the same host as the one before, so nothing is
    decoded or parsed that was decoded or parsed for an earlier request."""

    __slots__ = ("carried", "host", "request")

    def __init__(self, request: http.Request) -> None:
        self.request = request
        self.host: bytes | None = None
        carried = []
        for name, value in request.data.headers.fields:
            key = name.lower()
            if key == b"host":
                # Repeated, folded with ', ' as mitmproxy's Headers reads them.
                self.host = value if self.host is None else self.host + b", " + value
            elif key.replace(b"_", b"-") in _CREDENTIAL_HEADERS:
                carried.append((name, value))
        self.carried = tuple(carried)

    def credentials(self) -> tuple[Credential, ...]:
        if not self.carried and b"?" not in self.request.data.path:
            return ()  # the common case, decided on the raw fields alone
        in_query = _may_carry_query_credential(self.request.path)
        if not self.carried and not in_query:
            return ()
        query = query_of(self.request) if in_query else ()
        return _credentials(self.carried, query)

    def place(self) -> tuple[str, str] | None:
        # Most requests name their host in a Host header or :authority and
        # their path in origin form: the origin is then worked out once per
        # host, not by building and re-parsing the URL of every request (which
        # made mitmproxy decode the host with IDNA each time).
        data = self.request.data
        authority = self.host
        if data.http_version in _HTTP2_AND_3:
            authority = data.authority or authority  # as Request.host_header
        if not authority or not data.path.startswith(b"/") or data.method == b"CONNECT":
            return split_url(pretty_url(self.request))
        origin = _origin(data.scheme, authority)
        if origin is None:
            return None
        return origin, _path_and_query(decoded(data.path))


@memo.recent(256, 1024)
def _origin(scheme: bytes, authority: bytes) -> str | None:
    url = f"{scheme.decode('ascii', 'replace')}://{decoded(authority)}/"
    split = split_url(url)
    return split[0] if split is not None else None


_URL_NOISE = str.maketrans("", "", "\t\r\n")
"""What urlsplit drops from anywhere in a URL (WHATWG URL parsing)."""


def _path_and_query(path: str) -> str:
    # As split_url has them: no fragment, no empty query, '/' for no path.
    if "\t" in path or "\r" in path or "\n" in path:
        path = path.translate(_URL_NOISE)
    path = path.partition("#")[0]
    path, _, query = path.partition("?")
    return (path or "/") + (f"?{query}" if query else "")


@memo.recent(128, 8192)
def _credentials(
    carried: tuple[tuple[bytes, bytes], ...], query: tuple[tuple[str, str], ...]
) -> tuple[Credential, ...]:
    headers = tuple((decoded(name), decoded(value)) for name, value in carried)
    found = [
        _authorization_credential(value)
        for name, value in headers
        if name.lower() == "authorization"
    ]
    found.extend(
        Credential(
            f"{placed.location.value} {placed.name!r}", fingerprint(placed.value)
        )
        for placed in credentials.find_placed_credentials(headers, query)
    )
    return tuple(found[:MAX_CREDENTIALS])


def _may_carry_query_credential(path: str) -> bool:
    """Whether the query may hold a parameter find_placed_credentials reads.

    Every such name contains 'key', 'token' or 'auth'; checking the raw text
    spares parsing the query of every success ('?page=2'). A percent sign may
    hide a name, so such a query is always parsed.
    """
    _, mark, query = path.partition("?")
    if not mark:
        return False
    query = query.lower()
    return any(hint in query for hint in ("key", "token", "auth", "%"))


def _authorization_credential(value: str) -> Credential:
    scheme, _, secret = value.strip().partition(" ")
    secret = secret.strip()
    if not secret:
        return Credential("Authorization", fingerprint(value.strip()))
    return Credential(f"Authorization: {scheme}", fingerprint(secret))


def _first_challenge_scheme(response: http.Response) -> str:
    challenge = str(response.headers.get("www-authenticate", "")).strip()
    return challenge.split(" ", 1)[0].split(",", 1)[0].lower()


def request_context(
    request: http.Request, headers: HeaderView, query: tuple[tuple[str, str], ...]
) -> RequestContext:
    """The request facts beyond its credentials, for a refused flow."""
    form_token = _form_token(request, headers)
    return RequestContext(
        headers=picked_headers(headers, CONTEXT_HEADERS),
        token_places=_token_places(headers, query, form_token),
        form_token=form_token,
    )


def picked_headers(
    headers: HeaderView, names: tuple[str, ...], limit: int = 200
) -> dict[str, str]:
    """The named headers (lower-case names) that are present, in ``names`` order,
    repeats joined with ', ' as mitmproxy does, values cut at ``limit``."""
    return {
        name: ", ".join(headers.get_all(name))[:limit]
        for name in names
        if name in headers
    }


def _token_places(
    headers: HeaderView, query: tuple[tuple[str, str], ...], form_token: str | None
) -> tuple[TokenPlace, ...]:
    """Each RFC 6750 §2 method that carried a token: header, form body, query."""
    places = []
    for value in headers.get_all("authorization"):
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            places.append(
                TokenPlace("Authorization header", fingerprint(token.strip()))
            )
    if form_token:
        places.append(
            TokenPlace(
                f"form body parameter {TOKEN_PARAMETER}", fingerprint(form_token)
            )
        )
    for name, token in query:
        if name == TOKEN_PARAMETER and token:
            places.append(
                TokenPlace(f"query parameter {TOKEN_PARAMETER}", fingerprint(token))
            )
    return tuple(places[:MAX_CREDENTIALS])


def _form_token(request: http.Request, headers: HeaderView) -> str | None:
    # RFC 6750 §2.2: only a single-part application/x-www-form-urlencoded body.
    content_type = (headers.get("content-type") or "").lower()
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return None
    if len(request.raw_content or b"") > MAX_FORM_BODY:
        return None
    tokens = request.urlencoded_form.get_all(TOKEN_PARAMETER)
    return tokens[0] if tokens and tokens[0] else None
