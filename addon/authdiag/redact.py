"""Show credentials without revealing them.

A secret is named by a fingerprint (the first 8 hex digits of its SHA-256), which
is enough to tell two credentials apart in a capture and useless to an attacker.
Long opaque tokens may also show a short prefix, since token prefixes often name
the issuer (``ghp_``, ``xoxb-``, ``sk_live_``); passwords show nothing at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from authdiag import memo

PREFIX_LENGTH = 4
"""Characters of a token shown before the fingerprint."""
MIN_LENGTH_FOR_PREFIX = 24
"""Tokens shorter than this show no prefix: four characters of a short key are
too large a share of it."""


@memo.recent(1024, 2048)
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
        if text.endswith(TRUNCATION_MARK) and len(secret) >= MIN_ECHO:
            text = _scrub_cut_echo(text, secret)
    return text


def scrub_lines(lines: Sequence[str], secrets: tuple[str, ...]) -> list[str]:
    """``scrub`` over the lines of one finding. Almost always no line holds a
    secret, and one search of their joined text shows that at once; only a
    line cut short may then still end in the start of one."""
    joined = "\n".join(lines)
    if any(len(secret) >= 4 and secret in joined for secret in secrets):
        return [scrub(line, secrets) for line in lines]
    return [
        scrub(line, secrets) if line.endswith(TRUNCATION_MARK) else line
        for line in lines
    ]


TRUNCATION_MARK = "…"
"""What parsers append to a string they cut short (bodies.MAX_TEXT)."""
MIN_ECHO = 8
"""Shortest start of a secret, cut off by truncation, that is still replaced."""


def _scrub_cut_echo(text: str, secret: str) -> str:
    # A body that echoes the credential may have been cut inside it, so the whole
    # secret is no longer there to find; what ends the text may be its start.
    start = text.find(secret[:MIN_ECHO])
    while start != -1:
        tail = text[start : -len(TRUNCATION_MARK)]
        if secret.startswith(tail):
            return f"{text[:start]}<{fingerprint(secret)}>{TRUNCATION_MARK}"
        start = text.find(secret[:MIN_ECHO], start + 1)
    return text


def encodable(text: str) -> str:
    """Text that can be written as UTF-8 (to a .flow file, a log, a report).

    mitmproxy decodes header bytes that are not UTF-8 as lone surrogates
    (surrogateescape); quoted back unchanged they would make saving the flow
    fail. They are shown as backslash escapes instead.
    """
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
