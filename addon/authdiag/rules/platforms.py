"""Causes recognised from how a platform answers: one cause per signature.

Each ``Signature`` in ``authdiag.platforms`` becomes a cause of its own (its id,
title and text in docs/causes.md), so a finding names exactly what the platform
said. The rule for every signature is the same: match the table entry, then let
an explainer named by the entry add what this flow shows (token claims, clock
skew, the user named in the message). Generic causes give way to these (see
``CONTEXT_CAUSES`` in rules/common.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from authdiag import describe, memo
from authdiag.catalogue import Conclusion, Rule, cause, trait_finder
from authdiag.evidence import Evidence, once_per_flow
from authdiag.findings import Confidence
from authdiag.platforms import SIGNATURES, Signature
from authdiag.rules.common import HIGH, present, request_path

SIGV4_SKEW = 300.0
"""Seconds of clock difference SigV4 tolerates (AWS IAM user guide)."""
APPLICATION_PASSWORD = re.compile(r"[A-Za-z0-9]{24}")
"""WordPress makes Application Passwords of 24 letters and digits, shown in
groups of four; it strips everything else before comparing (user.php)."""
REUSED_SIGNATURE_FIX = next(
    step
    for signature in SIGNATURES
    if signature.cause == "aws-signature-expired"
    for step in signature.fix
    if step.startswith("Sign each request")
)
KUBERNETES_NAMESPACE = re.compile(r'in the namespace "([^"]*)"')
KUBERNETES_DENIAL = re.compile(
    r'User "([^"]*)" cannot (\S+) (?:resource|path) "([^"]*)"'
)


@dataclass(frozen=True, slots=True)
class Details:
    """What an explainer adds to a signature's finding."""

    lines: tuple[str, ...] = ()
    fix: tuple[str, ...] = ()
    """Steps shown before the signature's own."""
    summary: str | None = None
    confidence: Confidence | None = None


Explainer = Callable[[Evidence], Details | None]
"""None means the signature does not fit after all (another cause explains it)."""


Check = Callable[[Evidence], bool]


def matcher(signature: Signature) -> Check:
    """Whether every condition of the signature holds for a flow."""
    checks = _checks(signature)
    statuses = signature.statuses

    def matches(ev: Evidence) -> bool:
        return ev.status in statuses and all(check(ev) for check in checks)

    return matches


def _checks(signature: Signature) -> tuple[Check, ...]:
    """The signature's conditions as checks, the ones that rule out most flows
    first; conditions the signature leaves open cost nothing."""
    checks: list[Check] = []
    for name, pattern in signature.headers:
        checks.append(_header_check(name, re.compile(pattern)))
    if signature.code is not None:
        checks.append(_any_check(re.compile(signature.code).fullmatch, _codes))
    if signature.fields:
        wanted = tuple(
            (name, re.compile(pattern)) for name, pattern in signature.fields
        )
        checks.append(
            lambda ev: _fields_match(wanted, ev.body.fields if ev.body else ())
        )
    if signature.challenge is not None:
        scheme = signature.challenge
        checks.append(lambda ev: scheme in ev.challenges.schemes)
    if signature.message is not None:
        checks.append(_any_check(re.compile(signature.message).search, _messages))
    if signature.path is not None:
        search_path = re.compile(signature.path).search
        checks.append(lambda ev: search_path(request_path(ev)) is not None)
    if signature.sent != "any":
        checks.append(functools.partial(_carries, signature.sent))
    return tuple(checks)


def _header_check(name: str, pattern: re.Pattern[str]) -> Check:
    def check(ev: Evidence) -> bool:
        value = ev.response_headers.get(name)
        return value is not None and pattern.search(value) is not None

    return check


def _any_check(
    find: Callable[[str], re.Match[str] | None],
    values: Callable[[Evidence], tuple[str, ...]],
) -> Check:
    return lambda ev: any(find(value) for value in values(ev))


def _carries(sent: str, ev: Evidence) -> bool:
    authorization = ev.authorization
    if sent == "credentials":
        return authorization is not None or bool(ev.placed)
    if sent == "authorization":
        return authorization is not None
    if sent == "basic":
        return authorization is not None and authorization.scheme == "basic"
    if sent == "bearer":
        return bool(ev.bearer_token)
    return True


@once_per_flow
def _codes(ev: Evidence) -> tuple[str, ...]:
    codes = [c.param("error") or "" for c in ev.challenges.challenges]
    if ev.body is not None and ev.body.code:
        codes.append(ev.body.code)
    return tuple(code for code in codes if code)


@once_per_flow
def _messages(ev: Evidence) -> tuple[str, ...]:
    messages = [c.param("error_description") or "" for c in ev.challenges.challenges]
    if ev.body is not None and ev.body.message:
        messages.append(ev.body.message)
    return tuple(message for message in messages if message)


def _fields_match(
    wanted: tuple[tuple[str, re.Pattern[str]], ...],
    fields: tuple[tuple[str, str], ...],
) -> bool:
    found = dict(fields)
    return all(
        name in found and pattern.fullmatch(found[name]) is not None
        for name, pattern in wanted
    )


# --- the finding --------------------------------------------------------------------


def _recognised_line(signature: Signature, ev: Evidence) -> str:
    shown = [
        f"{name}: {ev.response_headers[name]}"
        for name, _ in signature.headers
        if name in ev.response_headers
    ]
    how = "; ".join(shown) if shown else "the shape of its error"
    return f"response: {signature.platform} ({how})"


def _evidence_lines(signature: Signature, ev: Evidence) -> list[str]:
    lines = [_recognised_line(signature, ev), *describe.request_credentials(ev)]
    if ev.challenges:
        lines.append(describe.challenges_line(ev.challenges))
    if signature.quote_body:
        lines.append(describe.body_line(ev.body) or "")
    elif ev.body is not None:
        lines.append("body: not shown: the server repeats the request's credential")
    return [line for line in lines if line]


def rule_for(signature: Signature) -> Rule:
    """The rule that finds one signature's cause."""
    explain = EXPLAINERS.get(signature.details)
    matches = matcher(signature)

    def rule(ev: Evidence) -> Conclusion | None:
        if not matches(ev):
            return None
        details = explain(ev) if explain is not None else Details()
        if details is None:
            return None
        return Conclusion(
            confidence=details.confidence or signature.confidence,
            summary=details.summary or signature.summary,
            evidence=present(*_evidence_lines(signature, ev), *details.lines),
            fix=tuple(dict.fromkeys((*details.fix, *signature.fix))),
            fault=signature.fault,
        )

    rule.__name__ = signature.cause.replace("-", "_")
    return rule


# --- explainers ---------------------------------------------------------------------


def _cognito(ev: Evidence) -> Details | None:
    """API Gateway authorizers: what the token says about pool, client and use."""
    if ev.authorization is None and not ev.placed:
        return Details(
            summary="API Gateway's authorizer found no token: the request carried "
            "no Authorization header, the authorizer's default identity source",
        )
    token = ev.token
    if token is None or not (token.issuer or "").startswith("https://cognito-idp."):
        return Details()
    claims = [
        f"token_use {token.token_use!r}" if token.token_use else None,
        f"iss {token.issuer!r}",
        f"client_id {token.client_id!r}" if token.client_id else None,
        f"aud {', '.join(token.audiences)!r}" if token.audiences else None,
    ]
    lines = [f"token: Cognito {', '.join(c for c in claims if c)}"]
    summary = None
    if token.token_use == "id":
        summary = (
            "API Gateway's authorizer refused a Cognito ID token: a method with OAuth "
            "scopes wants the access token"
        )
    elif token.token_use == "access":
        summary = (
            "API Gateway's authorizer refused a Cognito access token: a method "
            "without OAuth scopes wants the ID token, or the scopes do not match"
        )
    return Details(
        lines=tuple(lines),
        summary=summary,
        fix=(
            "A Cognito user pool authorizer takes the ID token when the method has "
            "no OAuth scopes, and the access token (with one of the method's "
            "scopes) when it has some.",
            "The authorizer accepts only its own user pools: compare the user pool "
            "id at the end of iss with the authorizer's; an HTTP API JWT authorizer "
            "also checks aud (ID tokens) or client_id (access tokens) against its "
            "audience list.",
        ),
    )


def _amz_date(ev: Evidence) -> float | None:
    value = ev.context.headers.get("x-amz-date", "")
    try:
        signed = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return signed.timestamp()


def _sigv4_clock(ev: Evidence) -> Details | None:
    """Signature expired: is the client's clock off, or was the signature reused?"""
    signed_at = _amz_date(ev)
    if signed_at is None:
        return Details()
    age = ev.requested_at - signed_at
    lines = [
        f"request: X-Amz-Date {describe.timestamp(signed_at)}, "
        f"{describe.duration(age)} {'before' if age >= 0 else 'after'} the request "
        "was sent"
    ]
    clock = describe.server_clock_line(ev)
    if clock:
        lines.append(clock)
    fix: tuple[str, ...] = ()
    if age > SIGV4_SKEW:
        summary = (
            f"the request was signed {describe.duration(age)} before it was sent: "
            "a SigV4 signature reused or queued past AWS's 5 minutes"
        )
        fix = (REUSED_SIGNATURE_FIX,)
    elif ev.server_date is not None and abs(ev.server_date - signed_at) > SIGV4_SKEW:
        skew = ev.server_date - signed_at
        summary = (
            f"the client's clock is {describe.duration(skew)} "
            f"{'behind' if skew > 0 else 'ahead of'} AWS's: SigV4 allows 5 minutes"
        )
    else:
        summary = None
    return Details(lines=tuple(lines), summary=summary, fix=fix)


def _aws_api_key(ev: Evidence) -> Details | None:
    keys = [p for p in ev.placed if p.kind == "api-key"]
    exact = [p for p in keys if p.name.lower() == "x-api-key"]
    if exact:
        return Details(
            summary="API Gateway refused the x-api-key: wrong, disabled, or not in a "
            "usage plan for this API stage",
            confidence=HIGH,
        )
    if keys:
        return Details(
            summary=f"the API key was sent in {keys[0].name!r}, but API Gateway reads "
            "only the x-api-key header",
            confidence=HIGH,
            fix=("Send the key as 'x-api-key: KEY'.",),
        )
    return Details(
        summary="API Gateway refused the request at its API-key check: no x-api-key "
        "header was sent (or a WAF or resource policy refused it)",
    )


def _aws_missing_token(ev: Evidence) -> Details | None:
    sent = ev.authorization
    if sent is not None and sent.scheme == "aws4-hmac-sha256":
        return Details(
            summary="the request is SigV4-signed, so API Gateway has no route for this "
            "method and path (check the stage, the path and the method)",
        )
    if sent is not None:
        return Details(
            summary="API Gateway has no route for this method and path, or the route "
            "wants a SigV4 signature rather than the Authorization sent",
        )
    return None if ev.placed else Details()


def _nginx_htpasswd(ev: Evidence) -> Details | None:
    """auth_basic is on for this origin when it challenged a request earlier."""
    earlier = [
        r for r in (ev.history.refusals if ev.history else ()) if r.challenge == "basic"
    ]
    if not earlier:
        return Details(
            lines=(
                "note: nginx opens the user file only when credentials arrive; the "
                "same URL without credentials would answer 401 with a challenge",
            ),
        )
    last = earlier[-1]
    return Details(
        lines=(
            f"history: this origin answered {last.status} with a Basic challenge to "
            f"{last.method} {last.path} at {describe.timestamp(last.at)}: auth_basic "
            "is on, and it fails only once credentials arrive",
        ),
        confidence=HIGH,
    )


def _wordpress_password(ev: Evidence) -> Details | None:
    basic = ev.authorization.basic if ev.authorization is not None else None
    if basic is None or basic.password is None:
        return Details()
    stripped = re.sub(r"[^A-Za-z0-9]", "", basic.password)
    if APPLICATION_PASSWORD.fullmatch(stripped):
        return Details(
            lines=(
                "request: the password has the shape of an Application Password "
                "(24 letters and digits)",
            ),
            summary="WordPress refused the Application Password: revoked, mistyped, "
            "or another user's",
        )
    return Details(
        lines=(
            "request: the password is not shaped like an Application Password "
            "(WordPress makes them of 24 letters and digits)",
        ),
        summary="a login password was sent where WordPress expects an Application "
        "Password",
    )


def _kubernetes_user(ev: Evidence) -> Details | None:
    found = KUBERNETES_DENIAL.search(ev.body.message or "") if ev.body else None
    if found is None:
        return Details()
    user, verb, resource = found.groups()
    if user == "system:anonymous":
        if ev.has_credentials:
            return None  # the credential did not arrive: authorization-not-forwarded
        return Details(
            summary="Kubernetes treated the request as system:anonymous: it carried "
            "no token and no client certificate reached the API server",
            fix=("Send a bearer token or present a client certificate.",),
        )
    namespace = KUBERNETES_NAMESPACE.search(found.string)
    scope = f" -n {namespace.group(1)}" if namespace else ""
    return Details(
        lines=(f"body: Kubernetes user {user!r} may not {verb} {resource!r}",),
        fix=(f"Check with: kubectl auth can-i {verb} {resource} --as {user!r}{scope}",),
    )


def _azure_token(ev: Evidence) -> Details | None:
    token = ev.token
    if token is None:
        return Details()
    claims = [
        f"aud {', '.join(token.audiences)!r}" if token.audiences else None,
        f"iss {token.issuer!r}" if token.issuer else None,
    ]
    lines = [f"token: {', '.join(c for c in claims if c)}"] if any(claims) else []
    if token.exp is not None:
        offset = token.exp - ev.requested_at
        relation = "after" if offset > 0 else "before"
        lines.append(
            f"token: exp {describe.timestamp(token.exp)}, "
            f"{describe.duration(offset)} {relation} the request"
        )
    return Details(lines=tuple(lines))


EXPLAINERS: dict[str, Explainer] = {
    "cognito": _cognito,
    "sigv4-clock": _sigv4_clock,
    "aws-api-key": _aws_api_key,
    "aws-missing-token": _aws_missing_token,
    "nginx-htpasswd": _nginx_htpasswd,
    "wordpress-password": _wordpress_password,
    "kubernetes-user": _kubernetes_user,
    "azure-token": _azure_token,
}


def _shows(signature: Signature) -> str:
    extra = " and what the token or the history adds" if signature.details else ""
    return (
        f"Which {signature.platform} response it is (the headers or body that "
        f"identify it), the credentials sent{extra}."
    )


# --- traits: which signatures a flow can match, found for all of them at once ------


def needs_of(signature: Signature) -> frozenset[str]:
    """The traits a flow needs to match the signature: its headers, and traits
    saying that its code, message or fields patterns match (see
    ``signature_traits``), its challenge scheme and what the request sent."""
    needs = {f"header:{name}" for name, _ in signature.headers}
    if signature.code is not None:
        needs.add(f"code:{signature.cause}")
    if signature.message is not None:
        needs.add(f"message:{signature.cause}")
    if signature.fields:
        needs.add(f"fields:{signature.cause}")
    if signature.challenge is not None:
        needs.add(f"challenge:{signature.challenge}")
    if signature.sent != "any":
        needs.add(signature.sent)
    return frozenset(needs)


@trait_finder
def signature_traits(ev: Evidence) -> frozenset[str]:
    """'code:CAUSE', 'message:CAUSE' and 'fields:CAUSE' for each signature whose
    pattern matches the server's error code, message or body fields."""
    fields = ev.body.fields if ev.body is not None else ()
    return _answer_traits(_codes(ev), _messages(ev), fields)


_CODE_PATTERNS = tuple(
    (f"code:{s.cause}", re.compile(s.code)) for s in SIGNATURES if s.code is not None
)
_MESSAGE_PATTERNS = tuple(
    (f"message:{s.cause}", re.compile(s.message))
    for s in SIGNATURES
    if s.message is not None
)
_FIELD_PATTERNS = tuple(
    (f"fields:{s.cause}", tuple((name, re.compile(p)) for name, p in s.fields))
    for s in SIGNATURES
    if s.fields
)


@memo.recent(64, 8192)
def _answer_traits(
    codes: tuple[str, ...],
    messages: tuple[str, ...],
    fields: tuple[tuple[str, str], ...],
) -> frozenset[str]:
    """Every signature pattern tested against one answer. A server answers
    every refusal of a kind with the same code and, usually, the same words, so
    this runs once per distinct answer, not once per flow."""
    found = {
        trait
        for trait, pattern in _CODE_PATTERNS
        if any(pattern.fullmatch(code) for code in codes)
    }
    found.update(
        trait
        for trait, pattern in _MESSAGE_PATTERNS
        if any(pattern.search(message) for message in messages)
    )
    if fields:
        found.update(
            trait for trait, wanted in _FIELD_PATTERNS if _fields_match(wanted, fields)
        )
    return frozenset(found)


for _signature in SIGNATURES:
    if _signature.details and _signature.details not in EXPLAINERS:
        raise ValueError(f"{_signature.cause}: no explainer {_signature.details!r}")
    cause(
        _signature.cause,
        title=f"{_signature.platform}: {_signature.title}",
        triggers=f"{_signature.when} Source: {_signature.source}",
        shows=_shows(_signature),
        remedy=" ".join(_signature.fix[:1]),
        statuses=_signature.statuses,
        needs=needs_of(_signature),
    )(rule_for(_signature))
