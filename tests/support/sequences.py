"""Run sequences of flows through one addon, as the proxy would see them.

Cross-flow causes need several flows, at chosen times, from a chosen client,
through the same ``AuthDiag`` (its history is per instance). ``flow_at`` builds
one such flow on top of ``flows.refused_flow``; ``Proxy`` feeds flows in order
to one addon inside mitmproxy's test context, with options applied.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from mitmproxy import http
from mitmproxy.test import taddons
from tests.support.flows import REQUEST_TIME, refused_flow

from authdiag.addon import AuthDiag

CLIENT = "10.0.0.5"


def flow_at(
    status: int,
    *,
    at: float = REQUEST_TIME,
    url: str = "https://api.example.com/orders",
    method: str = "GET",
    request_headers: Sequence[tuple[str, str]] = (),
    response_headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    client: str = CLIENT,
    request_body: bytes = b"",
    server_clock_offset: float | None = 0.0,
) -> http.HTTPFlow:
    """A flow sent at ``at`` by ``client``, answered ``status`` 50 ms later."""
    flow = refused_flow(
        status,
        url=url,
        method=method,
        request_headers=request_headers,
        response_headers=response_headers,
        body=body,
        server_clock_offset=server_clock_offset,
    )
    shift = at - REQUEST_TIME
    assert flow.response is not None
    for message in (flow.request, flow.response):
        message.timestamp_start += shift
        if message.timestamp_end is not None:
            message.timestamp_end += shift
    if request_body:
        flow.request.content = request_body
    if server_clock_offset is not None:
        flow.response.headers["Date"] = email.utils.formatdate(
            at + server_clock_offset, usegmt=True
        )
    flow.client_conn.peername = (client, 50000)
    return flow


class Proxy:
    """One addon in one mitmproxy test context; ``send`` runs the response hook."""

    def __init__(self, addon: AuthDiag) -> None:
        self.addon = addon

    def send(self, *flows: http.HTTPFlow) -> http.HTTPFlow:
        """Feed flows in order; the last one back."""
        for flow in flows:
            self.addon.response(flow)
        return flows[-1]


@contextmanager
def proxy(**options: Any) -> Iterator[Proxy]:
    """A fresh addon (so a fresh history) with authdiag options applied."""
    addon = AuthDiag()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, **options)
        yield Proxy(addon)


def causes(flow: http.HTTPFlow) -> list[str]:
    """The flow's finding causes, verdict first ([] when not annotated)."""
    annotation = flow.metadata.get("authdiag")
    return [f["cause"] for f in annotation["findings"]] if annotation else []


def finding(flow: http.HTTPFlow, cause: str) -> dict[str, Any]:
    """The flow's finding for ``cause``; fails the test when there is none."""
    annotation = flow.metadata.get("authdiag") or {"findings": []}
    for found in annotation["findings"]:
        if found["cause"] == cause:
            return dict(found)
    raise AssertionError(f"no {cause!r} finding; causes: {causes(flow)}")
