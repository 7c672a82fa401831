"""Memory: how much state authdiag keeps after many flows across many hosts.

    uv run python benchmarks/memory_state.py [--flows 1000000] [--hosts 10000]

The addons of addon/diag.py run in a mitmproxy master (mitmproxy's test
context), and every flow goes through every hook mitmproxy would fire for it,
TLS and connection hooks included: a new upstream TLS connection per flow (some
refused with a client-certificate alert), CONNECT tunnels that are never used,
successes with a new credential each time, redirects, 401s with JWTs, 403s with
API keys, from 1,000 clients to ``--hosts`` hosts. Flows are dropped as soon as
their hooks ran, as mitmdump drops them, so what stays is the addons' own state.

At checkpoints (10x apart) it prints the size of everything reachable from the
addon objects and authdiag's module-level caches (a walk with gc.get_referents,
modules, classes and functions excluded), and the process's resident memory
for context. The bound to meet is BOUND_BYTES; it is documented in
benchmarks/RESULTS.md with the caps that make it hold.
"""

from __future__ import annotations

import argparse
import gc
import resource
import runpy
import sys
import time
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mitmproxy import connection, hooks, http
from mitmproxy import tls as tls_hooks
from mitmproxy.proxy import context as proxy_context
from mitmproxy.proxy import server_hooks
from mitmproxy.proxy.layers import tls as tls_layer
from mitmproxy.proxy.layers.http import (
    HttpConnectHook,
    HttpRequestHeadersHook,
    HttpRequestHook,
    HttpResponseHeadersHook,
    HttpResponseHook,
)
from mitmproxy.test import taddons
from OpenSSL import SSL

from authdiag import memo

REPO = Path(__file__).resolve().parents[1]
BOUND_BYTES = 64 * 1024 * 1024
"""The documented bound on authdiag's own state, whatever the traffic."""
CLIENTS = 1000
START = 1_780_000_000.0
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Im9yZGVycy1h"
    "cGkiLCJleHAiOjE3Nzk5OTY0MDAsImlhdCI6MTc3OTk5MjgwMH0.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"
)
SKIPPED = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType)


def deep_size(roots: Iterable[Any]) -> int:
    """Bytes of every object reachable from roots, each counted once."""
    seen: set[int] = set()
    pending = list(roots)
    total = 0
    first = {id(root) for root in pending}
    while pending:
        item = pending.pop()
        if id(item) in seen or (isinstance(item, SKIPPED) and id(item) not in first):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        pending.extend(gc.get_referents(item))
    return total


class Traffic:
    """Makes flows and drives them through the addons' hooks."""

    def __init__(self, hosts: int) -> None:
        addons = runpy.run_path(str(REPO / "addon" / "diag.py"))["addons"]
        self.context = taddons.context(*addons)
        self.master = self.context.master
        self.loop = self.master.event_loop
        for addon in list(self.master.addons.chain):
            self.loop.run_until_complete(
                self.master.addons.invoke_addon(addon, hooks.RunningHook())
            )
        self.addons = [
            a
            for a in self.master.addons.chain
            if type(a).__module__.startswith("authdiag")
        ]
        self.hosts = hosts
        self.openssl = SSL.Context(SSL.TLS_METHOD)

    def fire(self, event: hooks.Hook) -> None:
        """The event to authdiag's addons (their state is what is measured)."""
        for addon in self.addons:
            self.master.addons.invoke_addon_sync(addon, event)

    def flow(self, n: int) -> http.HTTPFlow:
        host = f"h{n % self.hosts}.example.test"
        client = connection.Client(
            peername=(
                f"10.0.{(n // 7) % CLIENTS // 256}.{(n // 7) % 256}",
                40000 + n % 20000,
            ),
            sockname=("127.0.0.1", 8080),
            timestamp_start=START + n / 100,
        )
        server = connection.Server(address=(host, 443), sni=host)
        kind = n % 10
        headers: list[tuple[bytes, bytes]] = [(b"Host", host.encode())]
        if kind in (0, 1, 2, 3, 4, 5, 7, 8):
            token = JWT if kind in (7, 8) else f"tok-{n:012d}-opaque-access-token"
            headers.append((b"Authorization", f"Bearer {token}".encode()))
        if kind == 9:
            headers.append((b"X-API-Key", f"key-{n:016d}".encode()))
        request = http.Request(
            host,
            443,
            b"GET",
            b"https",
            host.encode(),
            f"/v1/items/{n}".encode(),
            b"HTTP/1.1",
            http.Headers(headers),
            b"",
            None,
            START + n / 100,
            None,
        )
        status, response_headers = self.answer(kind, n)
        response = http.Response(
            b"HTTP/1.1",
            status,
            b"",
            http.Headers(response_headers),
            b"",
            None,
            START + n / 100 + 0.05,
            None,
        )
        flow = http.HTTPFlow(client, server)
        flow.request, flow.response = request, response
        return flow

    def answer(self, kind: int, n: int) -> tuple[int, list[tuple[bytes, bytes]]]:
        if kind == 6:
            target = f"https://h{(n + 1) % self.hosts}.example.test/login"
            return 302, [(b"Location", target.encode())]
        if kind in (7, 8):
            challenge = b'Bearer realm="api", error="invalid_token"'
            return 401, [(b"WWW-Authenticate", challenge)]
        if kind == 9:
            return 403, [(b"Content-Type", b"application/json")]
        return 200, [(b"Content-Type", b"application/json")]

    def run(self, n: int) -> None:
        flow = self.flow(n)
        context = proxy_context.Context(flow.client_conn, self.master.options)
        context.server = flow.server_conn
        upstream = tls_hooks.TlsData(
            flow.server_conn, context, ssl_conn=SSL.Connection(self.openssl)
        )
        self.fire(tls_layer.TlsStartServerHook(upstream))
        if n % 10 == 7:
            flow.server_conn.error = "tlsv13 alert certificate required"
            self.fire(tls_layer.TlsFailedServerHook(upstream))
        else:
            self.fire(tls_layer.TlsEstablishedServerHook(upstream))
        if n % 50 == 0:  # a tunnel the app opens and never uses
            self.fire(HttpConnectHook(self.flow(n)))
        for event in (
            HttpRequestHeadersHook(flow),
            HttpRequestHook(flow),
            HttpResponseHeadersHook(flow),
            HttpResponseHook(flow),
        ):
            self.fire(event)
        data = server_hooks.ServerConnectionHookData(flow.server_conn, flow.client_conn)
        self.fire(server_hooks.ServerDisconnectedHook(data))

    def state_bytes(self) -> int:
        gc.collect()
        return deep_size([*self.addons, *memo.KEPT])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--hosts", type=int, default=10_000)
    args = parser.parse_args()
    print("$ uv run python benchmarks/memory_state.py " + " ".join(sys.argv[1:]))
    import logging

    logging.getLogger("authdiag").setLevel(logging.ERROR)  # a million log lines
    traffic = Traffic(args.hosts)
    checkpoints = {10**k for k in range(3, 8)} | {args.flows}
    start = time.monotonic()
    print(f"{'flows':>10} {'state (authdiag)':>18} {'peak RSS':>15} {'elapsed':>9}")
    print(f"{0:>10,} {traffic.state_bytes():>16,} B {rss_mb():>12.0f} MB {0:>8.0f}s")
    sizes = []
    for n in range(1, args.flows + 1):
        traffic.run(n)
        if n in checkpoints:
            sizes.append(traffic.state_bytes())
            elapsed = time.monotonic() - start
            print(f"{n:>10,} {sizes[-1]:>16,} B {rss_mb():>12.0f} MB {elapsed:>8.0f}s")
    gc.collect()
    print(f"of which the parse caches (memo.recent): {deep_size(memo.KEPT):,} B")
    print(f"the parse caches filled with their largest inputs: {worst_caches():,} B")
    growth = sizes[-1] / sizes[-2] if len(sizes) > 1 else float("nan")
    verdict = "under" if sizes[-1] <= BOUND_BYTES else "OVER"
    print(
        f"state after {args.flows:,} flows: {sizes[-1] / 2**20:.1f} MiB, {verdict} "
        f"the bound of {BOUND_BYTES / 2**20:.0f} MiB; last 10x more flows grew it "
        f"{growth:.2f}x"
    )


def worst_caches() -> int:
    """The parse caches' size when every entry holds the largest input kept:
    what a client sending huge, ever-changing credentials could make them hold."""
    from authdiag import (
        bodies,
        challenges,
        credentials,
        evidence,
        history,
        observe,
        redact,
        tokens,
    )

    def text(n: int, length: int) -> str:
        return f"{n:08d}".ljust(length, "x")

    for n in range(1100):  # more than any cache keeps
        redact.fingerprint(text(n, 2048))
        credentials.parse_authorization("Bearer " + text(n, 8185))
        tokens.inspect_jwt(f"eyJ{text(n, 4000)}.eyJ{text(n, 4000)}.{text(n, 180)}")
        challenges.parse_challenges((f'Bearer realm="{text(n, 8176)}"',))
        body = b'{"message": "' + text(n, 16368).encode() + b'"}'
        bodies.parse_error_body(body, "application/json")
        raw = ((b"Authorization", b"Bearer " + text(n, 8172).encode()),)
        observe._credentials(raw, ())
        observe._parse_query(f"q={text(n, 4094)}")
        history.split_url(f"https://example.com/{text(n, 2020)}")
        observe._origin(b"https", f"h{text(n, 1000)}.example".encode())
        evidence._server_date(f"Thu, 28 May 2026 20:26:40 GMT {text(n, 160)}")
    gc.collect()
    return deep_size(memo.KEPT)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
