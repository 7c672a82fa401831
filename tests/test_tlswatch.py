"""Tests for authdiag.tlswatch: what is kept per connection, and for how long."""

from __future__ import annotations

from mitmproxy import connection, http
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import tflow
from tests.support.flows import refused_flow

from authdiag import tlswatch
from authdiag.engine import Diagnosis
from authdiag.findings import ANNOTATION_VERSION, Confidence, Fault, Finding
from authdiag.tlswatch import MAX_CONNECTIONS, TlsWatch, _ServerRecord


def watched(watch: TlsWatch, server_id: str, *, asked: bool) -> _ServerRecord:
    record = _ServerRecord("api.example.com:443", "api.example.com")
    record.certificate_requested = asked
    watch._remember(server_id, record)
    return record


def flow_on(server_id: str) -> http.HTTPFlow:
    flow = refused_flow(200)
    flow.server_conn.id = server_id
    return flow


def test_the_store_keeps_at_most_its_cap_dropping_the_oldest() -> None:
    watch = TlsWatch()
    for n in range(MAX_CONNECTIONS + 10):
        watched(watch, f"conn-{n}", asked=True)
    assert len(watch._servers) == MAX_CONNECTIONS
    assert watch.upstream_for(flow_on("conn-0")) is None
    assert watch.upstream_for(flow_on(f"conn-{MAX_CONNECTIONS + 9}")) is not None


def test_a_connection_without_a_certificate_story_is_forgotten_and_untouched() -> None:
    watch = TlsWatch()
    watched(watch, "plain", asked=False)
    flow = flow_on("plain")
    assert watch.attach(flow) is False
    assert "authdiag" not in flow.metadata

    server = connection.Server(address=("api.example.com", 443))
    server.id = "plain"
    watch.server_disconnected(ServerConnectionHookData(server, tflow.tclient_conn()))
    assert "plain" not in watch._servers


def test_attach_copies_the_facts_as_plain_data() -> None:
    watch = TlsWatch()
    watched(watch, "asked", asked=True)
    flow = flow_on("asked")
    assert watch.attach(flow) is True
    stored = flow.metadata["authdiag"]
    assert stored["version"] == ANNOTATION_VERSION
    assert stored["findings"] == []
    assert stored["observed"]["tls"]["upstream"]["certificate_requested"] is True


def test_only_a_refusal_after_the_handshake_ends_a_request_early() -> None:
    watch = TlsWatch()
    record = watched(watch, "c", asked=True)
    assert watch.refused_before_request(flow_on("c")) is None
    record.alert, record.alert_after_handshake = 116, False
    assert watch.refused_before_request(flow_on("c")) is None  # mitmproxy answers
    record.alert_after_handshake = True
    assert watch.refused_before_request(flow_on("c")) is not None
    record.alert = 70  # protocol_version says nothing about certificates
    assert watch.refused_before_request(flow_on("c")) is None


def test_the_502_says_who_wrote_it_and_carries_the_diagnosis() -> None:
    finding = Finding(
        cause="client-cert-missing",
        confidence=Confidence.HIGH,
        summary="the server wants a client certificate",
        evidence=("tls: alert 116",),
        fix=("--set client_certs=/path/client.pem",),
        fault=Fault.PROXY,
    )
    response = tlswatch.answer_for_refused_connection(
        refused_flow(200), Diagnosis(findings=(finding,))
    )
    text = response.get_text()
    assert response.status_code == 502
    assert response.headers[tlswatch.GENERATED_HEADER] == "1"
    assert "from authdiag" in text and "not from the server" in text
    assert "client-cert-missing" in text and "--set client_certs=" in text


def test_the_cheap_look_at_other_statuses_wants_a_marker_in_the_body() -> None:
    def response(status: int, body: bytes) -> http.Response:
        return http.Response.make(status, body)

    assert tlswatch.looks_like_tls_refusal(
        response(400, b"<title>400 No required SSL certificate was sent</title>")
    )
    assert tlswatch.looks_like_tls_refusal(response(503, b"... TLS error: 2684 ..."))
    assert not tlswatch.looks_like_tls_refusal(response(400, b'{"error": "json"}'))
    assert not tlswatch.looks_like_tls_refusal(response(500, b"TLS error"))
