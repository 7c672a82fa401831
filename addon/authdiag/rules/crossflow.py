"""Causes between client and server: what happened to the credential on the way.

Some rules read the history of the same client at the same origin (the
``history`` part of the evidence, filled in by the live addon and by
``mitmdump -nr``): a redirect that made the client drop its credentials, a
credential accepted a moment ago and refused now. Every cross-flow fact a
finding rests on is written into its evidence as a ``history:`` line, so a
saved recording shows it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from authdiag import describe, memo
from authdiag.catalogue import Conclusion, cause
from authdiag.credentials import Location
from authdiag.evidence import Evidence
from authdiag.findings import Fault
from authdiag.history import CredentialUse, Redirect, what_changed
from authdiag.platforms import (
    ABSENCES,
    INTERMEDIARIES,
    PREFLIGHT_FIXES,
    REDIRECT_RULES,
    UNDERSCORE_HEADERS,
    Absence,
    Intermediary,
    PreflightFix,
    RedirectRule,
)
from authdiag.rules.common import (
    HIGH,
    JWT_CAUSES,
    MEDIUM,
    REFUSALS,
    common_evidence,
    present,
    request_path,
    server_error,
)

GENERIC_REDIRECT_FIXES = (
    "Call the final URL directly: the redirect is often a trailing-slash, "
    "http-to-https or load-balancer redirect that names another host or port.",
    "If the redirect is meant to be followed with credentials, trust it "
    "explicitly for that origin only, or re-attach the credential for the new "
    "origin after checking where it points.",
)


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


# --- auth-stripped-on-redirect ------------------------------------------------------


@cause(
    "auth-stripped-on-redirect",
    title="The client dropped the credentials when it followed a redirect",
    triggers=(
        "A refused request with fewer credentials than the request that was "
        "redirected to it, when the redirect led to another origin (host, scheme or "
        "port changed) within a minute, from the same client."
    ),
    shows=(
        "The redirect (status, from where, to where, what changed), what the "
        "redirected request carried and what this one lacks, the client's rule "
        "(named from its User-Agent)."
    ),
    remedy=(
        "Call the final URL, trust the redirect only where that is safe "
        "(curl --location-trusted), or re-attach the credential on the new origin."
    ),
    needs=("history-redirect",),
)
def auth_stripped_on_redirect(ev: Evidence) -> Conclusion | None:
    history = ev.history
    if ev.status not in REFUSALS or history is None or history.redirect is None:
        return None
    redirect = history.redirect
    kept = {c.fingerprint for c in history.credentials}
    dropped = [c for c in redirect.credentials if c.fingerprint not in kept]
    if not dropped:
        return None
    changed = what_changed(redirect.source_origin, redirect.target)
    client = _redirect_rule(ev)
    names = ", ".join(dict.fromkeys(c.label for c in dropped))
    summary = (
        f"the client dropped {names} when it followed a redirect to another "
        f"origin ({changed} changed)"
    )
    return Conclusion(
        confidence=HIGH,
        summary=summary,
        evidence=present(
            _redirect_line(redirect, ev),
            *(
                f"history: the redirected request carried {c.label} "
                f"({c.fingerprint}); this one does not"
                for c in dropped
            ),
            _client_line(ev, client),
            describe.challenges_line(ev.challenges),
            describe.body_line(ev.body),
        ),
        fix=(client.fix, *GENERIC_REDIRECT_FIXES[1:])
        if client
        else GENERIC_REDIRECT_FIXES,
        fault=Fault.CLIENT,
    )


def _redirect_line(redirect: Redirect, ev: Evidence) -> str:
    hops = f" ({redirect.hops} redirects)" if redirect.hops > 1 else ""
    return (
        f"history: {redirect.source} answered {redirect.status} → "
        f"{redirect.target.split('?', 1)[0]}{hops}, "
        f"{describe.duration(ev.requested_at - redirect.at)} before this request"
    )


def _redirect_rule(ev: Evidence) -> RedirectRule | None:
    """The client's rule for credentials on redirects, known by its User-Agent."""
    agent = ev.context.headers.get("user-agent", "")
    return next((r for r in REDIRECT_RULES if re.search(r.user_agent, agent)), None)


def _client_line(ev: Evidence, client: RedirectRule | None) -> str:
    agent = ev.context.headers.get("user-agent")
    if client is None:
        return f"request: User-Agent {agent!r}" if agent else ""
    return f"request: the client is {client.client} ({agent!r}): {client.rule}"


# --- preflight-unauthenticated ------------------------------------------------------


@cause(
    "preflight-unauthenticated",
    title="A CORS preflight was refused: preflights never carry credentials",
    triggers=(
        "An OPTIONS request with Access-Control-Request-Method (a CORS preflight) "
        "answered 401 or 403."
    ),
    shows=(
        "The preflight's Origin, the method and headers it asks for, the challenge, "
        "whether the response allows the origin, and the server stack if known."
    ),
    remedy=(
        "Let OPTIONS preflights through before authentication (CORS middleware "
        "first); the browser then sends the real request with its credentials."
    ),
)
def preflight_unauthenticated(ev: Evidence) -> Conclusion | None:
    if ev.status not in REFUSALS or ev.method != "OPTIONS":
        return None
    asked = ev.context.headers.get("access-control-request-method")
    if asked is None:
        return None
    origin = ev.context.headers.get("origin", "(no Origin header)")
    headers = ev.context.headers.get("access-control-request-headers")
    allowed = ev.response_headers.get("access-control-allow-origin")
    return Conclusion(
        confidence=HIGH,
        summary=(
            f"the server refused the CORS preflight for {asked} from {origin}: "
            "browsers send preflights without credentials, so the real request "
            "never leaves the browser"
        ),
        evidence=present(
            f"request: OPTIONS preflight from Origin {origin} for {asked}"
            + (f" with headers {headers}" if headers else ""),
            "request: a preflight carries no credentials (Fetch standard, "
            "CORS-preflight fetch)",
            describe.challenges_line(ev.challenges),
            describe.body_line(ev.body),
            f"response: Access-Control-Allow-Origin: {allowed}"
            if allowed
            else "response: no Access-Control-Allow-Origin",
            "note: the browser's console reports this as a CORS error, not as a "
            f"{ev.status}",
        ),
        fix=tuple(fix.fix for fix in _preflight_fixes(ev)),
        fault=Fault.SERVER,
    )


def _preflight_fixes(ev: Evidence) -> list[PreflightFix]:
    """Every stack's fix, the ones the response's headers point to first."""

    def named(fix: PreflightFix) -> bool:
        value = ev.response_headers.get(fix.header) if fix.header else None
        return value is not None and re.search(fix.pattern, value) is not None

    return sorted(PREFLIGHT_FIXES, key=lambda fix: not named(fix))


# --- authorization-not-forwarded ----------------------------------------------------

SAYS_MISSING = re.compile(
    r"\bno\b.*\b(found|provided|present|supplied|given)\b|missing|not (provided|"
    r"found|present|supplied)|\brequired\b",
    re.I,
)
SAYS_INVALID = re.compile(r"invalid|expired|revoked|malformed|signature", re.I)


@cause(
    "authorization-not-forwarded",
    title="The credential left the client but never reached the application",
    triggers=(
        "The request carried credentials, yet the answer says none arrived: a "
        "message known to mean exactly that (Django REST framework, WordPress "
        "rest_not_logged_in or rest_forbidden at 401, Kubernetes system:anonymous, "
        "Google, Azure, GitHub, Spring, express-jwt, Laravel), a Bearer challenge "
        "without an error code (medium), or a credential header with '_' in its "
        "name that the server says is missing."
    ),
    shows=(
        "The credentials sent, the server's words and who says them, the response "
        "headers that name what stands in front of the application (Server, "
        "X-Powered-By, Via), and header names with underscores."
    ),
    remedy=(
        "Make the web server or proxy in front of the application pass the header "
        "on: CGIPassAuth On (Apache with CGI/FastCGI), proxy_set_header and "
        "underscores_in_headers (nginx), the CDN's header forwarding."
    ),
    needs=("credentials",),
)
def authorization_not_forwarded(ev: Evidence) -> Conclusion | None:
    if ev.status not in REFUSALS or (ev.authorization is None and not ev.placed):
        return None
    absence = _absence(ev)
    underscored = [
        p.name for p in ev.placed if "_" in p.name and p.location is Location.HEADER
    ]
    bare = _bare_bearer_challenge(ev)
    if absence is not None or (underscored and _says_missing(ev)):
        confidence = HIGH
    elif bare or (underscored and "nginx" in ev.response_headers.get("server", "")):
        confidence = MEDIUM
    else:
        return None
    intermediaries = _intermediaries(ev, underscored)
    return Conclusion(
        confidence=confidence,
        summary=_not_forwarded_summary(absence, underscored, intermediaries),
        evidence=present(
            *common_evidence(ev),
            _absence_line(absence, bare),
            *(
                f"request: header {name!r} has '_' in its name; nginx and Apache drop "
                "such headers by default"
                for name in underscored[:3]
            ),
            *(
                f"response: {i.header.title()}: {ev.response_headers[i.header]} "
                f"({i.name})"
                for i in intermediaries
                if i.header
            ),
            "note: mitmproxy saw the credential leave the client, so it was lost "
            "between the proxy and the application",
        ),
        fix=(
            *(i.fix for i in intermediaries),
            "Log the headers the application receives (or compare with a request "
            "sent straight to it) to find the hop that drops the credential.",
        ),
        fault=Fault.SERVER,
    )


def _absence(ev: Evidence) -> Absence | None:
    code, _ = server_error(ev)
    codes = tuple(c for c in (code, ev.body.code if ev.body else None) if c)
    messages = tuple(m for m in _server_messages(ev) if m)
    for absence, path_pattern in _absences_said(ev.status, codes, messages):
        if path_pattern is None or path_pattern.search(request_path(ev)):
            return absence
    return None


@memo.recent(64, 4096)
def _absences_said(
    status: int | None, codes: tuple[str, ...], messages: tuple[str, ...]
) -> tuple[tuple[Absence, re.Pattern[str] | None], ...]:
    """The absences, in table order, whose status, code and message fit the
    answer, each with the path pattern still to check. A server answers every
    request that lost its credential with the same words, so this is worked out
    once per distinct answer."""
    return tuple(
        (absence, path_pattern)
        for absence, code_pattern, message_pattern, path_pattern in _ABSENCE_PATTERNS
        if status in absence.statuses
        and (code_pattern is None or any(code_pattern.fullmatch(c) for c in codes))
        and (
            message_pattern is None or any(message_pattern.search(m) for m in messages)
        )
    )


def _compiled(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


_ABSENCE_PATTERNS = tuple(
    (a, _compiled(a.code), _compiled(a.message), _compiled(a.path)) for a in ABSENCES
)


def _server_messages(ev: Evidence) -> list[str | None]:
    _, description = server_error(ev)
    return [description, ev.body.message if ev.body else None]


def _says_missing(ev: Evidence) -> bool:
    return any(m and SAYS_MISSING.search(m) for m in _server_messages(ev))


def _bare_bearer_challenge(ev: Evidence) -> bool:
    """RFC 6750 §3.1: a request without a token gets a challenge without error;
    answering a request that sent a Bearer token, it means the token never
    reached the code that checks it."""
    if ev.status != 401 or not ev.bearer_token or ev.authorization is None:
        return False
    bearer = ev.challenges.find("bearer")
    if bearer is None or bearer.param("error") is not None:
        return False
    return not any(m and SAYS_INVALID.search(m) for m in _server_messages(ev))


def _absence_line(absence: Absence | None, bare: bool) -> str | None:
    if absence is not None:
        return (
            f"note: {absence.platform} answers this way when the request reaches it "
            "without a credential"
        )
    if bare:
        return (
            "note: a Bearer challenge without an error code is the answer to a "
            "request with no token (RFC 6750 §3.1); some servers also send it for a "
            "bad token"
        )
    return None


def _intermediaries(ev: Evidence, underscored: list[str]) -> list[Intermediary]:
    found = [
        i
        for i in INTERMEDIARIES
        if i.header in ev.response_headers
        and re.search(i.pattern, ev.response_headers[i.header])
    ]
    # One Via explanation is enough: the named CDN's, else the generic one.
    if any(i.header == "via" for i in found[:-1]):
        found = [i for i in found if i.name != "a proxy"]
    if underscored:
        found.insert(0, UNDERSCORE_HEADERS)
    return found


def _not_forwarded_summary(
    absence: Absence | None, underscored: list[str], found: list[Intermediary]
) -> str:
    where = f"; {found[0].name} stands in front of it" if found else ""
    if underscored:
        return (
            f"the server says no credential arrived, but the request sent one in "
            f"{underscored[0]!r}: header names with '_' are dropped on the way{where}"
        )
    who = absence.platform if absence else "the server"
    return (
        f"the request carried credentials but {who} answers as if none arrived: "
        f"something in front of the application dropped them{where}"
    )


# --- authorization-conflict ---------------------------------------------------------


@cause(
    "authorization-conflict",
    title="The token was sent in more than one way",
    triggers=(
        "An access token in more than one of the Authorization header, a form body "
        "access_token and a query access_token (RFC 6750 §2: clients must use "
        "only one); high confidence when the server answers invalid_request."
    ),
    shows=(
        "Each place a token travelled, with its fingerprint, and whether they are "
        "the same token."
    ),
    remedy="Send the token one way only, preferably the Authorization header.",
)
def authorization_conflict(ev: Evidence) -> Conclusion | None:
    places = ev.context.token_places
    if len(places) < 2 or ev.status is None or ev.status < 400:
        return None
    code, _ = server_error(ev)
    same = len({p.fingerprint for p in places}) == 1
    which = "the same token" if same else "different tokens"
    return Conclusion(
        confidence=HIGH if code == "invalid_request" else MEDIUM,
        summary=(
            f"the request sent {which} in {len(places)} ways "
            f"({', '.join(p.place for p in places)}); RFC 6750 §2 allows one"
        ),
        evidence=present(
            *(f"request: token in the {p.place} ({p.fingerprint})" for p in places),
            describe.challenges_line(ev.challenges),
            describe.body_line(ev.body),
            None
            if same
            else "note: with different tokens the server may have checked the "
            "other one",
        ),
        fix=(
            "Send the token only in the Authorization header ('Bearer <token>'); "
            "remove the access_token parameter from the query or the body (RFC "
            "6750 §2, error invalid_request in §3.1).",
        ),
        fault=Fault.CLIENT,
    )


# --- credential-stopped-working -----------------------------------------------------


@cause(
    "credential-stopped-working",
    title="A credential accepted earlier in the capture is refused now",
    triggers=(
        "The same credential (by fingerprint: Authorization value, API key or "
        "token parameter) got a success from the same origin for the same client "
        "earlier, and is refused now; high confidence for the same method and path, "
        "medium for another (a 403 elsewhere is a permission, not this)."
    ),
    shows=(
        "When the credential last worked and for what, how many times, and what "
        "differs now; the server's words."
    ),
    remedy=(
        "The server's view of the credential changed (revoked, rotated, expired on "
        "the server side, session ended): get a new one, and refresh instead of "
        "retrying."
    ),
    yields_to=(
        *JWT_CAUSES,
        "session-expired",
        "token-insufficient-scope",
        "authorization-not-forwarded",
    ),
    needs=("history-accepted",),
)
def credential_stopped_working(ev: Evidence) -> Conclusion | None:
    history = ev.history
    if ev.status not in REFUSALS or history is None or not history.accepted:
        return None
    use = max(history.accepted, key=lambda u: u.last_at)
    path = _path(ev.url)
    same_request = use.last_method == ev.method and use.last_path == path
    if ev.status == 403 and not same_request:
        return None
    since = describe.duration(ev.requested_at - use.last_at)
    return Conclusion(
        confidence=HIGH if same_request else MEDIUM,
        summary=(
            f"the server refused {use.credential.label} ({use.credential.fingerprint}) "
            f"that it accepted {since} earlier"
        ),
        evidence=present(
            _acceptance_line(use, ev),
            _change_line(use, ev, path, same_request),
            *common_evidence(ev),
        ),
        fix=(
            "The credential did not change; the server's view of it did: it was "
            "revoked, rotated, expired on the server side (opaque tokens and API "
            "keys have lifetimes the client cannot read), or the session or grant "
            "behind it ended. Get a new one and retry once.",
            "If it happens soon after issue: look for a logout or key rotation "
            "elsewhere, and for servers behind a load balancer that do not share "
            "their token store or signing keys (one accepts, the next refuses).",
        ),
        fault=Fault.CLIENT,
    )


def _acceptance_line(use: CredentialUse, ev: Evidence) -> str:
    times = "once" if use.count == 1 else f"{use.count} times"
    return (
        f"history: the same {use.credential.label} ({use.credential.fingerprint}) "
        f"was accepted {times} at this origin, first at "
        f"{describe.timestamp(use.first_at)}, last at "
        f"{describe.timestamp(use.last_at)} ({use.last_method} {use.last_path} → "
        f"{use.last_status}), {describe.duration(ev.requested_at - use.last_at)} "
        "before this refusal"
    )


def _change_line(use: CredentialUse, ev: Evidence, path: str, same: bool) -> str:
    if same:
        return (
            "history: nothing changed on the client's side: same credential, same "
            f"{ev.method} {path}"
        )
    return (
        f"history: this request is {ev.method} {path}; the credential was accepted "
        f"for {use.last_method} {use.last_path}, which may need less (or no) "
        "permission"
    )
