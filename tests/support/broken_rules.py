"""A mitmproxy script that breaks authdiag on purpose, for the containment tests.

Load it after the addon: ``mitmdump -s addon/diag.py -s tests/support/broken_rules.py``.
It registers one more cause whose rule always raises, a trait finder that raises
for requests whose query has ``authdiag-test=traits``, and makes building the
evidence raise for requests that carry the header ``X-Authdiag-Test: explode``.
Each must cost nothing but a log line: the flow passes untouched.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import http

from authdiag import evidence
from authdiag.catalogue import cause, trait_finder

EXPLODE_HEADER = "X-Authdiag-Test"
FAILING_TRAITS_QUERY = "authdiag-test=traits"


class ForcedFailure(RuntimeError):
    """Raised on purpose; the test looks for this name in the log."""


@cause(
    "forced-failure",
    title="A rule that always fails (test only)",
    triggers="Every flow.",
    shows="Nothing.",
    remedy="None.",
)
def always_fails(ev: evidence.Evidence) -> None:
    raise ForcedFailure("forced failure of a rule")


@trait_finder
def traits_or_explode(ev: evidence.Evidence) -> list[str]:
    if FAILING_TRAITS_QUERY in ev.url:
        raise ForcedFailure("forced failure while naming a flow's traits")
    return []


_from_flow = evidence.from_flow


def from_flow_or_explode(flow: http.HTTPFlow, **options: Any) -> evidence.Evidence:
    if flow.request.headers.get(EXPLODE_HEADER) == "explode":
        raise ForcedFailure("forced failure while building the evidence")
    return _from_flow(flow, **options)


evidence.from_flow = from_flow_or_explode  # type: ignore[assignment]
addons: list[object] = []
