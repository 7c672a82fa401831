"""Causes about sessions, missing credentials, permission, and the fallback."""

from __future__ import annotations

import re

from authdiag import describe
from authdiag.catalogue import Conclusion, cause
from authdiag.evidence import Evidence
from authdiag.findings import Fault
from authdiag.rules.common import (
    CONTEXT_CAUSES,
    HIGH,
    JWT_CAUSES,
    LOW,
    MEDIUM,
    REFUSALS,
    common_evidence,
    present,
    scheme_fix,
    server_says,
)

MENTIONS_SESSION = re.compile(r"session|log ?in|sign ?in|expired|timed? ?out", re.I)


@cause(
    "session-expired",
    title="The session cookie has expired or was cleared",
    triggers=(
        "The request authenticated with a session cookie only, and was refused; "
        "high confidence when the response clears that cookie or says the session "
        "ended."
    ),
    shows=(
        "The session cookie names (fingerprints of values), a Set-Cookie that clears "
        "them, the body."
    ),
    remedy="Log in again to get a new session cookie; check the session lifetime.",
)
def session_expired(ev: Evidence) -> Conclusion | None:
    if ev.status not in REFUSALS or not ev.session_cookies or ev.authorization:
        return None
    sent_names = {name for name, _ in ev.session_cookies}
    cleared = [c.name for c in ev.set_cookies if c.cleared and c.name in sent_names]
    said = server_says(ev, MENTIONS_SESSION)
    lines = list(common_evidence(ev))
    if cleared:
        lines.insert(0, f"response: Set-Cookie clears {', '.join(cleared)}")
    return Conclusion(
        confidence=HIGH if cleared or said else MEDIUM,
        summary=(
            f"the session behind cookie {', '.join(sorted(sent_names))} has expired "
            "or ended" + (" (the server cleared it)" if cleared else "")
        ),
        evidence=tuple(lines),
        fix=(
            "Log in again to get a new session cookie.",
            "If sessions end sooner than expected: check the server's session "
            "lifetime, a logout in another tab, a server restart with in-memory "
            "sessions, or a cookie scoped to another domain or path.",
        ),
        fault=Fault.CLIENT,
    )


@cause(
    "credentials-missing",
    title="The request carried no credentials",
    triggers=(
        "A 401 (or a 403) answering a request with no Authorization, no API key "
        "and no session cookie."
    ),
    shows=(
        "That no Authorization, API key or session cookie was sent; other cookie "
        "names; the challenge; the body."
    ),
    remedy="Attach the credential the server asks for; mitmproxy saw the request "
    "exactly as the client sent it.",
    yields_to=("challenge-handshake", "proxy-auth-required", *CONTEXT_CAUSES),
)
def credentials_missing(ev: Evidence) -> Conclusion | None:
    if ev.status not in REFUSALS or ev.has_credentials:
        return None
    lines = ["request: no Authorization header, API key or session cookie"]
    if ev.cookie_names:
        lines.append(f"request: other cookies: {', '.join(ev.cookie_names[:8])}")
    lines.append(describe.challenges_line(ev.challenges))
    body = describe.body_line(ev.body)
    if body:
        lines.append(body)
    fix = [
        "The client sent no credential at all (mitmproxy saw the request exactly as "
        "the client sent it): check that the code path sets the header for this "
        "request, including on retries and redirects.",
    ]
    if ev.challenges:
        fix.append(scheme_fix(ev.challenges.schemes[0]))
    else:
        fix.append(
            "The server names no scheme (no WWW-Authenticate); see its API docs for "
            "the header it expects."
        )
    return Conclusion(
        confidence=HIGH if ev.status == 401 else MEDIUM,
        summary="the request carried no credentials"
        + (
            f"; the server asks for {ev.challenges.challenges[0].scheme}"
            if ev.challenges
            else ""
        ),
        evidence=tuple(lines),
        fix=tuple(fix),
        fault=Fault.CLIENT,
    )


@cause(
    "forbidden",
    title="Known identity, no permission (403)",
    triggers=(
        "A 403 answering a request that carried credentials, with no scope error."
    ),
    shows=(
        "The identity the request carried (user, token sub, key fingerprint), the body."
    ),
    remedy=(
        "Grant this identity the permission (role, group, policy), or use an "
        "identity that has it; new credentials for the same identity will not help."
    ),
    yields_to=(
        "token-insufficient-scope",
        *JWT_CAUSES,
        "authorization-malformed",
        *CONTEXT_CAUSES,
    ),
)
def forbidden(ev: Evidence) -> Conclusion | None:
    if ev.status != 403 or not ev.has_credentials:
        return None
    lines = list(common_evidence(ev))
    if ev.token is not None and ev.token.subject:
        lines.insert(1, f"token: sub {ev.token.subject!r}")
    fix = [
        "403 means the server knew who the caller is and refused anyway (RFC 9110 "
        "§15.5.4); 401 would mean it did not accept the credential. Fix the "
        "permission, not the credential.",
        "Grant the identity the role, group or policy this resource needs, or call "
        "with an identity that has it.",
    ]
    if ev.session_cookies:
        fix.append(
            "With cookie sessions, a 403 on a state-changing request is often a "
            "missing CSRF token rather than a permission."
        )
    fix.append(
        "Other 403 sources: a WAF, an IP allow-list, or a resource policy; their "
        "responses usually carry their own headers or body."
    )
    return Conclusion(
        confidence=MEDIUM,
        summary="the server knows the caller but does not allow this request",
        evidence=tuple(lines),
        fix=tuple(fix),
        fault=Fault.CLIENT,
    )


@cause(
    "unknown",
    title="A refusal no rule explains",
    triggers="A diagnosed status for which no other cause fits.",
    shows=(
        "Whatever the request carried, the challenge if any, and the body if readable."
    ),
    remedy="Read the evidence shown; the server's logs usually hold the reason.",
    fallback=True,
)
def unknown(ev: Evidence) -> Conclusion | None:
    # A fallback: the engine runs it only when no other cause fits.
    lines = describe.request_credentials(ev) or ["request: no credentials"]
    return Conclusion(
        confidence=LOW,
        summary=f"refused with {ev.status}, and nothing in the flow says why",
        evidence=present(
            *lines,
            describe.challenges_line(ev.challenges),
            describe.body_line(ev.body) or "body: nothing readable",
        ),
        fix=(
            "The server gave no challenge and no readable reason: its logs are the "
            "next place to look.",
            "Compare with a request that works (same client, same endpoint) and "
            "diff the headers.",
        ),
        fault=Fault.SERVER,
    )
