"""Turn evidence into short, secret-free sentences for findings.

Each evidence line starts with where it comes from ('request:', 'challenge:',
'body:', 'server clock:'), so a reader sees what the verdict rests on.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from authdiag.bodies import ErrorBody
from authdiag.challenges import Challenge, Challenges
from authdiag.credentials import AuthorizationCredential, PlacedCredential
from authdiag.evidence import Evidence, once_per_flow
from authdiag.redact import describe_token, fingerprint

SHOWN_CHALLENGE_PARAMS = (
    "realm",
    "error",
    "error_description",
    "scope",
    "stale",
    "charset",
    "algorithm",
    "qop",
)
"""Challenge params worth showing; nonces, opaque values and token68 are noise."""


def timestamp(epoch: float) -> str:
    """An epoch time as 'YYYY-MM-DD HH:MM:SS UTC'."""
    try:
        moment = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return f"{epoch!r} (out of range)"
    # isoformat is several times faster than strftime, which showed in the
    # per-flow cost (three timestamps in a typical finding).
    return f"{moment.replace(microsecond=0, tzinfo=None).isoformat(' ')} UTC"


def duration(seconds: float) -> str:
    """A positive duration in words: '45 s', '12 min', '3 h 5 min', '4 days'."""
    seconds = abs(seconds)
    if not math.isfinite(seconds):
        return "an unknown time"  # a recording's timestamp that is not a number
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours = int(minutes // 60)
    if hours < 48:
        rest = int(minutes - hours * 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} days"


def challenge(found: Challenge) -> str:
    """A challenge as the server sent it, minus the noise."""
    shown = [
        f'{name}="{found.params[name]}"'
        for name in SHOWN_CHALLENGE_PARAMS
        if name in found.params
    ]
    if found.token68 is not None:
        shown.append(f"<{len(found.token68)}-char token68>")
    return f"{found.scheme} {', '.join(shown)}".rstrip()


def challenges_line(found: Challenges, field: str = "WWW-Authenticate") -> str:
    if not found:
        return f"challenge: the response has no {field} header"
    listed = "; ".join(challenge(c) for c in found.challenges[:4])
    more = len(found.challenges) - 4
    if more > 0:
        listed += f"; and {more} more"
    return f"challenge: {field}: {listed}"


def credential(authorization: AuthorizationCredential) -> str:
    """An Authorization value described without its secret."""
    scheme = authorization.raw_scheme or "(no scheme)"
    if authorization.basic is not None and authorization.basic.user_id is not None:
        return f"{scheme} credential for user {authorization.basic.user_id!r}"
    if authorization.bearer_token:
        return f"{scheme} token {describe_token(authorization.bearer_token)}"
    if authorization.params.get("username"):
        return f"{scheme} credential for user {authorization.params['username']!r}"
    if not authorization.secret:
        return f"{scheme} with an empty credential"
    return f"{scheme} credential {describe_token(authorization.secret)}"


def placed(found: PlacedCredential) -> str:
    if not found.value:
        return f"{found.kind} in {found.location.value} {found.name!r} (empty)"
    return (
        f"{found.kind} in {found.location.value} {found.name!r}: "
        f"{describe_token(found.value)}"
    )


MAX_LISTED = 5
"""Most API keys, tokens or session cookies listed one per line; the rest are
counted in one more line, so ten thousand keys cost one line, not ten thousand."""


@once_per_flow
def request_credentials(ev: Evidence) -> tuple[str, ...]:
    """One evidence line per credential the request carried."""
    lines = []
    if ev.authorization is not None:
        lines.append(f"request: Authorization: {credential(ev.authorization)}")
    lines.extend(f"request: {placed(p)}" for p in ev.placed[:MAX_LISTED])
    lines.extend(_unlisted(len(ev.placed), "API keys or tokens"))
    lines.extend(
        f"request: session cookie {name!r} ({fingerprint(value)})"
        for name, value in ev.session_cookies[:MAX_LISTED]
    )
    lines.extend(_unlisted(len(ev.session_cookies), "session cookies"))
    return tuple(lines)


def _unlisted(count: int, what: str) -> list[str]:
    if count <= MAX_LISTED:
        return []
    return [f"request: and {count - MAX_LISTED} more {what}, not listed"]


def body_line(body: ErrorBody | None) -> str | None:
    if body is None or not (body.code or body.message):
        return None
    parts = []
    if body.code:
        parts.append(f"code {body.code!r}")
    if body.message:
        parts.append(repr(body.message))
    return f"body: {body.source}: {', '.join(parts)}"


def server_clock_line(ev: Evidence) -> str | None:
    skew = ev.clock_skew
    if skew is None or ev.server_date is None:
        return None
    if abs(skew) < 5:
        return f"server clock: Date {timestamp(ev.server_date)} agrees with the proxy"
    direction = "ahead of" if skew > 0 else "behind"
    return (
        f"server clock: Date {timestamp(ev.server_date)} is {duration(skew)} "
        f"{direction} the proxy's clock"
    )
