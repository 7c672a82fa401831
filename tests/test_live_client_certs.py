"""End to end: client-certificate refusals through a real mitmdump with the addon.

Real servers on 127.0.0.1 demand a client certificate: Python ``ssl`` servers at
TLS 1.2 and 1.3 (checking a CRL), Debian's nginx with ``ssl_verify_client on`` and
``optional`` in front of an app that answers 401, and an app answering like
Envoy. mitmdump presents what ``--set client_certs=...`` gives it (one proxy per
certificate); curl and requests drive it. Each test reads back the flow mitmdump
saved with ``-w`` and checks the verdict, the stored TLS facts and the log line.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import trustme
from mitmproxy import http
from tests.conftest import ADDON_SCRIPT
from tests.support.mtls import (
    APP_REFUSAL,
    CertApp,
    ClientPki,
    MutualTlsServer,
    VerifyingNginx,
    bound_token,
    flow_summary,
)
from tests.support.proxy import (
    CurlResult,
    Mitmdump,
    client_session,
    new_case,
    run_curl,
    with_case,
)
from tests.support.reports import assert_no_secret_leaked

from authdiag import evidence
from authdiag.engine import diagnose
from authdiag.tlswatch import GENERATED_HEADER

PROMPT = 2.0
"""Seconds within which a refused request must come back (it takes ~0.1 s)."""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ClientPki:
    return ClientPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls13_server(trust_ca: trustme.CA, pki: ClientPki) -> Iterator[MutualTlsServer]:
    with MutualTlsServer(trust_ca, pki, version=ssl.TLSVersion.TLSv1_3) as server:
        yield server


@pytest.fixture(scope="module")
def tls12_server(trust_ca: trustme.CA, pki: ClientPki) -> Iterator[MutualTlsServer]:
    with MutualTlsServer(trust_ca, pki, version=ssl.TLSVersion.TLSv1_2) as server:
        yield server


@pytest.fixture(scope="module")
def cert_app() -> Iterator[CertApp]:
    with CertApp() as app:
        yield app


@pytest.fixture(scope="module")
def nginx(
    trust_ca: trustme.CA,
    pki: ClientPki,
    cert_app: CertApp,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[VerifyingNginx]:
    with VerifyingNginx(
        tmp_path_factory.mktemp("nginx"), trust_ca, pki, cert_app
    ) as server:
        yield server


ProxyFor = Callable[..., Mitmdump]


@pytest.fixture(scope="module")
def proxy_for(
    trust_ca_pem: Path,
    tmp_path_factory: pytest.TempPathFactory,
    tls13_server: MutualTlsServer,
    tls12_server: MutualTlsServer,
    nginx: VerifyingNginx,
) -> Iterator[ProxyFor]:
    """``proxy_for(*args)``: a mitmdump with the addon and these extra arguments,
    started on first use and stopped (before the servers) when the module ends."""
    started: dict[tuple[str, ...], Mitmdump] = {}

    def get(*args: str) -> Mitmdump:
        if args not in started:
            started[args] = Mitmdump(
                workdir=tmp_path_factory.mktemp("mtls-mitmdump"),
                upstream_ca=trust_ca_pem,
                script=ADDON_SCRIPT,
                extra_args=args,
            ).start()
        return started[args]

    yield get
    for proxy in started.values():
        proxy.stop()


def client_certs(path: Path) -> tuple[str, ...]:
    return ("--set", f"client_certs={path}")


def curl(proxy: Mitmdump, url: str, tmp_path: Path, *args: str) -> CurlResult:
    return run_curl(proxy, [*args, url], tmp_path, timeout=10)


def annotation(flow: http.HTTPFlow) -> dict[str, object]:
    found = flow.metadata.get("authdiag")
    assert isinstance(found, dict), f"no annotation on {flow.request.url}"
    return found


def causes(flow: http.HTTPFlow) -> list[str]:
    return [finding["cause"] for finding in annotation(flow)["findings"]]  # type: ignore[index, union-attr]


def upstream_facts(flow: http.HTTPFlow) -> dict[str, object]:
    observed = annotation(flow)["observed"]
    assert isinstance(observed, dict)
    return observed["tls"]["upstream"]  # type: ignore[no-any-return]


def assert_verdict(
    proxy: Mitmdump, flow: http.HTTPFlow, cause: str, since: int
) -> None:
    """The verdict is ``cause``, marked, commented and logged, and the private
    key of the certificate mitmproxy presented is nowhere in what was written."""
    found = causes(flow)
    assert found and found[0] == cause, flow_summary(annotation(flow))
    assert flow.marked, "a client-certificate refusal is marked"
    assert flow.comment.startswith(f"authdiag: {cause}: ")
    proxy.wait_for_record(f"→ {cause} (", since=since)
    presented = annotation(flow)["observed"].get("tls", {}).get("upstream", {})  # type: ignore[attr-defined]
    assert_no_secret_leaked(
        proxy, flow, ["PRIVATE KEY", *key_lines(presented.get("client_certs"))]
    )


def key_lines(client_certs: object) -> list[str]:
    """The base64 lines of the private key in the PEM file given to mitmproxy
    as client_certs (none when it presented no certificate)."""
    if not isinstance(client_certs, str) or not Path(client_certs).is_file():
        return []
    pem = Path(client_certs).read_text()
    _, key, _ = pem.split("PRIVATE KEY-----", 2)
    lines = [line for line in key.split() if not line.startswith("-----")]
    assert lines, f"no private key in {client_certs}"
    return lines


def request_through(
    proxy: Mitmdump, url: str, tmp_path: Path, name: str, *args: str
) -> tuple[CurlResult, http.HTTPFlow, int]:
    since = proxy.log_mark()
    case = new_case(name)
    result = curl(proxy, with_case(url, case), tmp_path, *args)
    return result, proxy.flow_for(case), since


# --- no certificate -------------------------------------------------------------


def test_tls13_refusal_without_a_certificate_comes_back_at_once_as_a_502(
    mitmdump: Mitmdump, tls13_server: MutualTlsServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    result, flow, since = request_through(
        mitmdump, tls13_server.url("/"), tmp_path, "tls13-none"
    )
    waited = time.monotonic() - started

    assert result.status == 502, result.stderr
    assert waited < PROMPT, f"the client waited {waited:.2f} s"
    assert "client-cert-missing" in result.body.decode()
    assert GENERATED_HEADER.lower() in result.headers.lower()
    assert_verdict(mitmdump, flow, "client-cert-missing", since)
    facts = upstream_facts(flow)
    assert facts["alert"] == 116 and facts["alert_after_handshake"] is True
    assert facts["version"] == "TLSv1.3" and facts["certificate_requested"] is True
    assert facts["presented"] is None


def test_tls13_refusal_hangs_until_the_client_gives_up_with_the_option_off(
    proxy_for: ProxyFor, tls13_server: MutualTlsServer, tmp_path: Path
) -> None:
    # mitmproxy's own behaviour, kept when authdiag_end_hanging_flows=false:
    # the request waits for an answer from a server that already refused.
    proxy = proxy_for("--set", "authdiag_end_hanging_flows=false")
    started = time.monotonic()
    result = run_curl(proxy, [tls13_server.url("/")], tmp_path, timeout=3)
    waited = time.monotonic() - started

    assert result.returncode == 28, result.stderr  # curl: operation timed out
    assert waited >= 3.0


def test_tls13_refusal_after_the_request_was_sent_ends_promptly_too(
    proxy_for: ProxyFor, tls13_server: MutualTlsServer, tmp_path: Path
) -> None:
    # connection_strategy=lazy: mitmproxy connects only when the request comes,
    # so the server's alert arrives while the request waits for its answer.
    proxy = proxy_for("--set", "connection_strategy=lazy")
    started = time.monotonic()
    result, flow, since = request_through(
        proxy, tls13_server.url("/"), tmp_path, "lazy-none"
    )
    waited = time.monotonic() - started

    assert result.status == 502 and waited < PROMPT, (result.stderr, waited)
    assert flow.response is None and flow.error is not None
    assert_verdict(proxy, flow, "client-cert-missing", since)
    assert upstream_facts(flow)["alert"] == 116


def test_tls12_refusal_without_a_certificate_is_a_handshake_failure(
    mitmdump: Mitmdump,
    tls12_server: MutualTlsServer,
    proxied_session: requests.Session,
) -> None:
    since = mitmdump.log_mark()
    case = new_case("tls12-none")
    response = proxied_session.get(with_case(tls12_server.url("/"), case), timeout=10)

    assert response.status_code == 502
    flow = mitmdump.flow_for(case)
    assert flow.error is not None and "handshake failure" in flow.error.msg
    assert_verdict(mitmdump, flow, "client-cert-missing", since)
    facts = upstream_facts(flow)
    assert facts["alert"] == 40 and facts["alert_after_handshake"] is False
    assert facts["version"] == "TLSv1.2" and facts["certificate_requested"] is True
    finding = annotation(flow)["findings"][0]  # type: ignore[index]
    assert any("--set client_certs=" in step for step in finding["fix"])
    assert any("openssl s_client -connect" in step for step in finding["fix"])


def test_nginx_page_for_a_missing_certificate_is_diagnosed_with_its_ca_names(
    mitmdump: Mitmdump, nginx: VerifyingNginx, pki: ClientPki, tmp_path: Path
) -> None:
    result, flow, since = request_through(
        mitmdump, nginx.url(nginx.port_on), tmp_path, "nginx-on-none"
    )

    assert result.status == 400
    assert_verdict(mitmdump, flow, "client-cert-missing", since)
    facts = upstream_facts(flow)
    assert facts["acceptable_cas"] == [pki.ca_name]
    finding = annotation(flow)["findings"][0]  # type: ignore[index]
    assert any(pki.ca_name in step for step in finding["fix"])


def test_an_app_401_behind_optional_verification_points_at_the_certificate(
    mitmdump: Mitmdump, nginx: VerifyingNginx, tmp_path: Path
) -> None:
    result, flow, since = request_through(
        mitmdump, nginx.url(nginx.port_optional), tmp_path, "nginx-optional"
    )

    assert result.status == 401 and json.loads(result.body) == APP_REFUSAL
    assert_verdict(mitmdump, flow, "client-cert-missing", since)
    assert upstream_facts(flow)["certificate_requested"] is True


def test_an_envoy_503_naming_a_handshake_failure_blames_the_gateway(
    mitmdump: Mitmdump, cert_app: CertApp, tmp_path: Path
) -> None:
    result, flow, since = request_through(
        mitmdump, cert_app.url("/envoy"), tmp_path, "envoy-503"
    )

    assert result.status == 503
    assert_verdict(mitmdump, flow, "client-cert-missing", since)
    finding = annotation(flow)["findings"][0]  # type: ignore[index]
    assert finding["fault"] == "server"
    assert any("DestinationRule" in step for step in finding["fix"])


# --- a certificate, and what is wrong with it ------------------------------------

BAD_CERTIFICATES = {
    # certificate attribute on ClientPki -> (server, expected cause, alert)
    "expired": ("tls13", "client-cert-expired", 45),
    "not_yet_valid": ("tls13", "client-cert-not-yet-valid", 42),
    "wrong_ca": ("tls13", "client-cert-untrusted-ca", 48),
    "server_usage": ("tls13", "client-cert-wrong-usage", 43),
    "revoked": ("tls13", "client-cert-revoked", 44),
    "wrong_ca-tls12": ("tls12", "client-cert-untrusted-ca", 48),
}


@pytest.mark.parametrize("name", BAD_CERTIFICATES)
def test_a_refused_certificate_gets_its_specific_cause(
    name: str,
    proxy_for: ProxyFor,
    pki: ClientPki,
    tls13_server: MutualTlsServer,
    tls12_server: MutualTlsServer,
    tmp_path: Path,
) -> None:
    server_name, cause, alert = BAD_CERTIFICATES[name]
    issued = getattr(pki, name.split("-")[0])
    server = tls13_server if server_name == "tls13" else tls12_server
    proxy = proxy_for(*client_certs(issued.path))

    started = time.monotonic()
    result, flow, since = request_through(
        proxy, server.url("/"), tmp_path, f"cert-{name.replace('_', '-')}"
    )

    assert result.status == 502 and time.monotonic() - started < PROMPT
    assert_verdict(proxy, flow, cause, since)
    facts = upstream_facts(flow)
    assert facts["alert"] == alert
    assert facts["presented"]["thumbprint"] == issued.thumbprint  # type: ignore[index]
    assert facts["client_certs"] == str(issued.path)


@pytest.mark.parametrize(
    ("name", "cause"),
    [("expired", "client-cert-expired"), ("wrong_ca", "client-cert-untrusted-ca")],
)
def test_nginx_certificate_error_page_is_explained_by_the_certificate(
    name: str,
    cause: str,
    proxy_for: ProxyFor,
    pki: ClientPki,
    nginx: VerifyingNginx,
    tmp_path: Path,
) -> None:
    # nginx says only 'The SSL certificate error'; the certificate, judged at the
    # request's time against the CA names nginx sent, says why.
    proxy = proxy_for(*client_certs(getattr(pki, name).path))
    result, flow, since = request_through(
        proxy, nginx.url(nginx.port_on), tmp_path, f"nginx-{name.replace('_', '-')}"
    )

    assert result.status == 400
    assert_verdict(proxy, flow, cause, since)


def test_a_valid_certificate_passes_with_no_finding(
    proxy_for: ProxyFor,
    pki: ClientPki,
    tls13_server: MutualTlsServer,
    nginx: VerifyingNginx,
    tmp_path: Path,
) -> None:
    proxy = proxy_for(*client_certs(pki.valid.path))
    for url in (tls13_server.url("/"), nginx.url(nginx.port_on)):
        result, flow, _ = request_through(proxy, url, tmp_path, "valid-cert")

        assert result.status == 200, result.body
        assert annotation(flow)["findings"] == []
        assert not flow.marked and not flow.comment
        facts = upstream_facts(flow)
        assert facts["presented"]["thumbprint"] == pki.valid.thumbprint  # type: ignore[index]
    assert "→ client-cert" not in proxy.log()


def test_a_token_bound_to_another_certificate_is_a_binding_mismatch(
    proxy_for: ProxyFor, pki: ClientPki, tls13_server: MutualTlsServer
) -> None:
    proxy = proxy_for(*client_certs(pki.valid.path))
    token = bound_token(pki.other_valid.thumbprint)
    since = proxy.log_mark()
    case = new_case("bound-token")
    with client_session(proxy) as session:
        refused = session.get(
            with_case(tls13_server.url("/bound"), case),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        accepted = session.get(
            tls13_server.url("/bound"),
            headers={"Authorization": f"Bearer {bound_token(pki.valid.thumbprint)}"},
            timeout=10,
        )

    assert refused.status_code == 401 and accepted.status_code == 200
    flow = proxy.flow_for(case)
    assert_verdict(proxy, flow, "cert-bound-token-mismatch", since)
    assert_no_secret_leaked(proxy, flow, [token])


def test_the_apps_certificate_is_analysed_and_said_not_to_be_forwarded(
    proxy_for: ProxyFor, pki: ClientPki, tls13_server: MutualTlsServer, tmp_path: Path
) -> None:
    proxy = proxy_for("--set", "request_client_cert=true")
    result, flow, since = request_through(
        proxy,
        tls13_server.url("/"),
        tmp_path,
        "app-cert",
        "--cert",
        str(pki.expired.path),
    )

    assert result.status == 502
    assert_verdict(proxy, flow, "client-cert-missing", since)
    finding = annotation(flow)["findings"][0]  # type: ignore[index]
    assert any("never forwards its certificate" in step for step in finding["fix"])
    assert any("CN=expired-client" in line for line in finding["evidence"])
    assert any("expired" in line and "judged" in line for line in finding["evidence"])


# --- the app refusing mitmproxy ----------------------------------------------------


def connect_flows(proxy: Mitmdump, port: int) -> list[http.HTTPFlow]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [
            f
            for f in proxy.flows()
            if f.request.method == "CONNECT" and f.request.port == port
        ]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no CONNECT flow to port {port}:\n{proxy.log()}")


def test_an_app_without_mitmproxys_ca_is_told_to_install_it(
    proxy_for: ProxyFor,
    tls13_server: MutualTlsServer,
    trust_ca_pem: Path,
    tmp_path: Path,
) -> None:
    proxy = proxy_for("--set", "termlog_verbosity=info", "--set", "flow_detail=1")
    since = proxy.log_mark()
    # curl trusts only the test CA here, not mitmproxy's: it sends unknown_ca.
    result = curl(proxy, tls13_server.url("/"), tmp_path, "--cacert", str(trust_ca_pem))

    assert result.returncode == 60, result.stderr  # curl: peer certificate untrusted
    (flow,) = connect_flows(proxy, tls13_server.port)
    assert_verdict(proxy, flow, "app-rejects-proxy-cert", since)
    assert annotation(flow)["findings"][0]["confidence"] == "high"  # type: ignore[index]


def test_an_app_that_pins_certificates_is_told_apart(
    proxy_for: ProxyFor, tls12_server: MutualTlsServer, tmp_path: Path
) -> None:
    proxy = proxy_for("--set", "termlog_verbosity=info", "--set", "flow_detail=1")
    since = proxy.log_mark()
    pin = "sha256//" + "A" * 43 + "="  # no certificate has this key
    result = curl(proxy, tls12_server.url("/"), tmp_path, "--pinnedpubkey", pin)

    assert result.returncode == 90, result.stderr  # curl: pinned key mismatch
    (flow,) = connect_flows(proxy, tls12_server.port)
    assert_verdict(proxy, flow, "app-rejects-proxy-cert", since)
    assert "pins" in annotation(flow)["findings"][0]["summary"]  # type: ignore[index]


# --- what was saved ---------------------------------------------------------------


def test_saved_flows_re_read_and_re_diagnose_the_same_way_offline(
    mitmdump: Mitmdump, proxy_for: ProxyFor, pki: ClientPki
) -> None:
    # Runs last in this module: every flow saved so far with TLS facts must read
    # back from the -w file and give the same verdict from the file alone.
    proxies = [mitmdump, proxy_for(*client_certs(pki.expired.path))]
    checked = 0
    for proxy in proxies:
        for flow in proxy.flows(strict=True):
            stored = flow.metadata.get("authdiag")
            if not stored or not stored["findings"] or "tls" not in stored["observed"]:
                continue
            again = diagnose(evidence.from_flow(flow))
            assert again.verdict is not None
            assert again.verdict.cause == stored["findings"][0]["cause"]
            checked += 1
    assert checked >= 3
