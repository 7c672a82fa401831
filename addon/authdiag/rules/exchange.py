"""Causes in the exchange itself: a proxy's 407, handshakes, stale nonces."""

from __future__ import annotations

import base64
import binascii

from authdiag import describe
from authdiag.catalogue import Conclusion, cause
from authdiag.evidence import Evidence
from authdiag.findings import Fault
from authdiag.rules.common import (
    HIGH,
    common_evidence,
    present,
    scheme_sent,
)

HANDSHAKE_SCHEMES = frozenset({"digest", "ntlm", "negotiate"})
"""Schemes whose first 401 is how the exchange begins (RFC 7616 §3.3, RFC 4559)."""


def _ntlm_message_type(token: str) -> int | None:
    # NTLM messages start with "NTLMSSP\0" and a little-endian message type
    # (MS-NLMP §2.2.1): 1 negotiate, 2 challenge, 3 authenticate.
    try:
        raw = base64.b64decode(token[:24] + "=" * (-len(token[:24]) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 12 or not raw.startswith(b"NTLMSSP\0"):
        return None
    return int.from_bytes(raw[8:12], "little")


@cause(
    "proxy-auth-required",
    title="A proxy, not the server, asks for credentials (407)",
    triggers="The response is 407 Proxy Authentication Required.",
    shows=(
        "The Proxy-Authorization the client sent (described, never shown) or its "
        "absence, the Proxy-Authenticate challenge and its realm."
    ),
    remedy=(
        "Give the proxy its credentials (Proxy-Authorization), not the server: "
        "curl --proxy-user, a user:password in requests' proxies URL, or mitmproxy's "
        "upstream_auth option when mitmproxy chains to that proxy."
    ),
)
def proxy_auth_required(ev: Evidence) -> Conclusion | None:
    if ev.status != 407:
        return None
    sent = ev.proxy_authorization
    challenge = describe.challenges_line(ev.proxy_challenges, "Proxy-Authenticate")
    if sent is not None:
        summary = "the proxy refused the Proxy-Authorization credentials it was sent"
        evidence = (f"request: Proxy-Authorization: {describe.credential(sent)}",)
    else:
        summary = "a proxy between the client and the server wants credentials"
        evidence = ("request: no Proxy-Authorization header",)
    realm = next(
        (c.param("realm") for c in ev.proxy_challenges.challenges if c.param("realm")),
        None,
    )
    return Conclusion(
        confidence=HIGH,
        summary=summary + (f' (realm "{realm}")' if realm else ""),
        evidence=present(*evidence, challenge, describe.body_line(ev.body)),
        fix=(
            "The 407 comes from a proxy (RFC 9110 §15.5.8); the origin server never "
            "saw the request, so the server's credentials do not matter here.",
            "If mitmproxy chains to that proxy (--mode upstream:...), give mitmproxy "
            "the proxy's credentials: --set upstream_auth=USER:PASSWORD.",
            "If the client talks to that proxy itself: curl --proxy-user "
            "USER:PASSWORD; requests: proxies={'https': "
            "'http://USER:PASSWORD@proxy:port'}.",
        ),
        fault=Fault.PROXY,
    )


@cause(
    "challenge-handshake",
    title="The first step of a challenge-response handshake (not a failure)",
    triggers=(
        "A 401 with a Digest, NTLM or Negotiate challenge answering a request without "
        "credentials, or an NTLM/Negotiate challenge answering the client's first "
        "handshake message."
    ),
    shows=(
        "The credentials sent (none, or the client's first NTLM/Negotiate message) "
        "and the challenge."
    ),
    remedy=(
        "Nothing, when the client answers with credentials next. If no such request "
        "follows, the client has no credentials configured for this scheme."
    ),
    routine=True,
)
def challenge_handshake(ev: Evidence) -> Conclusion | None:
    if ev.status != 401:
        return None
    offered = [c for c in ev.challenges.challenges if c.scheme_key in HANDSHAKE_SCHEMES]
    if not offered:
        return None
    sent = ev.authorization
    if sent is None and not ev.placed:
        scheme = offered[0].scheme
        summary = (
            f"first step of the {scheme} handshake: the server sent its challenge "
            "and waits for the client to answer with credentials"
        )
    elif (
        sent is not None
        and sent.scheme in ("ntlm", "negotiate")
        and any(c.token68 for c in offered if c.scheme_key == sent.scheme)
        and _ntlm_message_type(sent.secret) in (None, 1)
    ):
        summary = (
            f"{sent.raw_scheme} handshake in progress: the server answered the "
            "client's first message with its own challenge"
        )
    else:
        return None
    return Conclusion(
        confidence=HIGH,
        summary=summary,
        evidence=present(
            *describe.request_credentials(ev) or ["request: no credentials"],
            describe.challenges_line(ev.challenges),
        ),
        fix=(
            "This 401 is expected; the next request from the client should carry "
            "the credentials.",
            "If no such request follows, configure the client for this scheme: "
            "curl --digest -u USER (or --ntlm / --negotiate); requests: "
            "auth=HTTPDigestAuth(user, password).",
        ),
        fault=Fault.CLIENT,
    )


@cause(
    "digest-stale-nonce",
    shows=("The Digest credential (user name only) and the challenge with stale=true."),
    title="Digest nonce expired; the password is fine",
    triggers="A 401 with a Digest challenge carrying stale=true (RFC 7616 §3.3).",
    remedy="Retry with the fresh nonce from the new challenge; keep the password.",
)
def digest_stale_nonce(ev: Evidence) -> Conclusion | None:
    if ev.status != 401 or scheme_sent(ev) != "digest":
        return None
    stale = [
        c
        for c in ev.challenges.challenges
        if c.scheme_key == "digest" and (c.param("stale") or "").lower() == "true"
    ]
    if not stale:
        return None
    return Conclusion(
        confidence=HIGH,
        summary=(
            "the Digest nonce the client used has expired (stale=true): the "
            "username and password were right"
        ),
        evidence=tuple(common_evidence(ev)),
        fix=(
            "Answer the new challenge with its fresh nonce; do not ask the user for "
            "the password again (RFC 7616 §3.3).",
            "Most clients do this on their own (requests' HTTPDigestAuth, curl "
            "--digest); a client that gives up here caches nonces for too long.",
        ),
        fault=Fault.CLIENT,
    )
