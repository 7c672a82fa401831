"""Show credentials without revealing them.

A secret is named by a fingerprint (the first 8 hex digits of its SHA-256), which
is enough to tell two credentials apart in a capture and useless to an attacker.
Long opaque tokens may also show a short prefix, since token prefixes often name
the issuer (``ghp_``, ``xoxb-``, ``sk_live_``); passwords show nothing at all.
"""

from __future__ import annotations

import hashlib

PREFIX_LENGTH = 4
"""Characters of a token shown before the fingerprint."""
MIN_LENGTH_FOR_PREFIX = 24
"""Tokens shorter than this show no prefix: four characters of a short key are
too large a share of it."""


def fingerprint(secret: str) -> str:
    """A stable, non-reversible name for a secret: 'sha256:1a2b3c4d'."""
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest[:8]}"


def describe_token(token: str) -> str:
    """A token as it may appear in evidence: length, prefix when long, fingerprint."""
    details = f"({len(token)} chars, {fingerprint(token)})"
    if len(token) < MIN_LENGTH_FOR_PREFIX:
        return details
    return f"{token[:PREFIX_LENGTH]}… {details}"


def describe_password(password: str) -> str:
    """A password as it may appear in evidence: only its length and fingerprint."""
    return f"password of {len(password)} chars ({fingerprint(password)})"


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every occurrence of a known secret in text with its fingerprint.

    A safety net for strings that come from the server (an error body may echo the
    token back) and for anything a rule assembled; secrets shorter than 4
    characters are left alone, as replacing them would garble ordinary words.
    """
    for secret in secrets:
        if len(secret) >= 4 and secret in text:
            text = text.replace(secret, f"<{fingerprint(secret)}>")
    return text
