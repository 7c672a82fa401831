"""Causes about client certificates (mutual TLS), upstream and at the app.

A refusal is read from whichever of these the flow has, most direct first: the
alert the server sent mitmproxy (observed live, or named in mitmproxy's error
text), nginx's certificate pages, an Envoy/Istio 503 naming a TLS alert, a 401 or
403 from a server that asked for a certificate, or a TLS 1.3 server that hung up
right after a handshake in which it asked for one. The certificate mitmproxy
presented is then judged at the request's time against what the server asked
for. Alerts are looked up by number in authdiag.tls, never matched as text here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass

from authdiag import describe
from authdiag.catalogue import Conclusion, cause, trait_finder
from authdiag.evidence import Evidence, once_per_flow
from authdiag.findings import Confidence, Fault
from authdiag.rules.common import HIGH, LOW, MEDIUM, present, server_error
from authdiag.tls import (
    ALERTS,
    Alert,
    Certificate,
    CertificateProblem,
    UnreadableCertificate,
    UpstreamTls,
    alert_in_text,
    certificate_problems,
)

NGINX_MISSING = re.compile(r"No required SSL certificate was sent", re.I)
NGINX_CERT_ERROR = re.compile(r"The SSL certificate error", re.I)
"""nginx's pages for its internal statuses 496 and 495 (served as 400)."""
GATEWAY_TLS_ERROR = re.compile(
    r"upstream connect error or disconnect/reset before headers.*TLS error", re.I | re.S
)
"""Envoy's (and so Istio's) 503 body when its own upstream TLS handshake fails."""
MENTIONS_CERTIFICATE = re.compile(r"certificate|\bmtls\b|client cert", re.I)
TLS13 = "TLSv1.3"

PROBLEM_CAUSES = {
    CertificateProblem.EXPIRED: "client-cert-expired",
    CertificateProblem.NOT_YET_VALID: "client-cert-not-yet-valid",
    CertificateProblem.NO_CLIENT_AUTH: "client-cert-wrong-usage",
    CertificateProblem.ISSUER_NOT_ACCEPTED: "client-cert-untrusted-ca",
}
SPECIFIC_CAUSES = (
    "client-cert-missing",
    "client-cert-expired",
    "client-cert-not-yet-valid",
    "client-cert-untrusted-ca",
    "client-cert-wrong-usage",
    "client-cert-revoked",
)
CLIENT_CERT_CAUSES = frozenset(
    {*SPECIFIC_CAUSES, "client-cert-rejected", "cert-bound-token-mismatch"}
    | {"app-rejects-proxy-cert"}
)
"""Every cause of this module: the only verdicts kept for flows that authdiag
looks at outside authdiag_statuses (TLS errors, 400/502/503 pages)."""


# --- reading the refusal --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """How the flow shows that a certificate was refused (or never sent)."""

    signal: str
    """The evidence line the refusal rests on."""
    alert: Alert | None = None
    page: str | None = None
    """'missing' or 'error' for nginx's two certificate pages."""
    gateway: bool = False
    """A gateway (Envoy/Istio) failed its own upstream handshake: the certificate
    in question is the gateway's, not mitmproxy's or the app's."""
    sure: bool = True
    """False when the refusal is inferred (a 401 from a server that asked for a
    certificate, a TLS 1.3 server that hung up), not stated."""


PAGE_STATUSES = frozenset({400, 495, 496})
"""Statuses nginx's certificate pages come with."""
GATEWAY_STATUSES = frozenset({502, 503})
"""Statuses Envoy answers with when its own upstream handshake fails."""


@trait_finder
def certificate_traits(ev: Evidence) -> Iterator[str]:
    """'certificate-signal' when the flow has something ``read_refusal`` reads
    (TLS facts about the upstream handshake, an error, a status nginx's or
    Envoy's pages use); 'app-refused-proxy' when the app refused mitmproxy."""
    tls = ev.tls
    if tls is not None and tls.app is not None:
        yield "app-refused-proxy"
    elif (
        (tls is not None and tls.upstream is not None)
        or ev.error is not None
        or ev.status in PAGE_STATUSES
        or ev.status in GATEWAY_STATUSES
    ):
        yield "certificate-signal"


@once_per_flow
def read_refusal(ev: Evidence) -> Refusal | None:
    """The first signal of a certificate refusal in the flow, most direct first."""
    if ev.tls is not None and ev.tls.app is not None:
        return None  # the app refused mitmproxy: no request reached the server
    upstream = _upstream(ev)
    for read in (_observed_alert, _error_alert, _nginx_page, _gateway_body):
        found = read(ev, upstream)
        if found is not None:
            return found
    return _inferred_refusal(ev, upstream)


def _observed_alert(ev: Evidence, upstream: UpstreamTls | None) -> Refusal | None:
    if upstream is None or upstream.alert is None:
        return None
    alert = ALERTS.get(upstream.alert)
    if alert is None or alert.cause is None:
        return None
    when = (
        "after the handshake" if upstream.alert_after_handshake else "in the handshake"
    )
    version = f" ({upstream.version})" if upstream.version else ""
    return Refusal(
        signal=(
            f"tls: {upstream.server} sent alert {alert.number} {alert.name} "
            f"{when}{version}: {alert.meaning}"
        ),
        alert=alert,
    )


def _error_alert(ev: Evidence, upstream: UpstreamTls | None) -> Refusal | None:
    if ev.error is None:
        return None
    alert = alert_in_text(ev.error)
    if alert is None or alert.cause is None:
        return None
    return Refusal(
        signal=f"error: mitmproxy: {_short(ev.error)} (alert {alert.number} "
        f"{alert.name}: {alert.meaning})",
        alert=alert,
    )


def _nginx_page(ev: Evidence, upstream: UpstreamTls | None) -> Refusal | None:
    if ev.status not in PAGE_STATUSES:
        return None
    message = ev.body.message if ev.body else None
    if ev.status == 496 or (message and NGINX_MISSING.search(message)):
        page = "missing"
    elif ev.status == 495 or (message and NGINX_CERT_ERROR.search(message)):
        page = "error"
    else:
        return None
    shown = describe.body_line(ev.body) or f"response: {ev.status}"
    return Refusal(
        signal=f"{shown} (nginx's page for status {_NGINX[page]})", page=page
    )


_NGINX = {"missing": "496, no certificate", "error": "495, certificate refused"}


def _gateway_body(ev: Evidence, upstream: UpstreamTls | None) -> Refusal | None:
    message = ev.body.message if ev.body else None
    if ev.status not in GATEWAY_STATUSES or not message:
        return None
    if not GATEWAY_TLS_ERROR.search(message):
        return None
    alert = alert_in_text(message)
    if alert is None or alert.cause is None:
        return None
    return Refusal(
        signal=f"body: Envoy/Istio: {_short(message, 300)}",
        alert=alert,
        gateway=True,
    )


def _inferred_refusal(ev: Evidence, upstream: UpstreamTls | None) -> Refusal | None:
    if upstream is None or not upstream.certificate_requested:
        return None
    if ev.status in (401, 403):
        return Refusal(
            signal=(
                f"response: {ev.status} from a server that asked for a client "
                "certificate in the TLS handshake (as nginx does with "
                "ssl_verify_client optional, leaving the decision to the app)"
            ),
            sure=False,
        )
    if ev.status is None and ev.error is not None and upstream.version == TLS13:
        return Refusal(
            signal=(
                f"error: {_short(ev.error)}: the server hung up right after a TLS 1.3 "
                "handshake in which it asked for a client certificate; that is how "
                "a TLS 1.3 refusal looks when its alert is lost to the closing "
                "connection"
            ),
            sure=False,
        )
    return None


def _upstream(ev: Evidence) -> UpstreamTls | None:
    return ev.tls.upstream if ev.tls is not None else None


def _presented(ev: Evidence) -> Certificate | None:
    upstream = _upstream(ev)
    if upstream is None or not upstream.presented_certificate:
        return None
    return upstream.presented


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- evidence lines -------------------------------------------------------------


def certificate_line(who: str, cert: Certificate, at: float) -> str:
    usage = "any usage" if cert.usages is None else ", ".join(cert.usages) or "none"
    return (
        f"tls: {who} {cert.subject} (issuer {cert.issuer}, valid "
        f"{describe.timestamp(cert.not_before)} to {describe.timestamp(cert.not_after)}"
        f", extended key usage: {usage}, x5t#S256 {cert.thumbprint})"
    )


def _upstream_lines(ev: Evidence) -> list[str]:
    upstream = _upstream(ev)
    if upstream is None:
        return []
    lines = []
    if upstream.certificate_requested:
        names = "; ".join(upstream.acceptable_cas) or "none (any CA it trusts)"
        lines.append(
            f"tls: {upstream.server} asked for a client certificate "
            f"({upstream.version or 'TLS'}); acceptable CA names: {names}"
        )
    else:
        lines.append(f"tls: {upstream.server} did not ask for a client certificate")
    if upstream.presented_certificate and upstream.presented is not None:
        lines.append(
            certificate_line("mitmproxy presented", upstream.presented, ev.requested_at)
        )
    elif upstream.certificate_requested:
        lines.append(f"tls: mitmproxy presented no certificate ({_why_none(upstream)})")
    return lines


def _why_none(upstream: UpstreamTls) -> str:
    if upstream.client_certs is None:
        return "client_certs is not set"
    if upstream.looked_for:
        return f"client_certs is a directory without {upstream.looked_for}"
    return "client_certs gave none for this server"


def _app_certificate_lines(ev: Evidence) -> list[str]:
    app = ev.app_certificate
    if app is None:
        return []
    if isinstance(app, UnreadableCertificate):
        return [f"tls: the app presented an unreadable certificate: {app.problem}"]
    lines = [certificate_line("the app presented to mitmproxy", app, ev.requested_at)]
    problems = certificate_problems(app, at=ev.requested_at)
    if problems:
        lines.append(
            "tls: judged at the request's time, the app's certificate is: "
            + ", ".join(problems)
        )
    return lines


def _evidence(ev: Evidence, refusal: Refusal, *extra: str | None) -> tuple[str, ...]:
    return present(
        refusal.signal,
        *_upstream_lines(ev),
        *extra,
        *_app_certificate_lines(ev),
        describe.body_line(ev.body) if not refusal.signal.startswith("body:") else None,
    )


# --- fixes ----------------------------------------------------------------------


def _server_address(ev: Evidence) -> str:
    upstream = _upstream(ev)
    return upstream.server if upstream else f"{ev.host}:443"


def _sni(ev: Evidence) -> str:
    upstream = _upstream(ev)
    return (upstream.sni if upstream and upstream.sni else None) or ev.host


def proxy_fix(ev: Evidence) -> str:
    """The client_certs setting that makes mitmproxy present a certificate."""
    upstream = _upstream(ev)
    name = _sni(ev)
    if upstream is not None and upstream.looked_for:
        return (
            f"mitmproxy looked for {upstream.looked_for} (client_certs is a "
            f"directory): save the certificate for {name} there, as one PEM with "
            "its private key and any intermediate certificates."
        )
    return (
        f"Give mitmproxy the client certificate for {name}: --set "
        "client_certs=/path/client.pem (one PEM with the certificate, its private "
        "key and any intermediate certificates: cat client.crt client.key chain.pem "
        f"> client.pem), or --set client_certs=/path/certs/ holding {name}.pem."
    )


def app_fix(ev: Evidence) -> str:
    """How the app presents a certificate itself, without mitmproxy."""
    return (
        "Where the app is the client: curl --cert client.crt --key client.key "
        "(or --cert combined.pem, or -E client.p12:PASSWORD); requests: "
        "requests.get(url, cert=('client.crt', 'client.key'), verify='ca.pem') for "
        "a private CA; Postman: Settings → Certificates → Add certificate for "
        f"{ev.host}."
    )


def ca_names_fix(ev: Evidence) -> str | None:
    upstream = _upstream(ev)
    if upstream is None or not upstream.acceptable_cas:
        return None
    return (
        "Use a certificate issued by one of the CAs the server names: "
        + "; ".join(upstream.acceptable_cas)
        + "."
    )


def s_client_fix(ev: Evidence) -> str:
    sni = _sni(ev)
    servername = "" if _is_ip(sni) else f" -servername {sni}"
    return (
        f"Confirm the handshake by hand: openssl s_client -connect "
        f"{_server_address(ev)}{servername} -cert client.crt -key client.key "
        "(it prints 'Acceptable client certificate CA names' and any alert)."
    )


def not_forwarded_fix(ev: Evidence) -> str | None:
    app = ev.app_certificate
    if not isinstance(app, Certificate):
        return None
    return (
        f"mitmproxy ends the app's TLS connection and never forwards its certificate "
        f"({app.subject}): the server sees only what client_certs gives mitmproxy. "
        "Give mitmproxy the same certificate and key (client_certs)."
    )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _certificate_fixes(ev: Evidence, refusal: Refusal, first: str) -> tuple[str, ...]:
    if refusal.gateway:
        return (first, GATEWAY_FIX)
    return present(first, ca_names_fix(ev), s_client_fix(ev), app_fix(ev))


GATEWAY_FIX = (
    "The refusal is between the gateway (Envoy/Istio sidecar or ingress) and its "
    "upstream: the gateway's own client certificate is at fault, not the app's. "
    "Check the mesh's TLS settings for that upstream (Istio DestinationRule "
    "trafficPolicy.tls mode ISTIO_MUTUAL or MUTUAL with clientCertificate; Envoy "
    "UpstreamTlsContext tls_certificates)."
)


def _confidence(refusal: Refusal, *, stated: bool = True) -> Confidence:
    return HIGH if refusal.sure and stated else MEDIUM


def _fault(ev: Evidence, refusal: Refusal) -> Fault:
    return Fault.SERVER if refusal.gateway else Fault.CLIENT


# --- the causes -----------------------------------------------------------------


@cause(
    "client-cert-missing",
    title="No client certificate was presented",
    triggers=(
        "The server asked for a client certificate and got none: alert 116 "
        "certificate_required (TLS 1.3) or 40 handshake_failure (TLS 1.2) after a "
        "CertificateRequest, nginx's 'No required SSL certificate was sent' page, an "
        "Envoy 503 naming those alerts, a 401/403 from a server that asked for a "
        "certificate mitmproxy did not have, or a TLS 1.3 server hanging up after "
        "asking."
    ),
    shows=(
        "The alert or page, whether the server asked (and the CA names it listed), "
        "that mitmproxy presented nothing and why (client_certs unset, or the file "
        "it looked for), and the app's own certificate when request_client_cert "
        "showed one."
    ),
    remedy=(
        "Give mitmproxy the certificate: --set client_certs=FILE.pem (certificate, "
        "key and chain) or a directory of <host>.pem; without mitmproxy the app "
        "presents it itself (curl --cert/--key, requests cert=, Postman settings)."
    ),
    needs=("certificate-signal",),
)
def client_cert_missing(ev: Evidence) -> Conclusion | None:
    refusal = read_refusal(ev)
    if refusal is None or _presented(ev) is not None:
        return None
    alert = refusal.alert.number if refusal.alert else None
    upstream = _upstream(ev)
    asked_and_none = upstream is not None and upstream.certificate_requested
    if not (
        alert in (40, 116)
        or refusal.page == "missing"
        or (refusal.alert is None and refusal.page is None and asked_and_none)
    ):
        return None
    if alert == 40 and not asked_and_none and not refusal.gateway:
        # handshake_failure also means no shared cipher or version: only
        # likely, unless the server was seen asking for a certificate.
        confidence = MEDIUM
    elif not refusal.sure:
        says = server_error(ev)[1] or (ev.body.message if ev.body else None)
        bare = not ev.has_credentials
        confidence = (
            HIGH if bare or (says and MENTIONS_CERTIFICATE.search(says)) else MEDIUM
        )
    else:
        confidence = HIGH
    who = "the gateway" if refusal.gateway else "mitmproxy"
    if refusal.gateway:
        fix: tuple[str, ...] = (GATEWAY_FIX,)
    else:
        fix = present(
            not_forwarded_fix(ev),
            proxy_fix(ev),
            ca_names_fix(ev),
            s_client_fix(ev),
            app_fix(ev),
        )
    return Conclusion(
        confidence=confidence,
        summary=(
            f"the server wants a client certificate and {who} presented none"
            + (f" (alert {refusal.alert.name})" if refusal.alert else "")
        ),
        evidence=_evidence(ev, refusal),
        fix=fix,
        fault=Fault.SERVER if refusal.gateway else Fault.PROXY,
    )


def _problem_rule(
    ev: Evidence, problem: CertificateProblem, alert_number: int | None
) -> tuple[Refusal, Certificate | None] | None:
    """The refusal and the presented certificate when `problem` explains it."""
    refusal = read_refusal(ev)
    if refusal is None:
        return None
    presented = _presented(ev)
    upstream = _upstream(ev)
    cas = upstream.acceptable_cas if upstream else ()
    found = presented is not None and problem in certificate_problems(
        presented, at=ev.requested_at, acceptable_cas=cas
    )
    alerted = refusal.alert is not None and refusal.alert.number == alert_number
    if not (found or alerted):
        return None
    return refusal, presented


@cause(
    "client-cert-expired",
    title="The client certificate had expired",
    triggers=(
        "A refused certificate whose notAfter is before the request's time, or alert "
        "45 certificate_expired."
    ),
    shows="The refusal, and the certificate with its validity period.",
    remedy="Renew the certificate and give the new one to mitmproxy and the app.",
    needs=("certificate-signal",),
)
def client_cert_expired(ev: Evidence) -> Conclusion | None:
    found = _problem_rule(ev, CertificateProblem.EXPIRED, 45)
    if found is None:
        return None
    refusal, cert = found
    when = (
        f" on {describe.timestamp(cert.not_after)}, "
        f"{describe.duration(ev.requested_at - cert.not_after)} before the request"
        if cert is not None and cert.not_after < ev.requested_at
        else ""
    )
    return Conclusion(
        confidence=_confidence(refusal),
        summary=f"the client certificate expired{when}",
        evidence=_evidence(ev, refusal),
        fix=_certificate_fixes(
            ev,
            refusal,
            "Renew the certificate with its issuer and replace it where it is "
            "configured (mitmproxy's client_certs, the app's certificate store).",
        ),
        fault=_fault(ev, refusal),
    )


@cause(
    "client-cert-not-yet-valid",
    title="The client certificate was not valid yet",
    triggers="A refused certificate whose notBefore is after the request's time.",
    shows="The refusal, and the certificate with its validity period.",
    remedy="Wait until notBefore, or fix the clock of whoever issued it.",
    needs=("certificate-signal",),
)
def client_cert_not_yet_valid(ev: Evidence) -> Conclusion | None:
    # No alert means 'not yet valid': OpenSSL servers send bad_certificate.
    found = _problem_rule(ev, CertificateProblem.NOT_YET_VALID, None)
    if found is None:
        return None
    refusal, cert = found
    assert cert is not None  # found by judging the certificate, not by an alert
    return Conclusion(
        confidence=_confidence(refusal),
        summary=(
            f"the client certificate is valid only from "
            f"{describe.timestamp(cert.not_before)}, "
            f"{describe.duration(cert.not_before - ev.requested_at)} after the request"
        ),
        evidence=_evidence(ev, refusal),
        fix=_certificate_fixes(
            ev,
            refusal,
            "Use the certificate from its notBefore on, or have it reissued; a "
            "notBefore in the future usually means the issuing machine's clock is "
            "wrong (OpenSSL servers say bad_certificate for this).",
        ),
        fault=_fault(ev, refusal),
    )


@cause(
    "client-cert-untrusted-ca",
    title="The client certificate's issuer is not trusted by the server",
    triggers=(
        "Alert 48 unknown_ca, or a refused certificate whose issuer is not among the "
        "CA names the server listed in its CertificateRequest."
    ),
    shows="The refusal, the acceptable CA names, and the certificate's issuer.",
    remedy="Use a certificate from a CA the server trusts (its CA names say which).",
    needs=("certificate-signal",),
)
def client_cert_untrusted_ca(ev: Evidence) -> Conclusion | None:
    found = _problem_rule(ev, CertificateProblem.ISSUER_NOT_ACCEPTED, 48)
    if found is None:
        return None
    refusal, cert = found
    issuer = f" ({cert.issuer})" if cert is not None else ""
    return Conclusion(
        confidence=_confidence(refusal),
        summary=f"the server does not trust the client certificate's issuer{issuer}",
        evidence=_evidence(ev, refusal),
        fix=_certificate_fixes(
            ev,
            refusal,
            "Present a certificate issued by a CA the server trusts; if yours comes "
            "from an intermediate CA, put the intermediate in the PEM after the "
            "certificate so the server can build the chain.",
        ),
        fault=_fault(ev, refusal),
    )


@cause(
    "client-cert-wrong-usage",
    title="The client certificate may not be used for client authentication",
    triggers=(
        "Alert 43 unsupported_certificate, or a refused certificate whose extended "
        "key usage lacks clientAuth."
    ),
    shows="The refusal and the certificate's extended key usages.",
    remedy="Have the certificate reissued with extendedKeyUsage clientAuth.",
    needs=("certificate-signal",),
)
def client_cert_wrong_usage(ev: Evidence) -> Conclusion | None:
    found = _problem_rule(ev, CertificateProblem.NO_CLIENT_AUTH, 43)
    if found is None:
        return None
    refusal, cert = found
    usages = ", ".join(cert.usages or ()) if cert is not None else ""
    return Conclusion(
        confidence=_confidence(refusal),
        summary=(
            "the client certificate is not meant for client authentication"
            + (f" (extended key usage: {usages or 'none'})" if cert else "")
        ),
        evidence=_evidence(ev, refusal),
        fix=_certificate_fixes(
            ev,
            refusal,
            "Have the certificate reissued with extendedKeyUsage = clientAuth (RFC "
            "5280 §4.2.1.12); a server certificate (serverAuth only) will not do.",
        ),
        fault=_fault(ev, refusal),
    )


@cause(
    "client-cert-revoked",
    title="The client certificate was revoked",
    triggers="Alert 44 certificate_revoked.",
    shows="The alert and the certificate (serial number via its thumbprint).",
    remedy="Get a new certificate; the revoked one will not be accepted again.",
    needs=("certificate-signal",),
)
def client_cert_revoked(ev: Evidence) -> Conclusion | None:
    refusal = read_refusal(ev)
    if refusal is None or refusal.alert is None or refusal.alert.number != 44:
        return None
    cert = _presented(ev)
    serial = f" (serial {cert.serial})" if cert is not None else ""
    return Conclusion(
        confidence=HIGH,
        summary=f"the server says the client certificate{serial} was revoked",
        evidence=_evidence(ev, refusal),
        fix=_certificate_fixes(
            ev,
            refusal,
            "Request a new certificate from its issuer: a revoked certificate is on "
            "the CA's revocation list (CRL/OCSP) for good.",
        ),
        fault=_fault(ev, refusal),
    )


@cause(
    "client-cert-rejected",
    title="The server refused the client certificate without saying why",
    triggers=(
        "Alert 42 bad_certificate, 46 certificate_unknown, 49 access_denied or 51 "
        "decrypt_error, nginx's 'The SSL certificate error' page, or any refusal of "
        "a presented certificate that no specific cause explains."
    ),
    shows="The refusal, the certificate presented and what the server asked for.",
    remedy=(
        "Check the server's log for the reason; compare the certificate with the CA "
        "names and policy the server expects."
    ),
    yields_to=SPECIFIC_CAUSES,
    needs=("certificate-signal",),
)
def client_cert_rejected(ev: Evidence) -> Conclusion | None:
    refusal = read_refusal(ev)
    if refusal is None:
        return None
    alert = refusal.alert.number if refusal.alert else None
    presented = _presented(ev)
    if not (
        alert in (42, 46, 49, 51)
        or refusal.page == "error"
        or (presented is not None and alert in (None, 40, 116))
    ):
        return None
    if refusal.alert is not None:
        what = f"alert {refusal.alert.name}"
    elif refusal.page == "error":
        what = "nginx's certificate error page"
    else:
        what = f"status {ev.status}" if ev.status else "a closed connection"
    return Conclusion(
        confidence=HIGH if refusal.alert or refusal.page else LOW,
        summary=(
            f"the server refused the client certificate ({what}) without naming "
            "the reason"
        ),
        evidence=_evidence(ev, refusal),
        fix=_certificate_fixes(
            ev,
            refusal,
            "The server's own log names the reason (nginx: 'client SSL certificate "
            "verify error'; OpenSSL servers: the verify error); the usual ones are a "
            "wrong CA, an expired or revoked certificate, or a missing intermediate.",
        ),
        fault=_fault(ev, refusal),
    )


@cause(
    "cert-bound-token-mismatch",
    title="The token is bound to another client certificate (RFC 8705)",
    triggers=(
        "A refused request whose JWT carries cnf.x5t#S256, and the certificate "
        "mitmproxy presented upstream has another thumbprint (or there was none)."
    ),
    shows=(
        "The token's cnf thumbprint, the presented certificate's thumbprint, and the "
        "app's certificate when it matches the token."
    ),
    remedy=(
        "Present the certificate the token was issued for (through mitmproxy: "
        "client_certs), or get a token bound to the certificate you present."
    ),
    needs=("jwt",),
)
def cert_bound_token_mismatch(ev: Evidence) -> Conclusion | None:
    if ev.status not in (401, 403) or ev.token is None or not ev.token.cnf_thumbprint:
        return None
    upstream = _upstream(ev)
    if upstream is None:
        return None
    bound_to = ev.token.cnf_thumbprint
    presented = _presented(ev)
    if presented is not None and presented.thumbprint == bound_to:
        return None
    sent = presented.thumbprint if presented else "no certificate"
    app = ev.app_certificate
    app_matches = isinstance(app, Certificate) and app.thumbprint == bound_to
    code, _ = server_error(ev)
    fix = [
        "RFC 8705 §3: the server compares the token's cnf x5t#S256 with the "
        "certificate of this TLS connection; they must be the same certificate.",
    ]
    if app_matches:
        fix.insert(
            0,
            "The token is bound to the app's certificate, which mitmproxy does not "
            "forward: give mitmproxy that certificate and key with client_certs.",
        )
    else:
        fix.append(proxy_fix(ev))
    fix.append(
        "Or get a new token with the certificate that is presented (the token "
        "endpoint binds the token to the certificate of its own TLS connection)."
    )
    return Conclusion(
        confidence=HIGH if code == "invalid_token" or app_matches else MEDIUM,
        summary=(
            f"the token is bound to certificate {bound_to[:12]}… but mitmproxy "
            f"presented {sent if presented is None else sent[:12] + '…'}"
        ),
        evidence=present(
            f"token: cnf x5t#S256 {bound_to}",
            *_upstream_lines(ev),
            *_app_certificate_lines(ev),
            describe.challenges_line(ev.challenges),
        ),
        fix=tuple(fix),
        fault=Fault.PROXY if app_matches else Fault.CLIENT,
    )


@cause(
    "app-rejects-proxy-cert",
    title="The app refused mitmproxy's certificate (CA not installed, or pinning)",
    triggers=(
        "The app's TLS handshake with mitmproxy failed (an alert such as 48 "
        "unknown_ca, 42 bad_certificate or 46 certificate_unknown), or the app "
        "finished the handshake and hung up without sending a request. In regular "
        "proxy mode the app's CONNECT flow carries the finding."
    ),
    shows="The alert the app sent, or how soon it hung up, and mitmproxy's error.",
    remedy=(
        "Install and trust mitmproxy's CA where the app looks for CAs; an app that "
        "still refuses with the CA installed pins its certificates."
    ),
    needs=("app-refused-proxy",),
)
def app_rejects_proxy_cert(ev: Evidence) -> Conclusion | None:
    app = ev.tls.app if ev.tls is not None else None
    if app is None:
        return None
    tell_apart = (
        "To tell the two apart: with mitmproxy's CA installed and trusted, an app "
        "that still refuses pins its certificates (OkHttp CertificatePinner, "
        "Android network_security_config pin-set, curl --pinnedpubkey); only a "
        "change in the app (a debug build without pins) or leaving this host out "
        "of interception (--ignore-hosts) gets around that."
    )
    ca_fix = (
        "Install mitmproxy's CA (~/.mitmproxy/mitmproxy-ca-cert.pem, or http://mitm.it "
        "through the proxy) where the app looks: curl --cacert, requests verify= or "
        "REQUESTS_CA_BUNDLE, the system store; Android apps trust user CAs only with "
        "network_security_config."
    )
    if app.closed_unused:
        seconds = app.seconds_open if app.seconds_open is not None else 0.0
        return Conclusion(
            confidence=MEDIUM,
            summary=(
                "the app completed the TLS handshake with mitmproxy and hung up "
                f"{seconds:.2f} s later without a request: it most likely pins the "
                "server's certificate"
            ),
            evidence=(
                f"tls: the app closed the connection {seconds:.2f} s after the "
                "handshake, having sent no request",
            ),
            fix=(tell_apart, ca_fix),
            fault=Fault.CLIENT,
        )
    alert = ALERTS.get(app.alert) if app.alert is not None else None
    shown = f"alert {alert.number} {alert.name}" if alert else "no alert"
    lines = present(
        f"tls: the app ended the TLS handshake with mitmproxy with {shown}",
        f"error: mitmproxy: {_short(app.error)}" if app.error else None,
    )
    if alert is not None and alert.number == 48:
        return Conclusion(
            confidence=HIGH,
            summary="the app does not trust mitmproxy's CA (alert unknown_ca)",
            evidence=lines,
            fix=(ca_fix, tell_apart),
            fault=Fault.CLIENT,
        )
    return Conclusion(
        confidence=MEDIUM if alert is not None else LOW,
        summary=(
            f"the app refused mitmproxy's certificate ({shown}): its CA is not "
            "trusted there, or the app pins certificates"
        ),
        evidence=lines,
        fix=(ca_fix, tell_apart),
        fault=Fault.CLIENT,
    )
