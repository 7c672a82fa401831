"""Mutual TLS on loopback: client certificates, servers that demand them, nginx.

``ClientPki`` makes, at test time, a client CA and one certificate per way a
certificate goes wrong (expired, not yet valid, from another CA, without the
clientAuth usage, revoked) plus a valid one, and the CA's revocation list.
``MutualTlsServer`` is a Python ``ssl`` server that requires a client certificate
at TLS 1.2 or 1.3, checks the CRL (VERIFY_CRL_CHECK_LEAF), and after a failed
handshake closes its side the way servers do after a fatal alert (RFC 8446 §6.2)
while still reading what mitmproxy sent. ``VerifyingNginx`` runs Debian's nginx with
``ssl_verify_client on`` and ``optional`` in front of ``CertApp``, a tiny app that
answers 401 without a verified certificate. Everything listens on 127.0.0.1 on
ports picked at start and is stopped by the fixtures, nginx by its PID.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import socket
import ssl
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import jwt
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tests.support.nginx import Nginx
from tests.support.servers import HOST, _Handler, _Running, _TrackingHTTPServer

from authdiag.tls import thumbprint

BOUND_TOKEN_KEY = "authdiag-mtls-test-key-0123456789abcdef"
"""HS256 key of the resource server that checks certificate-bound tokens."""
ENVOY_TLS_503 = (
    "upstream connect error or disconnect/reset before headers. reset reason: "
    "connection failure, transport failure reason: TLS error: 268436496:SSL "
    "routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE"
)
"""Envoy's body when its upstream wanted a client certificate it did not have."""
APP_REFUSAL = {"message": "client certificate required"}

DAY = datetime.timedelta(days=1)


# --- certificates -----------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """A certificate with its key, as the PEM file mitmproxy's client_certs takes."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    path: Path
    """certificate + key in one PEM file."""

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def thumbprint(self) -> str:
        return thumbprint(self.der)

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()


class CertificateAuthority:
    """A CA made with cryptography, so that each field of what it issues is ours."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "authdiag tests"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY)
            .not_valid_after(now + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(_ca_key_usage(), True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        path: Path,
        *,
        valid_from: datetime.datetime,
        valid_until: datetime.datetime,
        usages: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.CLIENT_AUTH,),
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
            )
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid_from)
            .not_valid_after(valid_until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(x509.ExtendedKeyUsage(list(usages)), False)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(f"{common_name}.test")]),
                False,
            )
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM) + key_pem)
        return Issued(certificate, key, path)

    def revocation_list(self, revoked: list[x509.Certificate]) -> bytes:
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.name)
            .last_update(now - DAY)
            .next_update(now + DAY)
        )
        for certificate in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(certificate.serial_number)
                .revocation_date(now - DAY)
                .build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.PEM)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


class ClientPki:
    """The client CA, its CRL, and one client certificate per case, in ``folder``."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.ca = CertificateAuthority("authdiag client CA")
        self.other_ca = CertificateAuthority("some other CA")
        now = datetime.datetime.now(datetime.UTC)
        good = {"valid_from": now - DAY, "valid_until": now + 7 * DAY}

        self.valid = self.ca.issue("app-client", folder / "valid.pem", **good)
        self.other_valid = self.ca.issue("other-client", folder / "other.pem", **good)
        self.expired = self.ca.issue(
            "expired-client",
            folder / "expired.pem",
            valid_from=now - 30 * DAY,
            valid_until=now - 2 * DAY,
        )
        self.not_yet_valid = self.ca.issue(
            "future-client",
            folder / "future.pem",
            valid_from=now + 2 * DAY,
            valid_until=now + 30 * DAY,
        )
        self.wrong_ca = self.other_ca.issue("stranger", folder / "wrong-ca.pem", **good)
        self.server_usage = self.ca.issue(
            "server-only",
            folder / "server-usage.pem",
            usages=(ExtendedKeyUsageOID.SERVER_AUTH,),
            **good,
        )
        self.revoked = self.ca.issue("revoked-client", folder / "revoked.pem", **good)

        self.ca_path = folder / "client-ca.pem"
        self.ca_path.write_bytes(self.ca.pem)
        self.crl_path = folder / "client-ca.crl.pem"
        self.crl_path.write_bytes(self.ca.revocation_list([self.revoked.certificate]))

    @property
    def ca_name(self) -> str:
        return self.ca.name.rfc4514_string()


# --- a Python server that requires client certificates -----------------------------


class _MutualTlsHandler(_Handler):
    server: _TrackingHTTPServer

    def setup(self) -> None:
        try:
            super().setup()  # the TLS handshake, where the certificate is judged
        except (ssl.SSLError, OSError):
            self._close_like_a_server()
            raise

    def _close_like_a_server(self) -> None:
        # After its fatal alert a server closes its side (RFC 8446 §6.2) and, as
        # nginx's lingering close does, reads what the peer still sends, so the
        # peer gets a FIN after the alert rather than a reset that could drop it.
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            while self.connection.recv(65536):
                pass

    def do_GET(self) -> None:
        peer = self.connection.getpeercert(binary_form=True)
        if self.path.startswith("/bound"):
            self.check_bound_token(peer)
            return
        self.reply_json(HTTPStatus.OK, {"client": thumbprint(peer) if peer else None})

    def check_bound_token(self, peer: bytes | None) -> None:
        # RFC 8705 §3: the token's cnf x5t#S256 must be this connection's certificate.
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        try:
            claims = jwt.decode(token, BOUND_TOKEN_KEY, algorithms=["HS256"])
        except jwt.PyJWTError:
            claims = {}
        bound = claims.get("cnf", {}).get("x5t#S256")
        if scheme.lower() == "bearer" and peer and bound == thumbprint(peer):
            self.reply_json(HTTPStatus.OK, {"orders": []})
            return
        description = "certificate thumbprint does not match the token"
        challenge = f'Bearer error="invalid_token", error_description="{description}"'
        self.reply_json(
            HTTPStatus.UNAUTHORIZED,
            {"error": "invalid_token", "error_description": description},
            [("WWW-Authenticate", challenge)],
        )


class MutualTlsServer(_Running):
    """HTTPS that requires a client certificate from ``pki``'s CA, at one version."""

    def __init__(
        self, server_ca: trustme.CA, pki: ClientPki, *, version: ssl.TLSVersion
    ) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = context.maximum_version = version
        context.set_alpn_protocols(["http/1.1"])
        server_ca.issue_cert("localhost", HOST).configure_cert(context)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(pki.ca_path))
        # The cafile loader takes CRLs too; with CRL_CHECK_LEAF OpenSSL refuses a
        # revoked certificate with alert certificate_revoked.
        context.load_verify_locations(cafile=str(pki.crl_path))
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        self.version = version
        self._httpd = _TrackingHTTPServer(_MutualTlsHandler, context, self)

    def url(self, path: str = "/") -> str:
        return f"https://{HOST}:{self.port}{path}"


def bound_token(certificate_thumbprint: str) -> str:
    """An access token bound to a certificate (RFC 8705 §3.1)."""
    now = int(time.time())
    claims = {
        "sub": "app-client",
        "iat": now,
        "exp": now + 600,
        "cnf": {"x5t#S256": certificate_thumbprint},
    }
    return jwt.encode(claims, BOUND_TOKEN_KEY, algorithm="HS256")


# --- nginx and the app behind it ---------------------------------------------------


class _AppHandler(_Handler):
    """The app: trusts nginx's verdict on the certificate ($ssl_client_verify)."""

    def do_GET(self) -> None:
        if self.path.startswith("/envoy"):
            # What Envoy answers when its own upstream handshake is refused.
            body = ENVOY_TLS_503.encode()
            self.reply(HTTPStatus.SERVICE_UNAVAILABLE, body, content_type="text/plain")
            return
        if self.headers.get("X-Client-Verify") != "SUCCESS":
            self.reply_json(HTTPStatus.UNAUTHORIZED, APP_REFUSAL)
            return
        self.reply_json(HTTPStatus.OK, {"client": self.headers.get("X-Client-DN")})


class CertApp(_Running):
    """Plain HTTP on loopback: the application behind nginx (and a fake Envoy)."""

    def __init__(self) -> None:
        self._httpd = _TrackingHTTPServer(_AppHandler, None, self)

    def url(self, path: str = "/") -> str:
        return f"http://{HOST}:{self.port}{path}"


VERIFYING_SERVER = """\
        ssl_certificate {root}/server.pem;
        ssl_certificate_key {root}/server.key;
        ssl_client_certificate {client_ca};
        ssl_verify_client {mode};
        location / {{
            proxy_pass http://{host}:{app_port};
            proxy_set_header X-Client-Verify $ssl_client_verify;
            proxy_set_header X-Client-DN $ssl_client_s_dn;
        }}
"""


class VerifyingNginx(Nginx):
    """Debian's nginx in front of ``app`` with ssl_verify_client on
    (``port_on``) and optional (``port_optional``), its certificate from
    ``server_ca``, its config and logs in ``root``."""

    def __init__(
        self, root: Path, server_ca: trustme.CA, pki: ClientPki, app: CertApp
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        leaf = server_ca.issue_cert("localhost", HOST)
        leaf.cert_chain_pems[0].write_to_path(str(root / "server.pem"))
        leaf.private_key_pem.write_to_path(str(root / "server.key"))
        blocks = [
            VERIFYING_SERVER.format(
                host=HOST,
                root=root,
                client_ca=pki.ca_path,
                mode=mode,
                app_port=app.port,
            )
            for mode in ("on", "optional")
        ]
        # One process as this user: the key stays in the test's private folder.
        super().__init__(root, *blocks, listen_options=" ssl", single_process=True)

    @property
    def port_on(self) -> int:
        return self.ports[0]

    @property
    def port_optional(self) -> int:
        return self.ports[1]

    def url(self, port: int, path: str = "/") -> str:
        return f"https://{HOST}:{port}{path}"


def flow_summary(annotation: dict[str, object] | None) -> str:
    """A short dump of an annotation for assertion messages."""
    return json.dumps(annotation, indent=1)[:2000] if annotation else "(none)"
