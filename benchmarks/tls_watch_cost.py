"""What authdiag's client-certificate watch costs.

    uv run python benchmarks/tls_watch_cost.py

1. Per upstream TLS handshake: the pyOpenSSL info callback tlswatch sets on every
   server connection, measured on in-memory handshakes (TLS 1.3, the server asks
   for a certificate), alternating with and without it.
2. Per flow that is not a refusal: the request and response hooks' share of the
   glue (refused_before_request, attach, looks_like_tls_refusal).
"""

from __future__ import annotations

import contextlib
import statistics
import time
import timeit

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mitmproxy import http
from mitmproxy.test import tflow
from OpenSSL import SSL

from authdiag.tlswatch import TlsWatch, _ServerRecord, looks_like_tls_refusal

HANDSHAKES = 3000
FLOWS = 200_000


def server_context() -> SSL.Context:
    leaf = trustme.CA().issue_cert("localhost")
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.use_certificate(
        x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    )
    context.use_privatekey(
        serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)  # type: ignore[arg-type]
    )
    context.set_verify(SSL.VERIFY_PEER, lambda *args: True)  # sends CertificateRequest
    return context


def handshake(server: SSL.Context, client: SSL.Context, watch: TlsWatch | None) -> None:
    s, c = SSL.Connection(server), SSL.Connection(client)
    s.set_accept_state()
    c.set_connect_state()
    if watch is not None:
        c.set_info_callback(watch._info_callback(_ServerRecord("bench:443", None)))
    for _ in range(10):
        for one, other in ((c, s), (s, c)):
            with contextlib.suppress(SSL.WantReadError):
                one.do_handshake()
            with contextlib.suppress(SSL.WantReadError):
                other.bio_write(one.bio_read(65536))


def per_handshake() -> None:
    server, client, watch = (
        server_context(),
        SSL.Context(SSL.TLS_CLIENT_METHOD),
        TlsWatch(),
    )
    times: dict[bool, list[float]] = {False: [], True: []}
    for n in range(HANDSHAKES):
        watched = bool(n % 2)
        started = time.perf_counter()
        handshake(server, client, watch if watched else None)
        times[watched].append(time.perf_counter() - started)
    for watched, label in (
        (False, "without the callback"),
        (True, "with the callback"),
    ):
        median = statistics.median(times[watched]) * 1e6
        print(f"handshake {label}: median {median:.0f} µs over {len(times[watched])}")


def per_flow() -> None:
    watch = TlsWatch()
    flow = tflow.tflow(resp=http.Response.make(200, b"{}"))

    def glue() -> None:
        watch.refused_before_request(flow)
        if not watch.attach(flow):
            looks_like_tls_refusal(flow.response)  # type: ignore[arg-type]

    best = min(timeit.repeat(glue, number=FLOWS, repeat=5)) / FLOWS
    print(f"non-refused flow: {best * 1e9:.0f} ns in the client-certificate glue")


if __name__ == "__main__":
    per_handshake()
    per_flow()
