"""What the rules share: confidence names, server messages, evidence lines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from authdiag import describe
from authdiag.catalogue import trait_finder
from authdiag.evidence import Evidence, once_per_flow
from authdiag.findings import Confidence
from authdiag.platforms import SIGNATURES

HIGH, MEDIUM, LOW = Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW

REFUSALS = frozenset({401, 403})

JWT_CAUSES = (
    "jwt-unsigned",
    "jwt-malformed",
    "jwt-expired",
    "jwt-not-yet-valid",
    "jwt-audience-mismatch",
)
"""The causes that explain a refused JWT by what is inside it."""

CROSS_FLOW_CAUSES = (
    "auth-stripped-on-redirect",
    "preflight-unauthenticated",
    "authorization-not-forwarded",
    "authorization-conflict",
    "credential-stopped-working",
)
PLATFORM_CAUSES = tuple(signature.cause for signature in SIGNATURES)
CONTEXT_CAUSES = (*CROSS_FLOW_CAUSES, *PLATFORM_CAUSES)
"""Causes that know the platform or what happened around the request: the
generic causes (credentials-missing, token-rejected, forbidden, ...) give way
to them when they are at least as sure."""


def present(*lines: str | None) -> tuple[str, ...]:
    """The evidence lines that exist, in order (rules pass None for absent ones)."""
    return tuple(line for line in lines if line)


@once_per_flow
def server_error(ev: Evidence) -> tuple[str | None, str | None]:
    """The error code and description the server gave, challenge first, then body."""
    for found in ev.challenges.challenges:
        if found.param("error"):
            return found.param("error"), found.param("error_description")
    if ev.body is not None:
        return ev.body.code, ev.body.message
    return None, None


@once_per_flow
def request_path(ev: Evidence) -> str:
    """The request's path and query (credentials in the query shown as '…')."""
    parts = urlsplit(ev.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def server_says(ev: Evidence, pattern: re.Pattern[str]) -> str | None:
    """The first server message (challenge description or body) matching pattern."""
    _, description = server_error(ev)
    for text in (description, ev.body.message if ev.body else None):
        if text and pattern.search(text):
            return text
    return None


@once_per_flow
def common_evidence(ev: Evidence) -> tuple[str, ...]:
    """What the request carried, the challenge and the body, as evidence lines."""
    return present(
        *describe.request_credentials(ev),
        describe.challenges_line(ev.challenges),
        describe.body_line(ev.body),
    )


def scheme_sent(ev: Evidence) -> str | None:
    if ev.authorization is None:
        return None
    return ev.authorization.scheme or None


def scheme_fix(scheme: str) -> str:
    recipes = {
        "bearer": "Send the access token as 'Authorization: Bearer <token>' "
        '(curl -H "Authorization: Bearer $TOKEN"; requests headers='
        "{'Authorization': f'Bearer {token}'}).",
        "basic": "Send user and password with Basic (curl -u USER; requests "
        "auth=(user, password)).",
        "digest": "Use Digest (curl --digest -u USER; requests "
        "auth=HTTPDigestAuth(user, password)).",
        "negotiate": "Use Kerberos/SPNEGO (curl --negotiate -u :; requests-kerberos).",
        "ntlm": "Use NTLM (curl --ntlm -u 'DOMAIN\\\\USER'; requests-ntlm).",
    }
    return recipes.get(scheme, f"Send the credential with the {scheme} scheme.")


@trait_finder
def request_traits(ev: Evidence) -> Iterator[str]:
    """What the request carried and what the history holds, as traits rules
    need; the response headers platforms are known by, as 'header:NAME'; the
    challenge schemes, as 'challenge:SCHEME'."""
    authorization = ev.authorization
    if authorization is not None:
        yield "authorization"
        if authorization.scheme == "basic":
            yield "basic"
    if authorization is not None or ev.placed:
        yield "credentials"
    if ev.bearer_token:
        yield "bearer"
    if ev.token is not None:
        yield "jwt"
    history = ev.history
    if history is not None:
        if history.accepted:
            yield "history-accepted"
        if history.refusals:
            yield "history-refusals"
        if history.redirect is not None:
            yield "history-redirect"
    for name in ev.response_headers:
        yield f"header:{name}"
    for scheme in ev.challenges.schemes:
        yield f"challenge:{scheme}"
