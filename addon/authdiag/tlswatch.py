"""Watch TLS handshakes for client-certificate facts, per connection.

``TlsWatch`` is an addon that the main addon puts at the end of mitmproxy's
chain when the proxy starts: scripts loaded with ``-s`` run before mitmproxy's
TlsConfig addon, so in their ``tls_start_server`` the pyOpenSSL connection does
not exist yet; at the end of the chain it does. On each upstream connection it
sets an info callback (pyOpenSSL >= 25.2), which reports the server's
CertificateRequest, the acceptable CA names and every alert the server sends,
during the handshake and after it (TLS 1.3 servers refuse a certificate after
the client has finished its side of the handshake, RFC 8446 §4.4.2.4).

Facts are kept per server connection id in a bounded LRU (``MAX_CONNECTIONS``);
the main addon copies them into the metadata of each flow on that connection
(``attach``), so a saved recording re-diagnoses offline from the flow alone.
Connections where the server neither asked for a certificate nor sent a
certificate alert leave their flows untouched.

On the app's side it notices the app refusing mitmproxy's certificate: a failed
client handshake, or a handshake the app completed and then walked away from
without a request (what certificate pinning looks like). In regular proxy mode
the app's CONNECT request is the flow that carries that diagnosis.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mitmproxy import connection, ctx, http
from mitmproxy import flow as mitm_flow
from OpenSSL import SSL

from authdiag import tls
from authdiag.findings import ANNOTATION_VERSION, METADATA_KEY
from authdiag.tls import AppTls, TlsObservation, UpstreamTls

if TYPE_CHECKING:
    # Only for annotations. The engine imports the rules, which import evidence,
    # which reads the observations stored here; mitmproxy's hook data types
    # bring in its options and proxy machinery, which `authdiag report` does
    # not need to start.
    from mitmproxy.proxy.server_hooks import ServerConnectionHookData
    from mitmproxy.tls import TlsData

    from authdiag.engine import Diagnosis

logger = logging.getLogger(__name__)


MAX_CONNECTIONS = 4096
"""Server connections whose facts are kept; the least recently used go first.
A record is a few hundred bytes, so this caps the watch near a megabyte."""
MAX_TUNNELS = 4096
"""CONNECT requests remembered until their tunnel carries a request."""
UNUSED_TUNNEL_WINDOW = 2.0
"""Seconds within which an app that completes the TLS handshake with mitmproxy
and closes without a request looks like it pinned a certificate; browsers close
idle preconnections much later than that."""

FATAL = 2
"""AlertLevel.fatal (RFC 5246 §7.2); TLS 1.3 sends every error alert as fatal."""
CERTIFICATE_REQUEST_READ = b"SSLv3/TLS read server certificate request"
SERVER_HELLO_READ = b"SSLv3/TLS read server hello"
"""OpenSSL's long state names (SSL_state_string_long), stable since 1.1.0."""

TLS_REFUSAL_STATUSES = frozenset({400, 495, 496, 502, 503})
"""Statuses outside the usual 401/403 that servers use for certificate trouble:
nginx's 400 pages (internally 495 and 496), gateways' 502 and 503."""
TLS_REFUSAL_MARKERS = (b"SSL certificate", b"TLS error", b"SSL routines", b"alert")
"""Byte strings that the bodies of those refusals contain; cheap to look for."""
BODY_PREFIX = 4096
GENERATED_HEADER = "X-Authdiag-Generated"
"""Marks the 502 authdiag answers with (authdiag_end_hanging_flows)."""


class _ServerRecord:
    """What one upstream TLS connection showed so far (mutable while it runs)."""

    __slots__ = (
        "acceptable_cas",
        "alert",
        "alert_after_handshake",
        "certificate_requested",
        "client_certs",
        "error",
        "handshake_done",
        "looked_for",
        "presented",
        "server",
        "sni",
        "version",
    )

    def __init__(self, server: str, sni: str | None) -> None:
        self.server = server
        self.sni = sni
        self.version: str | None = None
        self.certificate_requested = False
        self.acceptable_cas: tuple[str, ...] = ()
        self.presented: tls.Certificate | None = None
        self.client_certs: str | None = None
        self.looked_for: str | None = None
        self.alert: int | None = None
        self.alert_after_handshake = False
        self.error: str | None = None
        self.handshake_done = False

    @property
    def tells_a_story(self) -> bool:
        """Whether client certificates played a part on this connection."""
        return self.certificate_requested or self.alert in tls.CLIENT_CERT_ALERTS

    def observation(self) -> UpstreamTls:
        return UpstreamTls(
            server=self.server,
            sni=self.sni,
            version=self.version,
            certificate_requested=self.certificate_requested,
            acceptable_cas=self.acceptable_cas,
            presented=self.presented,
            client_certs=self.client_certs,
            looked_for=self.looked_for,
            alert=self.alert,
            alert_after_handshake=self.alert_after_handshake,
            error=self.error,
        )


@dataclass
class _Tunnel:
    """An app's CONNECT request, until a request shows the tunnel works."""

    flow: http.HTTPFlow
    established_at: float | None = None


class TlsWatch:
    """Record client-certificate facts of TLS connections (see module docs)."""

    def __init__(self) -> None:
        self.end_hanging_flows = True
        self._servers: OrderedDict[str, _ServerRecord] = OrderedDict()
        self._tunnels: OrderedDict[str, _Tunnel] = OrderedDict()

    # --- upstream -----------------------------------------------------------------

    def tls_start_server(self, data: TlsData) -> None:
        if data.ssl_conn is None or data.is_dtls:
            return
        try:
            record = self._new_record(data)
            data.ssl_conn.set_info_callback(self._info_callback(record))
        except Exception:
            logger.exception("authdiag could not watch the TLS connection")

    def _new_record(self, data: TlsData) -> _ServerRecord:
        server = data.conn
        assert isinstance(server, connection.Server)
        host, port = server.address or ("?", 0)
        record = _ServerRecord(f"{host}:{port}", server.sni)
        option = ctx.options.client_certs
        if option:
            record.client_certs = option
            record.looked_for = _looked_for(option, server.sni or host)
        assert data.ssl_conn is not None
        local = data.ssl_conn.get_certificate(as_cryptography=True)
        if local is not None:
            try:
                record.presented = tls.from_x509(local)
            except ValueError:
                logger.debug("authdiag could not read the client certificate")
        self._remember(server.id, record)
        return record

    def _remember(self, server_id: str, record: _ServerRecord) -> None:
        self._servers[server_id] = record
        self._servers.move_to_end(server_id)
        while len(self._servers) > MAX_CONNECTIONS:
            self._servers.popitem(last=False)

    def _info_callback(
        self, record: _ServerRecord
    ) -> Callable[[SSL.Connection, int, int], None]:
        def on_info(conn: SSL.Connection, where: int, value: int) -> None:
            # Called from inside OpenSSL: it must not raise.
            try:
                self._on_info(record, conn, where, value)
            except Exception:
                logger.exception("authdiag: TLS info callback failed")

        return on_info

    def _on_info(
        self, record: _ServerRecord, conn: SSL.Connection, where: int, value: int
    ) -> None:
        if where & SSL.SSL_CB_ALERT:
            if where & SSL.SSL_CB_READ and value >> 8 == FATAL:
                self._on_fatal_alert(record, conn, value & 0xFF)
        elif where & SSL.SSL_CB_HANDSHAKE_DONE:
            record.handshake_done = True
            record.version = conn.get_protocol_version_name()
        elif where & SSL.SSL_CB_LOOP:
            state = conn.get_state_string()
            if state == CERTIFICATE_REQUEST_READ:
                record.certificate_requested = True
                names = conn.get_client_ca_list(as_cryptography=True)
                record.acceptable_cas = tuple(tls.name_string(n) for n in names)
            elif state == SERVER_HELLO_READ:
                record.version = conn.get_protocol_version_name()

    def _on_fatal_alert(
        self, record: _ServerRecord, conn: SSL.Connection, number: int
    ) -> None:
        record.alert = number
        record.alert_after_handshake = record.handshake_done
        if record.handshake_done and self.end_hanging_flows:
            _report_closes_after_alerts(conn)

    def tls_established_server(self, data: TlsData) -> None:
        record = self._servers.get(data.conn.id)
        if record is not None:
            record.handshake_done = True
            record.version = data.conn.tls_version or record.version

    def tls_failed_server(self, data: TlsData) -> None:
        record = self._servers.get(data.conn.id)
        if record is None:
            return
        record.error = data.conn.error
        if record.alert is None and data.conn.error:
            alert = tls.alert_in_text(data.conn.error)
            record.alert = alert.number if alert else None

    def server_disconnected(self, data: ServerConnectionHookData) -> None:
        record = self._servers.get(data.server.id)
        if record is not None and not record.tells_a_story:
            del self._servers[data.server.id]

    def attach(self, flow: http.HTTPFlow) -> bool:
        """Copy the facts of the flow's server connection into its annotation;
        whether the flow has a client-certificate story at all. Never raises."""
        try:
            upstream = self.upstream_for(flow)
            if upstream is not None:
                record_observation(flow, TlsObservation(upstream=upstream))
            return upstream is not None or has_client_cert_story(flow)
        except Exception:
            logger.exception("authdiag could not attach TLS facts to a flow")
            return False

    def upstream_for(self, flow: http.HTTPFlow) -> UpstreamTls | None:
        """The facts of the flow's server connection, when they tell a story."""
        record = self._servers.get(flow.server_conn.id)
        if record is None or not record.tells_a_story:
            return None
        return record.observation()

    def refused_before_request(self, flow: http.HTTPFlow) -> UpstreamTls | None:
        """The facts of the flow's server connection if that server has already
        refused mitmproxy's certificate after the handshake (TLS 1.3).

        mitmproxy would send the request on a new connection with the same
        certificate, which the server refuses the same way, and the request would
        then wait for a response that never comes.
        """
        record = self._servers.get(flow.server_conn.id)
        if (
            record is None
            or not record.alert_after_handshake
            or record.alert not in tls.CLIENT_CERT_ALERTS
        ):
            return None
        return record.observation()

    # --- the app's side -----------------------------------------------------------

    def http_connect(self, flow: http.HTTPFlow) -> None:
        self._tunnels[flow.client_conn.id] = _Tunnel(flow)
        while len(self._tunnels) > MAX_TUNNELS:
            self._tunnels.popitem(last=False)

    def tls_established_client(self, data: TlsData) -> None:
        tunnel = self._tunnels.get(data.conn.id)
        if tunnel is not None:
            tunnel.established_at = time.time()

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # A request arrived through the tunnel: the app accepted mitmproxy's
        # certificate, nothing more to watch.
        if self._tunnels:
            self._tunnels.pop(flow.client_conn.id, None)

    async def tls_failed_client(self, data: TlsData) -> None:
        tunnel = self._tunnels.pop(data.conn.id, None)
        if tunnel is None:
            return
        error = data.conn.error or "the TLS handshake failed"
        alert = tls.alert_in_text(error)
        refusal = AppTls(alert=alert.number if alert else None, error=error)
        await _report_app_refusal(
            tunnel.flow, refusal, f"Client TLS handshake failed: {error}"
        )

    async def client_disconnected(self, client: connection.Client) -> None:
        tunnel = self._tunnels.pop(client.id, None) if self._tunnels else None
        if tunnel is None or tunnel.established_at is None:
            return
        seconds = time.time() - tunnel.established_at
        if seconds > UNUSED_TUNNEL_WINDOW:
            return
        refusal = AppTls(closed_unused=True, seconds_open=round(seconds, 3))
        await _report_app_refusal(
            tunnel.flow,
            refusal,
            "The client closed the connection right after the TLS handshake, "
            "without sending a request.",
        )


def _looked_for(option: str, server_name: str) -> str | None:
    # Mirrors mitmproxy's TlsConfig: a file is used for every server, a directory
    # is searched for '<server name>.pem' (the SNI, else the address).
    path = os.path.expanduser(option)
    if os.path.isfile(path):
        return None
    return os.path.join(path, f"{server_name}.pem")


def _report_closes_after_alerts(conn: SSL.Connection) -> None:
    """Make mitmproxy pass on the server's close that follows a fatal alert.

    OpenSSL marks a connection that received a fatal alert as RECEIVED_SHUTDOWN,
    as it does for a close_notify. mitmproxy's TLS layer reads that mark as 'the
    close was already passed on' and drops the server's TCP close, so a request
    sent after a TLS 1.3 handshake waits until the client gives up. Hiding the
    mark on this connection only lets the close reach the HTTP layer, which then
    answers 502 as for any server that hangs up.
    """
    received: int = SSL.RECEIVED_SHUTDOWN
    original: Callable[[], int] = conn.get_shutdown

    def get_shutdown() -> int:
        return original() & ~received

    setattr(conn, "get_shutdown", get_shutdown)  # noqa: B010  (mypy: method)


async def _report_app_refusal(flow: http.HTTPFlow, refusal: AppTls, error: str) -> None:
    """Give the CONNECT flow its observation and an error, then fire the error
    hook, so that authdiag diagnoses it and -w saves it like any failed flow."""
    # Imported here, in the live proxy: mitmproxy's HTTP layer pulls in its
    # whole proxy stack, half a second that `authdiag report` need not wait.
    from mitmproxy.proxy.layers.http._hooks import HttpErrorHook

    try:
        record_observation(flow, TlsObservation(app=refusal))
        flow.error = mitm_flow.Error(error)
        flow.live = False
        await ctx.master.addons.trigger_event(HttpErrorHook(flow))
    except Exception:
        logger.exception("authdiag could not report the app's TLS refusal")


# --- flows ----------------------------------------------------------------------


def stored_observation(flow: http.HTTPFlow) -> dict[str, Any] | None:
    annotation = flow.metadata.get(METADATA_KEY)
    if not isinstance(annotation, dict):
        return None
    observed = annotation.get("observed")
    if not isinstance(observed, dict):
        return None
    found = observed.get("tls")
    return found if isinstance(found, dict) else None


def record_observation(flow: http.HTTPFlow, observation: TlsObservation) -> None:
    """Put TLS facts into the flow's annotation, keeping whatever else it holds
    (a flow that has no annotation yet gets one with no findings)."""
    annotation = flow.metadata.get(METADATA_KEY)
    if not isinstance(annotation, dict):
        status = flow.response.status_code if flow.response else None
        annotation = {
            "version": ANNOTATION_VERSION,
            "status": status,
            "findings": [],
            "observed": {},
        }
        flow.metadata[METADATA_KEY] = annotation
    observed = annotation.setdefault("observed", {})
    merged = {**(stored_observation(flow) or {}), **observation.to_dict()}
    observed["tls"] = merged


def has_client_cert_story(flow: http.HTTPFlow) -> bool:
    """Whether TLS facts are stored with the flow or the app showed a certificate."""
    return (
        bool(flow.client_conn.certificate_list) or stored_observation(flow) is not None
    )


def looks_like_tls_refusal(response: http.Response) -> bool:
    """A cheap first look at statuses outside authdiag_statuses: nginx's
    certificate pages and gateways' TLS errors."""
    if response.status_code not in TLS_REFUSAL_STATUSES:
        return False
    head = (response.raw_content or b"")[:BODY_PREFIX]
    return any(marker in head for marker in TLS_REFUSAL_MARKERS)


def answer_for_refused_connection(
    flow: http.HTTPFlow, diagnosis: Diagnosis
) -> http.Response:
    """The 502 that ends a request whose server refused mitmproxy's certificate.

    It says plainly that authdiag wrote it, so that neither the app's developer
    nor a saved recording takes it for the server's answer.
    """
    verdict = diagnosis.verdict
    lines = [
        "502 Bad Gateway from authdiag (mitmproxy addon), not from the server:",
        f"{flow.request.pretty_host} refused mitmproxy's TLS connection after the "
        "handshake, so the request was never answered.",
        "",
    ]
    if verdict is not None:
        lines += [f"{verdict.cause}: {verdict.summary}", ""]
        lines += [f"- {line}" for line in verdict.evidence]
        lines += ["", "fix:", *(f"- {line}" for line in verdict.fix)]
    return http.Response.make(
        502,
        "\n".join(lines) + "\n",
        {"Content-Type": "text/plain; charset=utf-8", GENERATED_HEADER: "1"},
    )


def error_names_an_alert(flow: http.HTTPFlow) -> bool:
    return flow.error is not None and tls.alert_in_text(flow.error.msg) is not None
