"""The mitmproxy addon: glue between mitmproxy's hooks and the engine.

Every hook opens with a cheap guard, so a flow that is not a refusal costs one
status check. Hooks never raise and never change the traffic: the only things
written are the flow's annotation fields (metadata, comment, marked).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mitmproxy import command, ctx, exceptions, flow, http

from authdiag import evidence
from authdiag.describe import request_credentials
from authdiag.engine import ANNOTATION_VERSION, Diagnosis, diagnose

logger = logging.getLogger(__name__)

METADATA_KEY = "authdiag"
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


class AuthDiag:
    """Annotate refused flows with their likely cause, the evidence and the fix."""

    def __init__(self) -> None:
        self.statuses = parse_statuses(DEFAULT_STATUSES)
        self.leeway = 0.0
        self.marker = ":lock:"

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
            int,
            0,
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

    def configure(self, updated: set[str]) -> None:
        if "authdiag_statuses" in updated:
            try:
                self.statuses = parse_statuses(ctx.options.authdiag_statuses)
            except ValueError as e:
                raise exceptions.OptionsError(
                    f"authdiag_statuses: {e}; expected e.g. '401,403,407'"
                ) from None
        if "authdiag_leeway" in updated:
            leeway = ctx.options.authdiag_leeway
            if leeway < 0:
                raise exceptions.OptionsError(
                    f"authdiag_leeway: {leeway} is negative; give seconds >= 0"
                )
            self.leeway = float(leeway)
        if "authdiag_marker" in updated:
            self.marker = ctx.options.authdiag_marker

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or flow.response.status_code not in self.statuses:
            return
        try:
            self.annotate(flow)
        except Exception:
            # Never let a bug here break the proxy; say so once, with the flow.
            logger.exception("authdiag could not diagnose %s", flow.request.url)

    @command.command("authdiag.diagnose")
    def diagnose_command(self, flows: Sequence[flow.Flow]) -> None:
        """Diagnose the given flows again (after changing options, say)."""
        for chosen in flows:
            if isinstance(chosen, http.HTTPFlow) and chosen.response is not None:
                self.annotate(chosen)

    def annotate(self, flow: http.HTTPFlow) -> Diagnosis:
        """Diagnose one flow and write the result into its annotation fields."""
        ev = evidence.from_flow(flow, leeway=self.leeway)
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
            ev.status,
            ev.method,
            ev.url,
            verdict.cause,
            verdict.confidence.label,
            verdict.summary,
        )
        return diagnosis


def evidence_credentials(ev: evidence.Evidence) -> list[str]:
    """What the request carried, redacted, for the annotation's 'observed' part."""
    return [line.removeprefix("request: ") for line in request_credentials(ev)]


def _with_own_line(comment: str, line: str) -> str:
    # Keep what the user wrote; replace only authdiag's own earlier line, so that
    # diagnosing a flow twice (a replayed recording) does not stack comments.
    kept = [c for c in comment.splitlines() if not c.startswith(COMMENT_PREFIX)]
    return "\n".join([*kept, line])
