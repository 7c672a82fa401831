"""The mitmproxy addon: glue between mitmproxy's hooks and the engine.

Every hook opens with a cheap guard, so a flow that is not a refusal costs one
status check, plus a glance at its headers for the history (``remember``): only
redirects and successes that carried a credential leave anything there. Hooks
never raise and never change the traffic: the only things
written are the flow's annotation fields (metadata, comment, marked). The one
exception is behind authdiag_end_hanging_flows: a request whose server has
already refused mitmproxy's TLS connection after the handshake (TLS 1.3) is
answered with a 502 carrying the diagnosis instead of waiting forever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mitmproxy import command, ctx, exceptions, flow, http
from mitmproxy.utils import emoji

from authdiag import evidence, observe, tlswatch
from authdiag.describe import request_credentials
from authdiag.engine import Diagnosis, bounded, diagnose
from authdiag.findings import ANNOTATION_VERSION, METADATA_KEY
from authdiag.history import Exchange, History
from authdiag.redact import encodable, scrub
from authdiag.rules.client_certs import CLIENT_CERT_CAUSES
from authdiag.summary import Summary, host_of

logger = logging.getLogger(__name__)

COMMENT_PREFIX = "authdiag: "
DEFAULT_STATUSES = "401,403,407"


def parse_statuses(spec: str) -> frozenset[int]:
    """Parse '401,403,407' (ranges such as '400-403' allowed) into status codes."""
    statuses: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"{part!r} is not a status code or a range") from None
        if not 100 <= first <= last <= 599:
            raise ValueError(f"{part!r} is outside 100-599")
        statuses.update(range(first, last + 1))
    if not statuses:
        raise ValueError("no status codes given")
    return frozenset(statuses)


def parse_seconds(text: str) -> float:
    """Parse a tolerance such as '30' or '2.5' into seconds, refusing what is
    not a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise ValueError(f"{text!r} is not a finite number of seconds >= 0")
    return value


class AuthDiag:
    """Annotate refused flows with their likely cause, the evidence and the fix."""

    def __init__(self) -> None:
        self.statuses = parse_statuses(DEFAULT_STATUSES)
        self.leeway = 0.0
        self.marker = ":lock:"
        self.summary = Summary()
        """Refusals seen so far, per host and cause: logged when mitmproxy stops."""
        self.history = History()
        """Recent exchanges per client and origin, for the cross-flow causes."""
        self.tls_watch = tlswatch.TlsWatch()
        """Client-certificate facts per TLS connection; put at the end of
        mitmproxy's chain when the proxy runs (see tlswatch)."""

    def load(self, loader: Any) -> None:
        loader.add_option(
            "authdiag_statuses",
            str,
            DEFAULT_STATUSES,
            "Response status codes authdiag diagnoses, comma-separated; ranges "
            "such as 400-403 are allowed.",
        )
        loader.add_option(
            "authdiag_leeway",
            # A string checked in configure: an int option that fails to parse
            # at startup makes mitmproxy drop the whole script without a word.
            str,
            "0",
            "Seconds of tolerance when judging a token's exp, nbf and iat against "
            "the request's time (servers commonly allow 0 to 300).",
        )
        loader.add_option(
            "authdiag_marker",
            str,
            ":lock:",
            "Marker set on diagnosed flows (an emoji short name such as :lock:); "
            "empty to leave flows unmarked.",
        )
        loader.add_option(
            "authdiag_end_hanging_flows",
            bool,
            True,
            "When a server refuses mitmproxy's client certificate after the TLS "
            "handshake (TLS 1.3), answer the waiting request with a 502 carrying "
            "the diagnosis instead of letting it hang until the client times out.",
        )

    def configure(self, updated: set[str]) -> None:
        if "authdiag_statuses" in updated:
            try:
                self.statuses = parse_statuses(ctx.options.authdiag_statuses)
            except ValueError as e:
                raise exceptions.OptionsError(
                    f"authdiag_statuses: {e}; expected e.g. '401,403,407'"
                ) from None
        if "authdiag_leeway" in updated:
            try:
                self.leeway = parse_seconds(ctx.options.authdiag_leeway)
            except ValueError as e:
                raise exceptions.OptionsError(
                    f"authdiag_leeway: {e}; expected e.g. '30'"
                ) from None
        if "authdiag_marker" in updated:
            marker = ctx.options.authdiag_marker
            if marker and marker not in emoji.emoji:
                raise exceptions.OptionsError(
                    f"authdiag_marker: {marker!r} is not an emoji short name "
                    "mitmproxy knows; expected e.g. ':lock:', or '' for none"
                )
            self.marker = marker
        if "authdiag_end_hanging_flows" in updated:
            self.tls_watch.end_hanging_flows = ctx.options.authdiag_end_hanging_flows

    def running(self) -> None:
        # At the end of the chain, after mitmproxy's TlsConfig: only there does
        # tls_start_server see the pyOpenSSL connection (see tlswatch).
        try:
            if ctx.master.addons.get("tlswatch") is None:
                ctx.master.addons.add(self.tls_watch)
        except Exception:
            logger.exception("authdiag cannot watch TLS handshakes")

    def request(self, flow: http.HTTPFlow) -> None:
        if not self.tls_watch.end_hanging_flows:
            return
        try:
            if self.tls_watch.refused_before_request(flow) is None:
                return
            self.tls_watch.attach(flow)
            ev = evidence.from_flow(flow, leeway=self.leeway)
            flow.response = tlswatch.answer_for_refused_connection(flow, diagnose(ev))
        except Exception:
            logger.exception("authdiag could not answer %s", shown_url(flow))

    def error(self, flow: http.HTTPFlow) -> None:
        story = self.tls_watch.attach(flow)
        if story or tlswatch.error_names_an_alert(flow):
            self.annotate_client_cert_refusal(flow)

    def annotate_client_cert_refusal(self, flow: http.HTTPFlow) -> None:
        """Annotate a flow outside authdiag_statuses (a TLS error, an nginx 400,
        a gateway's 503) only if a client certificate explains it."""
        try:
            ev = evidence.from_flow(flow, leeway=self.leeway)
            verdict = diagnose(ev).verdict
            if verdict is not None and verdict.cause in CLIENT_CERT_CAUSES:
                self.count(flow, self.annotate(flow))
        except Exception:
            logger.exception("authdiag could not diagnose %s", shown_url(flow))

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None:
            return
        story = self.tls_watch.attach(flow)
        refused = flow.response.status_code in self.statuses
        # A flow that also carries an error (a replayed CONNECT whose tunnel the
        # app refused) gets the error hook next; diagnosing it here too would log
        # and count it twice.
        if (
            not refused
            and flow.error is None
            and (story or tlswatch.looks_like_tls_refusal(flow.response))
        ):
            self.annotate_client_cert_refusal(flow)
        try:
            # The same record serves the diagnosis (what came before) and the
            # history (what comes after).
            exchange = observe.exchange_of(flow, refused=refused)
        except Exception:
            logger.exception("authdiag could not read %s", shown_url(flow))
            exchange = None
        if refused:
            try:
                diagnosis = self.annotate(flow, exchange)
                self.count(flow, diagnosis)
            except Exception:
                # Never let a bug here break the proxy; say so once, with the flow.
                logger.exception("authdiag could not diagnose %s", shown_url(flow))
        if exchange is not None:
            self.remember(flow, exchange, refused=refused)

    def remember(
        self, flow: http.HTTPFlow, exchange: Exchange, *, refused: bool
    ) -> None:
        """Add the flow to the history, after it was diagnosed against it."""
        try:
            self.history.record(exchange, refused=refused)
        except Exception:
            logger.exception("authdiag could not remember %s", shown_url(flow))

    def done(self) -> None:
        # mitmproxy calls this at shutdown, also after `mitmdump -nr FILE` has
        # replayed the file; its terminal log still prints until done returns.
        try:
            for line in self.summary.log_lines():
                logger.info(line)
        except Exception:
            logger.exception("authdiag could not print its summary")
        try:
            # A reloaded script adds its own watch; this one goes with it.
            if ctx.master.addons.get("tlswatch") is self.tls_watch:
                ctx.master.addons.remove(self.tls_watch)
        except Exception:
            logger.exception("authdiag could not stop watching TLS handshakes")

    def count(self, flow: http.HTTPFlow, diagnosis: Diagnosis) -> None:
        """Add a diagnosed refusal to the summary (routine handshakes are not)."""
        if diagnosis.verdict is not None and not diagnosis.routine:
            when = flow.request.timestamp_start
            self.summary.add(host_of(flow.request), diagnosis.verdict.cause, when)

    @command.command("authdiag.diagnose")
    def diagnose_command(self, flows: Sequence[flow.Flow]) -> None:
        """Diagnose the given flows again (after changing options, say)."""
        for chosen in flows:
            if isinstance(chosen, http.HTTPFlow) and chosen.response is not None:
                self.annotate(chosen)

    def annotate(
        self, flow: http.HTTPFlow, exchange: Exchange | None = None
    ) -> Diagnosis:
        """Diagnose one flow and write the result into its annotation fields;
        ``exchange`` is its history record, when the caller has made it."""
        if exchange is None:
            exchange = observe.exchange_of(flow, refused=True)
        recalled = self.history.recall(exchange) if exchange is not None else None
        ev = evidence.from_flow(flow, leeway=self.leeway, history=recalled)
        diagnosis = diagnose(ev)
        verdict = diagnosis.verdict
        if verdict is None:
            return diagnosis

        flow.metadata[METADATA_KEY] = {
            "version": ANNOTATION_VERSION,
            "status": ev.status,
            "findings": [finding.to_dict() for finding in diagnosis.findings],
            "observed": {
                "request_time": ev.requested_at,
                "server_date": ev.server_date,
                "credentials": evidence_credentials(ev),
                **_kept_tls_observation(flow),
            },
        }
        line = f"{COMMENT_PREFIX}{verdict.cause}: {verdict.summary}"
        if verdict.fix:
            line += f" — fix: {verdict.fix[0]}"
        flow.comment = _with_own_line(flow.comment, line)
        if self.marker and not diagnosis.routine:
            flow.marked = self.marker

        level = logging.INFO if diagnosis.routine else logging.WARNING
        logger.log(
            level,
            "authdiag: %s %s %s → %s (%s): %s",
            ev.status if ev.status is not None else "no response",
            ev.method,
            bounded(ev.url),  # a path of a megabyte is not a log line
            verdict.cause,
            verdict.confidence.label,
            verdict.summary,
        )
        return diagnosis


def shown_url(flow: http.HTTPFlow) -> str:
    """The flow's URL for a log line about a failure: credentials in the query
    as '…'. Never raises, since it is called while handling an exception."""
    try:
        return evidence.shown_url(flow.request)
    except Exception:
        return f"{flow.request.pretty_host} (URL not shown)"


def evidence_credentials(ev: evidence.Evidence) -> list[str]:
    """What the request carried, redacted, for the annotation's 'observed' part."""
    # Scrubbed like findings are: a lone word may be a scheme or a bare key.
    return [
        encodable(scrub(line.removeprefix("request: "), ev.secrets))
        for line in request_credentials(ev)
    ]


def _kept_tls_observation(flow: http.HTTPFlow) -> dict[str, Any]:
    # TLS facts are stored before the diagnosis (tlswatch) and must survive it.
    stored = tlswatch.stored_observation(flow)
    return {"tls": stored} if stored is not None else {}


def _with_own_line(comment: str, line: str) -> str:
    # Keep what the user wrote; replace only authdiag's own earlier line, so that
    # diagnosing a flow twice (a replayed recording) does not stack comments.
    kept = [c for c in comment.splitlines() if not c.startswith(COMMENT_PREFIX)]
    return "\n".join([*kept, line])
