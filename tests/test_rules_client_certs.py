"""Client-certificate causes, from flows carrying stored TLS facts, through the addon.

Each scenario is a flow as the live addon leaves it (TLS facts in
``metadata['authdiag']['observed']['tls']``) or as a recording made without
authdiag has it (only mitmproxy's error text, an nginx page, an Envoy body). The
live end-to-end counterparts are in test_live_client_certs.py.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator

import pytest
from mitmproxy import flow as mitm_flow
from mitmproxy import http, io
from mitmproxy.test import taddons
from tests.support.flows import REQUEST_TIME, make_jwt, refused_flow

from authdiag.addon import AuthDiag
from authdiag.catalogue import CAUSES
from authdiag.rules.client_certs import CLIENT_CERT_CAUSES
from authdiag.tls import AppTls, Certificate, TlsObservation, UpstreamTls
from authdiag.tlswatch import record_observation

T = REQUEST_TIME
DAY = 86400.0
CA = "CN=Client CA,O=Example"
CERT = Certificate(
    subject="CN=app-client",
    issuer=CA,
    serial="2a",
    not_before=T - DAY,
    not_after=T + DAY,
    usages=("clientAuth",),
    names=("DNS:app.example",),
    thumbprint="q" * 43,
)
ASKED = UpstreamTls(
    server="api.example.com:443",
    sni="api.example.com",
    version="TLSv1.3",
    certificate_requested=True,
    acceptable_cas=(CA,),
)
NGINX_MISSING = (
    b"<html><head><title>400 No required SSL certificate was sent</title></head>"
    b"<body><center><h1>400 Bad Request</h1></center></body></html>"
)
NGINX_ERROR = (
    b"<html><head><title>400 The SSL certificate error</title></head>"
    b"<body><center><h1>400 Bad Request</h1></center></body></html>"
)
ENVOY = (
    b"upstream connect error or disconnect/reset before headers. reset reason: "
    b"connection failure, transport failure reason: TLS error: 268436496:SSL "
    b"routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE"
)


def with_cert(cert: Certificate = CERT, **changes: object) -> UpstreamTls:
    return dataclasses.replace(ASKED, presented=cert, **changes)  # type: ignore[arg-type]


def observed(flow: http.HTTPFlow, **parts: object) -> http.HTTPFlow:
    record_observation(flow, TlsObservation(**parts))  # type: ignore[arg-type]
    return flow


def failed(error: str, **parts: object) -> http.HTTPFlow:
    """A flow that got no response, only mitmproxy's error."""
    flow = refused_flow(200)
    flow.response = None
    flow.error = mitm_flow.Error(error)
    return observed(flow, **parts) if parts else flow


def html(status: int, body: bytes, **parts: object) -> http.HTTPFlow:
    flow = refused_flow(
        status, body=body, response_headers=[("Content-Type", "text/html")]
    )
    return observed(flow, **parts) if parts else flow


Scenario = Callable[[], http.HTTPFlow]

SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "TLS 1.3 alert certificate_required, nothing presented": (
        "client-cert-missing",
        lambda: failed(
            "server closed connection",
            upstream=dataclasses.replace(ASKED, alert=116, alert_after_handshake=True),
        ),
    ),
    "TLS 1.2 handshake_failure in a recording without facts": (
        "client-cert-missing",
        lambda: failed(
            "OpenSSL Error([('SSL routines', '', 'tls alert handshake failure')])"
        ),
    ),
    "nginx 'No required SSL certificate was sent'": (
        "client-cert-missing",
        lambda: html(400, NGINX_MISSING),
    ),
    "a 401 from behind ssl_verify_client optional": (
        "client-cert-missing",
        lambda: observed(
            refused_flow(401, body=b'{"message": "client certificate required"}'),
            upstream=ASKED,
        ),
    ),
    "a TLS 1.3 server hanging up after asking, alert lost": (
        "client-cert-missing",
        lambda: failed("server closed connection", upstream=ASKED),
    ),
    "an Envoy 503 naming handshake_failure": (
        "client-cert-missing",
        lambda: refused_flow(503, body=ENVOY, response_headers=[("Server", "envoy")]),
    ),
    "an expired certificate refused with certificate_expired": (
        "client-cert-expired",
        lambda: failed(
            "server closed connection",
            upstream=with_cert(dataclasses.replace(CERT, not_after=T - 3600), alert=45),
        ),
    ),
    "an expired certificate behind nginx's error page": (
        "client-cert-expired",
        lambda: html(
            400,
            NGINX_ERROR,
            upstream=with_cert(dataclasses.replace(CERT, not_after=T - 3600)),
        ),
    ),
    "a certificate not valid yet, refused as bad_certificate": (
        "client-cert-not-yet-valid",
        lambda: failed(
            "tls",
            upstream=with_cert(
                dataclasses.replace(CERT, not_before=T + 3600), alert=42
            ),
        ),
    ),
    "a certificate from another CA, unknown_ca": (
        "client-cert-untrusted-ca",
        lambda: failed("tlsv1 alert unknown ca", upstream=with_cert(alert=48)),
    ),
    "a certificate whose issuer is not in the CA names (nginx page)": (
        "client-cert-untrusted-ca",
        lambda: html(
            400,
            NGINX_ERROR,
            upstream=with_cert(dataclasses.replace(CERT, issuer="CN=Other")),
        ),
    ),
    "a server-only certificate, unsupported_certificate": (
        "client-cert-wrong-usage",
        lambda: failed(
            "x",
            upstream=with_cert(
                dataclasses.replace(CERT, usages=("serverAuth",)), alert=43
            ),
        ),
    ),
    "a revoked certificate": (
        "client-cert-revoked",
        lambda: failed("sslv3 alert certificate revoked", upstream=with_cert(alert=44)),
    ),
    "access_denied for a good certificate": (
        "client-cert-rejected",
        lambda: failed("x", upstream=with_cert(alert=49)),
    ),
    "nginx's error page for a certificate that looks fine": (
        "client-cert-rejected",
        lambda: html(400, NGINX_ERROR, upstream=with_cert()),
    ),
    "a token bound to another certificate": (
        "cert-bound-token-mismatch",
        lambda: observed(
            refused_flow(
                401,
                request_headers=[
                    (
                        "Authorization",
                        "Bearer "
                        + make_jwt(sub="app", exp=T + 600, cnf={"x5t#S256": "z" * 43}),
                    )
                ],
                response_headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
            ),
            upstream=with_cert(),
        ),
    ),
    "the app does not trust mitmproxy's CA": (
        "app-rejects-proxy-cert",
        lambda: failed("Client TLS handshake failed", app=AppTls(alert=48)),
    ),
    "the app hangs up right after the handshake": (
        "app-rejects-proxy-cert",
        lambda: failed("closed", app=AppTls(closed_unused=True, seconds_open=0.01)),
    ),
}


Diagnose = Callable[[http.HTTPFlow], http.HTTPFlow]


@pytest.fixture
def diagnosed() -> Iterator[Diagnose]:
    """Run a flow through the addon's hook for how it ended."""
    addon = AuthDiag()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, authdiag_statuses="401,403,407")

        def run(flow: http.HTTPFlow) -> http.HTTPFlow:
            if flow.response is None:
                addon.error(flow)
            else:
                addon.response(flow)
            return flow

        yield run


@pytest.mark.parametrize("scenario", SCENARIOS, ids=list(SCENARIOS))
def test_each_client_certificate_scenario_gets_its_cause(
    diagnosed: Diagnose, scenario: str
) -> None:
    expected, build = SCENARIOS[scenario]
    flow = diagnosed(build())
    annotation = flow.metadata["authdiag"]
    assert annotation["findings"][0]["cause"] == expected, json.dumps(annotation)
    assert flow.comment.startswith(f"authdiag: {expected}: ")
    assert flow.marked


def test_every_client_certificate_cause_has_a_scenario() -> None:
    module = "authdiag.rules.client_certs"
    ours = {known.id for known in CAUSES if known.rule.__module__ == module}
    assert ours == CLIENT_CERT_CAUSES
    assert ours <= {cause for cause, _ in SCENARIOS.values()}


def test_a_success_on_a_client_certificate_connection_keeps_only_the_facts(
    diagnosed: Diagnose,
) -> None:
    flow = diagnosed(observed(refused_flow(200), upstream=with_cert()))
    annotation = flow.metadata["authdiag"]
    assert annotation["findings"] == []
    assert annotation["observed"]["tls"]["upstream"]["presented"]["subject"] == (
        "CN=app-client"
    )
    assert not flow.comment and not flow.marked


@pytest.mark.parametrize(
    "build",
    [
        lambda: failed("Client disconnected."),
        lambda: refused_flow(502, body=b"<h1>Bad Gateway</h1>"),
        lambda: refused_flow(400, body=b'{"error": "bad json"}'),
        lambda: refused_flow(404),
    ],
    ids=["client went away", "plain 502", "plain 400", "404"],
)
def test_errors_and_pages_with_no_certificate_story_are_left_alone(
    diagnosed: Diagnose, build: Scenario
) -> None:
    flow = diagnosed(build())
    assert "authdiag" not in flow.metadata
    assert not flow.comment and not flow.marked


def test_judging_uses_the_request_time_not_now(diagnosed: Diagnose) -> None:
    # Valid at the request (years ago); long expired today.
    cert = dataclasses.replace(CERT, not_before=T - DAY, not_after=T + 60)
    flow = diagnosed(html(400, NGINX_ERROR, upstream=with_cert(cert)))
    assert flow.metadata["authdiag"]["findings"][0]["cause"] == "client-cert-rejected"


def test_the_annotation_with_tls_facts_is_saved_and_read_back(
    diagnosed: Diagnose, tmp_path: object
) -> None:
    _, build = SCENARIOS["an expired certificate refused with certificate_expired"]
    flow = diagnosed(build())
    buffer = __import__("io").BytesIO()
    io.FlowWriter(buffer).add(flow)
    buffer.seek(0)
    (again,) = list(io.FlowReader(buffer).stream())
    assert again.metadata["authdiag"] == flow.metadata["authdiag"]


def test_fixes_name_the_host_the_option_and_the_acceptable_cas(
    diagnosed: Diagnose,
) -> None:
    _, build = SCENARIOS["TLS 1.3 alert certificate_required, nothing presented"]
    finding = diagnosed(build()).metadata["authdiag"]["findings"][0]
    fixes = "\n".join(finding["fix"])
    assert "--set client_certs=" in fixes and "api.example.com.pem" in fixes
    assert CA in fixes
    assert (
        "openssl s_client -connect api.example.com:443 -servername api.example.com"
        in fixes
    )
    assert "curl --cert" in fixes and "cert=(" in fixes and "Postman" in fixes
    assert finding["fault"] == "proxy"


def test_a_replayed_flow_with_a_response_and_an_error_is_diagnosed_once() -> None:
    # A saved CONNECT flow whose tunnel the app refused has mitmproxy's 200 and
    # the error; `mitmdump -nr` fires response and then error for it.
    flow = observed(refused_flow(200), app=AppTls(alert=48))
    flow.error = mitm_flow.Error("Client TLS handshake failed")
    addon = AuthDiag()
    with taddons.context(addon):
        addon.response(flow)
        addon.error(flow)
    assert flow.metadata["authdiag"]["findings"][0]["cause"] == "app-rejects-proxy-cert"
    assert len(addon.summary) == 1
