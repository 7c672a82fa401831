"""TLS client-certificate facts: alerts, OpenSSL error text, certificates.

Pure functions, no mitmproxy import. Three parts:

- One table of TLS alerts (RFC 8446 §6.2) that names what each alert says about a
  client certificate and which cause it points to; every way an alert shows up
  in error text (OpenSSL's codes and wordings, BoringSSL/Envoy, Go, Java) is one
  row of one pattern table, so no other module matches alert strings.
- Certificates read with cryptography and judged at a time the caller passes in
  (the request's), never now: validity, extended key usage, issuer against the
  CA names the server asked for, and the RFC 8705 SHA-256 thumbprint.
- The observation record the live addon stores per connection and copies into
  ``flow.metadata``, with its conversion to and from plain dicts (tnetstring
  safe: no sets, no tuples needed on the way back).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeGuard

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

# --- alerts ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """A TLS alert description and what it says about a client certificate."""

    number: int
    name: str
    """The RFC 8446 §6.2 name, e.g. 'certificate_required'."""
    meaning: str
    cause: str | None
    """The cause it points to when a server sends it; None when it says nothing
    about the client's certificate."""
    aliases: tuple[str, ...] = ()
    """Other wordings in error text (lower case, spaces), e.g. Go's."""


ALERTS: Mapping[int, Alert] = {
    alert.number: alert
    for alert in (
        Alert(
            40,
            "handshake_failure",
            "the server could not complete the handshake; a TLS 1.2 server sends "
            "it when it requires a client certificate and got none (RFC 5246 "
            "§7.4.6), but also when no cipher or version fits",
            "client-cert-missing",
        ),
        Alert(
            42,
            "bad_certificate",
            "the server refused the client certificate without saying why "
            "(OpenSSL also sends it for a certificate that is not yet valid)",
            "client-cert-rejected",
        ),
        Alert(
            43,
            "unsupported_certificate",
            "the certificate may not be used this way (OpenSSL sends it when the "
            "extended key usage lacks clientAuth)",
            "client-cert-wrong-usage",
        ),
        Alert(
            44,
            "certificate_revoked",
            "the certificate was revoked by its issuer",
            "client-cert-revoked",
            ("revoked certificate",),
        ),
        Alert(
            45,
            "certificate_expired",
            "the certificate has expired or is not currently valid",
            "client-cert-expired",
            ("expired certificate",),
        ),
        Alert(
            46,
            "certificate_unknown",
            "the server refused the certificate for a reason it does not name",
            "client-cert-rejected",
            ("unknown certificate",),
        ),
        Alert(
            48,
            "unknown_ca",
            "the certificate's issuer is not a CA the server trusts",
            "client-cert-untrusted-ca",
            ("unknown certificate authority",),
        ),
        Alert(
            49,
            "access_denied",
            "the certificate is valid but the server's access control refused it",
            "client-cert-rejected",
        ),
        Alert(
            51,
            "decrypt_error",
            "a signature did not verify: the private key may not belong to the "
            "certificate",
            "client-cert-rejected",
        ),
        Alert(
            70,
            "protocol_version",
            "the server does not accept the TLS version offered",
            None,
        ),
        Alert(
            116,
            "certificate_required",
            "the server requires a client certificate and got none (RFC 8446 §4.4.2.4)",
            "client-cert-missing",
        ),
    )
}
"""The one alert table (RFC 8446 §6.2): the alerts a refused client certificate
produces, and the neighbours that are easy to mistake for them."""

CLIENT_CERT_ALERTS = frozenset(n for n, alert in ALERTS.items() if alert.cause)

REASON_OFFSET = 1000
"""OpenSSL and BoringSSL report a received alert as reason code 1000 + its number
(SSL_AD_REASON_OFFSET): 0x45C = 1116 is certificate_required."""

_SSL_LIBRARIES = frozenset({0x0A, 0x14})
"""The SSL library's number in the top byte of a packed OpenSSL error code:
0x0A in OpenSSL 3 ('error:0A00045C'), 0x14 in 1.1 ('error:14094410')."""
_BORINGSSL_SSL_LIBRARY = 0x10
"""BoringSSL's (Envoy's) SSL library number: 268436496 = 0x10000410."""


def _alias_table() -> dict[str, Alert]:
    names: dict[str, Alert] = {}
    for alert in ALERTS.values():
        for wording in (alert.name.replace("_", " "), *alert.aliases):
            names[wording] = alert
    # OpenSSL writes unknown_ca as 'unknown ca': already covered by the name.
    return names


_BY_WORDING = _alias_table()
_WORDINGS_LONGEST_FIRST = sorted(_BY_WORDING, key=len, reverse=True)


def alert_by_number(number: int) -> Alert | None:
    return ALERTS.get(number)


def alert_by_name(text: str) -> Alert | None:
    """The alert a wording starts with: 'unknown_ca', 'UNKNOWN CA', 'bad
    certificate (_ssl.c:1000)', Go's 'unknown certificate authority'."""
    wording = text.lower().replace("_", " ").strip()
    for known in _WORDINGS_LONGEST_FIRST:
        if wording.startswith(known):
            return _BY_WORDING[known]
    return None


def _from_number(match: re.Match[str]) -> Alert | None:
    return alert_by_number(int(match.group(1)))


def _from_reason(reason: int) -> Alert | None:
    if REASON_OFFSET <= reason < REASON_OFFSET + 256:
        return alert_by_number(reason - REASON_OFFSET)
    return None


def _from_openssl_code(match: re.Match[str]) -> Alert | None:
    code = int(match.group(1), 16)
    if code >> 24 not in _SSL_LIBRARIES:
        return None
    # The reason is the low bits in both layouts; alert reasons fit in 12.
    return _from_reason(code & 0xFFF)


def _from_boringssl_code(match: re.Match[str]) -> Alert | None:
    code = int(match.group(1))
    if code >> 24 != _BORINGSSL_SSL_LIBRARY:
        return None
    return _from_reason(code & 0xFFF)


def _from_wording(match: re.Match[str]) -> Alert | None:
    return alert_by_name(match.group(1))


ALERT_PATTERNS: tuple[
    tuple[re.Pattern[str], Callable[[re.Match[str]], Alert | None]], ...
] = (
    # OpenSSL's error data, also in curl's and Node's messages: 'SSL alert number 116'.
    (re.compile(r"alert number (\d{1,3})\b"), _from_number),
    # Packed OpenSSL codes: 'error:0A00045C' (3.x), 'error:14094410' (1.1).
    (re.compile(r"error:([0-9A-Fa-f]{8})\b"), _from_openssl_code),
    # Packed BoringSSL codes in decimal (Envoy): '268436496:SSL routines'.
    (re.compile(r"\b(\d{9,10}):SSL routines"), _from_boringssl_code),
    # OpenSSL reason strings, by version: 'sslv3 alert handshake failure' (<= 3.1),
    # 'ssl/tls alert bad certificate' (3.2+), 'tls alert ...', 'tlsv1 alert unknown
    # ca', 'tlsv13 alert certificate required'.
    (re.compile(r"(?:sslv3|tlsv1|tlsv13|ssl/tls|tls) alert ([a-z ]+)"), _from_wording),
    # Upper-case reason names: BoringSSL 'SSLV3_ALERT_HANDSHAKE_FAILURE', Python's
    # '[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED]'.
    (re.compile(r"(?:SSLV3|TLSV1|TLSV13)_ALERT_([A-Z_]+)"), _from_wording),
    # Java (JSSE): 'Received fatal alert: certificate_required'.
    (re.compile(r"fatal alert: ([a-z_]+)"), _from_wording),
    # Go: 'remote error: tls: unknown certificate authority'.
    (re.compile(r"remote error: tls: ([a-z ]+)"), _from_wording),
)
"""Every way an alert appears in error text, most precise first."""


def alert_in_text(text: str) -> Alert | None:
    """The alert an error message reports, by the first pattern that names one."""
    for pattern, read in ALERT_PATTERNS:
        for match in pattern.finditer(text):
            alert = read(match)
            if alert is not None:
                return alert
    return None


# --- certificates ---------------------------------------------------------------


class CertificateProblem(StrEnum):
    """What is wrong with a client certificate at a given time, for a server."""

    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    NO_CLIENT_AUTH = "no clientAuth in extended key usage"
    ISSUER_NOT_ACCEPTED = "issuer not among the server's acceptable CA names"


@dataclass(frozen=True, slots=True)
class Certificate:
    """What a client certificate says, as plain values (never its key)."""

    subject: str
    """RFC 4514 string, e.g. 'CN=app-client,O=Example'."""
    issuer: str
    serial: str
    """Hexadecimal."""
    not_before: float
    not_after: float
    """Epoch seconds (UTC)."""
    usages: tuple[str, ...] | None
    """Extended key usages by name ('clientAuth', 'serverAuth', dotted OIDs for
    others); None when the certificate has no such extension, which allows any
    usage (RFC 5280 §4.2.1.12)."""
    names: tuple[str, ...]
    """Subject alternative names: 'DNS:...', 'IP:...', 'email:...', 'URI:...'."""
    thumbprint: str
    """base64url SHA-256 of the DER certificate: RFC 8705's x5t#S256."""

    @property
    def client_auth(self) -> bool:
        return self.usages is None or "clientAuth" in self.usages

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "usages": None if self.usages is None else list(self.usages),
            "names": list(self.names),
            "thumbprint": self.thumbprint,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Certificate | None:
        """The certificate a dict describes; None if it is not such a dict."""
        if not isinstance(data, Mapping):
            return None
        text = {k: data.get(k) for k in ("subject", "issuer", "serial", "thumbprint")}
        not_before, not_after = data.get("not_before"), data.get("not_after")
        usages, names = data.get("usages"), data.get("names")
        if (
            not all(isinstance(v, str) for v in text.values())
            or not _is_number(not_before)
            or not _is_number(not_after)
            or not (usages is None or _is_str_list(usages))
            or not _is_str_list(names)
        ):
            return None
        return cls(
            subject=str(text["subject"]),
            issuer=str(text["issuer"]),
            serial=str(text["serial"]),
            not_before=float(not_before),
            not_after=float(not_after),
            usages=None if usages is None else tuple(usages),
            names=tuple(names),
            thumbprint=str(text["thumbprint"]),
        )


@dataclass(frozen=True, slots=True)
class UnreadableCertificate:
    """Bytes that were meant to be a certificate and could not be read."""

    problem: str


_USAGE_NAMES = {
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


def thumbprint(der: bytes) -> str:
    """RFC 8705 §3.1 x5t#S256: base64url (no padding) SHA-256 of the DER bytes."""
    digest = hashlib.sha256(der).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def read_certificate(data: bytes) -> Certificate | UnreadableCertificate:
    """Read a DER or PEM certificate; bad bytes give an UnreadableCertificate."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            parsed = x509.load_pem_x509_certificate(data)
        else:
            parsed = x509.load_der_x509_certificate(data)
        return from_x509(parsed)
    except (ValueError, x509.InvalidVersion) as e:
        # InvalidVersion is not a ValueError: a damaged version field raises it.
        return UnreadableCertificate(f"not a readable X.509 certificate ({e})")


def from_x509(cert: x509.Certificate) -> Certificate:
    """The facts of a parsed certificate. Raises ValueError for a certificate
    whose extensions or names cryptography cannot decode."""
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        return Certificate(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            serial=format(cert.serial_number, "x"),
            not_before=cert.not_valid_before_utc.timestamp(),
            not_after=cert.not_valid_after_utc.timestamp(),
            usages=_usages(cert),
            names=_alternative_names(cert),
            thumbprint=thumbprint(cert.public_bytes(Encoding.DER)),
        )
    except TypeError as e:
        # cryptography reads a certificate lazily and raises TypeError for some
        # damaged names (an attribute of the wrong ASN.1 type): same as ValueError.
        raise ValueError(str(e)) from e


def _usages(cert: x509.Certificate) -> tuple[str, ...] | None:
    try:
        extension = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return None
    return tuple(_USAGE_NAMES.get(oid, oid.dotted_string) for oid in extension.value)


def _alternative_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    names = extension.value
    return (
        *(f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)),
        *(f"IP:{n}" for n in names.get_values_for_type(x509.IPAddress)),
        *(f"email:{n}" for n in names.get_values_for_type(x509.RFC822Name)),
        *(
            f"URI:{n}"
            for n in names.get_values_for_type(x509.UniformResourceIdentifier)
        ),
    )


def certificate_problems(
    cert: Certificate, *, at: float, acceptable_cas: Sequence[str] = ()
) -> tuple[CertificateProblem, ...]:
    """What a server judging `cert` at time `at` would object to.

    Validity includes both ends (RFC 5280 §4.1.2.5). The issuer is compared with
    the CA names of the CertificateRequest only when the server sent some: an
    empty list means 'any CA I trust' (RFC 8446 §4.2.4, RFC 5246 §7.4.4).
    """
    problems = []
    if at > cert.not_after:
        problems.append(CertificateProblem.EXPIRED)
    if at < cert.not_before:
        problems.append(CertificateProblem.NOT_YET_VALID)
    if not cert.client_auth:
        problems.append(CertificateProblem.NO_CLIENT_AUTH)
    if acceptable_cas and cert.issuer not in acceptable_cas:
        problems.append(CertificateProblem.ISSUER_NOT_ACCEPTED)
    return tuple(problems)


def name_string(name: x509.Name) -> str:
    """A distinguished name as authdiag shows and compares it (RFC 4514)."""
    return name.rfc4514_string()


# --- observations ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpstreamTls:
    """What mitmproxy's TLS connection to the server showed."""

    server: str
    """'host:port' as mitmproxy connected to it."""
    sni: str | None = None
    version: str | None = None
    """'TLSv1.2', 'TLSv1.3', when the server's hello got that far."""
    certificate_requested: bool = False
    """The server sent a CertificateRequest."""
    acceptable_cas: tuple[str, ...] = ()
    """The CA names in the CertificateRequest (RFC 4514 strings); may be empty."""
    presented: Certificate | None = None
    """The certificate mitmproxy had for this server (client_certs), if any."""
    client_certs: str | None = None
    """The client_certs option as it was, when set."""
    looked_for: str | None = None
    """The file mitmproxy looked for when client_certs is a directory."""
    alert: int | None = None
    """The fatal alert the server sent, by number."""
    alert_after_handshake: bool = False
    """The alert came after mitmproxy had finished its side of the handshake, as
    TLS 1.3 servers reject a certificate (RFC 8446 §4.4.2.4)."""
    error: str | None = None
    """mitmproxy's own error for the connection, when the handshake failed."""

    @property
    def presented_certificate(self) -> bool:
        """mitmproxy sent a certificate: it had one and the server asked."""
        return self.presented is not None and self.certificate_requested

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "sni": self.sni,
            "version": self.version,
            "certificate_requested": self.certificate_requested,
            "acceptable_cas": list(self.acceptable_cas),
            "presented": self.presented.to_dict() if self.presented else None,
            "client_certs": self.client_certs,
            "looked_for": self.looked_for,
            "alert": self.alert,
            "alert_after_handshake": self.alert_after_handshake,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Any) -> UpstreamTls | None:
        if not isinstance(data, Mapping) or not isinstance(data.get("server"), str):
            return None
        cas = data.get("acceptable_cas")
        alert = data.get("alert")
        return cls(
            server=data["server"],
            sni=_str_or_none(data.get("sni")),
            version=_str_or_none(data.get("version")),
            certificate_requested=data.get("certificate_requested") is True,
            acceptable_cas=tuple(cas) if _is_str_list(cas) else (),
            presented=Certificate.from_dict(data.get("presented")),
            client_certs=_str_or_none(data.get("client_certs")),
            looked_for=_str_or_none(data.get("looked_for")),
            alert=_int_or_none(alert),
            alert_after_handshake=data.get("alert_after_handshake") is True,
            error=_str_or_none(data.get("error")),
        )


@dataclass(frozen=True, slots=True)
class AppTls:
    """How the app's TLS handshake with mitmproxy ended, when it refused it."""

    alert: int | None = None
    """The alert the app sent mitmproxy during the handshake."""
    error: str | None = None
    """mitmproxy's error text for the failed handshake."""
    closed_unused: bool = False
    """The app completed the handshake, then closed without sending a request."""
    seconds_open: float | None = None
    """How long the connection stayed open after the handshake, when unused."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "error": self.error,
            "closed_unused": self.closed_unused,
            "seconds_open": self.seconds_open,
        }

    @classmethod
    def from_dict(cls, data: Any) -> AppTls | None:
        if not isinstance(data, Mapping):
            return None
        alert, seconds = data.get("alert"), data.get("seconds_open")
        return cls(
            alert=_int_or_none(alert),
            error=_str_or_none(data.get("error")),
            closed_unused=data.get("closed_unused") is True,
            seconds_open=float(seconds) if _is_number(seconds) else None,
        )


@dataclass(frozen=True, slots=True)
class TlsObservation:
    """The TLS facts stored in flow.metadata['authdiag']['observed']['tls']."""

    upstream: UpstreamTls | None = None
    app: AppTls | None = None

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.upstream is not None:
            found["upstream"] = self.upstream.to_dict()
        if self.app is not None:
            found["app"] = self.app.to_dict()
        return found

    @classmethod
    def from_dict(cls, data: Any) -> TlsObservation | None:
        """The observation a stored dict holds; None if it holds none."""
        if not isinstance(data, Mapping):
            return None
        observation = cls(
            upstream=UpstreamTls.from_dict(data.get("upstream")),
            app=AppTls.from_dict(data.get("app")),
        )
        if observation.upstream is None and observation.app is None:
            return None
        return observation


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str_list(value: Any) -> TypeGuard[list[str] | tuple[str, ...]]:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
