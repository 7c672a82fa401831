"""Whatever a flow holds, authdiag neither breaks it nor breaks on it.

Three kinds of proof, all in-process through mitmproxy's own addon machinery:

- Hypothesis builds whole flows (arbitrary headers, bodies, statuses, timestamps,
  certificates, stored annotations) and runs every hook of every addon that
  ``addon/diag.py`` loads. Nothing may escape a hook, nothing may fail silently
  inside one (the addon's catch-all logs an error: that counts as a failure
  here), the traffic must come out unchanged and the annotation must stay plain,
  secret-free data.
- Hostile sizes (megabyte headers, ten thousand challenges, cookies or keys,
  deeply nested or huge JSON) are analysed in time linear in their size, checked
  by timing two sizes in one run, never against a wall-clock limit.
- Where authdiag stops reading, it says so in the evidence instead of
  truncating silently, and what it writes stays small whatever it read.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import runpy
import string
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from mitmproxy import certs, eventsequence, hooks, http
from mitmproxy import flow as mitm_flow
from mitmproxy import tls as tls_hooks
from mitmproxy.io import tnetstring
from mitmproxy.proxy import context as proxy_context
from mitmproxy.proxy import server_hooks
from mitmproxy.proxy.layers import tls as tls_layer
from mitmproxy.proxy.layers.http import HttpConnectHook, HttpResponseHook
from mitmproxy.test import taddons, tflow
from OpenSSL import SSL
from tests.support.flows import REQUEST_TIME, make_jwt, refused_flow
from tests.support.reports import rendered_reports

from authdiag import credentials, evidence, history, observe, tls
from authdiag.addon import parse_statuses
from authdiag.catalogue import CAUSES
from authdiag.engine import diagnose
from authdiag.headerview import HeaderView

REPO = Path(__file__).resolve().parents[1]
ADDON_SCRIPT = REPO / "addon" / "diag.py"

# In CI the examples are the same on every run, so that a red build is never a
# coin toss; on a developer's machine Hypothesis keeps exploring.
DETERMINISTIC = bool(os.environ.get("CI"))
WHOLE_FLOWS = settings(
    deadline=None,
    derandomize=DETERMINISTIC,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""For tests that draw whole flows: slow to make, and large by design."""

ANNOTATION_FIELDS = frozenset({"metadata", "comment", "marked"})
"""The only parts of a flow authdiag may write to (plus 'modified' bookkeeping)."""


# --- running flows through the addons diag.py loads ------------------------------


class ErrorRecords(logging.Handler):
    """Collects ERROR records from authdiag's loggers: its catch-alls report a
    hook that broke there, so a record here is a bug even if nothing escaped."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [self.format(record) for record in self.records]


class Proxy:
    """The addons of addon/diag.py inside a mitmproxy master, as mitmdump runs
    them; events go to each addon without mitmproxy's safecall, so that an
    exception escaping a hook reaches the test instead of a log."""

    def __init__(self, **options: Any) -> None:
        self.addons = runpy.run_path(str(ADDON_SCRIPT))["addons"]
        assert self.addons, "addon/diag.py loaded no addon"
        self.context = taddons.context(*self.addons)
        for addon in self.addons:
            self.context.configure(addon, **options)
        self.loop = self.context.master.event_loop
        self.all_addons(hooks.RunningHook())

    def all_addons(self, event: hooks.Hook) -> None:
        """Invoke an event on every addon in the master's chain, in order."""
        for addon in list(self.context.master.addons.chain):
            self.loop.run_until_complete(
                self.context.master.addons.invoke_addon(addon, event)
            )

    def cycle(self, flow: mitm_flow.Flow) -> None:
        """Every hook mitmproxy fires for this flow, in mitmproxy's order."""
        for event in eventsequence.iterate(flow):
            self.all_addons(event)

    def close(self) -> None:
        self.all_addons(hooks.DoneHook())
        self.context.__exit__(None, None, None)


@contextmanager
def authdiag_errors() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    logger = logging.getLogger("authdiag")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture(scope="module")
def proxy() -> Iterator[Proxy]:
    """One long-lived proxy for the module's examples, as one mitmdump would see
    them all: whatever state the addons keep carries over from flow to flow."""
    running = Proxy(authdiag_statuses="100-599")
    yield running
    running.close()


def traffic_of(flow: mitm_flow.Flow) -> dict[str, Any]:
    """The flow's state minus the fields authdiag is allowed to write."""
    state = flow.get_state()
    for name in ANNOTATION_FIELDS:
        state.pop(name, None)
    return state


# --- what whole flows are made of ------------------------------------------------

CANARY_ALPHABET = string.ascii_letters + string.digits
canaries = st.text(CANARY_ALPHABET, min_size=12, max_size=24).map(
    lambda tail: f"cnry{tail}"
)
"""Secret values: distinctive enough that finding one whole in output is a leak."""

REQUEST_HEADER_NAMES = (
    "Authorization",
    "Proxy-Authorization",
    "Cookie",
    "X-API-Key",
    "X-Auth-Token",
    "Content-Type",
    "Content-Encoding",
    "Accept",
    "Origin",
)
RESPONSE_HEADER_NAMES = (
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Set-Cookie",
    "Date",
    "Content-Type",
    "Content-Encoding",
    "Server",
    "x-amzn-ErrorType",
    "Via",
    "X-Powered-By",
    "Location",
)
HEADER_SEEDS = (
    "Bearer ",
    "Basic ",
    'Digest username="u", realm="r", nonce="n", uri="/", response="00"',
    "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, ",
    "Negotiate TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==",
    'Bearer realm="r", error="invalid_token", error_description="expired"',
    'Bearer error="insufficient_scope", scope="a b"',
    'Digest realm="r", nonce="n", stale=true, qop="auth"',
    'Basic realm="r", charset="UTF-8"',
    "sessionid=; Max-Age=0; Path=/",
    "sid=x; Expires=Wed, 21 Oct 99999 07:28:00 GMT",
    "sid=x; Max-Age=" + "9" * 400,
    "application/json; charset=utf-16",
    "application/problem+json",
    "text/html",
    "gzip",
    "br",
    "deflate, gzip",
    "Mon, 01 Jan 0001 00:00:00 -2359",
    "nginx/1.25",
)
BODY_SEEDS = (
    b'{"error": "invalid_token", "error_description": "The token expired"}',
    b'{"message": "Unauthorized"}',
    b'{"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "no"}}',
    b'{"kind": "Status", "reason": "Unauthorized", "code": 401}',
    b'[{"message": "Session expired", "errorCode": "INVALID_SESSION_ID"}]',
    b"<html><head><title>401 Authorization Required</title></head></html>",
    b"<html><title>400 No required SSL certificate was sent</title></html>",
    b"upstream connect error or disconnect/reset before headers. reset reason: "
    b"connection failure, transport failure reason: TLS error: 268436526:SSL "
    b"routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE",
    b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>",
    b"[" * 5000,
    b"\x1f\x8b\x08\x00garbage",
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
CLAIM_NAMES = ("exp", "nbf", "iat", "aud", "iss", "sub", "scope", "scp", "cnf", "azp")
claims = st.dictionaries(
    st.sampled_from(CLAIM_NAMES) | st.text(max_size=8), json_values, max_size=6
)
timestamps = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=0, max_value=4e9)
    | st.just(REQUEST_TIME)
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@st.composite
def jwts(draw: st.DrawFn) -> str:
    """A JWS whose header and claims are arbitrary JSON (often the right types)."""
    header = draw(st.dictionaries(st.sampled_from(["alg", "kid", "typ"]), json_values))
    payload = json.dumps(draw(claims)).encode()
    signature = b64url(draw(st.binary(max_size=40)))
    return f"{b64url(json.dumps(header).encode())}.{b64url(payload)}.{signature}"


def header_values(seeds: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """Seeds that reach deep into the parsers, mutated, plus arbitrary bytes."""
    seeded = st.builds(
        lambda seed, tail: (seed + tail).encode("utf-8", "surrogateescape"),
        st.sampled_from(seeds),
        st.text(max_size=40),
    )
    return seeded | st.binary(max_size=120)


@st.composite
def credential_headers(draw: st.DrawFn) -> tuple[list[tuple[bytes, bytes]], set[str]]:
    """Request headers carrying canary secrets where credentials go; the canaries
    are returned so the test can look for them in everything authdiag wrote."""
    secret = draw(canaries)
    token = draw(jwts() | st.just(secret))
    basic = base64.b64encode(f"alice:{secret}".encode()).decode()
    kind = draw(
        st.sampled_from(
            [
                ("Authorization", f"Bearer {token}"),
                ("Authorization", f"Basic {basic}"),
                ("Authorization", token),
                ("Proxy-Authorization", f"Basic {basic}"),
                ("X-API-Key", secret),
                ("Cookie", f"sessionid={secret}; theme=dark"),
            ]
        )
    )
    sent = {secret} | ({token} if kind[1].endswith(token) else set())
    return [(kind[0].encode(), kind[1].encode())], sent


@st.composite
def certificate_lists(draw: st.DrawFn) -> list[certs.Cert]:
    """A client certificate chain: none, a real one, or a real one with a few
    bytes changed that cryptography still agrees to load (it parses lazily, so
    the damage shows up when a field is read)."""
    choice = draw(st.sampled_from(["none", "real", "mutated"]))
    if choice == "none":
        return []
    data = bytearray(real_certificate())
    if choice == "mutated":
        for position, value in draw(
            st.lists(
                st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)),
                min_size=1,
                max_size=4,
            )
        ):
            data[position] = value
    try:
        return [certs.Cert(x509.load_der_x509_certificate(bytes(data)))]
    except ValueError:
        return []


@st.composite
def stored_annotations(draw: st.DrawFn) -> dict[str, Any]:
    """What a recording's metadata may hold under 'authdiag': nothing, junk, or
    TLS observations with fields of any type (a file is not to be trusted)."""
    upstream = draw(
        st.fixed_dictionaries(
            {"server": st.text(max_size=20)},
            optional={
                name: json_values | st.integers(0, 255)
                for name in (
                    "sni",
                    "version",
                    "certificate_requested",
                    "acceptable_cas",
                    "presented",
                    "alert",
                    "alert_after_handshake",
                    "error",
                )
            },
        )
    )
    app = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "alert": st.integers(0, 255) | json_values,
                "error": json_values,
                "closed_unused": st.booleans(),
                "seconds_open": json_values,
            },
        )
    )
    tls_facts = {"upstream": upstream, "app": app}
    choice = draw(st.sampled_from(["none", "junk", "tls"]))
    if choice == "none":
        return {}
    if choice == "junk":
        return {"authdiag": draw(json_values)}
    return {"authdiag": {"version": 1, "observed": {"tls": tls_facts}}}


@st.composite
def flows(draw: st.DrawFn) -> tuple[http.HTTPFlow, set[str]]:
    headers, secrets = draw(credential_headers())
    for _ in range(draw(st.integers(0, 5))):
        name = draw(
            st.sampled_from(REQUEST_HEADER_NAMES)
            | st.text("abcxyz-", min_size=1, max_size=8)
        )
        headers.append((name.encode(), draw(header_values(HEADER_SEEDS))))
    path = draw(st.text(string.ascii_letters + "/%.-", max_size=30))
    query_name = draw(st.sampled_from(["api_key", "token", "access_token", "q"]))
    url = f"https://{draw(st.sampled_from(['api.example.com', '127.0.0.1:8443']))}"
    url += f"/{path}?{query_name}={draw(canaries)}"
    request = http.Request.make(draw(st.sampled_from(["GET", "POST", "OPTIONS"])), url)
    request.headers = http.Headers(headers)
    request.raw_content = draw(st.binary(max_size=64))
    request.timestamp_start = draw(timestamps)
    secrets.add(request.query[query_name]) if query_name != "q" else None

    response: http.Response | None = None
    if draw(st.booleans()) or not draw(st.booleans()):
        response_headers = [
            (name.encode(), draw(header_values(HEADER_SEEDS)))
            for name in draw(st.lists(st.sampled_from(RESPONSE_HEADER_NAMES)))
        ]
        response = http.Response.make(draw(st.integers(100, 599)))
        response.headers = http.Headers(response_headers)
        response.raw_content = draw(st.sampled_from(BODY_SEEDS) | st.binary())
        response.timestamp_start = draw(timestamps | st.none())
    flow = tflow.tflow(req=request, resp=response or False)
    if response is None and draw(st.booleans()):
        flow.error = mitm_flow.Error(draw(st.text(max_size=80)))
    flow.client_conn.certificate_list = draw(certificate_lists())
    flow.metadata.update(draw(stored_annotations()))
    return flow, secrets


@functools.cache
def real_certificate() -> bytes:
    """A client certificate made now by a test CA (none is committed)."""
    ca = trustme.CA()
    leaf = ca.issue_cert("app-client.example.test")
    pem = leaf.cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


# --- whole flows -----------------------------------------------------------------


def assert_plain_annotation(flow: http.HTTPFlow) -> None:
    """The annotation contract (docs/annotation.md): plain data that a .flow file
    can hold, findings with the documented fields and values."""
    annotation = flow.metadata.get("authdiag")
    if annotation is None:
        return
    state = flow.get_state()
    note(f"metadata: {state['metadata']!r}")
    # Compared as sorted JSON: tnetstring does not keep key order, and a
    # recording's NaN timestamp is kept while NaN != NaN.
    loaded = tnetstring.loads(tnetstring.dumps(state))
    assert canonical(loaded["metadata"]) == canonical(state["metadata"])
    if not isinstance(annotation, dict) or not annotation.get("findings"):
        return  # a recording's own junk, left as it was, or facts without findings
    for finding in annotation["findings"]:
        assert finding["confidence"] in {"high", "medium", "low"}
        assert finding["fault"] in {"client", "server", "proxy", "network"}
        assert isinstance(finding["summary"], str)
        assert all(isinstance(line, str) for line in finding["evidence"])
        assert all(isinstance(line, str) for line in finding["fix"])
    own = [c for c in flow.comment.splitlines() if c.startswith("authdiag: ")]
    assert len(own) == 1, f"the comment should hold one authdiag line: {own}"


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def written_by_authdiag(flow: http.HTTPFlow, errors: ErrorRecords) -> str:
    annotation = flow.metadata.get("authdiag")
    return json.dumps(annotation, default=repr) + flow.comment + str(errors.messages())


@settings(WHOLE_FLOWS, max_examples=250)
@given(data=st.data())
def test_no_flow_breaks_a_hook_or_is_changed_by_one(
    proxy: Proxy, data: st.DataObject
) -> None:
    flow, secrets = data.draw(flows())
    before = traffic_of(flow)

    with authdiag_errors() as errors:
        proxy.cycle(flow)

    assert errors.messages() == [], "a hook failed and only logged it"
    assert traffic_of(flow) == before, "authdiag changed the traffic"
    assert_plain_annotation(flow)
    written = written_by_authdiag(flow, errors)
    note(f"request headers: {flow.request.headers.fields!r}\nwritten: {written}")
    for secret in secrets:
        assert secret not in written, "a credential leaked into the annotation"


ERROR_SEEDS = (
    "tlsv13 alert certificate required",
    "ssl/tls alert handshake failure",
    "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:1000)",
    "error:0A00045C:SSL routines::tlsv13 alert certificate required",
    "remote error: tls: bad certificate",
    "OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "Client disconnected.",
)
error_texts = (
    st.none()
    | st.text(max_size=60)
    | st.builds(str.__add__, st.sampled_from(ERROR_SEEDS), st.text(max_size=20))
)


@settings(WHOLE_FLOWS, max_examples=300)
@given(data=st.data())
def test_choosing_rules_by_traits_loses_no_finding(data: st.DataObject) -> None:
    """The engine runs only the rules whose needs a flow's traits meet: a need
    that is not truly necessary would silently drop a finding."""
    flow, _ = data.draw(flows())
    ev = evidence.from_flow(flow)

    assert diagnose(ev) == diagnose(ev, list(CAUSES))


def tls_event(
    name: str, flow: http.HTTPFlow, data: tls_hooks.TlsData
) -> list[hooks.Hook]:
    """The hooks mitmproxy fires for one step of a connection's life."""
    server = server_hooks.ServerConnectionHookData(flow.server_conn, flow.client_conn)
    return {
        "server start": [tls_layer.TlsStartServerHook(data)],
        "server established": [tls_layer.TlsEstablishedServerHook(data)],
        "server failed": [tls_layer.TlsFailedServerHook(data)],
        "server disconnected": [server_hooks.ServerDisconnectedHook(server)],
        "connect": [HttpConnectHook(flow)],
        "client established": [tls_layer.TlsEstablishedClientHook(data)],
        "client failed": [tls_layer.TlsFailedClientHook(data)],
        "client disconnected": [server_hooks.ClientDisconnectedHook(flow.client_conn)],
    }[name]


@settings(max_examples=150, deadline=None, derandomize=DETERMINISTIC)
@given(data=st.data())
def test_no_sequence_of_connection_events_breaks_a_hook(
    proxy: Proxy, data: st.DataObject
) -> None:
    """TLS and connection hooks in any order, with any error text, then a flow
    on the same connections: the TLS watch must cope with all of it."""
    flow, _ = data.draw(flows())
    context = proxy_context.Context(flow.client_conn, proxy.context.options)
    context.server = flow.server_conn
    openssl = SSL.Connection(SSL.Context(SSL.TLS_METHOD))
    steps = data.draw(
        st.lists(st.sampled_from(list(CONNECTION_STEPS)), min_size=1, max_size=8)
    )

    with authdiag_errors() as errors:
        for step in steps:
            flow.server_conn.error = data.draw(error_texts)
            flow.client_conn.error = data.draw(error_texts)
            side = flow.server_conn if step.startswith("server") else flow.client_conn
            tls_data = tls_hooks.TlsData(side, context, ssl_conn=openssl)
            for event in tls_event(step, flow, tls_data):
                proxy.all_addons(event)
        proxy.cycle(flow)

    assert errors.messages() == []
    assert_plain_annotation(flow)


CONNECTION_STEPS = (
    "server start",
    "server established",
    "server failed",
    "server disconnected",
    "connect",
    "client established",
    "client failed",
    "client disconnected",
)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(("Set-Cookie", "sid=x; Max-Age=" + "9" * 400), id="max-age-400"),
        pytest.param(
            ("Set-Cookie", "sid=x; Expires=Wed, 21 Oct 99999 07:28:00 GMT"),
            id="expires-year-99999",
        ),
        pytest.param(("Date", "Mon, 01 Jan 0001 00:00:00 -2359"), id="date-year-1"),
    ],
)
def test_dates_out_of_any_range_still_give_a_diagnosis(
    proxy: Proxy, header: tuple[str, str]
) -> None:
    flow = refused_flow(
        request_headers=[("Cookie", "sessionid=abc123")],
        response_headers=[header],
        server_clock_offset=None,
    )
    with authdiag_errors() as errors:
        proxy.cycle(flow)

    assert errors.messages() == []
    assert flow.metadata["authdiag"]["findings"], "the refusal was not diagnosed"


@example(float("nan"))
@example(float("inf"))
@example(-1e300)
@settings(max_examples=50, deadline=None, derandomize=DETERMINISTIC)
@given(timestamps)
def test_any_request_time_still_gives_a_diagnosis(proxy: Proxy, when: float) -> None:
    token = make_jwt(sub="alice", exp=REQUEST_TIME - 60, iat=REQUEST_TIME - 3600)
    flow = refused_flow(request_headers=[("Authorization", f"Bearer {token}")])
    flow.request.timestamp_start = when

    with authdiag_errors() as errors:
        proxy.cycle(flow)

    assert errors.messages() == []
    assert flow.metadata["authdiag"]["findings"]


@settings(WHOLE_FLOWS, max_examples=60)
@given(st.lists(flows(), min_size=1, max_size=4))
def test_a_report_over_any_saved_flows_neither_breaks_nor_leaks(
    drawn: list[tuple[http.HTTPFlow, set[str]]],
) -> None:
    """The offline path: the same flows saved to a file and reported on in
    every format, as `authdiag report` does."""
    with authdiag_errors() as errors:
        outputs = rendered_reports([flow for flow, _ in drawn])

    assert errors.messages() == []
    assert all(outputs.values()), "a format rendered nothing at all"
    for _, secrets in drawn:
        for secret in secrets:
            for where, text in outputs.items():
                assert secret not in text, f"a credential leaked into {where}"


# --- parsers not covered by their own modules' property tests --------------------


@settings(max_examples=200, derandomize=DETERMINISTIC)
@given(st.binary(max_size=2048))
def test_any_bytes_are_a_certificate_or_a_reason_why_not(data: bytes) -> None:
    got = tls.read_certificate(data)
    assert isinstance(got, tls.Certificate | tls.UnreadableCertificate)


@settings(max_examples=200, deadline=None, derandomize=DETERMINISTIC)
@given(data=st.data())
def test_a_damaged_real_certificate_is_read_or_refused_never_raised(
    data: st.DataObject,
) -> None:
    damaged = bytearray(real_certificate())
    for position, value in data.draw(
        st.lists(
            st.tuples(st.integers(0, len(damaged) - 1), st.integers(0, 255)),
            min_size=1,
            max_size=6,
        )
    ):
        damaged[position] = value
    cut = data.draw(st.integers(0, len(damaged)))

    for candidate in (bytes(damaged), bytes(damaged[:cut])):
        got = tls.read_certificate(candidate)
        assert isinstance(got, tls.Certificate | tls.UnreadableCertificate)


QUERY_NAMES = (
    "api_key",
    "API-Key",
    "apikey",
    "key",
    "Auth",
    "access_token",
    "TOKEN",
    "id-token",
    "auth_token",
    "page",
    "q",
)


@settings(max_examples=200, derandomize=DETERMINISTIC)
@given(
    st.lists(
        st.tuples(st.sampled_from(QUERY_NAMES) | st.text(max_size=10), st.text()),
        max_size=5,
    )
)
def test_the_quick_query_check_never_hides_a_credential(
    pairs: list[tuple[str, str]],
) -> None:
    """observe skips parsing queries that cannot hold a credential; whatever
    the query, a credential find_placed_credentials would see is never missed."""
    request = http.Request.make("GET", "https://api.example.com/x")
    request.query = pairs  # mitmproxy takes (name, value) pairs
    found = credentials.find_placed_credentials((), request.query.items(multi=True))

    if found:
        assert observe.credentials_of(request), request.path


@settings(max_examples=200, derandomize=DETERMINISTIC)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Server", "server", "Via", "X-Powered-By", "Date"])
            | st.text("abcxyz-", min_size=1, max_size=6),
            st.binary(max_size=300),
        ),
        max_size=8,
    )
)
def test_a_header_view_reads_what_mitmproxy_headers_read(
    fields: list[tuple[str, bytes]],
) -> None:
    """HeaderView replaces mitmproxy's per-lookup scans (faster, same result)."""
    headers = http.Headers([(name.encode(), value) for name, value in fields])
    view = HeaderView(headers)
    names = ("server", "via", "x-powered-by", "date", "absent")

    for name in names:
        assert (name in view) == (name in headers)
        assert view.get_all(name) == headers.get_all(name)
        assert view.get(name) == headers.get(name)
    assert list(view.fields) == list(headers.items(multi=True))
    by_name = {name: headers[name][:200] for name in names if name in headers}
    assert observe.picked_headers(view, names) == by_name


@settings(max_examples=300, derandomize=DETERMINISTIC)
@given(st.text("ab=&?#%;+/2_ é", max_size=40))
def test_the_query_is_read_as_mitmproxy_reads_it(tail: str) -> None:
    """observe.query_of spares re-parsing the URL (faster, same result)."""
    request = http.Request.make("GET", "https://api.example.com/")
    request.path = "/v1/items" + tail

    assert observe.query_of(request) == tuple(request.query.items(multi=True))


@settings(max_examples=300, derandomize=DETERMINISTIC)
@given(
    st.sampled_from(["http", "https"]),
    st.sampled_from(
        [
            "api.example.com",
            "API.Example.com:8443",
            "127.0.0.1:80",
            "[::1]:8080",
            "example.com:443",
            "bücher.example",
            "host:notaport",
            "",
        ]
    ),
    st.text("/ab?=&#%\t\n.", max_size=30).map(lambda tail: "/" + tail),
)
def test_a_place_is_what_split_url_makes_of_the_pretty_url(
    scheme: str, host: str, path: str
) -> None:
    """observe.place_of spares building and re-parsing every URL (same result)."""
    request = http.Request.make("GET", f"{scheme}://backend.internal/")
    if host:
        request.headers["Host"] = host
    request.path = path

    place = observe.place_of(request)
    if host.startswith("[::1]"):
        # mitmproxy's pretty_url drops the brackets, so it cannot be parsed back.
        assert place is not None
        assert place[0] == f"{scheme}://[::1]:8080"
    else:
        assert place == history.split_url(request.pretty_url)


@settings(max_examples=300, derandomize=DETERMINISTIC)
@given(
    st.sampled_from(["http", "https"]),
    st.sampled_from(["HTTP/1.1", "HTTP/2.0"]),
    st.text("aZ.:[]ü1-_ ", max_size=24),
    st.text("/ab?=&#%*", max_size=20),
    st.sampled_from(["", "second.example", "Host"]),
)
def test_the_pretty_host_and_url_are_mitmproxys(
    scheme: str, version: str, host: str, path: str, repeated_host: str
) -> None:
    """observe.pretty_host and pretty_url reuse a parsed Host (same result)."""
    request = http.Request.make("GET", f"{scheme}://backend.internal:8080/")
    request.http_version = version
    request.path = path or "*"
    if host:
        request.headers["Host"] = host
        if version == "HTTP/2.0":
            request.authority = host
    if repeated_host:
        # A second Host field, spelled in another case: mitmproxy folds them.
        request.headers.fields += ((b"HOST", repeated_host.encode()),)

    assert observe.host_header(request) == request.host_header
    assert observe.pretty_host(request) == request.pretty_host
    assert observe.pretty_url(request) == request.pretty_url


def test_a_certificate_with_an_unknown_version_is_unreadable() -> None:
    # cryptography raises InvalidVersion, which is not a ValueError.
    v3 = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT Version INTEGER 2 (RFC 5280)
    damaged = real_certificate().replace(v3, b"\xa0\x03\x02\x01\x05", 1)

    got = tls.read_certificate(damaged)

    assert isinstance(got, tls.UnreadableCertificate)


@settings(max_examples=300, derandomize=DETERMINISTIC)
@given(
    st.builds(
        str.__add__,
        st.sampled_from(["http://", "https://", "HTTPS://", "ftp://", ""]),
        st.text(),
    )
)
def test_any_url_splits_into_origin_and_path_or_none(url: str) -> None:
    """The history keys every exchange by this split of the request URL."""
    split = history.split_url(url)

    if split is not None:
        origin, path = split
        assert origin.startswith(("http://", "https://")) and path.startswith("/")


@given(st.text())
def test_the_statuses_option_takes_any_text_or_says_why_not(spec: str) -> None:
    try:
        statuses = parse_statuses(spec)
    except ValueError as refused:
        assert str(refused)
    else:
        assert statuses and all(100 <= status <= 599 for status in statuses)


# --- hostile sizes ---------------------------------------------------------------

MB = 1 << 20


def hostile_flows(size: int) -> dict[str, Callable[[], http.HTTPFlow]]:
    """Refused flows with one part of about ``size`` bytes, by what that part is."""
    count = size // 20  # for parts made of many small pieces
    json_type = [("Content-Type", "application/json")]
    return {
        "Authorization: Bearer <1 MB token>": lambda: refused_flow(
            request_headers=[("Authorization", "Bearer " + "a" * size)]
        ),
        "Authorization: Bearer <1 MB JWT payload>": lambda: refused_flow(
            request_headers=[
                ("Authorization", f"Bearer eyJhbGciOiJIUzI1NiJ9.{'e' * size}.c2ln")
            ]
        ),
        "Authorization: Basic <1 MB>": lambda: refused_flow(
            request_headers=[("Authorization", "Basic " + "QUFB" * (size // 4))]
        ),
        "Authorization: Digest <1 MB of params>": lambda: refused_flow(
            request_headers=[("Authorization", "Digest " + 'a="b", ' * (size // 7))]
        ),
        "WWW-Authenticate: <1 MB realm>": lambda: refused_flow(
            response_headers=[("WWW-Authenticate", f'Basic realm="{"r" * size}"')]
        ),
        "WWW-Authenticate: <many challenges>": lambda: refused_flow(
            response_headers=[("WWW-Authenticate", 'Basic realm="x", ' * count)]
        ),
        "Proxy-Authenticate: <1 MB realm>": lambda: refused_flow(
            407,
            response_headers=[("Proxy-Authenticate", f'Basic realm="{"r" * size}"')],
        ),
        "Cookie: <many cookies>": lambda: refused_flow(
            request_headers=[
                ("Cookie", "; ".join(f"session{i}=v{i}" for i in range(count)))
            ]
        ),
        "Set-Cookie: <many fields>": lambda: refused_flow(
            request_headers=[("Cookie", "sessionid=abc")],
            response_headers=[
                ("Set-Cookie", f"c{i}=; Max-Age=0") for i in range(count)
            ],
        ),
        "X-API-Key: <many fields>": lambda: refused_flow(
            request_headers=[("X-API-Key", f"key-{i:016d}") for i in range(count)]
        ),
        "?api_key=...: <many parameters>": lambda: refused_flow(
            url="https://api.example.com/x?"
            + "&".join(f"api_key=k{i:012d}" for i in range(count))
        ),
        "URL: <1 MB path>": lambda: refused_flow(
            url="https://api.example.com/" + "p" * size
        ),
        "body: <deeply nested JSON>": lambda: refused_flow(
            body=b"[" * (size // 2) + b"]" * (size // 2), response_headers=json_type
        ),
        "body: <huge JSON message>": lambda: refused_flow(
            body=json.dumps({"message": "m" * size}).encode(),
            response_headers=json_type,
        ),
    }


HOSTILE = list(hostile_flows(0))


def best_time(proxy: Proxy, build: Callable[[], http.HTTPFlow], rounds: int) -> float:
    """The fastest of a few runs of the response hooks, each on a fresh flow."""
    best = float("inf")
    for _ in range(rounds):
        flow = build()
        start = time.perf_counter()
        proxy.all_addons(HttpResponseHook(flow))
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("part", HOSTILE)
def test_hostile_sizes_are_read_in_linear_time(proxy: Proxy, part: str) -> None:
    small, large = hostile_flows(MB // 10)[part], hostile_flows(MB)[part]
    best_time(proxy, small, 1)  # warm up

    ratio = best_time(proxy, large, 2) / best_time(proxy, small, 3)

    # Ten times the input: linear gives about 10 (less where a cap applies),
    # quadratic about 100.
    assert ratio < 30, f"{part}: ten times the size took {ratio:.0f} times as long"


@pytest.mark.parametrize("part", HOSTILE)
def test_what_authdiag_writes_stays_small_whatever_it_read(
    proxy: Proxy, part: str, caplog: pytest.LogCaptureFixture
) -> None:
    flow = hostile_flows(MB)[part]()
    with authdiag_errors() as errors, caplog.at_level(logging.INFO, "authdiag"):
        proxy.cycle(flow)

    assert errors.messages() == []
    annotation = json.dumps(flow.metadata["authdiag"])
    assert len(annotation) < 32 * 1024, f"{part}: a {len(annotation)}-byte annotation"
    assert len(flow.comment) < 2048
    logged = [record.getMessage() for record in caplog.records]
    assert any(" → " in line for line in logged), "no diagnosis line"
    assert all(len(line) < 4096 for line in logged), f"{part}: a long log line"
