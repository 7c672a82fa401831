"""Causes about bearer tokens: JWT times, audience, scope, signature, refusal."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from authdiag import describe
from authdiag.catalogue import Conclusion, cause
from authdiag.evidence import Evidence, once_per_flow
from authdiag.findings import Fault
from authdiag.redact import describe_token
from authdiag.rules.common import (
    CONTEXT_CAUSES,
    HIGH,
    JWT_CAUSES,
    LOW,
    MEDIUM,
    REFUSALS,
    common_evidence,
    present,
    server_error,
    server_says,
)

TOKEN_REFRESH_FIX = (
    "Get a new token (refresh_token grant or a new login) and retry; refresh "
    "shortly before exp rather than after a 401."
)
MENTIONS_AUDIENCE = re.compile(r"\baud(ience)?\b", re.IGNORECASE)
MENTIONS_REVOKED = re.compile(r"revok|invalidated|logged out|blacklist", re.I)
MENTIONS_SIGNATURE = re.compile(r"signature|\bkid\b|signing key|jwks", re.I)
MENTIONS_ISSUER = re.compile(r"\biss(uer)?\b", re.I)
NON_PRODUCTION = re.compile(r"stag|dev|test|sandbox|\bqa\b|uat|preprod|local", re.I)


@once_per_flow
def _token_line(ev: Evidence) -> str:
    token = ev.bearer_token or ""
    inspection = ev.token
    parts = [f"request: JWT {describe_token(token)}"]
    if inspection is not None and inspection.alg:
        parts.append(f"alg {inspection.alg}")
    if inspection is not None and inspection.issuer:
        parts.append(f"iss {inspection.issuer!r}")
    return ", ".join(parts)


def _claim_time(name: str, value: float, ev: Evidence) -> str:
    offset = value - ev.requested_at
    relation = "after" if offset > 0 else "before"
    return (
        f"token: {name} {describe.timestamp(value)}, {describe.duration(offset)} "
        f"{relation} the request ({describe.timestamp(ev.requested_at)})"
    )


@cause(
    "jwt-unsigned",
    title="The JWT is unsigned (alg none)",
    triggers="The token's header says alg 'none': it carries no signature.",
    shows=(
        "The token (prefix, length, fingerprint), its alg and iss, the challenge "
        "and the body."
    ),
    remedy="Have the issuer sign the token; no server should accept alg none.",
    needs=("jwt",),
)
def jwt_unsigned(ev: Evidence) -> Conclusion | None:
    if ev.status not in REFUSALS or ev.token is None or not ev.token.unsigned:
        return None
    return Conclusion(
        confidence=HIGH,
        summary="the JWT is unsigned (alg 'none'); servers refuse such tokens",
        evidence=present(_token_line(ev), *common_evidence(ev)[1:]),
        fix=(
            "Use a token signed by the real issuer; an alg 'none' token usually comes "
            "from a test helper or a hand-built token.",
            "Never configure the server to accept alg 'none' (RFC 8725 §3.1).",
        ),
        fault=Fault.CLIENT,
    )


@cause(
    "jwt-malformed",
    title="The JWT cannot be decoded",
    triggers=(
        "A token shaped like a JWT whose header or payload is not base64url JSON, "
        "or whose time, audience or scope claims have the wrong type."
    ),
    shows=(
        "The token, every decoding or claim-type problem, the challenge and the body."
    ),
    remedy="Send the token exactly as the issuer returned it.",
    needs=("jwt",),
)
def jwt_malformed(ev: Evidence) -> Conclusion | None:
    token = ev.token
    if ev.status not in REFUSALS or token is None:
        return None
    if token.decodable and not token.problems:
        return None
    code, _ = server_error(ev)
    confidence = HIGH if not token.decodable or code == "invalid_token" else MEDIUM
    return Conclusion(
        confidence=confidence,
        summary=(
            f"the JWT is malformed: {token.problems[0]}"
            if token.problems
            else "the JWT is malformed"
        ),
        evidence=present(
            _token_line(ev),
            *(f"token: {problem}" for problem in token.problems[1:4]),
            *common_evidence(ev)[1:],
        ),
        fix=(
            "Send the token exactly as the issuer returned it: a truncated copy, a "
            "URL-encoded token or an added character all break it.",
            "Decode it on your own machine, not on a website that would then hold "
            'a live token: `python -c "import jwt; '
            "print(jwt.decode(TOKEN, options={'verify_signature': False}))\"`.",
        ),
        fault=Fault.CLIENT,
    )


@cause(
    "jwt-expired",
    title="The JWT had expired when it was sent",
    triggers=(
        "The token's exp claim is at or before the request's time (plus the "
        "authdiag_leeway option), or before the server's clock from its Date header."
    ),
    shows=(
        "exp against the request time, the server's Date and the skew, the "
        "challenge and the body."
    ),
    remedy="Refresh the token before it expires; if only the server's clock says "
    "so, fix the clock skew.",
    needs=("jwt",),
)
def jwt_expired(ev: Evidence) -> Conclusion | None:
    token = ev.token
    if ev.status not in REFUSALS or token is None or token.exp is None:
        return None
    expired_for_proxy = ev.requested_at >= token.exp + ev.leeway
    expired_for_server = (
        ev.server_date is not None and ev.server_date >= token.exp + ev.leeway
    )
    if not (expired_for_proxy or expired_for_server):
        return None
    if expired_for_proxy:
        summary = (
            f"the JWT expired {describe.duration(ev.requested_at - token.exp)} "
            "before the request was sent"
        )
        fix: tuple[str, ...] = (TOKEN_REFRESH_FIX,)
        fault = Fault.CLIENT
    else:
        summary = (
            "the JWT had not expired by the proxy's clock, but it had by the "
            "server's clock: the clocks disagree"
        )
        fix = (
            "Synchronise the clocks (NTP) of the client, the token issuer and the "
            "server.",
            "Give the server a small leeway for exp (60 s is common).",
            TOKEN_REFRESH_FIX,
        )
        fault = Fault.NETWORK
    return Conclusion(
        confidence=HIGH,
        summary=summary,
        evidence=present(
            _token_line(ev),
            _claim_time("exp", token.exp, ev),
            describe.server_clock_line(ev),
            *common_evidence(ev)[1:],
        ),
        fix=fix,
        fault=fault,
    )


@cause(
    "jwt-not-yet-valid",
    shows=("nbf / iat against the request time, the server's Date and the skew."),
    title="The JWT is not valid yet (clock skew)",
    triggers=(
        "The token's nbf, or its iat, lies after the request's time (plus the "
        "authdiag_leeway option) or after the server's clock."
    ),
    remedy="Synchronise clocks (NTP) and give the server a small leeway.",
    needs=("jwt",),
)
def jwt_not_yet_valid(ev: Evidence) -> Conclusion | None:
    token = ev.token
    if ev.status not in REFUSALS or token is None:
        return None
    judged_at = min(ev.requested_at, ev.server_date or ev.requested_at)
    future = [
        (name, value)
        for name, value in (("nbf", token.nbf), ("iat", token.iat))
        if value is not None and value > judged_at + ev.leeway
    ]
    if not future:
        return None
    name, value = future[0]
    return Conclusion(
        confidence=HIGH if name == "nbf" else MEDIUM,
        summary=(
            f"the JWT's {name} is {describe.duration(value - judged_at)} in the "
            "future: the issuer's clock is ahead of the server's"
        ),
        evidence=present(
            _token_line(ev),
            *(_claim_time(n, v, ev) for n, v in future),
            describe.server_clock_line(ev),
            *common_evidence(ev)[1:],
        ),
        fix=(
            "Synchronise the clocks (NTP) of the token issuer, the client and the "
            "server.",
            "Give the server a leeway for nbf/iat (60 s is common; .NET uses 300 s).",
            "A token that was just issued and is refused at once points to skew, "
            "not to a bad token.",
        ),
        fault=Fault.NETWORK,
    )


@cause(
    "jwt-audience-mismatch",
    title="The JWT is meant for another audience",
    triggers=(
        "The server names the audience in its error; or (low confidence) every aud "
        "is a URL whose host differs from the host the token was sent to."
    ),
    shows=(
        "The token's aud, the request host, and the server's words about the audience."
    ),
    remedy="Request the token for this API's audience (the resource/audience "
    "parameter at the token endpoint).",
    needs=("jwt",),
)
def jwt_audience_mismatch(ev: Evidence) -> Conclusion | None:
    token = ev.token
    if ev.status not in REFUSALS or token is None or not token.audiences:
        return None
    said = server_says(ev, MENTIONS_AUDIENCE)
    if said is None and not _audiences_name_other_hosts(token.audiences, ev.host):
        return None
    audiences = ", ".join(repr(a) for a in token.audiences[:5])
    return Conclusion(
        confidence=HIGH if said else LOW,
        summary=f"the JWT is meant for {audiences}, not for this API",
        evidence=present(
            _token_line(ev),
            f"token: aud {audiences}; request host {ev.host!r}",
            *common_evidence(ev)[1:],
        ),
        fix=(
            "Ask the issuer for a token for this API: the audience (Auth0), "
            "resource (Azure, RFC 8707) or scope that names it at the token endpoint.",
            "Check which client/app registration the token came from; each API "
            "usually has its own audience.",
        ),
        fault=Fault.CLIENT,
    )


def _audiences_name_other_hosts(audiences: tuple[str, ...], host: str) -> bool:
    """Whether every aud is a URL naming a host other than ``host``.

    Only URL audiences can be compared with the request: an API identifier such
    as 'orders-api' says nothing about which host should accept it.
    """
    hosts = [urlsplit(a).hostname for a in audiences if "://" in a]
    return len(hosts) == len(audiences) and all(
        h is not None and h != host.lower() for h in hosts
    )


@cause(
    "token-insufficient-scope",
    title="The token lacks the scope this request needs",
    triggers=(
        'error="insufficient_scope" in the Bearer challenge or body (RFC 6750 §3.1); '
        "the challenge's scope param is compared with the token's scope/scp claim."
    ),
    shows=(
        "The scope the challenge requires, the scope the token holds, and what is "
        "missing."
    ),
    remedy="Request a token with the missing scopes (and grant them to the client).",
)
def token_insufficient_scope(ev: Evidence) -> Conclusion | None:
    if ev.status not in REFUSALS:
        return None
    code, _ = server_error(ev)
    if code != "insufficient_scope":
        return None
    required = next(
        (c.param("scope") for c in ev.challenges.challenges if c.param("scope")), None
    )
    required_scopes = tuple(required.split()) if required else ()
    held = ev.token.scopes if ev.token is not None else None
    lines = [*describe.request_credentials(ev)]
    if required_scopes:
        lines.append(f"challenge: scope required: {' '.join(required_scopes)}")
    if held is not None:
        lines.append(f"token: scope held: {' '.join(held) or '(none)'}")
    missing = [s for s in required_scopes if held is None or s not in held]
    if missing and held is not None:
        summary = f"the token lacks the scope {' '.join(missing)}"
    else:
        summary = "the token's scopes do not allow this request"
    lines.append(describe.challenges_line(ev.challenges))
    return Conclusion(
        confidence=HIGH,
        summary=summary,
        evidence=present(*lines, describe.body_line(ev.body)),
        fix=(
            "Request a token with the missing scope (scope= at the token endpoint) "
            "and make sure the client is allowed to ask for it.",
            "A new token with the same scopes will be refused the same way: the "
            "credential is valid, the permission is not there (RFC 6750 §3.1).",
        ),
        fault=Fault.CLIENT,
    )


@cause(
    "token-rejected",
    title="A well-formed, unexpired token was refused",
    triggers=(
        "A Bearer (or token parameter) credential that is well-formed and within its "
        'validity times, answered with 401 (usually error="invalid_token").'
    ),
    shows=(
        "The token, its iss, and what points where: revocation, signature/key, "
        "another environment, or an opaque token only the issuer can judge."
    ),
    remedy=(
        "The token is revoked, signed with another key, or from another environment "
        "or tenant: get a fresh token from the issuer this server trusts."
    ),
    yields_to=(
        *JWT_CAUSES,
        "token-insufficient-scope",
        "authorization-malformed",
        *CONTEXT_CAUSES,
    ),
    needs=("bearer",),
)
def token_rejected(ev: Evidence) -> Conclusion | None:
    if ev.status != 401 or not ev.bearer_token:
        return None
    code, _ = server_error(ev)
    pointers = _rejection_pointers(ev)
    return Conclusion(
        confidence=HIGH if code == "invalid_token" else MEDIUM,
        summary=(
            "the server refused a well-formed, unexpired token"
            + (f": {pointers[0]}" if pointers else "")
        ),
        evidence=present(
            _token_line(ev) if ev.token else describe.request_credentials(ev)[0],
            *(f"token: {pointer}" for pointer in pointers[1:]),
            *common_evidence(ev)[1:],
        ),
        fix=(
            "Get a fresh token from the issuer this server trusts and retry.",
            "If a fresh token is refused too, compare its iss and aud with the "
            "server's configuration (environment, tenant, signing keys/JWKS).",
        ),
        fault=Fault.CLIENT,
    )


def _rejection_pointers(ev: Evidence) -> list[str]:
    """What the evidence says about why a good-looking token was refused."""
    pointers = []
    if server_says(ev, MENTIONS_REVOKED):
        pointers.append("the server says the token was revoked or the session ended")
    if server_says(ev, MENTIONS_SIGNATURE):
        pointers.append(
            "the server could not verify the signature: the token was signed by "
            "another key or issuer"
        )
    issuer = ev.token.issuer if ev.token else None
    if issuer and bool(NON_PRODUCTION.search(issuer)) != bool(
        NON_PRODUCTION.search(ev.host)
    ):
        pointers.append(
            f"the token's issuer {issuer!r} looks like another environment than "
            f"the host {ev.host!r}"
        )
    elif issuer and server_says(ev, MENTIONS_ISSUER):
        pointers.append(f"the server refuses the issuer {issuer!r}")
    if ev.token is None:
        pointers.append(
            "the token is opaque (not a JWT): only the issuer can say why; check "
            "it with the issuer's introspection endpoint (RFC 7662)"
        )
    return pointers
