"""Evidence: everything a rule may look at, built once per refused flow.

This is the only module besides the addon that reads mitmproxy flows. It turns a
flow into one frozen record of what was sent and what came back, so that rules
stay small pure functions, and a saved recording gives the same record as the
live flow did.
"""

from __future__ import annotations

import email.utils
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

from mitmproxy import http
from mitmproxy.net.http import cookies as mitm_cookies

from authdiag import credentials, memo, observe, platforms, tls, tlswatch, tokens
from authdiag.bodies import ErrorBody
from authdiag.challenges import Challenges, parse_challenges
from authdiag.credentials import (
    KNOWN_SCHEMES,
    AuthorizationCredential,
    Location,
    PlacedCredential,
)
from authdiag.headerview import EMPTY as EMPTY_HEADERS
from authdiag.headerview import HeaderView
from authdiag.history import Recall
from authdiag.limits import read_body
from authdiag.observe import EMPTY_CONTEXT, RequestContext
from authdiag.tls import Certificate, TlsObservation, UnreadableCertificate
from authdiag.tokens import JwtInspection

EMPTY_CHALLENGES = Challenges()


@dataclass(frozen=True, slots=True)
class SetCookie:
    """A cookie the response set, and whether it clears (deletes) the cookie."""

    name: str
    cleared: bool
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one flow carried and what came back."""

    method: str
    url: str
    """The URL with every query value that is a credential replaced by '…'."""
    host: str
    status: int | None
    requested_at: float
    """When the request was sent (epoch seconds): the time every claim is judged at."""
    server_date: float | None
    """The response's Date header: the server's clock, when it sent one."""
    challenges: Challenges = EMPTY_CHALLENGES
    proxy_challenges: Challenges = EMPTY_CHALLENGES
    authorization: AuthorizationCredential | None = None
    authorization_count: int = 0
    proxy_authorization: AuthorizationCredential | None = None
    placed: tuple[PlacedCredential, ...] = ()
    session_cookies: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """(name, value) of request cookies whose names look like sessions."""
    cookie_names: tuple[str, ...] = ()
    set_cookies: tuple[SetCookie, ...] = ()
    body: ErrorBody | None = None
    token: JwtInspection | None = None
    """The JWT the request carried (Bearer, bare, or in a token parameter)."""
    bearer_token: str | None = field(default=None, repr=False)
    leeway: float = 0.0
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """Every secret value in the request, for scrubbing server text that echoes it."""
    response_headers: Mapping[str, str] = field(default_factory=dict)
    """A few response headers that name platforms (lower-cased names)."""
    context: RequestContext = EMPTY_CONTEXT
    """Non-secret request headers and the places an access token travelled."""
    history: Recall | None = None
    """What the same client did at this origin before (None without a history)."""
    tls: TlsObservation | None = None
    """TLS facts the live addon stored with the flow (client certificates)."""
    app_certificate: Certificate | UnreadableCertificate | None = None
    """The certificate the app showed mitmproxy (request_client_cert=true)."""
    error: str | None = None
    """mitmproxy's error for a flow that got no response (flow.error)."""
    limits: tuple[str, ...] = ()
    """Evidence lines saying where authdiag stopped reading the flow (a body
    over 64 KiB, say); the engine adds them to every finding."""
    derived: dict[Callable[..., object], object] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """What helpers decorated with ``once_per_flow`` worked out from this evidence."""

    @property
    def has_credentials(self) -> bool:
        return bool(self.authorization or self.placed or self.session_cookies)

    @property
    def clock_skew(self) -> float | None:
        """Server clock minus the request time, in seconds, when the server sent Date.

        Date has a resolution of one second and the response comes after the
        request, so only a skew of a few seconds or more means anything.
        """
        if self.server_date is None:
            return None
        return self.server_date - self.requested_at


def once_per_flow[T](derive: Callable[[Evidence], T]) -> Callable[[Evidence], T]:
    """For a helper many rules call on the same evidence (the credential lines,
    the server's error): work it out once per flow. Rules share the result, so
    it must be immutable (a tuple, not a list)."""

    @functools.wraps(derive)
    def derived(ev: Evidence) -> T:
        kept = ev.derived
        if derive not in kept:
            kept[derive] = derive(ev)
        return cast(T, kept[derive])

    return derived


PLATFORM_HEADERS = tuple(
    dict.fromkeys(
        (
            "server",
            "x-amzn-errortype",
            "x-powered-by",
            "via",
            *platforms.RESPONSE_HEADERS,
        )
    )
)


def from_flow(
    flow: http.HTTPFlow, *, leeway: float = 0.0, history: Recall | None = None
) -> Evidence:
    """Build the evidence for a flow that has a request (and usually a response);
    ``history`` is what the addon's History recalls about it, if any."""
    request = flow.request
    response = flow.response
    headers = HeaderView(request.headers)
    answer = HeaderView(response.headers) if response is not None else EMPTY_HEADERS

    authorization_values = headers.get_all("authorization")
    authorization = (
        credentials.parse_authorization(authorization_values[0])
        if authorization_values
        else None
    )
    proxy_authorization_value = headers.get("proxy-authorization")
    proxy_authorization = (
        credentials.parse_authorization(proxy_authorization_value)
        if proxy_authorization_value is not None
        else None
    )
    query = observe.query_of(request)
    placed = credentials.find_placed_credentials(headers.fields, query)
    request_cookies = _request_cookies(headers)
    session_cookies = tuple(
        (name, value)
        for name, value in request_cookies
        if credentials.is_session_cookie_name(name)
    )

    bearer_token = _bearer_token(authorization, placed)
    token = (
        tokens.inspect_jwt(bearer_token)
        if bearer_token is not None and _jwt_shaped(bearer_token)
        else None
    )
    context = observe.request_context(request, headers, query)
    secrets = _secrets(authorization, proxy_authorization, placed, request_cookies)
    if context.form_token:
        secrets = tuple(sorted({*secrets, context.form_token}, key=len, reverse=True))

    status = response.status_code if response else None
    body, limits = _body(response)
    return Evidence(
        method=request.method,
        url=_redacted_url(request, placed, query),
        host=observe.pretty_host(request),
        status=status,
        requested_at=request.timestamp_start,
        server_date=_server_date(answer.get("date")),
        challenges=_challenges(answer, "www-authenticate"),
        proxy_challenges=_challenges(answer, "proxy-authenticate"),
        authorization=authorization,
        authorization_count=len(authorization_values),
        proxy_authorization=proxy_authorization,
        placed=placed,
        session_cookies=session_cookies,
        cookie_names=tuple(name for name, _ in request_cookies),
        set_cookies=_set_cookies(response, answer),
        body=body,
        token=token,
        bearer_token=bearer_token,
        leeway=leeway,
        secrets=secrets,
        response_headers=observe.picked_headers(answer, PLATFORM_HEADERS),
        context=context,
        history=history,
        tls=TlsObservation.from_dict(tlswatch.stored_observation(flow)),
        app_certificate=_app_certificate(flow),
        error=flow.error.msg if flow.error else None,
        limits=limits,
    )


def _request_cookies(headers: HeaderView) -> tuple[tuple[str, str], ...]:
    values = headers.get_all("cookie")
    return tuple(mitm_cookies.parse_cookie_headers(values)) if values else ()


def _app_certificate(flow: http.HTTPFlow) -> Certificate | UnreadableCertificate | None:
    if not flow.client_conn.certificate_list:
        return None
    leaf = flow.client_conn.certificate_list[0].to_cryptography()
    try:
        return tls.from_x509(leaf)
    except ValueError as e:
        return UnreadableCertificate(f"its extensions cannot be decoded ({e})")


def _bearer_token(
    authorization: AuthorizationCredential | None,
    placed: tuple[PlacedCredential, ...],
) -> str | None:
    if authorization is not None and authorization.bearer_token:
        return authorization.bearer_token
    for credential in placed:
        if credential.kind == "token" and credential.value:
            return credential.value
    return None


def _jwt_shaped(token: str) -> bool:
    # A token with two dots that starts like a JSON header is meant to be a JWT
    # even when it is broken; anything else is an opaque token.
    return tokens.looks_like_jwt(token) or (
        token.startswith("eyJ") and token.count(".") >= 2
    )


def _secrets(
    authorization: AuthorizationCredential | None,
    proxy_authorization: AuthorizationCredential | None,
    placed: tuple[PlacedCredential, ...],
    request_cookies: tuple[tuple[str, str], ...],
) -> tuple[str, ...]:
    found: list[str] = []
    for credential in (authorization, proxy_authorization):
        if credential is None:
            continue
        found.append(credential.secret)
        if not credential.secret and credential.scheme not in KNOWN_SCHEMES:
            # A lone word ('Authorization: s3cr3tkey') reads as a scheme with no
            # credential, but may be a bare key: never show it whole.
            found.append(credential.raw_scheme)
        if credential.bearer_token:
            found.append(credential.bearer_token)
        if credential.basic is not None and credential.basic.password:
            found.append(credential.basic.password)
    found.extend(credential.value for credential in placed)
    found.extend(value for _, value in request_cookies)
    # Longest first, so that a token is replaced whole before any part of it.
    return tuple(sorted({s for s in found if s}, key=len, reverse=True))


def shown_url(request: http.Request) -> str:
    """The request's URL as authdiag shows it: credentials in the query as '…'."""
    query = observe.query_of(request)
    placed = credentials.find_placed_credentials((), query)
    return _redacted_url(request, placed, query)


def _redacted_url(
    request: http.Request,
    placed: tuple[PlacedCredential, ...],
    query: tuple[tuple[str, str], ...],
) -> str:
    names = {c.name for c in placed if c.location is Location.QUERY}
    url = observe.pretty_url(request)
    if not names:
        return url
    base = url.split("?", 1)[0]
    shown = "&".join(
        f"{name}=…" if name in names else f"{name}={value}" for name, value in query
    )
    return f"{base}?{shown}"


def _challenges(headers: HeaderView, name: str) -> Challenges:
    values = headers.get_all(name)
    return parse_challenges(tuple(values)) if values else EMPTY_CHALLENGES


@memo.recent(16, 200)
def _server_date(date: str | None) -> float | None:
    # A server sends the same Date for every response within a second.
    if date is None:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _set_cookies(
    response: http.Response | None, headers: HeaderView
) -> tuple[SetCookie, ...]:
    values = headers.get_all("set-cookie")
    if response is None or not values:
        return ()
    found = []
    received_at = response.timestamp_start or 0.0
    for name, value, attrs in mitm_cookies.parse_set_cookie_headers(values):
        expires_at = _cookie_expiry(attrs, received_at)
        cleared = value in ("", '""') or (
            expires_at is not None and expires_at <= received_at
        )
        found.append(SetCookie(name=name, cleared=cleared, expires_at=expires_at))
    return tuple(found)


def _cookie_expiry(attrs: Mapping[str, str | None], received_at: float) -> float | None:
    # Max-Age wins over Expires (RFC 6265 §5.3 step 3) and counts from when the
    # response arrived, not from now: a recording must judge the same way forever.
    lowered = {k.lower(): v for k, v in attrs.items()}
    max_age = lowered.get("max-age")
    # Servers' dates can lie outside what Python's clock can hold (Max-Age of
    # 400 digits, year 99999): such a cookie simply has no usable expiry.
    if max_age is not None:
        try:
            return received_at + int(max_age)
        except (ValueError, OverflowError):
            pass
    if lowered.get("expires"):
        try:
            expires = mitm_cookies.get_expiration_ts({"expires": lowered["expires"]})
        except (ValueError, OverflowError):
            return None
        return float(expires) if expires is not None else None
    return None


def _body(response: http.Response | None) -> tuple[ErrorBody | None, tuple[str, ...]]:
    if response is None or not response.raw_content:
        return None, ()
    # Decodes only the head that is read: a gzip bomb costs nothing.
    return read_body(response)
