"""A client that keeps sending a credential the server already refused.

This runs last in the catalogue: a retry storm is how the client behaves after
a refusal, not why the refusal happened, so among equally sure findings the one
that explains the refusal is the verdict and the storm comes after it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from authdiag import describe
from authdiag.catalogue import Conclusion, cause
from authdiag.evidence import Evidence
from authdiag.findings import Fault
from authdiag.rules.common import MEDIUM, present

RETRY_WINDOW = 60.0
"""Seconds back from a refusal in which earlier refusals count towards a storm."""
RETRY_THRESHOLD = 3
"""Refusals of the same credential for the same request, this one included."""


@cause(
    "retry-storm",
    title="The client keeps retrying a credential the server refused",
    triggers=(
        f"The {RETRY_THRESHOLD}th or later refusal, within {RETRY_WINDOW:.0f} s, "
        "of the same credential (by fingerprint) for the same method and path from "
        "the same client."
    ),
    shows="How many refusals, over how long, how often, and when the first was.",
    remedy=(
        "On a refusal, refresh the credential once (one refresh shared by all "
        "waiting requests) or stop and ask the user; never resend the refused one."
    ),
    needs=("history-refusals",),
)
def retry_storm(ev: Evidence) -> Conclusion | None:
    history = ev.history
    if history is None or not history.credentials:
        return None
    sent = {c.fingerprint for c in history.credentials}
    path = urlsplit(ev.url).path or "/"
    earlier = [
        r
        for r in history.refusals
        if r.fingerprints & sent
        and r.method == ev.method
        and r.path == path
        and 0 <= ev.requested_at - r.at <= RETRY_WINDOW
    ]
    count = len(earlier) + 1
    if count < RETRY_THRESHOLD:
        return None
    span = ev.requested_at - earlier[0].at
    pace = span / (count - 1)
    return Conclusion(
        confidence=MEDIUM,
        summary=(
            f"the client sent the same refused credential {count} times in "
            f"{span:.1f} s (one every {pace:.1f} s) instead of refreshing it or "
            "stopping"
        ),
        evidence=present(
            f"history: {count - 1} earlier refusals of this credential for "
            f"{ev.method} {path} from this client, the first at "
            f"{describe.timestamp(earlier[0].at)}",
            f"history: statuses {', '.join(str(r.status) for r in earlier[-5:])}"
            f"{' …' if len(earlier) > 5 else ''}, then {ev.status}",
            *describe.request_credentials(ev),
        ),
        fix=(
            "Treat 401 as 'get a new credential': refresh once, with a single "
            "refresh shared by every request waiting on it, then retry once; if that "
            "fails too, stop and ask the user to sign in again.",
            "Never retry 401/403 with the same credential, and back off (with "
            "jitter) on other errors; servers and WAFs lock out clients that keep "
            "failing.",
        ),
        fault=Fault.CLIENT,
    )
