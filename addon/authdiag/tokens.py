"""Look inside JSON Web Tokens without verifying them (RFC 7519, RFC 7515).

Only the JWS Compact Serialization is read (RFC 7515 §7.1): three base64url
segments, header.payload.signature. pyjwt decides whether the token decodes at
all (signature checks off), as it would in a server built on it. When it refuses,
each segment is read on its own with pyjwt's base64url helper, because pyjwt
reports only its first complaint while a diagnosis wants to say which segment is
broken and still show the rest. The signature is never stored or quoted.

Nothing here reads the clock: exp, nbf and iat are handed back as numbers and the
caller judges them against its own notion of now. Claims of the wrong type are
reported as problems, never raised.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import jwt.utils

from authdiag import memo

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_JWE_SEGMENTS = 5  # RFC 7516 §7.1: header.key.iv.ciphertext.tag


@dataclass(frozen=True, slots=True)
class JwtInspection:
    """What an unverified JWT says about itself.

    Nothing in it is trusted: the signature was not checked. ``claims`` is left
    out of repr because it may hold personal data.
    """

    header: Mapping[str, Any] = field(default_factory=dict)
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)
    decodable: bool = True
    """False when the token is not a JWS, or its header or payload could not be
    decoded to a JSON object. Whatever segment did decode is still filled in."""
    problems: tuple[str, ...] = ()
    """Human-readable, secret-free: 'payload is not valid base64url',
    'claim exp is a string, not a number', ..."""

    # Typed views of the claims that explain refusals; None when absent or of the
    # wrong type (the wrong type is then one of ``problems``).
    alg: str | None = None
    kid: str | None = None
    typ: str | None = None
    exp: float | None = None
    """Seconds since the epoch, as sent (an int stays an int)."""
    nbf: float | None = None
    iat: float | None = None
    audiences: tuple[str, ...] | None = None
    """aud as a tuple (a single string becomes a 1-tuple)."""
    issuer: str | None = None
    subject: str | None = None
    scopes: tuple[str, ...] | None = None
    """From 'scope' (space-separated string) or 'scp' (string or list); 'scope'
    wins when both are usable. A list in 'scope' is accepted too."""
    client_id: str | None = None
    """client_id, or azp when client_id is absent or not a string."""
    token_use: str | None = None
    """AWS Cognito's 'token_use' (id / access)."""
    cnf_thumbprint: str | None = None
    """cnf['x5t#S256'] (RFC 8705 §3.1), base64url."""

    @property
    def unsigned(self) -> bool:
        """alg is 'none' (any case): the token carries no signature (RFC 7518
        §3.6). Such tokens must be refused by any sane resource server."""
        return self.alg is not None and self.alg.lower() == "none"


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated base64url segments, the first starting with 'eyJ'.

    'eyJ' is base64url for '{"', so a JWS header always starts with it. This is a
    cheap shape check: nothing is decoded.
    """
    return _JWT_SHAPE.fullmatch(token) is not None


CACHED_TOKENS = 64
"""Tokens whose inspection is kept: an app sends the same token with every
request until it refreshes it, and retries a refused one."""
MAX_CACHED_TOKEN = 8192
"""Longer tokens are inspected anew each time, so that the cache stays under
CACHED_TOKENS x 8 KiB of tokens whatever clients send (real JWTs are far
smaller; servers refuse headers over 8 to 16 KiB)."""


@memo.recent(CACHED_TOKENS, MAX_CACHED_TOKEN)
def inspect_jwt(token: str) -> JwtInspection:
    """Decode header and claims unverified. Never raises.

    Decoding costs tens of microseconds per flow, so the inspection of recent
    tokens is reused; it is immutable, so sharing it is safe.
    """
    segments = token.strip().split(".")
    if len(segments) == _JWE_SEGMENTS:
        # RFC 7516: the claims are encrypted; only the header is readable.
        header, _ = _decode_object(segments[0], "header")
        return JwtInspection(
            header=header or {},
            decodable=False,
            problems=(
                "encrypted JWT (JWE): its claims cannot be read without the key",
            ),
            **_header_views(header or {}, []),
        )
    if len(segments) != 3:
        return JwtInspection(decodable=False, problems=(_segment_count(segments),))
    refusal = _pyjwt_refusal(token.strip())
    header, header_problem = _decode_object(segments[0], "header")
    claims, payload_problem = _decode_object(segments[1], "payload")
    problems = [p for p in (refusal, header_problem, payload_problem) if p]
    if header is not None and "alg" not in header:
        problems.append("header has no alg (RFC 7515 §4.1.1 requires one)")
    views = _header_views(header or {}, problems)
    views.update(_claim_views(claims or {}, problems))
    return JwtInspection(
        header=header or {},
        claims=claims or {},
        decodable=refusal is None and header is not None and claims is not None,
        problems=tuple(problems),
        **views,
    )


def _pyjwt_refusal(token: str) -> str | None:
    """Why pyjwt will not decode the token (signature unchecked), or None."""
    try:
        jwt.api_jws.PyJWS().decode_complete(token, options={"verify_signature": False})
    except jwt.PyJWTError as refused:
        # pyjwt's messages name the part and never quote the token.
        return f"pyjwt refuses it: {str(refused)[:120]}"
    except (ValueError, TypeError, RecursionError):
        return "pyjwt refuses it"
    return None


def _segment_count(segments: list[str]) -> str:
    count = len(segments)
    noun = "segment" if count == 1 else "segments"
    return f"token has {count} {noun}, a JWS has 3"


def _decode_object(segment: str, name: str) -> tuple[dict[str, Any] | None, str | None]:
    """One segment as a JSON object, or None and the reason it is not one."""
    raw = _b64url_decode(segment)
    if raw is None:
        return None, f"{name} is not valid base64url"
    if not raw:
        return None, f"{name} is empty"
    try:
        # RFC 7519 §7.2: the segments are UTF-8 JSON. NaN and Infinity are not
        # JSON (RFC 8259 §6), so they are refused rather than read as floats.
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, f"{name} is not valid JSON"
    if not isinstance(value, dict):
        return None, f"{name} is {_kind(value)}, not a JSON object"
    return value, None


def _b64url_decode(segment: str) -> bytes | None:
    """base64url without padding (RFC 7515 §2); None when it is not that.

    The alphabet is checked first because the decoder silently skips characters
    outside it.
    """
    if _B64URL.fullmatch(segment) is None:
        return None
    try:
        return jwt.utils.base64url_decode(segment)
    except (binascii.Error, ValueError):
        return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _header_views(header: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    return {
        name: _string(header, name, "header", problems)
        for name in ("alg", "kid", "typ")
    }


def _claim_views(claims: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    views: dict[str, Any] = {
        name: _number(claims, name, problems) for name in ("exp", "nbf", "iat")
    }
    views["audiences"] = _string_list(claims, "aud", problems, split=False)
    views["issuer"] = _string(claims, "iss", "claim", problems)
    views["subject"] = _string(claims, "sub", "claim", problems)
    views["token_use"] = _string(claims, "token_use", "claim", problems)
    # client_id is RFC 9068 §2.2 (JWT access tokens); azp is OpenID Connect's
    # "authorized party", what Keycloak and Google put the client in.
    client_id = _string(claims, "client_id", "claim", problems)
    if client_id is None:
        client_id = _string(claims, "azp", "claim", problems)
    views["client_id"] = client_id
    # scope is RFC 8693 §4.2 / RFC 9068 §2.2.3; scp is Azure AD (string) and
    # Okta (list).
    scopes = _string_list(claims, "scope", problems, split=True)
    if scopes is None:
        scopes = _string_list(claims, "scp", problems, split=True)
    views["scopes"] = scopes
    views["cnf_thumbprint"] = _thumbprint(claims, problems)
    return views


def _string(
    source: Mapping[str, Any], name: str, where: str, problems: list[str]
) -> str | None:
    if name not in source:
        return None
    value = source[name]
    if isinstance(value, str):
        return value
    problems.append(f"{where} {name} is {_kind(value)}, not a string")
    return None


def _number(claims: Mapping[str, Any], name: str, problems: list[str]) -> float | None:
    """A NumericDate (RFC 7519 §2): a JSON number of seconds since the epoch."""
    if name not in claims:
        return None
    value = claims[name]
    # bool is an int subclass in Python but not a number in JSON.
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"claim {name} is {_kind(value)}, not a number")
        return None
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(f"claim {name} is not a finite number")
        return None
    return value


def _string_list(
    claims: Mapping[str, Any], name: str, problems: list[str], *, split: bool
) -> tuple[str, ...] | None:
    """A string or a list of strings; a string is split on spaces when ``split``."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, str):
        return tuple(value.split()) if split else (value,)
    if isinstance(value, list):
        odd = [item for item in value if not isinstance(item, str)]
        if not odd:
            return tuple(value)
        problems.append(
            f"claim {name} is a list holding {_kind(odd[0])}, "
            "not a string or list of strings"
        )
        return None
    problems.append(f"claim {name} is {_kind(value)}, not a string or list of strings")
    return None


def _thumbprint(claims: Mapping[str, Any], problems: list[str]) -> str | None:
    """cnf's x5t#S256: the certificate a token is bound to (RFC 8705 §3.1)."""
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    if not isinstance(cnf, dict):
        problems.append(f"claim cnf is {_kind(cnf)}, not a JSON object")
        return None
    return _string(cnf, "x5t#S256", "claim cnf member", problems)


def _kind(value: object) -> str:
    """A JSON type name with its article, for problem texts."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
