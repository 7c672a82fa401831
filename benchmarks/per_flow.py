"""Per flow, in-process: what authdiag's hooks cost one flow, inside mitmproxy's
own addon machinery.

    uv run python benchmarks/per_flow.py [--flows 2000] [--rounds 5]

The addons are those addon/diag.py loads, in a mitmproxy master (mitmproxy's
test context), with mitmproxy's terminal log handler writing to /dev/null, as
mitmdump would print the diagnosis. Each flow runs every HTTP hook mitmproxy
fires (requestheaders, request, responseheaders, response) on a fresh copy, and
the CPU time of those hook calls alone is recorded (time.thread_time: on a
shared machine, time spent descheduled would otherwise count). The kinds of
flow alternate round by round: a typical 401 (a Bearer JWT refused with an RFC
6750 challenge and an OAuth error body), with a token seen before and with a new
one, and a 200 with and without that token.
Targets: 401 median <= 100 µs; 200 median <= 5 µs.
"""

from __future__ import annotations

import argparse
import functools
import os
import runpy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from mitmproxy import hooks, http
from mitmproxy.addons.termlog import TermLogHandler
from mitmproxy.proxy.layers import http as http_layer
from mitmproxy.test import taddons, tflow

REPO = Path(__file__).resolve().parents[1]
REQUEST_TIME = 1_780_000_000.0
TARGETS_US = {
    "401, same JWT as before": 100.0,
    "401, JWT never seen": 100.0,
    "200 with the JWT": 5.0,
    "200 without credentials": 5.0,
}


def typical_flow(status: int, jti: str = "a1") -> http.HTTPFlow:
    """A request as an app sends it, with the answer a resource server gives."""
    token = jwt.encode(
        {
            "jti": jti,
            "iss": "https://auth.example.test/",
            "sub": "alice",
            "aud": "orders-api",
            "iat": REQUEST_TIME - 7200,
            "exp": REQUEST_TIME - 3600,
            "scope": "orders:read",
            "client_id": "mobile-app",
        },
        "a-benchmark-signing-key-that-is-long-enough",
        algorithm="HS256",
    )
    request = http.Request.make(
        "GET",
        "https://api.example.com/v1/orders?limit=20",
        headers={
            "Host": "api.example.com",
            "User-Agent": "okhttp/4.12.0",
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
            "Authorization": f"Bearer {token}",
        },
    )
    request.timestamp_start = REQUEST_TIME
    if status == 401:
        body = (
            b'{"error":"invalid_token","error_description":"The access token expired"}'
        )
        headers = {
            "Content-Type": "application/json",
            "WWW-Authenticate": 'Bearer realm="orders", error="invalid_token", '
            'error_description="The access token expired"',
            "Date": "Thu, 28 May 2026 20:26:40 GMT",
        }
    else:
        body = b'{"orders": []}'
        headers = {"Content-Type": "application/json"}
    response = http.Response.make(status, body, headers)
    response.timestamp_start = REQUEST_TIME + 0.05
    return tflow.tflow(req=request, resp=response)


class Addons:
    """diag.py's addons in a mitmproxy master, hooks called as mitmproxy would."""

    def __init__(self) -> None:
        self.context = taddons.context(
            *runpy.run_path(str(REPO / "addon/diag.py"))["addons"]
        )
        self.master = self.context.master
        for addon in list(self.master.addons.chain):
            self.master.addons.invoke_addon_sync(addon, hooks.RunningHook())
        self.chain = [
            a
            for a in self.master.addons.chain
            if type(a).__module__.startswith("authdiag")
        ]

    def hooks(self, flow: http.HTTPFlow) -> list[Callable[..., Any]]:
        """The bound hook methods this flow's events reach, ready to call."""
        events = [
            http_layer.HttpRequestHeadersHook(flow),
            http_layer.HttpRequestHook(flow),
            http_layer.HttpResponseHeadersHook(flow),
            http_layer.HttpResponseHook(flow),
        ]
        calls = []
        for event in events:
            for addon in self.chain:
                for _, method in self.master.addons._iter_hooks(addon, event):
                    # Arguments are made outside the timing: mitmproxy's work.
                    calls.append(functools.partial(method, *event.args()))
        return calls


class DoNothing:
    """The cheapest addon there is: the same hooks, each returning at once.
    Timed like authdiag's, it shows what a hook call itself costs here."""

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        pass

    def request(self, flow: http.HTTPFlow) -> None:
        pass

    def response(self, flow: http.HTTPFlow) -> None:
        pass


def do_nothing_hooks(flow: http.HTTPFlow) -> list[Callable[..., Any]]:
    nothing = DoNothing()
    return [
        functools.partial(hook, flow)
        for hook in (nothing.requestheaders, nothing.request, nothing.response)
    ]


def time_flows(
    hooks_of: Callable[[http.HTTPFlow], list[Callable[..., Any]]],
    make: Callable[[int], http.HTTPFlow],
    count: int,
) -> list[float]:
    """Seconds of hook time for each of ``count`` flows made by ``make(n)``.

    Each flow is made just before its hooks run and dropped after, as mitmdump
    keeps only the flows in flight: thousands of live flows would make every
    garbage collection inside a hook walk all of them.
    """
    times = []
    for n in range(count):
        calls = hooks_of(make(n))
        start = time.thread_time()
        for call in calls:
            call()
        times.append(time.thread_time() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--flows", type=int, default=2000, help="per flow kind per round"
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("$ uv run python benchmarks/per_flow.py " + " ".join(sys.argv[1:]))
    handler = TermLogHandler(open(os.devnull, "w"))  # noqa: SIM115  (lives as long as the run)
    handler.install()
    addons = Addons()
    refused, accepted, anonymous = (
        typical_flow(401),
        typical_flow(200),
        typical_flow(200),
    )
    del anonymous.request.headers["Authorization"]
    kinds: dict[str, Callable[[int], http.HTTPFlow]] = {
        # An app retries with the token it has until it refreshes it, and every
        # request of a session carries the same one: the common case.
        "401, same JWT as before": lambda _: refused.copy(),
        "401, JWT never seen": lambda n: typical_flow(401, jti=f"{time.time()}-{n}"),
        "200 with the JWT": lambda _: accepted.copy(),
        "200 without credentials": lambda _: anonymous.copy(),
    }
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    floor: list[float] = []
    # The same flow object every time: set against a fresh copy's time, what a
    # flow costs for being new (likely its memory not yet in the CPU's caches).
    warm: list[float] = []
    for make in kinds.values():  # warm-up
        time_flows(addons.hooks, make, 200)
    for round_number in range(args.rounds):
        order = list(kinds) if round_number % 2 == 0 else list(reversed(kinds))
        for kind in order:
            times[kind] += time_flows(addons.hooks, kinds[kind], args.flows)
        floor += time_flows(do_nothing_hooks, kinds["200 without credentials"], 500)
        warm += time_flows(addons.hooks, lambda _: anonymous, 500)
    print(
        f"{args.rounds} rounds x {args.flows} flows per kind, order alternating; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for kind, samples in times.items():
        samples.sort()
        median = statistics.median(samples) * 1e6
        p90 = samples[int(len(samples) * 0.9)] * 1e6
        target = TARGETS_US[kind]
        verdict = "meets" if median <= target else "MISSES"
        print(
            f"{kind:15s} median {median:8.1f} µs  p90 {p90:8.1f} µs  "
            f"target {target:.0f} µs: {median / target:.2f}x, {verdict}"
        )
    print(
        f"{'hooks that do nothing':15s} median {statistics.median(floor) * 1e6:8.1f} µs"
        "  (the same three hook calls to an empty addon: the harness's floor)"
    )
    print(
        f"{'200 without credentials, one flow object reused':15s} median "
        f"{statistics.median(warm) * 1e6:8.1f} µs  "
        "(the same object each time; a fresh copy above)"
    )
    refused_time = statistics.median(times["401, same JWT as before"])
    accepted_time = statistics.median(times["200 with the JWT"])
    print(f"401 / 200 median ratio in this run: {refused_time / accepted_time:.0f}x")


if __name__ == "__main__":
    main()
