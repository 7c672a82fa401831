"""Tests for authdiag.tls: the alert table, error text, certificates, observations."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st
from tests.support.mtls import CertificateAuthority

from authdiag.tls import (
    ALERTS,
    AppTls,
    Certificate,
    CertificateProblem,
    TlsObservation,
    UnreadableCertificate,
    UpstreamTls,
    alert_by_name,
    alert_in_text,
    certificate_problems,
    read_certificate,
    thumbprint,
)

# --- the alert table ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "name", "cause"),
    [
        (40, "handshake_failure", "client-cert-missing"),
        (42, "bad_certificate", "client-cert-rejected"),
        (43, "unsupported_certificate", "client-cert-wrong-usage"),
        (44, "certificate_revoked", "client-cert-revoked"),
        (45, "certificate_expired", "client-cert-expired"),
        (46, "certificate_unknown", "client-cert-rejected"),
        (48, "unknown_ca", "client-cert-untrusted-ca"),
        (49, "access_denied", "client-cert-rejected"),
        (116, "certificate_required", "client-cert-missing"),
        (70, "protocol_version", None),
    ],
)
def test_the_table_follows_rfc_8446_numbers_and_names(
    number: int, name: str, cause: str | None
) -> None:
    alert = ALERTS[number]
    assert (alert.number, alert.name, alert.cause) == (number, name, cause)


def test_every_alert_is_found_again_by_its_own_name() -> None:
    for alert in ALERTS.values():
        assert alert_by_name(alert.name) is alert
        assert alert_by_name(alert.name.upper()) is alert


# --- alerts in error text ---------------------------------------------------------

ERROR_TEXTS = [
    # mitmproxy 12 with pyOpenSSL on OpenSSL 3.x/4.x
    ("OpenSSL Error([('SSL routines', '', 'tls alert handshake failure')])", 40),
    ("[('SSL routines', '', 'tlsv13 alert certificate required')]", 116),
    ("tlsv1 alert unknown ca", 48),
    # OpenSSL wordings by version
    ("error:14094410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure", 40),
    ("ssl/tls alert bad certificate", 42),
    ("sslv3 alert certificate expired", 45),
    # curl (OpenSSL 3.0 packed code and text)
    (
        "OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate "
        "required, errno 0",
        116,
    ),
    ("error:0A000414:SSL routines::sslv3 alert certificate revoked", 44),
    ("SSL alert number 43", 43),
    # Python's ssl module
    ("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required", 116),
    # Envoy / BoringSSL
    (
        "TLS error: 268436496:SSL routines:OPENSSL_internal:"
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        40,
    ),
    ("TLS error: 268436504:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA", 48),
    # Java and Go
    ("Received fatal alert: certificate_required", 116),
    ("remote error: tls: unknown certificate authority", 48),
    ("remote error: tls: expired certificate", 45),
]


@pytest.mark.parametrize(("text", "number"), ERROR_TEXTS)
def test_an_alert_is_found_in_each_wording(text: str, number: int) -> None:
    alert = alert_in_text(text)
    assert alert is not None and alert.number == number


@pytest.mark.parametrize(
    "text",
    [
        "server closed connection",
        "Client disconnected.",
        "certificate verify failed: unable to get local issuer certificate",
        "error:0A000086:SSL routines::certificate verify failed",  # not an alert
        "error:0800006B:system library::not an SSL error",
        "tls alert something nobody defined",
    ],
)
def test_text_without_an_alert_names_none(text: str) -> None:
    assert alert_in_text(text) is None


@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    alert_in_text(text)


# --- certificates -------------------------------------------------------------------

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority("unit test CA")


def issue(
    ca: CertificateAuthority, path: Path, **kwargs: object
) -> tuple[Certificate, bytes]:
    issued = ca.issue(
        "unit",
        path,
        valid_from=NOW - datetime.timedelta(days=1),
        valid_until=NOW + datetime.timedelta(days=1),
        **kwargs,  # type: ignore[arg-type]
    )
    read = read_certificate(issued.der)
    assert isinstance(read, Certificate)
    return read, issued.der


def test_a_certificate_is_read_from_der_and_pem_alike(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    cert, der = issue(ca, tmp_path / "c.pem")
    pem = (tmp_path / "c.pem").read_bytes()
    assert read_certificate(pem) == cert
    assert cert.subject == "CN=unit"
    assert cert.issuer == ca.name.rfc4514_string()
    assert cert.usages == ("clientAuth",) and cert.client_auth
    assert cert.names == ("DNS:unit.test",)
    assert cert.thumbprint == thumbprint(der)


def test_the_thumbprint_is_rfc_8705_x5t_s256() -> None:
    # base64url of SHA-256, no padding: 43 characters.
    assert thumbprint(b"abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"


@pytest.mark.parametrize(
    "data",
    [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nAAAA\n", b"\x30\x03"],
)
def test_corrupt_bytes_give_a_problem_not_an_exception(data: bytes) -> None:
    read = read_certificate(data)
    assert isinstance(read, UnreadableCertificate)
    assert "not a readable X.509 certificate" in read.problem


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    read_certificate(data)


def test_validity_is_judged_at_the_time_given_one_second_each_side(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    cert, _ = issue(ca, tmp_path / "c.pem")
    assert certificate_problems(cert, at=cert.not_after) == ()
    assert certificate_problems(cert, at=cert.not_after + 1) == (
        CertificateProblem.EXPIRED,
    )
    assert certificate_problems(cert, at=cert.not_before) == ()
    assert certificate_problems(cert, at=cert.not_before - 1) == (
        CertificateProblem.NOT_YET_VALID,
    )


def test_a_certificate_without_client_auth_usage_is_flagged(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert, _ = issue(ca, tmp_path / "c.pem", usages=(ExtendedKeyUsageOID.SERVER_AUTH,))
    assert cert.usages == ("serverAuth",)
    assert CertificateProblem.NO_CLIENT_AUTH in certificate_problems(
        cert, at=cert.not_before
    )


def test_the_issuer_is_checked_only_against_ca_names_the_server_sent(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    cert, _ = issue(ca, tmp_path / "c.pem")
    at = cert.not_before
    assert certificate_problems(cert, at=at, acceptable_cas=()) == ()
    assert certificate_problems(cert, at=at, acceptable_cas=(cert.issuer,)) == ()
    assert certificate_problems(cert, at=at, acceptable_cas=("CN=Elsewhere",)) == (
        CertificateProblem.ISSUER_NOT_ACCEPTED,
    )


def test_a_private_key_never_reaches_the_certificate_facts(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    cert, _ = issue(ca, tmp_path / "c.pem")
    key_pem = ca.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    assert "PRIVATE KEY" not in str(cert.to_dict())
    assert key_pem.splitlines()[1] not in str(cert.to_dict())


# --- observations -------------------------------------------------------------------

SAMPLE_CERTIFICATE = Certificate(
    subject="CN=app",
    issuer="CN=CA",
    serial="1f",
    not_before=1.0,
    not_after=2.0,
    usages=None,
    names=("DNS:app.test",),
    thumbprint="x" * 43,
)


def test_an_observation_survives_a_round_trip_through_plain_dicts() -> None:
    observation = TlsObservation(
        upstream=UpstreamTls(
            server="api.test:443",
            sni="api.test",
            version="TLSv1.3",
            certificate_requested=True,
            acceptable_cas=("CN=CA",),
            presented=SAMPLE_CERTIFICATE,
            client_certs="/certs",
            looked_for="/certs/api.test.pem",
            alert=116,
            alert_after_handshake=True,
        ),
        app=AppTls(alert=48, error="unknown ca"),
    )
    assert TlsObservation.from_dict(observation.to_dict()) == observation


@pytest.mark.parametrize(
    "stored",
    [None, "tls", [], {}, {"upstream": {"server": 5}}, {"app": "x"}],
)
def test_a_stored_observation_of_the_wrong_shape_is_no_observation(
    stored: object,
) -> None:
    assert TlsObservation.from_dict(stored) is None


def test_wrongly_typed_fields_are_dropped_not_raised() -> None:
    read = UpstreamTls.from_dict(
        {"server": "a:1", "alert": "116", "acceptable_cas": [1], "presented": {"x": 1}}
    )
    assert read == UpstreamTls(server="a:1")
