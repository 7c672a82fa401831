"""authdiag never touches the traffic, and its own failures stay its own.

Real mitmdump processes, one with the addon and one without, in front of a
server that records every byte it receives and answers with canned bytes. The
same raw requests go through both proxies; what the server received and what
the client received must be identical byte for byte. A third mitmdump also
loads a script that breaks authdiag on purpose: flows still pass untouched, and
each failure is logged once, with the flow's URL and without its secrets.
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from tests.support.flows import make_jwt
from tests.support.proxy import HOST, Mitmdump, MitmdumpFactory, new_case
from tests.support.recorder import RecordingServer, read_until_closed

BROKEN_RULES = Path(__file__).parent / "support" / "broken_rules.py"
FAILING_TRAITS_QUERY = "authdiag-test=traits"
"""What makes broken_rules.py's trait finder raise (not imported: loading that
script registers its broken cause in this process too)."""

CANARY_KEY = "ak_canary_3b1f0e9d2c7a4b6e8f00"
CANARY_COOKIE = "sess-canary-9f8e7d6c5b4a3210"
EXPIRED_JWT = make_jwt(sub="alice", aud="orders-api", exp=1_600_000_000, iat=1)
BINARY = bytes(range(256)) * 16


def response(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """A raw HTTP/1.1 response; the server closes after it."""
    head = [f"HTTP/1.1 {status}", *(f"{n}: {v}" for n, v in headers)]
    head += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def chunked(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status}", *(f"{n}: {v}" for n, v in headers)]
    head += ["Transfer-Encoding: chunked", "Connection: close"]
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 100]), body[i : i + 100])
        for i in range(0, len(body), 100)
    )
    return ("\r\n".join(head) + "\r\n\r\n").encode() + chunks + b"0\r\n\r\n"


INVALID_TOKEN = {"error": "invalid_token", "error_description": "The token expired"}
RESPONSES = {
    # Refusals authdiag diagnoses, each reaching a different part of it.
    "/jwt": response(
        "401 Unauthorized",
        [
            ("WWW-Authenticate", 'Bearer realm="orders", error="invalid_token"'),
            ("Content-Type", "application/json"),
            ("Set-Cookie", "sessionid=; Max-Age=0; Path=/"),
        ],
        json.dumps(INVALID_TOKEN).encode(),
    ),
    "/gzip": response(
        "401 Unauthorized",
        [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
        gzip.compress(json.dumps({"message": "Invalid API key"}).encode()),
    ),
    "/chunked": chunked(
        "403 Forbidden",
        [("Content-Type", "text/html; charset=utf-8")],
        b"<html><title>403 Forbidden</title>" + b"x" * 1000 + b"</html>",
    ),
    "/proxy": response(
        "407 Proxy Authentication Required",
        [("Proxy-Authenticate", 'Basic realm="corp"')],
        b"",
    ),
    "/nginx-cert": response(
        "400 Bad Request",
        [("Content-Type", "text/html")],
        b"<html><head><title>400 No required SSL certificate was sent</title>"
        b"</head></html>",
    ),
    # Not refusals: the one status check must be all that happens.
    "/ok": response("200 OK", [("Content-Type", "application/octet-stream")], BINARY),
    "/redirect": response("302 Found", [("Location", "/ok")], b""),
}


def raw_request(method: str, target: str, host: str, body: bytes = b"") -> bytes:
    """A request with headers a parser might be tempted to tidy: odd casing,
    repeats, latin-1 bytes, credentials of every kind."""
    lines = [
        f"{method} {target} HTTP/1.1".encode(),
        f"Host: {host}".encode(),
        f"authorization: Bearer {EXPIRED_JWT}".encode(),
        f"X-API-Key: {CANARY_KEY}".encode(),
        f"Cookie: sessionid={CANARY_COOKIE}; theme=dark".encode(),
        b"X-Repeated: one",
        b"x-repeated: two",
        b"X-Latin-1: caf\xe9",
        b"Accept:  */*  ",
        f"Content-Length: {len(body)}".encode(),
        b"Connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.fixture(scope="module")
def plain_proxy(mitmdump_factory: MitmdumpFactory) -> Mitmdump:
    return mitmdump_factory(script=None)


@pytest.fixture(scope="module")
def addon_proxy(mitmdump_factory: MitmdumpFactory) -> Mitmdump:
    return mitmdump_factory()


@pytest.fixture(scope="module", params=["http", "https"])
def recorder(
    request: pytest.FixtureRequest, trust_ca: trustme.CA
) -> Iterator[RecordingServer]:
    context = None
    if request.param == "https":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.set_alpn_protocols(["http/1.1"])
        trust_ca.issue_cert(HOST).configure_cert(context)
    with RecordingServer(RESPONSES, context) as server:
        yield server


def exchange(
    proxy: Mitmdump, server: RecordingServer, raw: Callable[..., bytes], url: str
) -> bytes:
    """Send one raw request through the proxy; everything the client got back."""
    authority = f"{HOST}:{server.port}"
    with socket.create_connection((HOST, proxy.port), timeout=15) as conn:
        if server.context is None:
            conn.sendall(raw(url, authority))
            return read_until_closed(conn)
        conn.sendall(
            f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()
        )
        established = conn.recv(4096)
        assert established.startswith(b"HTTP/1.1 200"), established
        client_context = ssl.create_default_context(cafile=str(proxy.ca_cert))
        with client_context.wrap_socket(conn, server_hostname=HOST) as tls:
            tls.sendall(raw(url.split(authority, 1)[1], authority))
            try:
                return read_until_closed(tls)
            except ssl.SSLEOFError:
                return b""  # treated as a difference below if it happens


PATHS = list(RESPONSES)
REFUSED = ("/jwt", "/gzip", "/chunked", "/proxy", "/nginx-cert")


def test_server_and_client_see_the_same_bytes_with_and_without_authdiag(
    plain_proxy: Mitmdump, addon_proxy: Mitmdump, recorder: RecordingServer
) -> None:
    cases = {}
    for path in PATHS:
        method, body = ("POST", BINARY) if path == "/jwt" else ("GET", b"")
        case = cases[path] = new_case("passthrough")
        url = recorder.url(path, case)

        def raw(
            target: str, host: str, method: str = method, body: bytes = body
        ) -> bytes:
            return raw_request(method, target, host, body)

        through_plain = exchange(plain_proxy, recorder, raw, url)
        through_addon = exchange(addon_proxy, recorder, raw, url)

        assert through_plain.startswith(b"HTTP/1.1 "), (path, through_plain[:200])
        assert through_addon == through_plain, f"the client saw a difference on {path}"
        plain_sent, addon_sent = recorder.received[case]
        assert addon_sent == plain_sent, f"the server saw a difference on {path}"
        if body:
            assert addon_sent.endswith(body), "the body did not arrive whole"

    # The comparison means something only if authdiag did its work meanwhile.
    for path in REFUSED:
        flow = addon_proxy.flow_for(cases[path])
        assert flow.metadata["authdiag"]["findings"], f"{path} was not diagnosed"
    for path in ("/ok", "/redirect"):
        assert not addon_proxy.flow_for(cases[path]).comment
    assert all("authdiag" not in f.metadata for f in plain_proxy.flows())


# --- a broken authdiag inside a real mitmdump ---------------------------------------


@pytest.fixture(scope="module")
def broken_proxy(mitmdump_factory: MitmdumpFactory) -> Mitmdump:
    return mitmdump_factory(["-s", str(BROKEN_RULES)])


def own_output(proxy: Mitmdump, since: int) -> str:
    """The log minus mitmdump's echo of each request (its dumper prints URLs
    as they are; that is mitmproxy's output, not authdiag's)."""
    lines = proxy.log(since).splitlines()
    return "\n".join(
        line for line in lines if not line.startswith((f"{HOST}:", " << ", "<< "))
    )


@pytest.mark.parametrize(
    ("broken", "failure"),
    [
        pytest.param("rule", "rule forced-failure failed on", id="a-rule-raises"),
        pytest.param(
            "traits",
            "trait finder traits_or_explode failed on",
            id="a-trait-finder-raises",
        ),
        pytest.param("evidence", "could not diagnose", id="building-evidence-raises"),
    ],
)
def test_a_failure_inside_authdiag_is_logged_once_and_the_flow_passes(
    plain_proxy: Mitmdump,
    broken_proxy: Mitmdump,
    broken: str,
    failure: str,
) -> None:
    explode = broken == "evidence"
    with RecordingServer(RESPONSES) as server:
        case = new_case("contained")
        url = server.url("/jwt", case) + f"&api_key={CANARY_KEY}"
        if broken == "traits":
            url += f"&{FAILING_TRAITS_QUERY}"

        def raw(target: str, host: str) -> bytes:
            request = raw_request("GET", target, host)
            if explode:
                request = request.replace(
                    b"Connection: close",
                    b"Connection: close\r\nX-Authdiag-Test: explode",
                )
            return request

        mark = broken_proxy.log_mark()
        through_broken = exchange(broken_proxy, server, raw, url)
        through_plain = exchange(plain_proxy, server, raw, url)

    assert through_broken == through_plain, "the failure changed what the client got"
    broken_sent, plain_sent = server.received[case]
    assert broken_sent == plain_sent, "the failure changed what the server got"

    flow = broken_proxy.flow_for(case)
    record = broken_proxy.wait_for_record(failure, since=mark)
    records = [line for line in broken_proxy.log_records(mark) if failure in line]
    assert len(records) == 1, records
    assert f"/jwt?case={case}" in record, "the log names the flow's URL"
    assert "ForcedFailure" in broken_proxy.log(mark), "the traceback is logged"
    output = own_output(broken_proxy, mark)
    for secret in (CANARY_KEY, CANARY_COOKIE, EXPIRED_JWT):
        assert secret not in output, "a secret reached the log with the failure"
    if not explode:
        # One broken rule costs its own finding, not the others; a broken trait
        # finder makes every rule run, so the verdict is the one it would be.
        causes = [f["cause"] for f in flow.metadata["authdiag"]["findings"]]
        assert causes and "forced-failure" not in causes
        assert causes[0] == "jwt-expired", causes
