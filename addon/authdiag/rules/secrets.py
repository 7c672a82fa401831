"""Causes about other credentials: API keys, passwords, the wrong scheme."""

from __future__ import annotations

import re

from authdiag.catalogue import Conclusion, cause
from authdiag.credentials import AuthorizationCredential
from authdiag.evidence import Evidence
from authdiag.findings import Fault
from authdiag.rules.common import (
    CONTEXT_CAUSES,
    HIGH,
    MEDIUM,
    REFUSALS,
    common_evidence,
    present,
    scheme_fix,
    server_says,
)

MENTIONS_CREDENTIALS = re.compile(r"credential|password|user", re.I)
MENTIONS_KEY = re.compile(r"api[ _-]?key|\bkey\b|subscription", re.I)
SAYS_NOTHING_ARRIVED = re.compile(
    r"\bno\b.*\b(found|provided|present|supplied)\b|missing|not (provided|found|"
    r"present|supplied)|were not provided|required",
    re.I,
)


@cause(
    "api-key-rejected",
    title="The API key was refused",
    triggers=(
        "The request carried an API key (a header such as X-API-Key or a query "
        "parameter such as api_key) and no Authorization, and was refused."
    ),
    shows=(
        "The header or query parameter that carried the key (fingerprint only) and "
        "the server's message."
    ),
    remedy="Check the key, its header or parameter name, and the environment it "
    "belongs to.",
    yields_to=("scheme-mismatch", *CONTEXT_CAUSES),
)
def api_key_rejected(ev: Evidence) -> Conclusion | None:
    keys = [p for p in ev.placed if p.kind == "api-key"]
    if ev.status not in REFUSALS or not keys or ev.authorization is not None:
        return None
    key = keys[0]
    said_missing = server_says(ev, SAYS_NOTHING_ARRIVED)
    said_key = server_says(ev, MENTIONS_KEY)
    if not key.value:
        summary = f"the API key in {key.name!r} is empty"
        fix: tuple[str, ...] = (
            "Set the variable that holds the API key; it is empty.",
        )
    elif said_missing and said_key:
        summary = (
            f"the server says no API key arrived, but the request sent one in "
            f"{key.location.value} {key.name!r}: it expects it under another name"
        )
        fix = (
            "Send the key where the API documents it (header name, query parameter "
            "or Authorization scheme); names are matched exactly by many gateways.",
        )
    else:
        summary = f"the server refused the API key sent in {key.name!r}"
        fix = (
            "Check that the key is current (not rotated or deleted) and belongs to "
            "this environment (test vs live keys).",
            "Check that the key is allowed for this API, method and origin (usage "
            "plans, IP or referrer restrictions).",
        )
    return Conclusion(
        confidence=HIGH if said_key or not key.value else MEDIUM,
        summary=summary,
        evidence=tuple(common_evidence(ev)),
        fix=fix,
        fault=Fault.CLIENT,
    )


@cause(
    "credentials-rejected",
    title="The credentials were refused (wrong user, password or key)",
    triggers=(
        "A well-formed Basic, Digest or other non-Bearer credential, in a scheme the "
        "server asks for (or with no challenge at all), answered with 401."
    ),
    shows=(
        "The scheme and user (never the password), the challenge and realm, the body."
    ),
    remedy="Check the user name and password (or key) for this realm and environment.",
    yields_to=(
        "authorization-malformed",
        "basic-malformed",
        "digest-stale-nonce",
        *CONTEXT_CAUSES,
    ),
)
def credentials_rejected(ev: Evidence) -> Conclusion | None:
    sent = ev.authorization
    if ev.status != 401 or sent is None or not sent.scheme or sent.bearer_token:
        return None
    asked = ev.challenges.schemes
    if asked and sent.scheme not in asked:
        return None
    if not asked and not server_says(ev, re.compile(r"credential|password|user", re.I)):
        return None
    lines = list(common_evidence(ev))
    fix: list[str] = []
    if sent.scheme == "digest":
        fix.append(_digest_realm_fix(sent, ev))
    user = sent.basic.user_id if sent.basic else sent.params.get("username")
    who = f" for user {user!r}" if user else ""
    fix.extend(
        (
            f"Check the password{who}: the server knows the scheme and refused the "
            "credential itself.",
            "Check that the account exists in this environment and is not locked; "
            "some services want an app password or API token instead of the login "
            "password.",
        )
    )
    return Conclusion(
        confidence=HIGH if asked else MEDIUM,
        summary=f"the server refused the {sent.raw_scheme} credentials{who}",
        evidence=tuple(lines),
        fix=tuple(f for f in fix if f),
        fault=Fault.CLIENT,
    )


def _digest_realm_fix(sent: AuthorizationCredential, ev: Evidence) -> str:
    offered = ev.challenges.find("digest")
    sent_realm = sent.params.get("realm")
    if offered is None or sent_realm is None:
        return ""
    if offered.param("realm") not in (None, sent_realm):
        return (
            f"The credential was computed for realm {sent_realm!r} but the server "
            f"asks for {offered.param('realm')!r}."
        )
    return ""


@cause(
    "scheme-mismatch",
    shows=("The scheme sent, the schemes the server challenges with."),
    title="The credential uses a scheme the server does not ask for",
    triggers=(
        "The request's Authorization scheme (or an API key with no Authorization) "
        "is not among the schemes in the server's WWW-Authenticate challenges."
    ),
    remedy="Send the credential in the scheme the server names (Bearer, Basic, an "
    "API-key header, ...).",
    yields_to=("authorization-malformed", "challenge-handshake", *CONTEXT_CAUSES),
)
def scheme_mismatch(ev: Evidence) -> Conclusion | None:
    if ev.status != 401 or not ev.challenges:
        return None
    asked = ev.challenges.schemes
    sent = ev.authorization
    if sent is not None and sent.scheme and sent.scheme not in asked:
        what = f"'{sent.raw_scheme}'"
    elif sent is None and ev.placed and not ev.session_cookies:
        what = f"an {ev.placed[0].kind} in {ev.placed[0].name!r}"
    else:
        return None
    wanted = " or ".join(c.scheme for c in ev.challenges.challenges[:3])
    return Conclusion(
        confidence=MEDIUM,
        summary=f"the request sent {what} but the server asks for {wanted}",
        evidence=present(
            *common_evidence(ev),
            "note: some servers list only one of the schemes they accept; the "
            "challenge is still the best statement of what this endpoint wants",
        ),
        fix=(scheme_fix(ev.challenges.schemes[0]),),
        fault=Fault.CLIENT,
    )
